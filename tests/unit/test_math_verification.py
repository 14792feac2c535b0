"""``math_verify``: competition math through math-verify, in a worker process with a timeout."""

from __future__ import annotations

import sys
import threading

import pytest

from peft_rlvr_bench.math_verification import MathVerifyTimeout, _Worker, check, math_verify
from peft_rlvr_bench.registry import VERIFIERS
from peft_rlvr_bench.verifiers import choice_match

RIGHT = [
    ("so the answer is $\\boxed{\\frac{1}{2}}$.", "\\frac{1}{2}"),
    ("Therefore $x = \\boxed{0.5}$", "\\frac{1}{2}"),
    ("\\boxed{\\dfrac12}", "0.5"),
    ("The total is \\boxed{10\\sqrt{2}}.", "\\sqrt{200}"),
    ("In polar form: \\boxed{\\left(3, \\frac{\\pi}{2}\\right)}", "\\left( 3, \\frac{\\pi}{2} \\right)"),
    ("\\boxed{x(x+2)}", "x^2+2x"),
    ("The final answer is $42$.", "42"),
    ("\\boxed{1000}", "1,000"),
    ("We get \\boxed{9\\pi}", "9\\pi"),
]
WRONG = [
    ("so the answer is $\\boxed{\\frac{1}{3}}$.", "\\frac{1}{2}"),
    ("\\boxed{4}", "3"),
    ("24*3 = 72 and that is all", "72"),  # no boxed or stated answer: a stray number is not one
    ("I am not sure.", "5"),
    ("\\boxed{5} or maybe \\boxed{7}", "5"),  # hedging between two boxed answers is wrong
]


@pytest.mark.parametrize(("completion", "answer"), RIGHT)
def test_equivalent_forms_score_one(completion: str, answer: str) -> None:
    assert math_verify(completion, answer) == 1.0


@pytest.mark.parametrize(("completion", "answer"), WRONG)
def test_wrong_or_missing_answers_score_zero(completion: str, answer: str) -> None:
    assert math_verify(completion, answer) == 0.0


def test_it_is_the_registered_verifier_and_the_check_agrees_in_process() -> None:
    assert VERIFIERS.get("math_verify") is math_verify
    assert VERIFIERS.get("choice_match") is choice_match
    assert check("\\boxed{\\dfrac12}", "0.5") and not check("\\boxed{4}", "3")


def test_scoring_from_worker_threads_works() -> None:
    """TRL and lm-eval may score outside the main thread, where math-verify's signal timeouts fail."""
    scores: list[float] = []
    threads = [
        threading.Thread(target=lambda c=c, a=a: scores.append(math_verify(c, a)))
        for c, a in RIGHT[:4] + WRONG[:2]
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(scores) == [0.0, 0.0, 1.0, 1.0, 1.0, 1.0]


def test_a_stuck_check_times_out_is_killed_and_the_next_check_gets_a_new_worker(tmp_path) -> None:
    # A worker that starts, then never answers: stands in for sympy stuck on a pathological input.
    stuck = tmp_path / "stuck.py"
    stuck.write_text("import sys, time\nprint('ready', flush=True)\nsys.stdin.readline()\ntime.sleep(600)\n")
    worker = _Worker([sys.executable, str(stuck)])
    with pytest.raises(MathVerifyTimeout):
        worker.score("\\boxed{1}", "1", timeout=0.5)
    assert worker._process is None, "the stuck worker was killed"
    worker.command = _Worker().command
    assert worker.score("\\boxed{1}", "1", timeout=30) == 1.0
    assert worker._process is not None and not worker._in_thread, "the new worker checked it"
    worker._stop()


def test_the_default_worker_starts_and_checks_in_its_own_process() -> None:
    """The timeout exists only in the worker process: a worker that cannot start makes every check
    run in the calling thread, where a pathological completion can hang the run."""
    worker = _Worker()
    try:
        assert worker.score("\\boxed{\\dfrac12}", "0.5", timeout=60) == 1.0
        assert not worker._in_thread, "the worker did not start; checks ran without a timeout"
        assert worker._process is not None and worker._process.poll() is None
    finally:
        worker._stop()


def test_a_gold_that_does_not_parse_raises_for_the_fault_counter() -> None:
    with pytest.raises(ValueError, match="does not parse"):
        math_verify("\\boxed{1}", "")
