"""Loading a suite file: read, apply ``--set`` overrides, validate, expand; any problem is one
``UserError`` line, ``file:line: field: message (did you mean X?)``."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import yaml

from peft_rlvr_bench.errors import UserError
from peft_rlvr_bench.overrides import apply_overrides, override_for
from peft_rlvr_bench.registry import did_you_mean
from peft_rlvr_bench.safe_yaml import YamlLimitError, file_size_problem, parse_yaml
from peft_rlvr_bench.suite.checks import line_of, validate
from peft_rlvr_bench.suite.expand import expand, expand_derived
from peft_rlvr_bench.suite.spec import Suite, SuiteSpec


def load_suite(path: str | Path, overrides: Sequence[str] = ()) -> Suite:
    """Reads, validates and expands a suite file; any problem is one ``UserError`` line.

    ``overrides`` are ``--set PATH=VALUE`` strings applied before validation (``overrides.py``)."""
    path = Path(path)
    text = _read_text(path)
    try:
        data, root = parse_yaml(text)
    except YamlLimitError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark else 1
        raise UserError(f"{path}:{line}: {exc.problem}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        line = f"{mark.line + 1}" if mark else "1"
        problem = getattr(exc, "problem", None) or str(exc)
        raise UserError(f"{path}:{line}: not valid YAML: {problem}; fix the syntax") from None
    if not isinstance(data, dict):
        what = "empty" if data is None else f"a {type(data).__name__}"
        raise UserError(f"{path}:1: a suite must be a YAML mapping (name, model, ...); this file is {what}")
    data = apply_overrides(data, overrides)
    errors = validate(data)
    if errors:
        loc, message = errors[0]
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        field = ".".join(str(p) for p in loc) or "<root>"
        cause = override_for(loc, overrides)
        where = f"--set {cause}" if cause else f"{path}:{line_of(root, loc)}"
        raise UserError(f"{where}: {field}: {message}{more}")
    spec = SuiteSpec.model_validate(data)
    runs = expand(spec)
    return Suite(spec=spec, path=path, runs=runs, derived=expand_derived(spec, runs))


def _read_text(path: Path) -> str:
    if not path.is_file():
        raise UserError(f"{path}: no such suite file; check the path or run `prb list suites`")
    too_big = file_size_problem(path)
    if too_big:
        raise UserError(f"{path}: {too_big}")
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise UserError(f"{path}: not UTF-8 text (byte {exc.start}); save the file as UTF-8") from None


def resolve_suite_path(name_or_path: str, suites_dir: Path = Path("suites")) -> Path:
    """``tiny`` -> ``suites/tiny.yaml``; an existing path is taken as it is."""
    candidate = Path(name_or_path)
    if candidate.suffix in {".yaml", ".yml"} or candidate.exists():
        return candidate
    named = suites_dir / f"{name_or_path}.yaml"
    if named.exists():
        return named
    known = sorted(p.stem for p in suites_dir.glob("*.yaml"))
    raise UserError(f"{named}: no such suite{did_you_mean(name_or_path, known)}; known: {', '.join(known)}")
