"""Scoring through lm-eval: task configs, greedy and sampled scores, per-item data."""

from __future__ import annotations

import json
import types
from pathlib import Path
from typing import Any

import pytest
import torch

from peft_rlvr_bench.evaluation.per_item import SampleLog, items_digest
from peft_rlvr_bench.registry import TASKS
from peft_rlvr_bench.suite import EvalSpec, ModelSpec, SamplingSpec
from peft_rlvr_bench.tasks.data import DataSpec
from tests.helpers.datasets import SOURCES
from tests.helpers.scripted_lm import ScriptedLM


def test_lm_eval_config_stops_at_the_template_marker_and_takes_all_items() -> None:
    from peft_rlvr_bench.context import RunContext
    from peft_rlvr_bench.evaluation import lm_eval_task_config

    config = lm_eval_task_config("math500", "all", 3000, context=RunContext(data=DataSpec(sources=SOURCES)))
    assert config["generation_kwargs"]["until"] == ["<|im_end|>", "<|endoftext|>"]
    assert config["generation_kwargs"]["max_gen_toks"] == 3000
    data = Path(config["dataset_kwargs"]["data_files"]["test"]).read_text().splitlines()
    assert len(data) == 10 and json.loads(data[0])["verifier"] == "math_verify"
    assert lm_eval_task_config("add", 4, 8)["generation_kwargs"]["until"] == ["\n", "<eos>"], (
        "tiny tasks unchanged"
    )


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


def eval_items(task: str, n: int) -> list[Any]:
    return TASKS.get(task).items("eval", n, seed=0)


def answers_right_on(right: dict[str, set[int]], n: int) -> Any:
    """A scripted answer: correct on the item indices ``right[task]``, a wrong number elsewhere."""
    by_prompt = {
        item.prompt: (item.answer, index in right[task])
        for task in right
        for index, item in enumerate(eval_items(task, n))
    }

    def answer(prompt: str, nth: int, sampled: bool) -> str:
        target, correct = by_prompt[prompt]
        return target if correct else str(int(target) + 1)

    return answer


@pytest.fixture
def scripted(monkeypatch: pytest.MonkeyPatch) -> Any:
    """Puts a ScriptedLM where the evaluation builds lm-eval's HF model; returns a setter."""

    def use(answer: Any) -> ScriptedLM:
        lm = ScriptedLM(answer)
        monkeypatch.setattr("lm_eval.models.huggingface.HFLM", lambda **kwargs: lm)
        return lm

    return use


# --- through lm-eval, with a scripted model ---------------------------------------------------


def test_item_j_answered_right_marks_index_j_and_items_average_to_accuracy(scripted: Any) -> None:
    from peft_rlvr_bench.evaluation import greedy_scores

    n = 10
    right = {"add": {3}, "copy": {0, 4, 7, 9}}
    scripted(answers_right_on(right, n))
    spec = EvalSpec(in_domain=["add"], forgetting=["copy"], n_items=n)
    log = SampleLog()
    scores = greedy_scores(torch.nn.Linear(1, 1), None, spec, samples=log)

    for task, indices in right.items():
        score = scores[task]
        assert score.items == [1.0 if j in indices else 0.0 for j in range(n)]
        assert score.accuracy == sum(score.items) / len(score.items), "exactly lm-eval's mean"
        assert score.items_digest == items_digest((it.prompt, it.answer) for it in eval_items(task, n))
    lines = log.samples()
    assert [(s.task, s.index) for s in lines] == [(t, j) for t in ("add", "copy") for j in range(n)]
    add3 = lines[3]
    item = eval_items("add", n)[3]
    assert (add3.prompt, add3.target, add3.response, add3.score) == (
        item.prompt,
        item.answer,
        item.answer,
        1.0,
    )
    assert lines[4].response == str(int(eval_items("add", n)[4].answer) + 1) and lines[4].score == 0.0


def test_sampled_items_hold_each_items_mean_and_the_k_scored_answers(scripted: Any) -> None:
    from peft_rlvr_bench.evaluation import evaluate_in_depth

    n, k = 6, 4
    items = eval_items("add", n)
    index = {item.prompt: j for j, item in enumerate(items)}

    def answer(prompt: str, nth: int, sampled: bool) -> str:
        # Greedy is right on even items; of item j's k samples the first j % (k + 1) are right.
        j = index[prompt]
        if not sampled:
            return items[j].answer if j % 2 == 0 else "wrong"
        return items[j].answer if nth < j % (k + 1) else f"no{nth}"

    scripted(answer)
    spec = EvalSpec(
        in_domain=["add"], n_items=n, kl_items=0, loss_items=0, sampling=SamplingSpec(k=k, temperature=0.7)
    )
    log = SampleLog()
    metrics, _ = evaluate_in_depth(torch.nn.Linear(1, 1), None, spec, samples=log)
    add = metrics["in_domain"].tasks["add"]
    expected = [(j % (k + 1)) / k for j in range(n)]
    assert add.sampled_items == expected
    assert add.avg_at_k == sum(expected) / n
    assert add.items == [1.0 if j % 2 == 0 else 0.0 for j in range(n)]
    for j, line in enumerate(log.samples()):
        right = j % (k + 1)
        assert line.responses == [items[j].answer if s < right else f"no{s}" for s in range(k)]
        assert line.scores == [1.0 if s < right else 0.0 for s in range(k)]
        assert line.response == (items[j].answer if j % 2 == 0 else "wrong")


def test_the_vllm_path_returns_the_same_per_item_data(
    scripted: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Without vLLM here, the run's engine serves the same scripted model as lm-eval's model:
    what is checked is the harness's vLLM path, which must log and read samples like the HF one
    (the engine's own life cycle: tests/unit/test_eval_engine.py)."""
    from peft_rlvr_bench.backends import Backends
    from peft_rlvr_bench.context import RunContext
    from peft_rlvr_bench.eval_engine import EvalEngine
    from peft_rlvr_bench.evaluation import greedy_scores

    n = 8
    answer = answers_right_on({"add": {1, 2, 5}}, n)
    spec = EvalSpec(in_domain=["add"], n_items=n)
    scripted(answer)
    hf_log = SampleLog()
    hf = greedy_scores(torch.nn.Linear(1, 1), None, spec, samples=hf_log)

    class Saves:
        def save_pretrained(self, directory: Path, **kwargs: Any) -> None:
            (Path(directory) / "saved").write_text("weights")

    built: list[Path] = []

    def engine(checkpoint: Path, generation: Any) -> Any:
        built.append(checkpoint)
        assert (checkpoint / "saved").exists(), "built from the saved weights"
        return types.SimpleNamespace(lm=ScriptedLM(answer), seed_requests=lambda seed: None)

    monkeypatch.setenv("PRB_OUTPUTS_DIR", str(tmp_path))
    vllm_log = SampleLog()
    vllm_context = RunContext(backends=Backends("vllm", "vllm"), eval_engine=EvalEngine(build=engine))
    through_vllm = greedy_scores(Saves(), Saves(), spec, samples=vllm_log, context=vllm_context)
    assert len(built) == 1, "the vLLM path ran"
    assert through_vllm == hf and through_vllm["add"].items == [float(j in {1, 2, 5}) for j in range(n)]
    assert vllm_log.samples() == hf_log.samples()


# --- the tiny world's real model --------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny() -> tuple[Any, Any]:
    from peft_rlvr_bench.models import load_base

    return load_base(ModelSpec())


def test_the_samples_are_the_models_own_greedy_answers(tiny: tuple[Any, Any]) -> None:
    from peft_rlvr_bench.evaluation import evaluate_in_depth
    from peft_rlvr_bench.verifiers import integer_match

    model, tokenizer = tiny
    n = 12
    sampling = SamplingSpec(k=3, temperature=1.0)
    spec = EvalSpec(in_domain=["add"], n_items=n, kl_items=0, loss_items=0, batch_size=5, sampling=sampling)
    log = SampleLog()
    metrics, _ = evaluate_in_depth(model, tokenizer, spec, samples=log)
    add = metrics["in_domain"].tasks["add"]
    assert add.items is not None and 0 < sum(add.items) < n, "some right, some wrong: the order is tested"
    assert add.accuracy == sum(add.items) / n
    assert add.sampled_items is not None and add.avg_at_k == sum(add.sampled_items) / n
    lines = log.samples()
    for line, mean in zip(lines, add.sampled_items, strict=True):
        assert line.responses is not None and line.scores is not None and len(line.responses) == 3
        assert line.scores == [integer_match(r, line.target) for r in line.responses]
        assert sum(line.scores) / 3 == mean
    for item, line, score in zip(eval_items("add", n), lines, add.items, strict=True):
        ids = tokenizer(item.prompt, return_tensors="pt", add_special_tokens=False).input_ids
        out = model.generate(
            ids, max_new_tokens=spec.max_new_tokens, do_sample=False, pad_token_id=tokenizer.pad_token_id
        )
        own = tokenizer.decode(out[0, ids.shape[1] :], skip_special_tokens=True).split("\n")[0]
        assert (line.prompt, line.target, line.response) == (item.prompt, item.answer, own)
        assert line.score == score == integer_match(own, item.answer)


def test_each_task_generates_its_own_number_of_new_tokens() -> None:
    from peft_rlvr_bench.evaluation import lm_eval_task_config
    from peft_rlvr_bench.suite import EvalSpec

    spec = EvalSpec(
        in_domain=["add"], forgetting=["copy"], max_new_tokens=12, task_max_new_tokens={"copy": 5}
    )
    assert (spec.tokens_for("add"), spec.tokens_for("copy")) == (12, 5)
    config = lm_eval_task_config("copy", 4, spec.tokens_for("copy"))
    assert config["generation_kwargs"]["max_gen_toks"] == 5


def test_prompts_longer_than_the_context_less_the_new_tokens_are_counted(tmp_path) -> None:
    import json
    import types

    from peft_rlvr_bench.evaluation.prompts import context_length, truncated_prompts

    data = tmp_path / "items.jsonl"
    data.write_text("".join(json.dumps({"prompt": "w " * n, "answer": "1"}) + "\n" for n in (3, 10, 30)))
    config = {"dataset_kwargs": {"data_files": {"test": str(data)}}}

    def tokenizer(text: str, add_special_tokens: bool = False) -> dict[str, list[int]]:
        return {"input_ids": [1] * len(text.split())}

    model = types.SimpleNamespace(config=types.SimpleNamespace(max_position_embeddings=40))
    assert context_length(model) == 40
    assert truncated_prompts(model, tokenizer, config, max_new_tokens=20) == 1  # 30 > 40 - 20
    assert truncated_prompts(model, tokenizer, config, max_new_tokens=35) == 2
    assert truncated_prompts(types.SimpleNamespace(config=None), tokenizer, config, 8) is None
