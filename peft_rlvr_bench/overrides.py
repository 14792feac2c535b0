"""``--set PATH=VALUE``: change a suite's settings from the command line, before validation.

``PATH`` is a dotted path into the suite's YAML mapping (list items by index: ``adapters.0.lr``),
``VALUE`` is parsed as YAML (``8`` is an int, ``[0]`` a list, ``{name: lora, lr: 1e-3}`` a
mapping, ``null`` None, anything else a string). Missing mappings on the way are created, so
``--set data.sources.math500.path=DIR`` works on a suite without a ``data`` section; whether the
result is a valid suite is then checked like any suite, and an error in a set field names the
``--set`` that caused it.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

import yaml

from peft_rlvr_bench.errors import UserError
from peft_rlvr_bench.safe_yaml import load_yaml


def parse_override(item: str) -> tuple[list[str], Any]:
    """``"eval.n_items=8"`` -> (["eval", "n_items"], 8)."""
    key, sep, raw = item.partition("=")
    parts = key.strip().split(".")
    if not sep or not all(part.strip() for part in parts):
        raise UserError(f"--set {item!r}: write PATH=VALUE with a dotted PATH, e.g. --set eval.n_items=8")
    try:
        value = load_yaml(raw) if raw.strip() else ""
    except yaml.YAMLError as exc:
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise UserError(f"--set {item!r}: the value is not valid YAML ({problem}); quote it") from None
    return [part.strip() for part in parts], value


def apply_overrides(data: dict[str, Any], overrides: Sequence[str]) -> dict[str, Any]:
    """A copy of ``data`` with every ``--set`` applied in order; a path that cannot be followed
    (through a value, or a list index out of range) is one ``UserError`` line."""
    data = copy.deepcopy(data)
    for item in overrides:
        parts, value = parse_override(item)
        node: Any = data
        for depth, part in enumerate(parts):
            last = depth == len(parts) - 1
            where = ".".join(parts[:depth]) or "the suite"
            if isinstance(node, dict):
                if last:
                    node[part] = value
                else:
                    node = node.setdefault(part, {})
                continue
            if isinstance(node, list):
                # Digits only: a negative index would count from the end, which no error could name.
                if not part.isdigit() or int(part) >= len(node):
                    raise UserError(
                        f"--set {item}: {where} is a list of {len(node)}; use an index 0..{len(node) - 1}"
                    )
                if last:
                    node[int(part)] = value
                else:
                    node = node[int(part)]
                continue
            raise UserError(f"--set {item}: {where} is a value ({node!r}), not a mapping; set {where} itself")
    return data


def override_for(loc: Sequence[str | int], overrides: Sequence[str]) -> str | None:
    """The last ``--set`` whose path leads to (or into) the field at ``loc``, if any."""
    field = [str(part) for part in loc]
    for item in reversed(overrides):
        parts = parse_override(item)[0]
        shared = min(len(parts), len(field))
        if parts[:shared] == field[:shared]:
            return item
    return None
