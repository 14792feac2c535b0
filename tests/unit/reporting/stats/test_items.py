"""Per-item score tables: which runs pair item by item."""

from __future__ import annotations

from peft_rlvr_bench.reporting.stats import (
    TaskItems,
    item_tables,
)


def test_item_tables_pair_only_matching_digests_and_lengths() -> None:
    run = {"add": TaskItems("d1", (1.0, 0.0, 1.0))}
    assert item_tables([run, run])["add"].shape == (2, 3)
    assert item_tables([run, {"add": TaskItems("d2", (1.0, 0.0, 1.0))}]) is None
    assert item_tables([run, {"add": TaskItems("d1", (1.0, 0.0))}]) is None
    assert item_tables([run, None]) is None
    assert item_tables([run, {"add": run["add"], "max": run["add"]}]) is None
