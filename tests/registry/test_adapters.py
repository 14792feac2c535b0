"""The shared adapter matrix: every registered adapter is held to the same invariants.

Adding an adapter means adding one row to ``CASES``: its test parameters and the formula of its
trainable-parameter count, written from the method's definition (not read off the model).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch

from peft_rlvr_bench.adapters import ApplyContext
from peft_rlvr_bench.adapters.checkpoints import load_trained, save_trained, snapshot_initial_adapter
from peft_rlvr_bench.architecture import architecture_from_config
from peft_rlvr_bench.registry import ADAPTERS
from tests.helpers.tiny_models import HIDDEN, INPUTS, LAYERS, MLP, tiny_model

# (out, in) of every linear layer of one block: q, k, v, o, gate, up, down.
ATTENTION = [(HIDDEN, HIDDEN)] * 4
MLP_SHAPES = [(MLP, HIDDEN), (MLP, HIDDEN), (HIDDEN, MLP)]
BLOCK = ATTENTION + MLP_SHAPES
R = 4


def per_target(count: Callable[[int, int], int]) -> Callable[[int], int]:
    return lambda _total: LAYERS * sum(count(out, inp) for out, inp in BLOCK)


def ia3_count(_total: int) -> int:
    # Output scaling on every target except down_proj, whose input is scaled instead.
    return LAYERS * (sum(out for out, _ in BLOCK[:-1]) + MLP)


CASES: dict[str, tuple[dict[str, Any], Callable[[int], int]]] = {
    "full": ({}, lambda total: total),
    "lora": ({"r": R}, per_target(lambda o, i: R * (i + o))),
    "rslora": ({"r": R}, per_target(lambda o, i: R * (i + o))),
    "dora": ({"r": R}, per_target(lambda o, i: R * (i + o) + o)),
    "lora_plus": ({"r": R}, per_target(lambda o, i: R * (i + o))),
    "lora_fa": ({"r": R}, per_target(lambda o, i: R * o)),
    "pissa": ({"r": R}, per_target(lambda o, i: R * (i + o))),
    "olora": ({"r": R}, per_target(lambda o, i: R * (i + o))),
    "milora": ({"r": R}, per_target(lambda o, i: R * (i + o))),
    "geora": ({"r": R, "rho": 0.2}, per_target(lambda o, i: R * (i + o))),
    "adalora": ({"init_r": 6, "target_r": R}, per_target(lambda o, i: 6 * (i + o) + 6)),
    "vera": ({"r": 16}, per_target(lambda o, i: 16 + o)),
    "ia3": ({}, ia3_count),
    "ln_tuning": ({}, lambda _total: (2 * LAYERS + 1) * HIDDEN),
    "miss": ({"r": R}, per_target(lambda o, i: R * o)),
    "sparse": ({"mask": "random", "density": 0.25}, lambda _total: -1),  # checked against its mask
}


def test_every_registered_adapter_has_a_row() -> None:
    assert sorted(CASES) == sorted(ADAPTERS.names())


def logits(model: torch.nn.Module) -> torch.Tensor:
    with torch.no_grad():
        return model(input_ids=INPUTS).logits


def wrap(name: str, seed: int = 0) -> tuple[Any, Any, torch.nn.Module]:
    adapter = ADAPTERS.get(name)()
    params = adapter.Params.model_validate(CASES[name][0])
    model = adapter.apply(tiny_model(seed), params, ApplyContext(seed=seed, total_updates=10))
    return adapter, params, model


@pytest.mark.parametrize("name", sorted(CASES))
def test_at_init_the_wrapped_model_equals_the_base(name: str) -> None:
    base_logits = logits(tiny_model())
    adapter, _, model = wrap(name)
    torch.testing.assert_close(logits(model), base_logits, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(logits(adapter.merge(model)), base_logits, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("name", sorted(CASES))
def test_the_footprint_counts_what_the_wrapped_model_trains(name: str) -> None:
    """The dry run's count, from the architecture alone, is the run's count on the model."""
    arch = architecture_from_config(tiny_model().config.to_dict(), "tiny test model")
    adapter, params, model = wrap(name)
    assert adapter.footprint(arch, params).trainable == adapter.trainable_parameters(model)


def test_a_mask_built_from_the_weights_is_counted_once_built() -> None:
    arch = architecture_from_config(tiny_model().config.to_dict(), "tiny test model")
    sparse = ADAPTERS.get("sparse")()
    footprint = sparse.footprint(arch, sparse.Params(mask="off_principal"))
    assert footprint.trainable is None and footprint.gradient == LAYERS * sum(o * i for o, i in BLOCK)


@pytest.mark.parametrize("name", sorted(CASES))
def test_trainable_parameter_count_follows_the_formula(name: str) -> None:
    adapter, _, model = wrap(name)
    total_base = sum(p.numel() for p in tiny_model().parameters())
    expected = CASES[name][1](total_base)
    if name == "sparse":
        expected = adapter.mask_stats()["trainable_coordinates"]
        assert expected == pytest.approx(
            0.25 * LAYERS * sum(o * i for o, i in BLOCK), abs=LAYERS * len(BLOCK)
        )
    assert adapter.trainable_parameters(model) == expected


def perturb_trainable(model: torch.nn.Module, seed: int = 3) -> None:
    """Stands in for training: every trainable tensor moves by a small random amount."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for parameter in model.parameters():
            if parameter.requires_grad:
                parameter.add_(0.05 * torch.randn(parameter.shape, generator=generator))


@pytest.mark.parametrize("name", sorted(set(CASES) - {"sparse"}))
def test_save_and_load_round_trip_with_the_stock_base(name: str, tmp_path: Path) -> None:
    base_dir = tmp_path / "base"
    tiny_model().save_pretrained(base_dir)
    adapter, _, model = wrap(name)
    initial = snapshot_initial_adapter(model, tmp_path / "run") if adapter.rewrites_base else None
    perturb_trainable(model)
    tuned = logits(model)
    save_trained(model, tmp_path / "run" / "final", initial)
    reloaded = load_trained(str(base_dir), tmp_path / "run" / "final")
    torch.testing.assert_close(logits(reloaded), tuned, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(logits(adapter.merge(model)), tuned, atol=1e-4, rtol=1e-4)


# --- A few real GRPO updates in the tiny world ------------------------------------------------

STEP_SUITE = """\
name: adapter-steps
train_task: add
eval: {in_domain: [add], n_items: 8}
recipe: {name: grpo, prompts_per_step: 4, num_generations: 8, beta: 0.04}
budget: {max_steps: 2}
seeds: [0]
adapters:
"""


@pytest.fixture(scope="module")
def step_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    from peft_rlvr_bench.suite import load_suite

    lines = []
    for name, (params, _) in CASES.items():
        settings = {**params, "mask": "off_principal"} if name == "sparse" else params
        fields = ", ".join(f"{key}: {value}" for key, value in settings.items())
        lines.append(f"  - {{name: {name}, lr: 1.0e-3{', ' + fields if fields else ''}}}\n")
    path = tmp_path_factory.mktemp("steps") / "adapter-steps.yaml"
    path.write_text(STEP_SUITE + "".join(lines))
    return {run.adapter.name: run for run in load_suite(path).runs}


def train_a_few_steps(run: Any, tmp_path: Path, with_reference: bool = True) -> tuple[Any, Any, dict, list]:
    from peft_rlvr_bench.models import load_base
    from peft_rlvr_bench.rlvr.train import run_recipe

    adapter = ADAPTERS.get(run.adapter.name)()
    params = adapter.Params.model_validate(run.adapter.params)
    model, tokenizer = load_base(run.model)
    reference = load_base(run.model)[0] if with_reference else None
    model = adapter.apply(model, params, ApplyContext(seed=0, total_updates=run.budget.max_steps))
    hooks = adapter.hooks(model, params)
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    curve, _ = run_recipe(run, model, tokenizer, tmp_path / "trainer", hooks=hooks, reference=reference)
    return adapter, model, before, curve


@pytest.mark.parametrize("name", sorted(CASES))
def test_grpo_moves_only_what_trains_and_kl_starts_at_zero(
    name: str, step_runs: dict, tmp_path: Path
) -> None:
    adapter, model, before, curve = train_a_few_steps(step_runs[name], tmp_path)
    moved = []
    for param_name, parameter in model.named_parameters():
        if not parameter.requires_grad:
            assert torch.equal(parameter, before[param_name]), f"frozen {param_name} moved"
        else:
            moved.append(not torch.equal(parameter, before[param_name]))
    assert moved and all(moved), "every trainable tensor moved"
    if name == "sparse":
        for weight in adapter.weights:
            frozen = ~weight.mask
            assert torch.equal(weight.param[frozen], before[weight.name][frozen]), "masked coordinates moved"
            assert not torch.equal(weight.param[weight.mask], before[weight.name][weight.mask])
    # KL to the true base at the first update (taken before it) is zero for every method.
    assert curve[0].kl is not None and abs(curve[0].kl) < 1e-5, curve[0].kl


def test_the_reference_is_the_original_base_not_the_residual(step_runs: dict) -> None:
    # The trap the harness guards against: "adapter disabled" is PiSSA's residual, far from the base.
    from peft_rlvr_bench.models import load_base

    run = step_runs["pissa"]
    adapter = ADAPTERS.get("pissa")()
    base = load_base(run.model)[0]
    base_logits = logits_of(base)
    model = adapter.apply(
        load_base(run.model)[0], adapter.Params.model_validate(run.adapter.params), ApplyContext()
    )
    with model.disable_adapter():
        residual_logits = logits_of(model)
    torch.testing.assert_close(logits_of(model), base_logits, atol=1e-4, rtol=1e-4)
    assert (residual_logits - base_logits).abs().max() > 1.0


def logits_of(model: torch.nn.Module) -> torch.Tensor:
    with torch.no_grad():
        return model(input_ids=torch.tensor([[5, 6, 7, 8, 9]])).logits
