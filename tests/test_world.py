"""The tiny world: deterministic task data, a tokenizer that round-trips, bit-identical rebuilds, and
the committed world that every machine loads, hash-checked."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest

from peft_rlvr_bench.errors import UserError
from peft_rlvr_bench.models import model_location, world_identity
from peft_rlvr_bench.registry import TASKS
from peft_rlvr_bench.suite import ModelSpec
from peft_rlvr_bench.tasks.arithmetic import EVAL_POOL_SIZE
from peft_rlvr_bench.verifiers import integer_match
from peft_rlvr_bench.world import artifact
from peft_rlvr_bench.world.artifact import (
    ARTIFACTS_DIR,
    SUMS_NAME,
    committed_world_for,
    verify_world,
    world_files,
    world_hash,
)
from peft_rlvr_bench.world.build import WorldRecipe, build_world, dropped_carry_answer, ensure_world, sft_rows


@pytest.mark.parametrize("name", ["add", "add_words", "copy", "max"])
def test_task_items_are_deterministic_correct_and_train_never_repeats_eval(name: str) -> None:
    task = TASKS.get(name)
    assert task.items("train", 50, seed=3) == task.items("train", 50, seed=3)
    assert task.items("train", 50, seed=3) != task.items("train", 50, seed=4)
    eval_items = task.items("eval", EVAL_POOL_SIZE, seed=0)
    assert len({item.prompt for item in eval_items}) == EVAL_POOL_SIZE, "eval problems are distinct"
    assert task.items("eval", 10, seed=7) == eval_items[:10], "eval items do not depend on the seed"
    eval_prompts = {item.prompt for item in eval_items}
    assert not eval_prompts & {item.prompt for item in task.items("train", 3000, seed=0)}
    for item in eval_items[:200]:
        assert integer_match(item.answer, item.answer) == 1.0


def test_addition_answers_are_true_sums() -> None:
    for item in TASKS.get("add").items("eval", 300, seed=0):
        a, b = item.prompt.rstrip("=").split("+")
        assert int(item.answer) == int(a) + int(b)


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


def test_the_default_recipe_loads_the_committed_world_without_building(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PRB_CACHE_DIR", str(tmp_path))
    committed = committed_world_for(WorldRecipe())
    assert committed is not None and committed.directory.parent == ARTIFACTS_DIR
    assert model_location(ModelSpec(name="tiny")) == str(committed.directory)
    assert list(tmp_path.iterdir()) == [], "nothing built, nothing cached"
    # The world hash is the sha256 of the manifest file, so `sha256sum SHA256SUMS` gives it too.
    manifest = (committed.directory / SUMS_NAME).read_bytes()
    identity = world_identity(ModelSpec(name="tiny"))
    assert identity["hash"] == hashlib.sha256(manifest).hexdigest() == verify_world(committed.directory)
    assert identity["artifact"] == committed.name and identity["recipe_key"] == WorldRecipe().key()


def _copy_committed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    committed = committed_world_for(WorldRecipe())
    assert committed is not None
    root = tmp_path / "artifacts"
    shutil.copytree(committed.directory, root / committed.name)
    monkeypatch.setattr(artifact, "ARTIFACTS_DIR", root)
    return root / committed.name


def test_a_damaged_committed_world_is_a_one_line_error_on_load(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from peft_rlvr_bench.cli import run_cli

    monkeypatch.setenv("PRB_CACHE_DIR", str(tmp_path / "cache"))
    world = _copy_committed(tmp_path, monkeypatch)
    assert ensure_world(WorldRecipe()) == world
    weights = bytearray((world / "model.safetensors").read_bytes())
    weights[-1] ^= 1
    (world / "model.safetensors").write_bytes(bytes(weights))
    with pytest.raises(UserError, match=r"model\.safetensors: sha256 .* does not match SHA256SUMS"):
        model_location(ModelSpec(name="tiny"))
    assert not (tmp_path / "cache").exists(), "a damaged world is never replaced by a silent rebuild"
    assert run_cli(["world", "check"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "model.safetensors" in err and "Traceback" not in err


def test_an_extra_file_in_a_committed_world_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = _copy_committed(tmp_path, monkeypatch)
    (world / "chat_template.jinja").write_text("{{ messages }}")
    with pytest.raises(UserError, match=r"chat_template\.jinja: not listed in SHA256SUMS"):
        ensure_world(WorldRecipe())


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


def test_tokenizer_reloads_identically_and_keeps_digits_apart(tmp_path: Path) -> None:
    from transformers import AutoTokenizer

    recipe = WorldRecipe(
        mixture={"add": 100, "add_words": 100}, sft_steps=1, sft_batch_size=4, num_hidden_layers=1
    )
    build_world(recipe, tmp_path)
    tokenizer = AutoTokenizer.from_pretrained(tmp_path)
    text = "sum of 417 and 38 is 455"
    assert tokenizer.decode(tokenizer(text).input_ids) == text
    assert tokenizer.tokenize("417+38=")[:3] == ["4", "1", "7"]
    assert tokenizer.eos_token == "<eos>" and tokenizer.bos_token is None
