"""The claims report's plots: read from files, never from the runner, models or adapters."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.helpers.claims import BASE, result

# The plots -------------------------------------------------------------------------------------


def test_claims_plots_import_neither_runner_nor_models_nor_adapters() -> None:
    import peft_rlvr_bench.reporting.claims_plots as plots

    tree = ast.parse(Path(plots.__file__).read_text())
    imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)} | {
        alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names
    }
    forbidden = ("peft_rlvr_bench.runner", "peft_rlvr_bench.models", "peft_rlvr_bench.adapters")
    assert not [name for name in imported if name and name.startswith(forbidden)]


def test_spectra_plot_reads_saved_weights_from_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import torch
    from safetensors.torch import save_file

    from peft_rlvr_bench.paths import final_dir
    from peft_rlvr_bench.reporting.claims_plots import SPECTRA_PLOT, claims_plots

    monkeypatch.setenv("PRB_OUTPUTS_DIR", str(tmp_path / "outputs"))
    assert final_dir("claims", "full-s0") == tmp_path / "outputs" / "claims" / "full-s0" / "final"
    name = "model.layers.{}.mlp.down_proj.weight"
    w0 = {name.format(i): torch.randn(8, 6) for i in range(3)}
    (tmp_path / "base").mkdir()
    save_file(w0, str(tmp_path / "base" / "model.safetensors"))
    runs = [result(m, 0, 0.9) for m in ("full", "full-sft")]
    base = BASE.model_copy(update={"spec": {"model": {"name": "local", "path": str(tmp_path / "base")}}})
    suite_dir = tmp_path / "results"
    suite_dir.mkdir()
    assert [p.name for p in claims_plots(suite_dir, base, runs)] == []  # no saved runs: nothing to plot
    for run in runs:
        directory = final_dir("claims", run.run_id)
        directory.mkdir(parents=True)
        tuned = {key: value + 0.01 * torch.randn_like(value) for key, value in w0.items()}
        save_file(tuned, str(directory / "model.safetensors"))
    assert [p.name for p in claims_plots(suite_dir, base, runs)] == [SPECTRA_PLOT]
    assert (suite_dir / SPECTRA_PLOT).stat().st_size > 0
