"""The package's shape: no import cycles, no private names across modules, small modules, and no
citation of documents users do not have."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

from tests.helpers.citations import unshipped_citations
from tests.helpers.paths import REPO

PACKAGE = REPO / "peft_rlvr_bench"
MAX_LINES = 400
WRITTEN = frozenset({"comparison.md"})
"""Markdown files the package writes that no checkout carries (``prb compare --out``'s example)."""


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for path in PACKAGE.rglob("*.py")}


def imports(name: str, path: Path) -> Iterator[tuple[str, str | None]]:
    """(imported module, imported name or None) of every import statement of the module, at
    any depth: inside functions and ``TYPE_CHECKING`` blocks too."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, None
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: resolved against this module's package
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                yield base, alias.name


def import_graph() -> tuple[dict[str, set[str]], list[str]]:
    """Module -> the package modules it imports, and every private name imported across modules."""
    graph: dict[str, set[str]] = {name: set() for name in MODULES}
    private = []
    for name, path in MODULES.items():
        for module, imported in imports(name, path):
            target = f"{module}.{imported}" if f"{module}.{imported}" in MODULES else module
            if target in MODULES and target != name:
                graph[name].add(target)
            if imported and imported.startswith("_") and target == module and module != name:
                private.append(f"{name}: from {module} import {imported}")
    return graph, private


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for other in sorted(graph[node]):
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_walk_sees_every_kind_of_import_statement() -> None:
    graph, _ = import_graph()
    assert "peft_rlvr_bench.rlvr.train" in graph["peft_rlvr_bench.runner.execute"], "inside a function"
    assert "peft_rlvr_bench.context" in graph["peft_rlvr_bench.rlvr.generation"], "under TYPE_CHECKING"
    assert "peft_rlvr_bench.rlvr.grpo" in graph["peft_rlvr_bench.rlvr.recipes"], "the recipe's own loop"
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_import_cycles() -> None:
    assert cycles(import_graph()[0]) == []


def test_no_private_name_is_imported_from_another_module() -> None:
    assert import_graph()[1] == []


def test_no_module_is_over_400_lines() -> None:
    long = {
        name: n for name, path in MODULES.items() if (n := len(path.read_text().splitlines())) > MAX_LINES
    }
    assert long == {}


def test_the_package_cites_only_what_ships_with_it() -> None:
    cited = [
        f"{path.relative_to(PACKAGE.parent)}: {name}"
        for path in PACKAGE.rglob("*")
        if path.is_file() and path.suffix in {".py", ".yaml", ".md", ".txt", ".json"}
        for name in unshipped_citations(path.read_text(errors="replace"), WRITTEN)
    ]
    assert cited == []


def test_a_citation_of_a_missing_document_or_a_path_out_of_the_repository_is_caught() -> None:
    assert unshipped_citations("see docs/methods.md and results.md") == []
    assert unshipped_citations("see ../notes/plan.txt and INTERNAL_NOTES.md") == [
        "../notes/plan.txt",
        "INTERNAL_NOTES.md",
    ]
