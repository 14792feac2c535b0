"""The coverage guard every registry matrix runs: one row per registered name, no row for a name
that is not registered, so a component added without its row fails CI (and a removed one too)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


def check_rows(registry: Any, rows: Iterable[str], matrix: str) -> None:
    """Fails naming what is missing on either side: registered names without a row in ``matrix``,
    rows that name nothing registered."""
    names, covered = set(registry.names()), set(rows)
    missing, unknown = sorted(names - covered), sorted(covered - names)
    assert not missing, f"registered {registry.kind}s without a row in {matrix}: {missing}; add one each"
    assert not unknown, f"rows in {matrix} that name no registered {registry.kind}: {unknown}"
