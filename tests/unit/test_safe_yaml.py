"""The one YAML reader: duplicate keys, alias bombs and huge files refused, fast, before parsing."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import yaml

from peft_rlvr_bench.errors import UserError
from peft_rlvr_bench.safe_yaml import MAX_BYTES, MAX_EXPANDED_NODES, YamlLimitError, load_yaml, parse_yaml
from peft_rlvr_bench.suite import load_suite

BOMB = 'a: &a ["x","x","x","x","x","x","x","x","x"]\n' + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [" + ",".join([f"*{chr(97 + i)}"] * 9) + "]\n" for i in range(9)
)


def test_an_alias_bomb_is_refused_in_milliseconds() -> None:
    start = time.perf_counter()
    with pytest.raises(YamlLimitError, match="alias bomb"):
        parse_yaml(BOMB)
    assert time.perf_counter() - start < 0.5
    with pytest.raises(YamlLimitError, match="alias bomb"):
        parse_yaml("&a [*a]")  # a list that contains itself


def test_aliases_within_the_budget_and_merge_keys_still_work() -> None:
    assert load_yaml("b: &b {x: 1, y: 2}\nc: {<<: *b, x: 3}") == {
        "b": {"x": 1, "y": 2},
        "c": {"x": 3, "y": 2},
    }
    small = "a: &a [1, 2]\nb: [*a, *a]"
    assert load_yaml(small) == {"a": [1, 2], "b": [[1, 2], [1, 2]]}
    assert MAX_EXPANDED_NODES >= 10_000


def test_a_duplicate_key_is_refused_with_its_line() -> None:
    with pytest.raises(YamlLimitError) as caught:
        parse_yaml("a: 1\nb: {c: 1}\na: 2\n")
    assert "duplicate key 'a'" in caught.value.problem and caught.value.problem_mark.line == 2
    with pytest.raises(yaml.YAMLError, match="duplicate key 'c'"):
        load_yaml("{c: 1, c: 1}")


def test_a_huge_suite_file_is_refused_before_it_is_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "huge.yaml"
    with path.open("wb") as handle:  # 50 MB, sparse: the refusal must not depend on reading it
        handle.truncate(50 * 1024 * 1024)
    monkeypatch.setattr(Path, "read_text", lambda *a, **k: pytest.fail("read a file it should refuse"))
    start = time.perf_counter()
    with pytest.raises(UserError, match=rf"{path}: 52,428,800 bytes, over the {MAX_BYTES:,}"):
        load_suite(path)
    assert time.perf_counter() - start < 0.5
