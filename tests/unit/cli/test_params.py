"""``prb params`` counts on the meta device: no weights loaded, the tiny world never built."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from peft_rlvr_bench.cli import app
from tests.helpers.paths import REPO


def test_params_loads_no_weights_and_builds_no_world(monkeypatch: pytest.MonkeyPatch) -> None:
    import transformers

    from peft_rlvr_bench.world import build

    def forbidden(*args: object, **kwargs: object) -> None:
        raise AssertionError("prb params must not load weights or build the world")

    monkeypatch.setattr(transformers.AutoModelForCausalLM, "from_pretrained", forbidden)
    monkeypatch.setattr(build, "ensure_world", forbidden)
    monkeypatch.setattr(build, "build_world", forbidden)
    outcome = CliRunner().invoke(app, ["params", str(REPO / "suites" / "tiny.yaml")])
    assert outcome.exit_code == 0, outcome.output
    lines = {line.split()[0]: line for line in outcome.output.splitlines()}
    assert "8,704  (1.31% of 662,144)" in lines["lora"]  # r=1 on the tiny Llama, counted by peft
    assert "662,144  (100.00% of 662,144)" in lines["full"]
    assert "footprint" in lines["pissa"]  # its SVD reads weight values: no meta tensors there


def test_params_counts_a_hub_model_from_its_config_alone(tmp_path: Path) -> None:
    from transformers import LlamaConfig

    LlamaConfig(
        hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4, vocab_size=100
    ).save_pretrained(tmp_path / "model")  # a config.json and no weights at all
    suite = tmp_path / "s.yaml"
    suite.write_text(
        f"name: s\nmodel: {{name: some/llama, path: {tmp_path / 'model'}}}\ntrain_task: add\n"
        "eval: {in_domain: [add]}\nrecipe: {name: grpo}\nbudget: {max_steps: 5}\nseeds: [0]\n"
        "adapters:\n  - {name: lora, r: 4, lr: 1.0e-3}\n"
    )
    outcome = CliRunner().invoke(app, ["params", str(suite)])
    assert outcome.exit_code == 0, outcome.output
    # r=4 x (in + out) per matrix: q,k,v,o 4 x 128 each, gate,up,down 4 x 192 each; 2 layers.
    assert outcome.output.split()[:2] == ["lora", f"{2 * (4 * 512 + 3 * 768):,}"]
