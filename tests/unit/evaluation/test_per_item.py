"""Per-item scores: the items digest, and lm-eval's logged samples put in item order
(evaluation/per_item.py)."""

from __future__ import annotations

import random

import pytest

from peft_rlvr_bench.evaluation.per_item import in_item_order, items_digest, sampled_items

# --- digest and ordering (pure) ---------------------------------------------------------------


def test_the_items_digest_is_a_fixed_function_of_prompts_and_answers_in_order() -> None:
    pairs = [("47+38=", "85"), ("copy 12=", "12")]
    # Pinned: a change here breaks the pairing of every stored result with every new one.
    assert items_digest(pairs) == "3238242e6cdd"
    assert items_digest(iter(pairs)) == items_digest(list(pairs))
    assert items_digest(pairs[::-1]) != items_digest(pairs), "order matters"
    assert items_digest([("47+38=", "86"), pairs[1]]) != items_digest(pairs), "answers matter"
    assert len(items_digest([])) == 12


def test_logged_samples_are_put_in_doc_id_order_and_gaps_refused() -> None:
    logged = [
        {"doc_id": i, "avg_at_k": i / 10, "filtered_resps": [[str(i)]], "sample_scores": [i]}
        for i in range(6)
    ]
    shuffled = logged[:]
    random.Random(0).shuffle(shuffled)
    assert [s["doc_id"] for s in in_item_order(shuffled)] == list(range(6))
    assert sampled_items(shuffled).means == [i / 10 for i in range(6)]
    with pytest.raises(ValueError, match=r"expected 0\.\.n-1"):
        in_item_order(logged[1:])
    with pytest.raises(ValueError, match=r"expected 0\.\.n-1"):
        in_item_order([*logged, logged[2]])
