"""Finding a suite by name from any directory.

A name is looked up in the ``--suites-dir`` the user gave; otherwise in ``./suites`` (the user's
own suites win), then in the suites shipped with the package: the checkout's ``suites/`` for a
clone or editable install, ``<prefix>/share/peft-rlvr-bench/suites`` for a wheel install.
"""

from __future__ import annotations

import sys
from pathlib import Path

from peft_rlvr_bench.errors import UserError
from peft_rlvr_bench.paths import repo_root
from peft_rlvr_bench.registry import did_you_mean

SHARE_DIR = Path("share") / "peft-rlvr-bench" / "suites"
"""Where a wheel install puts the shipped suites, under ``sys.prefix`` (pyproject's data-files)."""


def suite_dirs(suites_dir: Path | None = None) -> list[Path]:
    """The folders searched for ``NAME.yaml``, first match wins; only ``suites_dir`` when given."""
    if suites_dir is not None:
        if not suites_dir.is_dir():
            raise UserError(
                f"--suites-dir {suites_dir}: no such directory; pass the folder holding NAME.yaml"
            )
        return [suites_dir]
    candidates = [Path("suites"), repo_root() / "suites", Path(sys.prefix) / SHARE_DIR]
    found: list[Path] = []
    for folder in candidates:
        if folder.is_dir() and all(folder.resolve() != seen.resolve() for seen in found):
            found.append(folder)
    return found


def known_suites(suites_dir: Path | None = None) -> dict[str, Path]:
    """Every suite name reachable from here -> its file (the first folder holding it)."""
    known: dict[str, Path] = {}
    for folder in suite_dirs(suites_dir):
        for path in sorted(folder.glob("*.yaml")):
            known.setdefault(path.stem, path)
    return dict(sorted(known.items()))


def find_suite(name: str, suites_dir: Path | None = None) -> Path | None:
    """The file of suite ``name``, or None when no searched folder holds it."""
    return known_suites(suites_dir).get(name)


def resolve_suite_path(name_or_path: str, suites_dir: Path | None = None) -> Path:
    """``tiny`` -> the first ``tiny.yaml`` of ``suite_dirs``; an existing path is taken as it is."""
    candidate = Path(name_or_path)
    if candidate.suffix in {".yaml", ".yml"} or candidate.exists():
        return candidate
    known = known_suites(suites_dir)
    if name_or_path in known:
        return known[name_or_path]
    where = ", ".join(str(d) for d in suite_dirs(suites_dir)) or "no suites folder"
    raise UserError(
        f"suite {name_or_path!r}: not found in {where}{did_you_mean(name_or_path, list(known))}; "
        f"known: {', '.join(known) or 'none'}; give a YAML path or --suites-dir"
    )
