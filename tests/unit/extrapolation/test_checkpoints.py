"""Extrapolating plain checkpoint directories (`prb extrapolate`'s engine)."""

from __future__ import annotations

from pathlib import Path

import pytest

from peft_rlvr_bench.errors import UserError
from peft_rlvr_bench.extrapolation.checkpoints import extrapolate_checkpoints


def test_prb_extrapolate_refuses_methods_that_need_training(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="use it in a suite"):
        extrapolate_checkpoints("next", {}, tmp_path, {1: tmp_path}, 5, tmp_path / "out")
