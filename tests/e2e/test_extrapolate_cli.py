"""`prb extrapolate` on plain Hugging Face and PEFT checkpoint directories."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from transformers import AutoModelForCausalLM

from tests.helpers.paths import REPO
from tests.helpers.tiny_models import tiny_model


def prb(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "peft_rlvr_bench.cli", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture(scope="module")
def linear_path(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[Path, dict[int, Path], dict[str, torch.Tensor]]:
    """A base and checkpoints at updates 10 and 20 on the exact path W0 + t * D."""
    root = tmp_path_factory.mktemp("ckpts")
    base = tiny_model()
    base.save_pretrained(root / "base")
    direction = {n: 1e-3 * torch.randn_like(p) for n, p in base.named_parameters()}
    checkpoints = {}
    for step in (10, 20):
        model = tiny_model()
        with torch.no_grad():
            for name, parameter in model.named_parameters():
                parameter.add_(step * direction[name])
        model.save_pretrained(root / f"step-{step}")
        checkpoints[step] = root / f"step-{step}"
    return root / "base", checkpoints, direction


def test_relex_predicts_a_linear_path_and_the_output_loads(linear_path, tmp_path: Path) -> None:
    base_dir, checkpoints, direction = linear_path
    args = [f"--checkpoint={step}={path}" for step, path in checkpoints.items()]
    done = prb(
        "extrapolate",
        "relex",
        "--base",
        str(base_dir),
        *args,
        "--target-step",
        "40",
        "--out",
        str(tmp_path / "out"),
    )
    assert done.returncode == 0, done.stderr
    predicted = AutoModelForCausalLM.from_pretrained(tmp_path / "out")
    expected = tiny_model()
    with torch.no_grad():
        for name, parameter in expected.named_parameters():
            parameter.add_(40 * direction[name])
    for (name, got), (_, want) in zip(predicted.named_parameters(), expected.named_parameters(), strict=True):
        torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-4, msg=name)
    assert (tmp_path / "out" / "config.json").exists() and (tmp_path / "out" / "extrapolation.json").exists()


def test_peft_adapter_directories_are_merged_onto_the_base_first(linear_path, tmp_path: Path) -> None:
    from peft import LoraConfig, get_peft_model

    base_dir, _, _ = linear_path
    adapters = {}
    for step in (10, 20):
        model = get_peft_model(tiny_model(), LoraConfig(r=2, target_modules=["q_proj", "v_proj"]))
        with torch.no_grad():
            for name, parameter in model.named_parameters():
                if "lora_B" in name:
                    parameter.fill_(1e-3 * step)
        # Both directories are named "final", as two runs' adapters often are.
        model.save_pretrained(tmp_path / f"run-{step}" / "final")
        adapters[step] = tmp_path / f"run-{step}" / "final"
    args = [f"--checkpoint={step}={path}" for step, path in adapters.items()]
    done = prb(
        "extrapolate",
        "linear",
        "--base",
        str(base_dir),
        *args,
        "--target-step",
        "30",
        "--out",
        str(tmp_path / "out"),
    )
    assert done.returncode == 0, done.stderr
    out = load_file(tmp_path / "out" / "model.safetensors")
    base = load_file(base_dir / "model.safetensors")
    name = "model.layers.0.self_attn.q_proj.weight"
    assert not torch.equal(out[name], base[name]), "the adapter's delta was merged and extrapolated"
    from peft_rlvr_bench.adapters.checkpoints import load_trained

    merged_20 = load_trained(str(base_dir), adapters[20]).merge_and_unload().state_dict()[name]
    # B grows linearly (A is the same seeded init), so the delta at 30 is 1.5x the delta at 20:
    # two checkpoints merged into one scratch folder would have predicted the delta at 20 instead.
    torch.testing.assert_close(out[name] - base[name], 1.5 * (merged_20 - base[name]), atol=1e-6, rtol=1e-4)
    name = "model.layers.0.self_attn.k_proj.weight"
    torch.testing.assert_close(out[name], base[name], msg="untouched weights stay at W0")


@pytest.mark.parametrize(
    ("case", "fragment"),
    [
        ("not-a-checkpoint", "not a checkpoint directory"),
        ("missing-base", "--base"),
        ("bad-checkpoint-arg", "write STEP=DIR"),
        ("one-checkpoint", "prb extrapolate:"),
        ("out-not-empty", "--out exists and is not an empty directory"),
        ("out-is-a-file", "--out exists and is not an empty directory"),
        ("unknown-method", "did you mean 'relex'?"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(linear_path, tmp_path: Path, case: str, fragment: str) -> None:
    base_dir, checkpoints, _ = linear_path
    (tmp_path / "empty").mkdir()
    good = [f"--checkpoint={s}={p}" for s, p in checkpoints.items()]
    out = ["--out", str(tmp_path / "out")]
    args = {
        "not-a-checkpoint": [
            "relex",
            "--base",
            str(base_dir),
            "--checkpoint",
            f"10={tmp_path / 'empty'}",
            f"--checkpoint=20={checkpoints[20]}",
            "--target-step",
            "40",
            *out,
        ],
        "missing-base": ["relex", "--base", str(tmp_path / "nope"), *good, "--target-step", "40", *out],
        "bad-checkpoint-arg": [
            "relex",
            "--base",
            str(base_dir),
            "--checkpoint",
            "ten",
            "--target-step",
            "40",
            *out,
        ],
        "one-checkpoint": [
            "alpharl",
            "--base",
            str(base_dir),
            f"--checkpoint=20={checkpoints[20]}",
            "--target-step",
            "40",
            *out,
        ],
        "out-not-empty": [
            "relex",
            "--base",
            str(base_dir),
            *good,
            "--target-step",
            "40",
            "--out",
            str(base_dir),
        ],
        "out-is-a-file": [
            "relex",
            "--base",
            str(base_dir),
            *good,
            "--target-step",
            "40",
            "--out",
            str(base_dir / "config.json"),
        ],
        "unknown-method": ["relx", "--base", str(base_dir), *good, "--target-step", "40", *out],
    }[case]
    done = prb("extrapolate", *args)
    assert done.returncode == 2, done.stderr
    assert done.stderr.count("\n") == 1 and fragment in done.stderr, done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "out").exists(), "nothing is written"
