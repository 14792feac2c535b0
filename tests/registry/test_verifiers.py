"""The shared verifier matrix: every registered verifier is held to the same invariants.

A verifier is the RL reward and the eval metric at once, so each one must score a completion that
states the reference answer 1, a wrong or missing one 0, and anything that is not text 0 without
raising (a raising verifier costs the sample and counts as a fault). Adding a verifier means adding
one row to ``CASES``: completions that state the answer in the form its tasks ask for, and wrong ones.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import pytest

from peft_rlvr_bench.registry import VERIFIERS
from peft_rlvr_bench.verifier_faults import counting_faults, guarded_verifier
from tests.helpers.coverage import check_rows


@dataclass(frozen=True)
class Case:
    right: tuple[tuple[str, str], ...]
    """(completion, reference answer) pairs the verifier must score 1."""
    wrong: tuple[tuple[str, str], ...]
    """(completion, reference answer) pairs it must score 0: another answer, or none stated."""
    extra: str | None = None
    """The optional package the verifier needs (its tests skip without it)."""


def rg_answer(dataset: str, question: str, answer: str) -> str:
    """An rg item's answer: the JSON of reasoning-gym's entry, which its own checker reads."""
    return json.dumps({"dataset": dataset, "entry": {"question": question, "answer": answer, "metadata": {}}})


SUM = rg_answer("chain_sum", "State the final answer to the following arithmetic problem: 4 - 1 - 7 =", "-4")
LEGS = rg_answer("leg_counting", "How many legs are there in total if you have 2 spiders, 1 human?", "18")


CASES: dict[str, Case] = {
    "int_match": Case(
        right=(("85", "85"), ("85 because 47+38=85", "85"), ("-3", "-3")),
        wrong=(("84", "85"), ("eighty-five", "85"), ("", "85")),
    ),
    "choice_match": Case(
        right=(("\\boxed{B}", "B"), ("The answer is (C).", "C"), ("Answer: \\boxed{(j)}", "J")),
        wrong=(("\\boxed{A}", "B"), ("I cannot tell.", "B"), ("", "B")),
    ),
    "math_verify": Case(
        right=(
            ("\\boxed{\\frac{1}{2}}", "0.5"),
            ("so the answer is \\boxed{6\\sqrt{2}}", "6\\sqrt{2}"),
            ("\\boxed{7}", "7"),
        ),
        wrong=(("\\boxed{3}", "7"), ("7 is a number I like", "7"), ("", "7")),
    ),
    "reasoning_gym": Case(
        right=(("so the total is \\boxed{-4}.", SUM), ("\\boxed{\\text{18}}", LEGS), ("\\boxed{ 18 }", LEGS)),
        # chain_sum's checker gives -41 partial credit: not a right answer.
        wrong=(("\\boxed{-41}", SUM), ("-4", SUM), ("\\boxed{16}", LEGS), ("", LEGS)),
        extra="reasoning_gym",
    ),
}

NOT_TEXT = [None, 85, 0.5, ["\\boxed{85}"], {"content": "85"}, b"85"]
"""Completions that are not strings (a conversational trainer hands message lists, for one)."""


def needs_extra(name: str) -> None:
    extra = CASES[name].extra
    if extra is not None:
        pytest.importorskip(extra)


def test_every_registered_verifier_has_a_row() -> None:
    check_rows(VERIFIERS, CASES, "CASES of tests/registry/test_verifiers.py")


@pytest.mark.parametrize("name", sorted(CASES))
def test_a_completion_stating_the_reference_answer_scores_1(name: str) -> None:
    needs_extra(name)
    verifier = VERIFIERS.get(name)
    for completion, answer in CASES[name].right:
        score = verifier(completion, answer)
        assert score == 1.0 and isinstance(score, float), (completion, answer, score)


@pytest.mark.parametrize("name", sorted(CASES))
def test_a_wrong_or_missing_answer_scores_0(name: str) -> None:
    needs_extra(name)
    verifier = VERIFIERS.get(name)
    for completion, answer in CASES[name].wrong:
        score = verifier(completion, answer)
        assert score == 0.0 and isinstance(score, float), (completion, answer, score)


@pytest.mark.parametrize("name", sorted(CASES))
def test_a_completion_that_is_not_text_scores_0_without_raising(name: str) -> None:
    verifier = VERIFIERS.get(name)
    answer = CASES[name].right[0][1]
    for completion in NOT_TEXT:
        assert verifier(completion, answer) == 0.0, completion  # type: ignore[arg-type]


@pytest.mark.parametrize("name", sorted(CASES))
def test_as_the_guarded_reward_it_scores_the_same_and_counts_no_fault(name: str) -> None:
    needs_extra(name)
    guarded = guarded_verifier(name)
    case = CASES[name]
    with counting_faults() as faults:
        scores = [guarded(c, a) for c, a in case.right] + [guarded(c, a) for c, a in case.wrong]
        scores += [guarded(c, case.right[0][1]) for c in NOT_TEXT]  # type: ignore[arg-type]
    assert scores == [1.0] * len(case.right) + [0.0] * (len(case.wrong) + len(NOT_TEXT))
    counts = faults.as_dict()
    assert counts["calls"] == len(scores) and counts["exceptions"] == counts["timeouts"] == 0, counts
