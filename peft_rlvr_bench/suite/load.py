"""Loading a suite file: read, apply ``--set`` overrides, expand sweeps, validate, expand runs; any
problem is one ``UserError`` line, ``file:line: field: message (did you mean X?)``."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from peft_rlvr_bench.errors import UserError
from peft_rlvr_bench.overrides import apply_overrides, override_for
from peft_rlvr_bench.safe_yaml import YamlLimitError, file_size_problem, parse_yaml
from peft_rlvr_bench.suite.checks import Loc, line_of, validate
from peft_rlvr_bench.suite.expand import expand, expand_derived
from peft_rlvr_bench.suite.spec import Suite, SuiteSpec
from peft_rlvr_bench.suite.sweep import Point, at_points, check_select, expand_grid, find_sweeps


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
    # Every grid point is validated as an entry of its own; errors point at the entry it came from.
    sweeps = find_sweeps(data)
    grid, origin = expand_grid(data, sweeps) if sweeps else (data, [])
    errors = [(_at_origin(loc, origin), message) for loc, message in validate(grid)]
    if not errors:
        template_data = at_points(data, sweeps, {})
        template = SuiteSpec.model_validate(template_data)
        errors = check_select(template, sweeps)
        if template.select is not None and sweeps and not errors:
            errors = validate(template_data)  # the comparison's entries, under their own labels
    if errors:
        loc, message = errors[0]
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        field = ".".join(str(p) for p in loc) or "<root>"
        cause = override_for(loc, overrides)
        where = f"--set {cause}" if cause else f"{path}:{line_of(root, loc)}"
        raise UserError(f"{where}: {field}: {message}{more}")
    if template.select is not None:  # the comparison's runs wait for the selection stage's choice
        return Suite(spec=template, path=path, runs=[], sweeps=sweeps, source=json_data(data))
    spec = SuiteSpec.model_validate(grid)
    runs = expand(spec)
    return Suite(spec=spec, path=path, runs=runs, derived=expand_derived(spec, runs))


def with_choice(suite: Suite, chosen: Mapping[int, Point]) -> Suite:
    """A ``select:`` suite with its comparison runs: each swept entry at its ``chosen`` point."""
    spec = SuiteSpec.model_validate(at_points(suite.source, suite.sweeps, chosen))
    runs = expand(spec)
    return suite.model_copy(update={"spec": spec, "runs": runs, "derived": expand_derived(spec, runs)})


def _at_origin(loc: Loc, origin: list[int]) -> Loc:
    """A location in the expanded grid mapped back to the adapter entry the YAML holds."""
    if len(loc) >= 2 and loc[0] == "adapters" and isinstance(loc[1], int) and loc[1] < len(origin):
        return ("adapters", origin[loc[1]], *loc[2:])
    return loc


def json_data(data: Mapping[str, Any]) -> dict[str, Any]:
    """The YAML data as plain JSON (dates and the like as strings)."""
    return json.loads(json.dumps(data, default=str))


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
