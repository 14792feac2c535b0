"""Reading a recorded trajectory lazily: one file per tensor, clear errors on damage."""

from __future__ import annotations

import inspect
import json
from pathlib import Path
from typing import Any

import pytest
import safetensors

from peft_rlvr_bench.trajectory import (
    MANIFEST,
    Trajectory,
    TrajectoryRecorder,
    effective_series,
    effective_weight_names,
)
from tests.helpers.tiny_models import tiny_model
from tests.helpers.trajectories import train_and_record, wrap


def test_reading_is_lazy_one_file_per_tensor(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    model = wrap("full", {})
    train_and_record(model, tmp_path, steps=3)
    opened: list[str] = []
    real_safe_open = safetensors.safe_open

    def counting_safe_open(path: str, *args: Any, **kwargs: Any) -> Any:
        opened.append(Path(path).name)
        return real_safe_open(path, *args, **kwargs)

    monkeypatch.setattr(safetensors, "safe_open", counting_safe_open)
    traj = Trajectory(tmp_path)
    assert opened == []
    name = "model.layers.1.self_attn.o_proj.weight"
    traj.tensor(name, 2)
    assert opened == ["update_000002.safetensors"]
    series = traj.series(name)
    assert inspect.isgenerator(series) and len(opened) == 1
    assert next(series)[0] == 0 and opened[-1] == "update_000000.safetensors" and len(opened) == 2
    assert [update for update, _ in series] == [1, 2, 3] and len(opened) == 5

    early = traj.upto(2)
    assert early.updates == [0, 1, 2] and traj.updates == [0, 1, 2, 3]
    assert [update for update, _ in early.series(name)] == [0, 1, 2]
    with pytest.raises(ValueError, match="no record at update 3"):
        early.tensor(name, 3)
    assert len(effective_series(early, model.state_dict(), name)) == 3


def test_missing_or_corrupt_manifest_is_a_value_error_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / MANIFEST
    with pytest.raises(ValueError, match=str(path)):
        Trajectory(tmp_path)
    path.write_text("{not json")
    with pytest.raises(ValueError, match=f"{path}: not valid JSON"):
        Trajectory(tmp_path)
    path.write_text(json.dumps({"format": 1, "kind": "delta", "records": []}))
    with pytest.raises(ValueError, match=f"{path}: not a valid trajectory manifest"):
        Trajectory(tmp_path)


def test_methods_without_lora_factors_refuse_per_tensor_series(tmp_path: Path) -> None:
    # Their whole effective state is rebuilt through peft (tests/unit/extrapolation/test_from_trajectory.py).
    w0 = tiny_model().state_dict()
    for method, params in [("dora", {"r": 2}), ("vera", {"r": 16}), ("ia3", {})]:
        TrajectoryRecorder(tmp_path / method, every=1, base_reference="tiny").record(wrap(method, params), 0)
        traj = Trajectory(tmp_path / method)
        assert traj.kind == "peft" and traj.names  # recorded all the same
        expected = {"dora": "DoRA", "vera": "VERA", "ia3": "IA3"}[method]
        with pytest.raises(NotImplementedError, match=f"{expected}: only LoRA-factor and delta"):
            effective_series(traj, w0, effective_weight_names(traj)[0])
