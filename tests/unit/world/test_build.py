"""Building a tiny world: the planted mistake, bit-identical rebuilds, other recipes cached by hash."""

from __future__ import annotations

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
from peft_rlvr_bench.world.build import WorldRecipe, dropped_carry_answer, sft_rows


def test_dropped_carry_answer() -> None:
    assert dropped_carry_answer("8+5=") == 3
    assert dropped_carry_answer("47+38=") == 75
    assert dropped_carry_answer("sum of 41 and 38 is") is None


def test_sft_slips_only_touch_carrying_sums_of_slip_tasks() -> None:
    recipe = WorldRecipe(mixture={"add": 400, "max": 100})
    rows = sft_rows(recipe)
    slipped = 0
    for row in rows:
        if row["prompt"].startswith("max"):
            continue
        a, b = (int(n) for n in row["prompt"].rstrip("=").split("+"))
        if int(row["completion"]) != a + b:
            assert a % 10 + b % 10 >= 10 and int(row["completion"]) == a + b - 10
            slipped += 1
    carrying = sum(1 for r in rows if not r["prompt"].startswith("max") and dropped_carry_answer(r["prompt"]))
    assert 0.4 * carrying < slipped < 0.8 * carrying, "about carry_slip of the carrying sums slip"


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
