"""README.md and the docs pages: generated tables equal what `make readme` writes, and the pages
hold the promises users and CI rely on (commands, links, no references outside the repository)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from peft_rlvr_bench.reporting import readme
from tests.helpers.citations import unshipped_citations
from tests.helpers.paths import REPO

ROOT = REPO
README = ROOT / "README.md"
DOCS = sorted((ROOT / "docs").glob("*.md"))
GENERATED_PAGES = [README, ROOT / "docs" / "leaderboard.md"]
"""The pages `make readme` rewrites."""


# The committed pages are what the generator writes ---------------------------------------------


@pytest.mark.parametrize("page", GENERATED_PAGES, ids=lambda page: page.name)
def test_committed_tables_are_what_make_readme_writes(page: Path) -> None:
    text = page.read_text(encoding="utf-8")
    assert readme.find_blocks(text), f"{page.name} has no generated block"
    regenerated = readme.render_page(text, page, ROOT / "results", ROOT / "suites")
    assert regenerated == text, f"{page.name} is out of date with results/: run `make readme`"


def test_make_readme_rewrites_every_generated_page() -> None:
    makefile = (ROOT / "Makefile").read_text()
    recipe = re.search(r"^readme:.*\n((?:\t.*\n)+)", makefile, re.MULTILINE)
    assert recipe is not None, "Makefile has no readme target"
    for page in GENERATED_PAGES:
        assert str(page.relative_to(ROOT)) in recipe.group(1)


def test_readme_shows_the_tiny_suite_in_five_columns() -> None:
    text = README.read_text()
    (block,) = [b for b in readme.find_blocks(text) if b.name == "tiny"]
    header = text[block.body_start : block.body_end].strip().splitlines()[0]
    assert header == "| Method | In-domain | Out-of-domain | Forgetting | Trainable params |"


# README and docs promises ----------------------------------------------------------------------


def test_readme_is_short_and_keeps_the_commands_ci_runs() -> None:
    lines = README.read_text().splitlines()
    assert len(lines) < 200, f"README.md has {len(lines)} lines; move detail into docs/"
    commands = {line.split("#")[0].strip() for line in lines}
    assert {"make test", "make suite NAME=tiny"} <= commands


def test_readme_links_every_docs_page() -> None:
    text = README.read_text()
    missing = [page.name for page in DOCS if f"](docs/{page.name})" not in text]
    assert not missing, f"README.md does not link {missing}"


@pytest.mark.parametrize("page", [README, *DOCS], ids=lambda page: page.name)
def test_pages_reference_nothing_outside_the_repository(page: Path) -> None:
    cited = unshipped_citations(page.read_text())
    assert cited == [], f"{page.name} cites {cited}, which users do not have"


def anchors(page: Path) -> set[str]:
    """GitHub's heading anchors of a Markdown page (fenced code skipped; repeats get -1, -2, ...)."""
    text = re.sub(r"^```.*?^```", "", page.read_text(), flags=re.MULTILINE | re.DOTALL)
    found: set[str] = set()
    for heading in re.findall(r"^#{1,6} +(.+?) *$", text, flags=re.MULTILINE):
        slug = re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-")
        repeat, candidate = 0, slug
        while candidate in found:
            repeat += 1
            candidate = f"{slug}-{repeat}"
        found.add(candidate)
    return found


@pytest.mark.parametrize("page", [README, *DOCS], ids=lambda page: page.name)
def test_relative_links_and_anchors_resolve(page: Path) -> None:
    broken = []
    for target, anchor in re.findall(r"\]\(([^)#\s]*)(?:#([^)\s]*))?\)", page.read_text()):
        if "://" in target:
            continue
        linked = (page.parent / target).resolve() if target else page
        if not linked.exists():
            broken.append(target)
        elif anchor and linked.suffix == ".md" and anchor not in anchors(linked):
            broken.append(f"{target}#{anchor}")
    assert not broken, f"{page.name} links to missing files or headings: {broken}"


@pytest.mark.parametrize("page", [README, *DOCS], ids=lambda page: page.name)
def test_table_cells_escape_their_pipes(page: Path) -> None:
    """A `|` inside a table cell, even in code, ends the cell on GitHub unless written `\\|`."""
    text = re.sub(r"^```.*?^```", "", page.read_text(), flags=re.MULTILINE | re.DOTALL)
    rows = [line for line in text.splitlines() if line.startswith("|")]
    bad = [span for row in rows for span in re.findall(r"`[^`]*`", row) if re.search(r"(?<!\\)\|", span)]
    assert not bad, f"{page.name}: escape | as \\| in {bad}"
