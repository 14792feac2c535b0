"""AdaLoRA under GRPO is AdaLoRA: the rank budget is reallocated and the regulariser is in the loss."""

from __future__ import annotations

from pathlib import Path

import torch

from peft_rlvr_bench.adapters import ApplyContext
from peft_rlvr_bench.adapters.peft_family import orthogonality_penalty
from peft_rlvr_bench.registry import ADAPTERS
from peft_rlvr_bench.suite import load_suite
from tests.helpers.tiny_models import INPUTS, tiny_model


def test_orthogonality_penalty_is_the_term_peft_adds_to_a_supervised_loss() -> None:
    adapter = ADAPTERS.get("adalora")()
    params = adapter.Params(init_r=6, target_r=4, orth_reg_weight=0.5)
    model = adapter.apply(tiny_model(), params, ApplyContext(total_updates=10))
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if "lora_E" in name:
                parameter.normal_()  # so the adapter's output is not zero
    plain = model.base_model.model(input_ids=INPUTS, labels=INPUTS).loss  # the unwrapped forward: no term
    with_term = model(input_ids=INPUTS, labels=INPUTS).loss  # AdaLoraModel.forward adds it
    penalty = orthogonality_penalty(model)
    assert penalty > 0
    torch.testing.assert_close(with_term - plain, 0.5 * penalty)


def test_rank_budget_is_reallocated_during_grpo(tmp_path: Path) -> None:
    from peft_rlvr_bench.models import load_base
    from peft_rlvr_bench.rlvr.train import run_recipe

    suite_file = tmp_path / "adalora.yaml"
    suite_file.write_text(
        "name: adalora\ntrain_task: add\neval: {in_domain: [add], n_items: 8}\n"
        "recipe: {name: grpo, prompts_per_step: 2, num_generations: 4}\nbudget: {max_steps: 10}\nseeds: [0]\n"
        "adapters:\n  - {name: adalora, lr: 1.0e-2, init_r: 6, target_r: 2, tinit_fraction: 0.1,"
        " tfinal_fraction: 0.3}\n"
    )
    run = load_suite(suite_file).runs[0]
    adapter = ADAPTERS.get("adalora")()
    params = adapter.Params.model_validate(run.adapter.params)
    model, tokenizer = load_base(run.model)
    model = adapter.apply(model, params, ApplyContext(total_updates=run.budget.max_steps))
    assert model.peft_config["default"].rank_pattern is None
    run_recipe(run, model, tokenizer, tmp_path / "trainer", hooks=adapter.hooks(model, params))

    pattern = model.peft_config["default"].rank_pattern
    assert pattern, "update_and_allocate never produced a rank pattern"
    kept = sum(int(torch.as_tensor(mask).sum()) for mask in pattern.values())
    assert kept == 2 * len(pattern), "the final budget is target_r per matrix on average"
    ranks = {int(torch.as_tensor(mask).sum()) for mask in pattern.values()}
    assert ranks != {2} or len(pattern) == 1, "ranks were moved between matrices, not cut uniformly"
    pruned = [p for n, p in model.named_parameters() if "lora_E" in n]
    assert sum(int((p == 0).sum()) for p in pruned) >= 4 * len(pattern), "pruned singular values are zeroed"


def _regulariser_gradient_of_one_update(tmp_path: Path, micro_batch_size: int) -> dict[str, torch.Tensor]:
    """The gradient on AdaLoRA's A and B factors when the first optimizer update is taken.

    AdaLoRA starts with its singular values ``E`` at zero, so the adapter's output, and with it the
    policy loss, does not depend on A and B yet: their whole first gradient is the regulariser's.
    """
    from transformers import TrainerCallback

    from peft_rlvr_bench.models import load_base
    from peft_rlvr_bench.rlvr.train import run_recipe

    suite_file = tmp_path / f"mb{micro_batch_size}.yaml"
    suite_file.write_text(
        "name: adalora\ntrain_task: add\neval: {in_domain: [add], n_items: 8}\n"
        "recipe: {name: grpo, prompts_per_step: 2, num_generations: 4, max_grad_norm: 1.0e9,"
        f" micro_batch_size: {micro_batch_size}}}\nbudget: {{max_steps: 1}}\nseeds: [0]\n"
        "adapters:\n  - {name: adalora, lr: 1.0e-2, init_r: 4, target_r: 2, orth_reg_weight: 0.5}\n"
    )
    run = load_suite(suite_file).runs[0]
    adapter = ADAPTERS.get("adalora")()
    params = adapter.Params.model_validate(run.adapter.params)
    torch.manual_seed(0)  # the same initial factors in every call
    model, tokenizer = load_base(run.model)
    model = adapter.apply(model, params, ApplyContext(total_updates=run.budget.max_steps))
    factors = {n: p for n, p in model.named_parameters() if "lora_A" in n or "lora_B" in n}
    initial = {n: p.detach().clone() for n, p in factors.items()}
    seen: dict[str, torch.Tensor] = {}

    class Grab(TrainerCallback):
        def on_pre_optimizer_step(self, args, state, control, **kwargs):  # type: ignore[no-untyped-def]
            seen.update({n: p.grad.detach().clone() for n, p in factors.items()})

    run_recipe(
        run,
        model,
        tokenizer,
        tmp_path / f"trainer{micro_batch_size}",
        hooks=adapter.hooks(model, params),
        callbacks=[Grab()],
    )
    # The same term's gradient computed directly, at the weights the update started from.
    with torch.no_grad():
        for name, parameter in factors.items():
            parameter.copy_(initial[name])
    direct = torch.autograd.grad(0.5 * orthogonality_penalty(model), list(factors.values()))
    seen.update({f"direct:{name}": grad for name, grad in zip(factors, direct, strict=True)})
    return seen


def test_the_regulariser_weighs_the_same_per_update_at_any_gradient_accumulation(tmp_path: Path) -> None:
    whole = _regulariser_gradient_of_one_update(tmp_path, micro_batch_size=8)  # one micro-batch
    split = _regulariser_gradient_of_one_update(tmp_path, micro_batch_size=2)  # 4 accumulated
    names = [name for name in whole if not name.startswith("direct:")]
    assert names
    for name in names:
        assert whole[name].abs().max() > 0
        torch.testing.assert_close(whole[name], whole[f"direct:{name}"])
        torch.testing.assert_close(split[name], whole[name])
