"""Committed tiny worlds: named directories of package data, each with a ``SHA256SUMS`` manifest.

A world is a plain Hugging Face directory (config, generation config, weights, tokenizer) plus the
recipe it was built from. Its **hash** is the SHA-256 of its manifest, the ``sha256sum``-format
list of every file's digest, so ``sha256sum -c SHA256SUMS`` checks it with stock tools and one
short string names the exact bytes a result was produced with.

Float kernels differ across processors, so rebuilding a world from its recipe is reproducible on
one machine but not across machines; the committed artifact is what every machine loads. Which
artifact a suite gets is decided by its recipe alone: a suite whose ``model.world`` equals a
committed artifact's ``world_recipe.json`` loads that artifact, any other recipe is built into
the user cache. Replacing the world is therefore adding a directory under ``artifacts/`` (built
with ``prb world build --out``) whose recipe is the new default, and removing the old one.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError

from peft_rlvr_bench.errors import UserError
from peft_rlvr_bench.world.recipe import RECIPE_NAME, WorldRecipe

ARTIFACTS_DIR = Path(__file__).resolve().parent / "artifacts"
"""Where committed worlds live, one directory per world (package data)."""

SUMS_NAME = "SHA256SUMS"


@dataclass(frozen=True)
class CommittedWorld:
    """A world shipped with the package: its directory name, where it is, and its recipe."""

    name: str
    directory: Path
    recipe: WorldRecipe


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def world_files(directory: Path) -> list[Path]:
    """Every file of a world: each regular, non-hidden file except the manifest itself."""
    return sorted(
        path
        for path in directory.iterdir()
        if path.is_file() and not path.name.startswith(".") and path.name != SUMS_NAME
    )


def directory_digests(directory: Path) -> dict[str, str]:
    """``{file name: sha256}`` of the world's files as they are on disk now."""
    return {path.name: file_sha256(path) for path in world_files(directory)}


def sums_text(digests: Mapping[str, str]) -> str:
    """The manifest, in ``sha256sum`` format (two spaces, sorted by name)."""
    return "".join(f"{digests[name]}  {name}\n" for name in sorted(digests))


def hash_of(digests: Mapping[str, str]) -> str:
    """The world hash: SHA-256 of the manifest text of these digests."""
    return hashlib.sha256(sums_text(digests).encode()).hexdigest()


def world_hash(directory: Path) -> str:
    """The hash of the world in ``directory`` computed from its files (manifest or not)."""
    return hash_of(directory_digests(directory))


def write_sums(directory: Path) -> str:
    """Writes ``directory/SHA256SUMS`` for the files there now; returns the world hash."""
    digests = directory_digests(directory)
    (directory / SUMS_NAME).write_text(sums_text(digests))
    return hash_of(digests)


def read_sums(directory: Path) -> dict[str, str]:
    """The digests a world's manifest records; UserError when it is missing or malformed."""
    path = directory / SUMS_NAME
    try:
        lines = path.read_text().splitlines()
    except OSError as exc:
        raise UserError(f"{path}: cannot read the world manifest ({exc.strerror}); restore it") from None
    digests: dict[str, str] = {}
    for number, line in enumerate(lines, start=1):
        digest, sep, name = line.partition("  ")
        if not sep or len(digest) != 64 or not name:
            raise UserError(f"{path}:{number}: not a `sha256sum` line; restore the file from git")
        digests[name] = digest
    return digests


def verify_world(directory: Path) -> str:
    """Checks every file of the world against its manifest; returns the world hash.

    Raises UserError naming the first file that is missing, extra or has other bytes.
    """
    recorded = read_sums(directory)
    fix = "restore it (`git checkout -- <file>` or reinstall the package) or rebuild with `prb world build`"
    present = {path.name for path in world_files(directory)}
    extra = sorted(present - set(recorded))
    if extra:
        raise UserError(f"{directory / extra[0]}: not listed in {SUMS_NAME}; remove it or {fix}")
    for name, expected in sorted(recorded.items()):
        path = directory / name
        if not path.is_file():
            raise UserError(f"{path}: missing from the committed world; {fix}")
        actual = file_sha256(path)
        if actual != expected:
            raise UserError(
                f"{path}: sha256 {actual[:12]}... does not match {SUMS_NAME} ({expected[:12]}...); {fix}"
            )
    return hash_of(recorded)


def read_recipe(directory: Path) -> WorldRecipe:
    """The recipe a world directory was built from; UserError when it is missing or invalid."""
    path = directory / RECIPE_NAME
    try:
        return WorldRecipe.model_validate_json(path.read_text())
    except OSError as exc:
        raise UserError(
            f"{path}: cannot read the world's recipe ({exc.strerror}); is this a world?"
        ) from None
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "recipe"
        raise UserError(f"{path}: {where}: {first['msg']}; restore the file or rebuild the world") from None


def committed_worlds(root: Path | None = None) -> list[CommittedWorld]:
    """Every world committed under ``root`` (default: the package's ``artifacts/``), by name."""
    root = root or ARTIFACTS_DIR
    if not root.is_dir():
        return []
    return [
        CommittedWorld(path.name, path, read_recipe(path))
        for path in sorted(root.iterdir())
        if (path / SUMS_NAME).is_file()
    ]


def committed_world_for(recipe: WorldRecipe, root: Path | None = None) -> CommittedWorld | None:
    """The committed world built from ``recipe``, or None when the recipe has none."""
    matches = [world for world in committed_worlds(root) if world.recipe == recipe]
    if len(matches) > 1:
        names = ", ".join(str(world.directory) for world in matches)
        raise UserError(f"{names}: two committed worlds have the same recipe; remove all but one")
    return matches[0] if matches else None


def differing_files(ours: Mapping[str, str], theirs: Mapping[str, str]) -> list[str]:
    """Names of files whose digests differ, or that only one of the two worlds has."""
    return sorted(name for name in set(ours) | set(theirs) if ours.get(name) != theirs.get(name))
