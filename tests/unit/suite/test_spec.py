"""The suite schema: fields, their ranges and the names allowed."""

from __future__ import annotations

from pathlib import Path

import pytest

from peft_rlvr_bench.errors import UserError
from peft_rlvr_bench.suite import is_safe_name, load_suite
from tests.helpers.suites import GOOD, write


@pytest.mark.parametrize(
    ("seeds", "bad"),
    [("[0, -1]", 1), ("[true]", 0), ("[1.0]", 0), ("['3']", 0), ("[0, 4294967296]", 1)],
)
def test_a_seed_the_seeding_functions_refuse_is_a_suite_error(tmp_path: Path, seeds: str, bad: int) -> None:
    path = write(tmp_path, GOOD.replace("seeds: [0, 1]", f"seeds: {seeds}"))
    with pytest.raises(UserError) as info:
        load_suite(path)
    assert str(info.value).startswith(
        f"{path}:8: seeds.{bad}: not a seed; use whole numbers from 0 to 4294967295"
    )


def test_the_seed_range_is_the_one_set_seed_accepts(tmp_path: Path) -> None:
    from transformers import set_seed

    from peft_rlvr_bench.suite import MAX_SEED

    runs = load_suite(write(tmp_path, GOOD.replace("seeds: [0, 1]", f"seeds: [0, {MAX_SEED}]"))).runs
    assert sorted({run.seed for run in runs}) == [0, MAX_SEED]
    set_seed(MAX_SEED)
    for refused in (MAX_SEED + 1, -1):
        with pytest.raises(ValueError):
            set_seed(refused)
    set_seed(0)


def test_repeated_seeds_are_named(tmp_path: Path) -> None:
    with pytest.raises(
        UserError, match=r"suite.yaml:8: seeds: Value error, seeds repeat \(1\); list each seed once"
    ):
        load_suite(write(tmp_path, GOOD.replace("seeds: [0, 1]", "seeds: [1, 0, 1]")))


@pytest.mark.parametrize("name", ["..", ".", "../x", "a/b", "/abs", "a\\b", "tiny\n", "", ".hidden", "a b"])
def test_names_that_could_leave_results_are_rejected(name: str) -> None:
    assert not is_safe_name(name)


def test_safe_names_pass() -> None:
    assert all(is_safe_name(name) for name in ("tiny", "tiny-peft", "math-1.5b", "lora_r8", "v2.1"))
