"""The one YAML reader of the project: safe tags only, bounded size, bounded aliases, no duplicate keys.

Suites, ``--set`` values, ``--param`` values and world recipes all go through ``parse_yaml``.
PyYAML's ``SafeLoader`` constructs only plain data, but it accepts three things a user never
means: a duplicate key (the last one silently wins), an alias bomb (a few lines whose aliases
expand to billions of nodes once anything walks the data) and a file of tens of megabytes.
PyYAML offers no switch for either limit, so this module bounds them on the composed node
graph, before any Python object exists: the composer keeps each alias as a reference to its
anchored node, so counting the expanded size with a memo costs one pass over the file.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml

MAX_BYTES = 1 << 20
"""The largest YAML text read (1 MiB). The biggest shipped suite is a few kilobytes."""

MAX_EXPANDED_NODES = 100_000
"""The most nodes a document may have once its aliases are expanded."""


class YamlLimitError(yaml.YAMLError):
    """A document that parses but is refused: duplicate key, too many expanded nodes."""

    def __init__(self, problem: str, mark: yaml.Mark | None = None) -> None:
        super().__init__(problem)
        self.problem = problem
        self.problem_mark = mark


class BoundedSafeLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that refuses a mapping with the same key twice."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":  # `<<: *base` may be overridden by design
                continue
            key = self.construct_object(key_node, deep=True)
            try:
                duplicate = key in seen
            except TypeError:  # an unhashable key; the base class reports it
                break
            if duplicate:
                raise YamlLimitError(
                    f"duplicate key {key!r} (the earlier value would be silently dropped); keep one",
                    key_node.start_mark,
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def expanded_size(
    node: yaml.Node, memo: dict[int, int] | None = None, limit: int = MAX_EXPANDED_NODES
) -> int:
    """Nodes in ``node`` with every alias expanded; stops counting past ``limit``."""
    memo = {} if memo is None else memo
    if id(node) in memo:
        return memo[id(node)]
    memo[id(node)] = limit + 1  # a node that contains itself (`&a [*a]`) expands without end
    total = 1
    if isinstance(node, yaml.SequenceNode):
        children: list[yaml.Node] = list(node.value)
    elif isinstance(node, yaml.MappingNode):
        children = [part for pair in node.value for part in pair]
    else:
        children = []
    for child in children:
        total += expanded_size(child, memo, limit)
        if total > limit:
            break
    memo[id(node)] = total
    return total


def parse_yaml(text: str) -> tuple[Any, yaml.Node | None]:
    """The data of one YAML document and its root node (for line numbers); ``yaml.YAMLError``
    (with ``problem`` and ``problem_mark`` where known) for bad syntax, a duplicate key, an
    oversized text or an alias bomb."""
    if len(text) > MAX_BYTES:
        raise YamlLimitError(f"{len(text):,} characters, over the {MAX_BYTES:,} a YAML input may have")
    loader = BoundedSafeLoader(text)
    try:
        root = loader.get_single_node()
        if root is None:
            return None, None
        size = expanded_size(root)
        if size > MAX_EXPANDED_NODES:
            raise YamlLimitError(
                f"its aliases expand to over {MAX_EXPANDED_NODES:,} nodes (an alias bomb?); "
                "write the values out",
                root.start_mark,
            )
        return loader.construct_document(root), root
    finally:
        loader.dispose()


def load_yaml(text: str) -> Any:
    """``parse_yaml`` without the node: the data of a short YAML value such as ``--set`` gives."""
    return parse_yaml(text)[0]


def file_size_problem(path: Path) -> str | None:
    """Why ``path`` is too big to read as YAML (checked before reading it), or None."""
    size = os.stat(path).st_size
    if size > MAX_BYTES:
        return f"{size:,} bytes, over the {MAX_BYTES:,} a YAML file may have; is this the right file?"
    return None
