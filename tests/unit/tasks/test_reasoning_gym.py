"""rg:<dataset> tasks: reasoning-gym items, its own scorer, held-out splits, knobs and validation."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from peft_rlvr_bench.errors import UserError
from peft_rlvr_bench.registry import TASKS, VERIFIERS
from peft_rlvr_bench.suite import load_suite
from peft_rlvr_bench.tasks.data import DataSpec
from tests.helpers.suites import GOOD, write


def needs_reasoning_gym() -> None:
    pytest.importorskip("reasoning_gym")


def gold(answer: str) -> str:
    """The dataset's own answer inside an rg item's answer."""
    return json.loads(answer)["entry"]["answer"]


@pytest.mark.parametrize("name", ["rg:chain_sum", "rg:leg_counting", "rg:spell_backward"])
def test_the_datasets_own_scorer_gives_1_to_the_right_boxed_answer_and_0_otherwise(name: str) -> None:
    needs_reasoning_gym()
    task = TASKS.get(name)
    score = VERIFIERS.get(task.verifier)
    for item in task.items("eval", 3, seed=0):
        right = gold(item.answer)
        assert score(f"Step by step ... so the answer is \\boxed{{{right}}}.", item.answer) == 1.0
        assert score(f"\\boxed{{\\text{{{right}}}}}", item.answer) == 1.0
        wrong = "1" if right == "0" else "0"
        assert score(f"\\boxed{{{wrong}}}", item.answer) == 0.0
        assert score(right, item.answer) == 0.0, "the templates ask for \\boxed{}; a bare answer states none"
        assert score(None, item.answer) == 0.0  # type: ignore[arg-type]


def test_partial_credit_of_the_datasets_scorer_is_not_a_right_answer() -> None:
    needs_reasoning_gym()
    from reasoning_gym import get_score_answer_fn

    item = TASKS.get("rg:chain_sum").items("eval", 1, seed=0)[0]
    near = gold(item.answer) + "1"  # one digit too many
    assert 0.0 < get_score_answer_fn("chain_sum")(near, json.loads(item.answer)["entry"]) < 1.0
    assert VERIFIERS.get("reasoning_gym")(f"\\boxed{{{near}}}", item.answer) == 0.0


def test_items_are_the_datasets_entries_in_the_suites_prompt_template() -> None:
    needs_reasoning_gym()
    import reasoning_gym

    task = TASKS.get("rg:chain_sum")
    entries = list(reasoning_gym.create_dataset("chain_sum", size=4, seed=0))
    items = task.items("eval", 4, seed=7)
    assert [gold(item.answer) for item in items] == [entry["answer"] for entry in entries]
    assert items[0].prompt.startswith("<|im_start|>system\nPlease reason step by step")
    assert entries[0]["question"] in items[0].prompt
    assert task.stop == ("<|im_end|>", "<|endoftext|>")
    plain = task.with_data(DataSpec(template="plain")).items("eval", 1, seed=0)[0]
    assert plain.prompt == entries[0]["question"]


def test_eval_is_fixed_train_follows_the_run_seed_and_never_repeats_an_eval_question() -> None:
    needs_reasoning_gym()
    task = TASKS.get("rg:basic_arithmetic")
    assert task.items("eval", 20, seed=0) == task.items("eval", 20, seed=3)
    first, again, other = (task.items("train", 50, seed=s) for s in (0, 0, 1))
    assert first == again and first != other
    eval_prompts = {item.prompt for item in task.items("eval", task.max_eval_items, seed=0)}
    assert not eval_prompts & {item.prompt for item in first + other}


def test_a_tiny_problem_space_still_holds_the_eval_questions_out_of_train() -> None:
    """Two terms below 100: ~20k questions, so 200 train draws meet the 500 eval ones by chance."""
    needs_reasoning_gym()
    knobs = {"rg:chain_sum": {"max_terms": 2, "max_digits": 2}}
    task = TASKS.get("rg:chain_sum").with_data(DataSpec(reasoning_gym=knobs))
    eval_prompts = {item.prompt for item in task.items("eval", task.max_eval_items, seed=0)}
    train = task.items("train", 200, seed=0)
    assert len(train) == 200 and not eval_prompts & {item.prompt for item in train}
    assert {json.loads(item.answer)["entry"]["metadata"]["num_terms"] for item in train} == {2}


def test_unknown_rg_dataset_is_a_one_line_error_with_a_suggestion() -> None:
    needs_reasoning_gym()
    with pytest.raises(
        UserError, match=r"unknown reasoning-gym task 'rg:chain_sun' \(did you mean 'rg:chain_sum'\?\)"
    ):
        TASKS.get("rg:chain_sun")
    assert "rg:chain_sun" in TASKS, "the name has the family's form; get says whether it exists"


def test_datasets_whose_checker_cannot_score_a_json_entry_are_refused() -> None:
    """rearc's checker compares tuple grids, which an item's JSON answer turns into lists: every
    answer would score 0, so the task is refused rather than silently wrong."""
    needs_reasoning_gym()
    with pytest.raises(UserError, match=r"task 'rg:rearc' is not supported: .* compares Python objects"):
        TASKS.get("rg:rearc")
    with pytest.raises(UserError, match=r"task 'rg:composite' is not supported: composite needs a config"):
        TASKS.get("rg:composite")


def test_rg_without_the_extra_names_the_install_command(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setitem(sys.modules, "reasoning_gym", None)  # import fails as if not installed
    with pytest.raises(
        UserError, match=r"task 'rg:gcd' needs reasoning-gym: pip install -e '\.\[reasoning-gym\]'"
    ):
        TASKS.get("rg:gcd")
    suite = write(
        tmp_path, GOOD.replace("forgetting: [copy]", "forgetting: [copy]\n  out_of_domain: ['rg:gcd']")
    )
    with pytest.raises(
        UserError, match=r"suite.yaml:6: eval.out_of_domain.0: task 'rg:gcd' needs reasoning-gym"
    ):
        load_suite(suite)


def test_validation_reports_unknown_datasets_and_bad_knobs_on_their_lines(tmp_path: Path) -> None:
    needs_reasoning_gym()
    good = GOOD.replace("forgetting: [copy]", "forgetting: [copy]\n  out_of_domain: ['rg:chain_sum']")
    knobs = "data:\n  reasoning_gym:\n    rg:chain_sum: {max_terms: 3}\n"
    assert load_suite(write(tmp_path, good + knobs)).runs[0].data.reasoning_gym == {
        "rg:chain_sum": {"max_terms": 3}
    }
    with pytest.raises(UserError, match=r"eval.out_of_domain.0: unknown reasoning-gym task 'rg:chain_sun'"):
        load_suite(write(tmp_path, good.replace("rg:chain_sum", "rg:chain_sun")))
    for bad, message in [
        (
            "rg:chain_sum: {max_terms: 3, wings: 2}",
            r"data.reasoning_gym.rg:chain_sum: not a valid chain_sum config",
        ),
        ("rg:chain_sum: {seed: 3}", r"data.reasoning_gym.rg:chain_sum: seed set by the harness"),
        ("add: {max_terms: 3}", r"data.reasoning_gym.add: 'add' is not a reasoning-gym task"),
        ("rg:chain_sun: {}", r"data.reasoning_gym.rg:chain_sun: unknown reasoning-gym task"),
    ]:
        with pytest.raises(UserError, match=message):
            load_suite(write(tmp_path, good + f"data:\n  reasoning_gym:\n    {bad}\n"))


def test_rg_items_score_through_lm_eval_as_the_verifier_scores_them(monkeypatch: pytest.MonkeyPatch) -> None:
    """The JSON answers survive lm-eval's data files, and the task name its config."""
    needs_reasoning_gym()
    import torch

    from peft_rlvr_bench.evaluation import greedy_scores
    from peft_rlvr_bench.suite import EvalSpec
    from tests.helpers.scripted_lm import ScriptedLM

    n, right = 6, {1, 4}
    items = TASKS.get("rg:leg_counting").items("eval", n, seed=0)
    by_prompt = {item.prompt: (gold(item.answer), j in right) for j, item in enumerate(items)}

    def answer(prompt: str, nth: int, sampled: bool) -> str:
        target, correct = by_prompt[prompt]
        return f"So \\boxed{{{target if correct else int(target) + 1}}}"

    lm = ScriptedLM(answer)
    monkeypatch.setattr("lm_eval.models.huggingface.HFLM", lambda **kwargs: lm)
    spec = EvalSpec(in_domain=["rg:leg_counting"], n_items=n)
    score = greedy_scores(torch.nn.Linear(1, 1), None, spec)["rg:leg_counting"]
    assert score.items == [1.0 if j in right else 0.0 for j in range(n)] and score.accuracy == 2 / n


def test_validation_keeps_the_checkers_json_answers_from_sft_and_the_answer_nll(tmp_path: Path) -> None:
    needs_reasoning_gym()
    rl = GOOD.replace("train_task: add", "train_task: 'rg:chain_sum'")
    assert load_suite(write(tmp_path, rl)).runs[0].train_task == "rg:chain_sum"
    with pytest.raises(
        UserError, match=r"recipe: recipe 'sft' trains on answers; 'rg:chain_sum' has checker"
    ):
        load_suite(write(tmp_path, rl.replace("recipe: {name: grpo}", "recipe: {name: sft}")))
    forgetting = GOOD.replace("forgetting: [copy]", "forgetting: [copy, 'rg:chain_sum']")
    with pytest.raises(UserError, match=r"eval.forgetting.1: loss_items needs text answers, 'rg:chain_sum'"):
        load_suite(write(tmp_path, forgetting))
    load_suite(
        write(tmp_path, forgetting.replace("forgetting: [copy,", "loss_items: 0\n  forgetting: [copy,"))
    )
