"""The committed tiny world: loaded without building, hash-checked, damage refused in one line."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest

from peft_rlvr_bench.errors import UserError
from peft_rlvr_bench.models import model_location, world_identity
from peft_rlvr_bench.suite import ModelSpec
from peft_rlvr_bench.world import artifact
from peft_rlvr_bench.world.artifact import (
    ARTIFACTS_DIR,
    SUMS_NAME,
    committed_world_for,
    verify_world,
)
from peft_rlvr_bench.world.build import WorldRecipe, ensure_world


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
