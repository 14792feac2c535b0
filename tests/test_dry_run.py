"""``prb run SUITE --dry-run`` (plan and memory, offline) and ``--set`` overrides."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from peft_rlvr_bench.architecture import KNOWN, architecture_from_config, resolve_architecture
from peft_rlvr_bench.errors import UserError
from peft_rlvr_bench.memory import AdapterFootprint, adapter_footprint, estimate_memory
from peft_rlvr_bench.overrides import apply_overrides
from peft_rlvr_bench.suite import DerivedRun, load_suite

REPO = Path(__file__).resolve().parents[1]
MATH = REPO / "suites" / "math-1.5b.yaml"


def prb(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "peft_rlvr_bench.cli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_parameter_formulas_match_transformers() -> None:
    import torch
    from transformers import AutoModelForCausalLM, LlamaConfig, Qwen2Config, Qwen3Config

    small = {"hidden_size": 64, "num_hidden_layers": 2, "intermediate_size": 96, "vocab_size": 100}
    heads = {"num_attention_heads": 4, "num_key_value_heads": 2}
    for config in (
        Qwen2Config(**small, **heads, tie_word_embeddings=True),
        Qwen3Config(**small, **heads, head_dim=32, tie_word_embeddings=False),
        LlamaConfig(**small, **heads, tie_word_embeddings=True),
    ):
        with torch.device("meta"):
            model = AutoModelForCausalLM.from_config(config)
        expected = sum(p.numel() for p in model.parameters())
        assert architecture_from_config(config.to_dict(), "config.json").parameters() == expected


def test_the_table_gives_the_published_sizes() -> None:
    # Qwen2.5-1.5B by hand: embedding 151936 x 1536 (tied) + 28 blocks of q (1536^2 + 1536 bias),
    # k and v (1536 x 256 + 256 each), o (1536^2), MLP 3 x 1536 x 8960, two norms, + the final norm.
    block = (1536 * 1536 + 1536) + 2 * (1536 * 256 + 256) + 1536 * 1536 + 3 * 1536 * 8960 + 2 * 1536
    assert KNOWN["Qwen/Qwen2.5-Math-1.5B"].parameters() == 151936 * 1536 + 28 * block + 1536 == 1_543_714_304
    assert round(KNOWN["Qwen/Qwen3-4B-Base"].parameters() / 1e9, 2) == 4.02
    assert (
        round(KNOWN["deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B"].parameters() / 1e9, 2) == 1.78
    )  # untied head


def test_full_fine_tuning_of_1_5b_in_bf16_with_adamw_is_8_bytes_a_parameter_plus_activations() -> None:
    arch = KNOWN["Qwen/Qwen2.5-Math-1.5B"]
    full = adapter_footprint("full", {}, arch)
    estimate = estimate_memory(arch, full, weight_bytes=2, micro_batch=1, sequence_tokens=1024)
    params = 1_543_714_304
    # bf16 weights 2 B + bf16 gradients 2 B + two AdamW moments in bf16 4 B = 8 B per parameter.
    assert estimate.static == 8 * params  # 12.35 GB
    # One 1024-token sequence with checkpointing: 28 x 1536 x 2 B stored inputs + one recomputed
    # layer (8 x 1536 + 4 x 8960) x 2 B per token = 182 KiB/token -> 0.19 GB; bf16 logits and their
    # gradient 2 x 1024 x 151936 x 2 B = 0.62 GB; one fp32 log-softmax 1024 x 151936 x 4 B = 0.62 GB.
    assert 1.40e9 < estimate.activations < 1.46e9
    assert 13.7e9 < estimate.total < 13.85e9
    # The harness's own setting (fp32 master weights, 16 B a parameter) and a KL reference copy.
    fp32 = estimate_memory(arch, full, weight_bytes=4, reference=True, micro_batch=1, sequence_tokens=1024)
    assert fp32.static == 16 * params + 4 * params


def test_adapters_cost_their_factors_and_sparse_its_dense_targets() -> None:
    arch = KNOWN["Qwen/Qwen2.5-Math-1.5B"]
    shapes = arch.linear_shapes().values()
    lora = adapter_footprint("lora", {"r": 32}, arch)
    assert lora.trainable == 28 * sum(32 * (out + inp) for out, inp in shapes) == 36_929_536
    sparse = adapter_footprint("sparse", {"mask": "rl_delta"}, arch)
    assert sparse.gradient == sparse.mask_targets == 28 * sum(out * inp for out, inp in shapes)
    assert sparse.trainable is None, "an rl_delta mask's size is known once the full run exists"
    estimate = estimate_memory(arch, lora, micro_batch=1, sequence_tokens=1024)
    assert estimate.gradients + estimate.optimizer == 12 * lora.trainable
    assert isinstance(lora, AdapterFootprint)


def test_an_adapter_without_a_formula_skips_the_estimate_in_one_line() -> None:
    from peft_rlvr_bench.adapters import AdapterDefaults, AdapterParams
    from peft_rlvr_bench.registry import ADAPTERS

    class MyPlugin(AdapterDefaults):
        Params = AdapterParams

    ADAPTERS.register("my_plugin")(MyPlugin)
    try:
        with pytest.raises(UserError, match="no memory formula"):
            adapter_footprint("my_plugin", {}, KNOWN["Qwen/Qwen2.5-Math-1.5B"])
    finally:
        ADAPTERS._loaded.pop("my_plugin")


def test_architectures_come_from_a_local_config_or_fail_in_one_line(tmp_path: Path) -> None:
    config = {
        "model_type": "qwen2",
        "hidden_size": 64,
        "num_hidden_layers": 2,
        "intermediate_size": 96,
        "vocab_size": 100,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "tie_word_embeddings": True,
    }
    (tmp_path / "config.json").write_text(json.dumps(config))
    arch, source = resolve_architecture("my-org/unknown", str(tmp_path))
    assert arch.hidden_size == 64 and source.endswith("config.json")
    with pytest.raises(UserError) as caught:
        resolve_architecture("my-org/unknown", None)
    assert "no local config.json and not in the built-in table" in str(caught.value)
    assert "\n" not in str(caught.value)
    (tmp_path / "config.json").write_text(json.dumps({**config, "model_type": "gpt2"}))
    with pytest.raises(UserError, match="model_type 'gpt2' has no parameter formula"):
        resolve_architecture("x", str(tmp_path))


def test_the_math_plan_lists_every_run_once_dependencies_first(tmp_path: Path) -> None:
    from peft_rlvr_bench.runner.plan import plan_suite

    suite = load_suite(MATH)
    plan = plan_suite(suite, tmp_path / "results")
    ids = [work.run_id for work in plan.work]
    expected = {r.run_id for r in suite.runs} | {d.run_id for d in suite.derived}
    assert len(ids) == len(set(ids)) == len(expected) and set(ids) == expected
    position = {run_id: i for i, run_id in enumerate(ids)}
    for work in plan.work:
        needs = (
            [work.run.source.run_id]
            if isinstance(work.run, DerivedRun)
            else list(work.run.dependencies.values())
        )
        assert all(position[need] < position[work.run_id] for need in needs)
        assert set(work.after) == set(needs)
    sparse = [w for w in plan.work if not isinstance(w.run, DerivedRun) and w.run.adapter.name == "sparse"]
    assert len(sparse) == 3 and all(w.run.dependencies["rl_delta"].startswith("full-") for w in sparse)


def test_cli_dry_run_prints_the_plan_without_downloading(tmp_path: Path) -> None:
    done = prb("run", "math-1.5b", "--dry-run", "--results-dir", str(tmp_path))
    assert done.returncode == 0, done.stderr
    suite = load_suite(MATH)
    out = done.stdout
    assert "1.544B parameters (built-in table)" in out
    for run_id in [r.run_id for r in suite.runs] + [d.run_id for d in suite.derived]:
        assert out.count(run_id + " ") >= 1
    full_line = next(line for line in out.splitlines() if line.split()[1:2] == [suite.runs[0].run_id])
    total = float(full_line.split()[-1])
    assert 30 < total < 40, full_line  # 5.8 weights + 17.3 grads+AdamW (fp32) + activations
    assert not (tmp_path / "math-1.5b").exists(), "a dry run writes nothing"


def test_the_tiny_plan_counts_the_built_world_not_the_recipe_cap(tmp_path: Path) -> None:
    """The tiny world's tokenizer keeps 43 of the recipe's 96 vocabulary slots: full fine-tuning
    trains the 662,016 parameters its results record (the recipe alone said 668.80k)."""
    from peft_rlvr_bench.dry_run import render_plan

    suite = load_suite(REPO / "suites" / "tiny.yaml")
    plan = render_plan(suite, tmp_path / "results")
    assert "0.001B parameters (tiny world config.json)" in plan
    full = next(line for line in plan.splitlines() if f" {suite.runs[0].run_id} " in line)
    assert suite.runs[0].adapter.name == "full" and full.split()[3] == "662.02k", full


def test_dry_run_of_an_unknown_model_says_why_in_one_line(tmp_path: Path) -> None:
    done = prb(
        "run", "math-1.5b", "--dry-run", "--set", "model.name=my-org/mystery", "--results-dir", str(tmp_path)
    )
    assert done.returncode == 0
    assert "no memory estimate: model 'my-org/mystery': no local config.json" in done.stdout


def test_overrides_set_nested_fields_lists_and_new_sections() -> None:
    data = {"model": {"name": "x"}, "eval": {"n_items": 500}, "adapters": [{"name": "lora", "lr": 1e-3}]}
    out = apply_overrides(
        data,
        [
            "model.path=/tmp/m",
            "eval.n_items=8",
            "adapters.0.lr=2e-4",
            "seeds=[0]",
            "data.sources.math500.path=/data/m.jsonl",
            "adapters=[{name: lora, lr: 1.0e-3}, {name: pissa, lr: 1.0e-4}]",
        ],
    )
    assert out["model"] == {"name": "x", "path": "/tmp/m"} and out["eval"]["n_items"] == 8
    assert out["seeds"] == [0] and out["data"]["sources"]["math500"]["path"] == "/data/m.jsonl"
    assert [a["name"] for a in out["adapters"]] == ["lora", "pissa"]
    assert data["eval"]["n_items"] == 500, "the loaded mapping is not modified"


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("eval.n_items.x=3", "--set eval.n_items.x=3: eval.n_items is a value (500), not a mapping"),
        ("adapters.7.lr=1", "--set adapters.7.lr=1: adapters is a list of 5; use an index 0..4"),
        ("novalue", "write PATH=VALUE"),
        ("modle.path=/x", "--set modle.path=/x: modle: unknown field (did you mean 'model'?)"),
        ("eval.n_items=-3", "--set eval.n_items=-3: eval.n_items"),
    ],
)
def test_bad_overrides_are_one_line_with_exit_code_2(tmp_path: Path, override: str, message: str) -> None:
    with pytest.raises(UserError) as caught:
        load_suite(MATH, ["eval.n_items=500", override] if "n_items.x" in override else [override])
    assert message in str(caught.value) and "\n" not in str(caught.value)
    done = prb("validate", str(MATH), "--set", override)
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and "Traceback" not in done.stderr


def test_overrides_apply_before_validation_and_change_the_runs() -> None:
    suite = load_suite(MATH, ["eval.n_items=8", "seeds=[0]", "budget.max_steps=2", "extrapolation=[]"])
    assert len(suite.runs) == 5 and not suite.derived
    assert all(run.eval.n_items == 8 and run.budget.max_steps == 2 for run in suite.runs)
