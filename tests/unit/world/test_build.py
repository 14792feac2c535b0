"""Building a tiny world: the planted mistake, bit-identical rebuilds, other recipes cached by hash."""

from __future__ import annotations

import random
import re
from pathlib import Path

import pytest

from peft_rlvr_bench.models import model_location, world_identity
from peft_rlvr_bench.suite import ModelSpec
from peft_rlvr_bench.world.artifact import (
    SUMS_NAME,
    verify_world,
    world_files,
    world_hash,
)
from peft_rlvr_bench.world.build import WorldRecipe, column_slipped_answer, sft_rows


def _carries(operands: list[int]) -> list[bool]:
    """Per column (units first), whether the true sum carries out of it."""
    width, carry, out = max(len(str(o)) for o in operands), 0, []
    for column in range(width):
        carry = (sum((o // 10**column) % 10 for o in operands) + carry) // 10
        out.append(bool(carry))
    return out


def test_a_column_slip_drops_exactly_that_columns_carry() -> None:
    never, always = random.Random(0), random.Random(0)
    assert column_slipped_answer("47+38=", (0.0,), never) == 85
    assert column_slipped_answer("47+38=", (1.0, 0.0), always) == 75  # the units carry dropped
    assert column_slipped_answer("sum of 75 and 38 is", (0.0, 1.0), always) == 13  # the tens carry
    assert column_slipped_answer("975+38=", (1.0,), always) == 903  # every carry dropped
    assert column_slipped_answer("41+38=", (1.0,), always) == 79  # nothing to drop


def test_sft_slips_touch_only_carrying_sums_of_slip_tasks_at_their_column_rates() -> None:
    recipe = WorldRecipe(mixture={"add": 3000, "max": 100}, carry_slips=(0.3, 0.8))
    rows = sft_rows(recipe)
    assert all(
        r["completion"] == str(max(map(int, re.findall(r"\d+", r["prompt"]))))
        for r in rows
        if r["prompt"].startswith("max")
    )
    units_carry = units_slipped = 0
    for row in rows:
        if row["prompt"].startswith("max"):
            continue
        operands = [int(n) for n in row["prompt"].rstrip("=").split("+")]
        carries = _carries(operands)
        answer = int(row["completion"])
        if not any(carries):
            assert answer == sum(operands), row
        if carries[0] and sum(o % 10 for o in operands) >= 10:
            units_carry += 1
            units_slipped += (answer % 100) // 10 != (sum(operands) // 10) % 10
    # The units slip shows in the tens digit of the answer (and only a tens carry could hide it).
    assert 0.2 < units_slipped / units_carry < 0.4, "about carry_slips[0] of the units carries drop"


def test_slip_shares_must_be_shares() -> None:
    with pytest.raises(ValueError, match="one share in"):
        WorldRecipe(carry_slips=(0.5, 1.5))
    with pytest.raises(ValueError, match="one share in"):
        WorldRecipe(carry_slips=())


def _build_cli(recipe_file: Path, out: Path) -> str:
    from peft_rlvr_bench.cli import run_cli

    assert run_cli(["world", "build", "--recipe", str(recipe_file), "--out", str(out)]) == 0
    return (out / SUMS_NAME).read_text()


def test_a_rebuild_on_one_machine_is_byte_identical_and_check_compares_worlds(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from peft_rlvr_bench.cli import run_cli

    recipe = tmp_path / "small.yaml"
    recipe.write_text(
        "mixture: {add: 200, copy: 200}\nsft_steps: 8\nsft_batch_size: 16\nnum_hidden_layers: 1\n"
    )
    first, second = _build_cli(recipe, tmp_path / "a"), _build_cli(recipe, tmp_path / "b")
    assert first == second and len(first.splitlines()) >= 5
    for path in world_files(tmp_path / "a"):
        assert path.read_bytes() == (tmp_path / "b" / path.name).read_bytes(), path.name
    capsys.readouterr()
    assert run_cli(["world", "check", str(tmp_path / "a"), "--against", str(tmp_path / "b")]) == 0
    assert "identical to" in capsys.readouterr().out

    recipe.write_text(recipe.read_text() + "seed: 1\n")
    _build_cli(recipe, tmp_path / "c")
    assert run_cli(["world", "check", str(tmp_path / "a"), "--against", str(tmp_path / "c")]) == 1
    assert "model.safetensors" in capsys.readouterr().out.splitlines()[-1]


def test_another_recipe_is_built_into_the_cache_and_recorded_by_its_hash(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PRB_CACHE_DIR", str(tmp_path))
    recipe = WorldRecipe(mixture={"add": 64}, sft_steps=1, sft_batch_size=4, num_hidden_layers=1)
    spec = ModelSpec(name="tiny", world=recipe)
    assert world_identity(spec) == {
        "model": "tiny",
        "artifact": None,
        "recipe_key": recipe.key(),
        "hash": None,
    }
    location = Path(model_location(spec))
    assert location == tmp_path / "world" / recipe.key()
    assert world_identity(spec)["hash"] == world_hash(location) == verify_world(location)
