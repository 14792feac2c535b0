"""Evaluation depth: avg@k and pass@k, KL drift from the base, answer NLL (forgetting as a loss)."""

from __future__ import annotations

import itertools
import math
from pathlib import Path
from typing import Any

import pytest
import torch

from peft_rlvr_bench.evaluation.drift import answer_nll, encode_pair, kl_drift, token_kl, token_nll
from peft_rlvr_bench.evaluation.estimators import avg_at_k, pass_at_k
from peft_rlvr_bench.evaluation.lm_eval_tasks.scoring import mean_over_samples, process_results_sampled
from peft_rlvr_bench.reporting.results import RoleScore, TaskScore, load_result

REPO = Path(__file__).resolve().parents[1]
FIXTURE = REPO / "tests" / "fixtures" / "sampled-eval.yaml"


# --- estimators -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("n", "c", "k", "expected"),
    [
        (5, 2, 1, 0.4),  # pass@1 is c / n
        (10, 3, 2, 1 - 21 / 45),  # 1 - C(7, 2) / C(10, 2)
        (5, 2, 5, 1.0),  # k = n: any correct sample passes
        (5, 0, 5, 0.0),
        (4, 4, 4, 1.0),
        (5, 0, 1, 0.0),  # c = 0 never passes
        (5, 0, 3, 0.0),
        (5, 3, 3, 1.0),  # n - c < k: every draw holds a correct sample
        (500, 1, 250, 0.5),  # C(499, 250) / C(500, 250) = 250 / 500, binomials far past float range
    ],
)
def test_pass_at_k_known_values(n: int, c: int, k: int, expected: float) -> None:
    assert pass_at_k(n, c, k) == pytest.approx(expected, abs=1e-12)


def test_pass_at_k_matches_exact_binomials_and_grows_with_k() -> None:
    for n in range(1, 13):
        for c in range(n + 1):
            values = [pass_at_k(n, c, k) for k in range(1, n + 1)]
            exact = [1 - math.comb(n - c, k) / math.comb(n, k) for k in range(1, n + 1)]
            assert values == pytest.approx(exact, abs=1e-12)
            assert values[0] == pytest.approx(c / n, abs=1e-12), "pass@1 is the mean accuracy"
            assert all(a <= b + 1e-12 for a, b in itertools.pairwise(values))


@pytest.mark.parametrize(("n", "c", "k"), [(5, 6, 1), (5, -1, 1), (5, 2, 0), (5, 2, 6)])
def test_pass_at_k_rejects_impossible_counts(n: int, c: int, k: int) -> None:
    with pytest.raises(ValueError):
        pass_at_k(n, c, k)


def test_avg_at_k_and_the_sampled_scoring_hook() -> None:
    assert avg_at_k([1.0, 0.0, 1.0, 1.0]) == 0.75
    with pytest.raises(ValueError):
        avg_at_k([])
    doc = {"answer": "85", "verifier": "int_match"}
    assert process_results_sampled(doc, [["85", "84", " 85 ", "x"]]) == {
        "avg_at_k": 0.5,
        "pass_at_k": 1.0,
        "sample_scores": [1.0, 0.0, 1.0, 0.0],
    }
    assert process_results_sampled(doc, [["1", "2"]]) == {
        "avg_at_k": 0.0,
        "pass_at_k": 0.0,
        "sample_scores": [0.0, 0.0],
    }
    assert process_results_sampled(doc, [["85"]]) == {
        "avg_at_k": 1.0,
        "pass_at_k": 1.0,
        "sample_scores": [1.0],
    }
    assert mean_over_samples([[1.0, 0.0], [1.0, 1.0, 1.0, 0.0]]) == 4 / 6, "every sample weighs the same"


def test_role_scores_average_the_depth_figures_only_when_every_task_has_them() -> None:
    a = TaskScore(accuracy=0.5, n=10, k=4, avg_at_k=0.4, pass_at_k=0.8, nll=1.0)
    b = TaskScore(accuracy=1.0, n=10, k=4, avg_at_k=0.6, pass_at_k=1.0, nll=3.0)
    role = RoleScore.from_tasks({"a": a, "b": b})
    assert (role.k, role.avg_at_k, role.pass_at_k, role.nll) == (4, 0.5, 0.9, 2.0)
    partial = RoleScore.from_tasks({"a": a, "c": TaskScore(accuracy=1.0, n=10)})
    assert (partial.k, partial.avg_at_k, partial.pass_at_k, partial.nll) == (None, None, None, None)


def test_results_written_before_the_depth_fields_still_load() -> None:
    # A result committed before these fields existed (results/tiny-rank1), kept as a fixture.
    result = load_result(REPO / "tests" / "fixtures" / "legacy_result_before_depth_fields.json")
    assert result.kl_to_base is None
    assert all(role.nll is None and role.pass_at_k is None for role in result.metrics.values())


# --- KL and NLL as tensor functions -----------------------------------------------------------


def test_token_kl_against_a_hand_computation() -> None:
    # p = softmax([0, ln 3]) = (1/4, 3/4), q = (1/2, 1/2):
    # KL(p || q) = 1/4 ln(1/2) + 3/4 ln(3/2) = 0.130812...
    p = torch.tensor([[[0.0, math.log(3.0)], [1.0, 2.0]]])
    q = torch.tensor([[[5.0, 5.0], [1.0, 2.0]]])
    kl = token_kl(p, q, torch.tensor([[True, True]]))
    assert kl[0, 0].item() == pytest.approx(0.25 * math.log(0.5) + 0.75 * math.log(1.5), rel=1e-6)
    assert kl[0, 1].item() == 0.0, "identical distributions: exactly zero"
    masked = token_kl(p, q, torch.tensor([[False, True]]))
    assert masked.tolist() == [[0.0, 0.0]]
    assert token_kl(q, p, torch.tensor([[True, True]]))[0, 0].item() == pytest.approx(
        0.5 * math.log(0.5 / 0.25) + 0.5 * math.log(0.5 / 0.75), rel=1e-6
    ), "KL is not symmetric: the first argument is the one expected under"


def test_token_nll_against_a_hand_computation() -> None:
    logits = torch.tensor([[[0.0, math.log(3.0)], [0.0, 0.0]]])
    targets = torch.tensor([[1, 0]])
    nll = token_nll(logits, targets, torch.tensor([[True, True]]))
    assert nll[0].tolist() == pytest.approx([-math.log(0.75), math.log(2.0)], rel=1e-6)
    assert token_nll(logits, targets, torch.tensor([[True, False]]))[0, 1].item() == 0.0


# --- on the tiny world ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def world() -> tuple[Any, Any, Any]:
    from peft_rlvr_bench.models import load_base
    from peft_rlvr_bench.suite import load_suite

    spec = load_suite(FIXTURE).spec
    return spec, *load_base(spec.model)


def items(task: str, n: int) -> list[Any]:
    from peft_rlvr_bench.registry import TASKS

    return TASKS.get(task).items("eval", n, seed=0)


def test_kl_of_a_model_against_itself_is_zero_and_grows_with_a_perturbation(world: Any) -> None:
    from peft_rlvr_bench.models import load_base

    spec, model, tokenizer = world
    prompts = [item.prompt for item in items("add", 12)]
    twin = load_base(spec.model)[0]
    same = kl_drift(model, twin, tokenizer, prompts, max_new_tokens=6, batch_size=5)
    assert same.token_mean == 0.0 and same.sequence_mean == 0.0
    assert same.n_items == 12 and same.n_tokens >= 12

    with torch.no_grad():
        twin.get_parameter("model.layers.0.mlp.down_proj.weight").add_(0.05)
    drifted = kl_drift(twin, model, tokenizer, prompts, max_new_tokens=6, batch_size=5)
    assert drifted.token_mean > 1e-4
    assert drifted.sequence_mean == pytest.approx(drifted.token_mean * drifted.n_tokens / drifted.n_items)


def test_answer_nll_is_the_manual_cross_entropy_in_any_batch(
    world: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from peft_rlvr_bench.evaluation import drift

    _, model, tokenizer = world
    pairs = [(item.prompt, item.answer) for item in items("copy", 7)]
    total, count = 0.0, 0
    for prompt, answer in pairs:
        context, continuation = encode_pair(tokenizer, prompt, answer)
        ids = torch.tensor([context + continuation])
        with torch.no_grad():
            logits = model(input_ids=ids).logits[0, len(context) - 1 : -1]
        total += torch.nn.functional.cross_entropy(logits, torch.tensor(continuation), reduction="sum").item()
        count += len(continuation)
    for batch_size in (1, 3, 64):  # left padding with explicit positions: the same figure
        nll = answer_nll(model, tokenizer, pairs, batch_size=batch_size)
        assert (nll.n_items, nll.n_tokens) == (7, count)
        assert nll.mean == pytest.approx(total / count, rel=1e-4, abs=1e-7)
    monkeypatch.setattr(drift, "LOGITS_BUDGET", 1)  # a long-vocabulary model: one row per batch
    assert answer_nll(model, tokenizer, pairs).mean == pytest.approx(nll.mean, rel=1e-5)
    monkeypatch.undo()
    wrong = answer_nll(model, tokenizer, [(p, str(int(a) + 1)) for p, a in pairs])
    assert wrong.mean > nll.mean + 1.0, "a wrong answer is much less likely than the right one"


def test_sampled_evaluation_is_seeded_and_consistent(world: Any) -> None:
    from peft_rlvr_bench.evaluation import evaluate_in_depth, sampled_scores
    from peft_rlvr_bench.models import load_base

    spec, model, tokenizer = world
    assert spec.eval.sampling is not None and spec.eval.sampling.k == 4 and spec.eval.n_items == 16
    reference = load_base(spec.model)[0]
    timings: dict[str, float] = {}
    metrics, kl = evaluate_in_depth(model, tokenizer, spec.eval, reference=lambda: reference, timings=timings)
    assert set(timings) == {"eval", "eval_sampling", "eval_nll", "eval_kl"}
    assert kl is not None and kl.token_mean == 0.0 and kl.n_items == 16, "the base against itself"
    for name, role in metrics.items():
        for task in role.tasks.values():
            assert task.n == 16
            if name not in spec.eval.sampling.roles:  # only the sampled roles pay for k samples
                assert task.k is None and task.avg_at_k is None and role.pass_at_k is None
                continue
            assert task.k == 4
            assert task.avg_at_k is not None and task.pass_at_k is not None
            assert 0.0 <= task.avg_at_k <= task.pass_at_k <= 1.0
    add = metrics["in_domain"].tasks["add"]
    assert add.avg_at_k is not None and 0.0 < add.avg_at_k < 1.0, "temperature 1: some right, some wrong"
    copy = metrics["forgetting"].tasks["copy"]
    assert copy.nll is not None and copy.nll_items == 32 and metrics["forgetting"].nll == copy.nll
    assert add.nll is None, "the answer NLL is measured on the forgetting tasks"

    again, no_kl = evaluate_in_depth(model, tokenizer, spec.eval)
    assert again == metrics, "the same seed gives the same samples"
    assert no_kl is None, "no reference, no KL"

    # pass@1 is avg@1; sampling restores the caller's random state, so adding it to a suite
    # changes nothing that runs after it.
    one = spec.eval.sampling.model_copy(update={"k": 1})
    state = torch.random.get_rng_state()
    single = sampled_scores(model, tokenizer, spec.eval, one)
    assert torch.equal(torch.random.get_rng_state(), state)
    assert all(scores["pass_at_k"] == scores["avg_at_k"] for scores in single.values())
