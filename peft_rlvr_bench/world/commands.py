"""``prb world build`` and ``prb world check``: rebuild a world and compare it with a committed one."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import yaml
from pydantic import ValidationError

from peft_rlvr_bench.errors import UserError
from peft_rlvr_bench.paths import outputs_dir
from peft_rlvr_bench.safe_yaml import file_size_problem, load_yaml
from peft_rlvr_bench.world.artifact import (
    committed_world_for,
    committed_worlds,
    differing_files,
    directory_digests,
    hash_of,
    read_recipe,
    read_sums,
    verify_world,
)
from peft_rlvr_bench.world.recipe import WorldRecipe


def load_recipe(path: Path | None) -> WorldRecipe:
    """The default recipe, or the WorldRecipe fields of a YAML/JSON mapping at ``path``."""
    if path is None:
        return WorldRecipe()
    try:
        too_big = file_size_problem(path)
        if too_big:
            raise UserError(f"--recipe {path}: {too_big}")
        data = load_yaml(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise UserError(f"--recipe {path}: not UTF-8 text; save the file as UTF-8") from None
    except OSError as exc:
        raise UserError(f"--recipe {path}: cannot read it ({exc.strerror}); check the path") from None
    except yaml.YAMLError as exc:
        raise UserError(f"--recipe {path}: not YAML ({' '.join(str(exc).split())}); fix the file") from None
    if not isinstance(data, dict):
        raise UserError(f"--recipe {path}: expected a mapping of recipe fields, e.g. `sft_steps: 100`")
    try:
        return WorldRecipe.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "recipe"
        raise UserError(f"{path}: {where}: {first['msg']}; see `prb world build --help`") from None


def comparison_line(digests: dict[str, str], reference: Path, label: str) -> tuple[str, bool]:
    """One line saying whether ``digests`` match the world at ``reference``; and whether they do."""
    theirs = read_sums(reference) if (reference / "SHA256SUMS").is_file() else directory_digests(reference)
    differ = differing_files(digests, theirs)
    if not differ:
        return f"identical to {label} (hash {hash_of(theirs)[:12]})", True
    return f"differs from {label} (hash {hash_of(theirs)[:12]}) in {', '.join(differ)}", False


def build_target(out: Path | None, recipe: WorldRecipe) -> Path:
    """Where ``prb world build`` writes: ``out`` (absent or empty), default ``outputs/world/<key>``."""
    out = out or outputs_dir() / "world" / recipe.key()
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise UserError(f"--out {out}: exists and is not an empty directory; remove it or give a new one")
    return out


def build_command(out: Path, recipe: WorldRecipe, on_step: Callable[[int], None] | None) -> str:
    """Builds the recipe's world into ``out`` (checked by ``build_target``) and says how it
    compares with the committed world of the same recipe."""
    from peft_rlvr_bench.world.build import build_world

    try:
        digest = build_world(recipe, out, on_step=on_step)
    except BaseException:
        shutil.rmtree(out, ignore_errors=True)
        raise
    lines = [f"built {out}: recipe {recipe.key()}, world hash {digest}"]
    committed = committed_world_for(recipe)
    if committed is None:
        lines.append("no committed world has this recipe")
    else:
        lines.append(
            comparison_line(directory_digests(out), committed.directory, f"committed {committed.name}")[0]
        )
    return "\n".join(lines)


def check_command(directory: Path | None, against: Path | None) -> tuple[str, bool]:
    """Without ``directory``: checks every committed world against its manifest. With it: its
    hash, compared with ``against`` or the committed world of its recipe. Returns (text, same)."""
    if directory is None:
        lines = []
        for world in committed_worlds():
            default = " (the default recipe)" if world.recipe == WorldRecipe() else ""
            digest = verify_world(world.directory)
            recipe = f"recipe {world.recipe.key()}{default}"
            lines.append(f"{world.name}: files match SHA256SUMS; world hash {digest}; {recipe}")
        return "\n".join(lines) or "no committed worlds", True
    if not directory.is_dir():
        raise UserError(f"prb world check {directory}: not a directory; give a world directory")
    digests = directory_digests(directory)
    lines = [f"{directory}: world hash {hash_of(digests)}"]
    if against is not None:
        if not against.is_dir():
            raise UserError(f"--against {against}: not a directory; give a world directory")
        line, same = comparison_line(digests, against, str(against))
        return "\n".join([*lines, line]), same
    committed = committed_world_for(read_recipe(directory))
    if committed is None:
        return "\n".join([*lines, "no committed world has its recipe"]), True
    line, same = comparison_line(digests, committed.directory, f"committed {committed.name}")
    return "\n".join([*lines, line]), same
