"""What a text cites that a user of the repository would not have: a path out of the repository,
or a Markdown document that no file of the repository carries."""

from __future__ import annotations

import re
from functools import cache

from tests.helpers.paths import REPO

_DOCUMENT = re.compile(r"[\w./-]*\w\.md\b")
_OUTSIDE = re.compile(r"(?<![\w.])\.\./[\w./-]+")
_SKIP = {".git", ".venv", ".venv-lock", "outputs", "node_modules"}


@cache
def shipped_documents() -> frozenset[str]:
    """Every ``.md`` file of the checkout, by repository path and by file name (a text may cite
    ``docs/methods.md`` or just ``methods.md``; result pages like ``leaderboard.md`` count too)."""
    names: set[str] = set()
    for path in REPO.rglob("*.md"):
        relative = path.relative_to(REPO)
        if _SKIP.isdisjoint(relative.parts):
            names.update({relative.as_posix(), path.name})
    return frozenset(names)


def unshipped_citations(text: str, written: frozenset[str] = frozenset()) -> list[str]:
    """Paths that leave the repository, and Markdown documents it does not carry, cited in ``text``;
    ``written`` names files the code itself writes (an output a message names is no citation)."""
    outside = _OUTSIDE.findall(text)
    documents = [
        name
        for name in _DOCUMENT.findall(text)
        if name.lstrip("./") not in shipped_documents() and name not in written
    ]
    return sorted({*outside, *documents})
