"""One evaluation engine per run: built once, given the model's current weights before every
evaluation, asleep between evaluations when asked, shut down when the run ends however it ends.

The life cycle runs on the CPU through ``tests/helpers/checkpoint_engine.py`` (vLLM's contract,
lm-eval's transformers model); the calls into vLLM itself are checked against a stand-in."""

from __future__ import annotations

import copy
import sys
import types
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import torch

from peft_rlvr_bench.backends import Backends, GenerationSpec
from peft_rlvr_bench.context import RunContext
from peft_rlvr_bench.eval_engine import EvalEngine, SeededRequests, VLLMEngine
from tests.helpers.checkpoint_engine import EngineLog, checkpoint_engines
from tests.helpers.suites import tiny_suite

VLLM_EVAL = Backends(rollout="transformers", eval="vllm")


def engine_context(log: EngineLog, sleep: bool = False) -> RunContext:
    return RunContext(
        generation=GenerationSpec(vllm_eval_sleep=sleep),
        backends=VLLM_EVAL,
        eval_engine=EvalEngine(build=checkpoint_engines(log)),
    )


def scrambled(model: Any) -> Any:
    """The model with its output rows permuted: same shapes, different answers."""
    other = copy.deepcopy(model)
    with torch.no_grad():
        head = other.get_output_embeddings().weight
        head.copy_(head[torch.randperm(head.shape[0], generator=torch.Generator().manual_seed(0))])
    return other


@pytest.fixture
def greedy_world(world: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Any, Any, Any]:
    """The tiny world's model and tokenizer with a greedy in-domain evaluation, outputs in tmp_path."""
    monkeypatch.setenv("PRB_OUTPUTS_DIR", str(tmp_path))
    spec, model, tokenizer = world
    return spec.eval.model_copy(update={"sampling": None, "forgetting": []}), model, tokenizer


def test_one_engine_scores_each_state_of_the_model_as_a_direct_evaluation_does(
    greedy_world: tuple[Any, Any, Any],
) -> None:
    from peft_rlvr_bench.evaluation import evaluate

    greedy, model, tokenizer = greedy_world
    other = scrambled(model)
    direct = [evaluate(m, tokenizer, greedy)["in_domain"].score for m in (model, other)]
    assert direct[0] != direct[1], "the two states must score apart for the test to see a stale engine"

    log = EngineLog()
    with engine_context(log) as context:
        through_engine = [
            evaluate(m, tokenizer, greedy, context=context)["in_domain"].score for m in (model, other, model)
        ]
        (checkpoint,) = log.checkpoints
        assert checkpoint.is_dir()
    assert through_engine == [direct[0], direct[1], direct[0]]
    assert log.life_cycle() == ["build", "reload", "reload", "shutdown"]
    assert not checkpoint.exists(), "the engine's checkpoint goes with it"
    assert context.eval_engine.builds == 1 and context.eval_engine.reloads == 2
    assert set(context.eval_engine.seconds) == {"eval_engine_build", "eval_engine_reload"}


def test_a_sleeping_engine_wakes_and_reloads_before_it_evaluates(
    greedy_world: tuple[Any, Any, Any],
) -> None:
    from peft_rlvr_bench.evaluation import evaluate

    greedy, model, tokenizer = greedy_world
    log = EngineLog()
    with engine_context(log, sleep=True) as context:
        scores = [evaluate(model, tokenizer, greedy, context=context)["in_domain"].score for _ in range(2)]
    assert scores[0] == scores[1] > 0, "the weights a sleep discarded are back"
    assert log.life_cycle() == [
        "build",
        "sleep",
        "wake_up",
        "reload",
        "sleep",
        "shutdown",
    ]


def test_sampled_requests_are_seeded_from_the_evaluations_seed(
    world: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from peft_rlvr_bench.evaluation import evaluate_in_depth

    monkeypatch.setenv("PRB_OUTPUTS_DIR", str(tmp_path))
    spec, model, tokenizer = world
    eval_spec = spec.eval.model_copy(update={"forgetting": [], "loss_items": 0})
    assert eval_spec.sampling is not None
    log = EngineLog()
    with engine_context(log) as context:
        evaluate_in_depth(model, tokenizer, eval_spec, context=context)
    seeds = log.seeds()
    assert seeds == ["seed 1234", f"seed {eval_spec.sampling.seed}"], "lm-eval's default, then the suite's"


def test_a_run_builds_one_engine_for_its_evaluations_and_its_curve(
    tmp_path: Path, outputs: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same run scored through the engine and directly gives the same result: final scores
    and every learning-curve point (each a reload of the same engine)."""
    import peft_rlvr_bench.context as context_module
    import peft_rlvr_bench.eval_engine as engine_module
    from peft_rlvr_bench.runner.execute import execute_run

    # a learning curve that moves within three updates: 0.25 to 0.31 on 16 items
    (run,) = tiny_suite(
        tmp_path,
        ["{name: lora, r: 4, lr: 1.0e-2}"],
        steps=3,
        prompts_per_step=8,
        extra="trajectory: {every: 1}\n",
    ).runs
    direct = execute_run(run)
    log = EngineLog()
    monkeypatch.setattr(context_module, "select_backends", lambda generation: VLLM_EVAL)
    monkeypatch.setattr(engine_module, "build_vllm_engine", checkpoint_engines(log))
    engined = execute_run(run)
    assert direct.status == engined.status == "ok"
    assert engined.backends == {"rollout": "transformers", "eval": "vllm"}
    assert engined.metrics == direct.metrics
    curve = [(p.update, p.in_domain) for p in engined.learning_curve]
    assert curve == [(p.update, p.in_domain) for p in direct.learning_curve]
    assert len({score for _, score in curve}) > 1, "the curve moves, so a stale engine would show"
    assert log.count("build") == 1 and log.count("shutdown") == 1
    assert log.count("reload") == len(curve) - 1, "every point but the final one reloads the engine"
    assert "eval_engine_build" in engined.timings
    assert not list(outputs.glob(".vllm-eval-*"))


def test_a_run_that_fails_after_evaluating_still_shuts_its_engine_down(
    tmp_path: Path, outputs: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import peft_rlvr_bench.context as context_module
    import peft_rlvr_bench.eval_engine as engine_module
    from peft_rlvr_bench.runner.execute import execute_run

    def broken(w0: Any, merged: Any) -> None:
        raise RuntimeError("geometry failed")

    log = EngineLog()
    monkeypatch.setattr(context_module, "select_backends", lambda generation: VLLM_EVAL)
    monkeypatch.setattr(engine_module, "build_vllm_engine", checkpoint_engines(log))
    monkeypatch.setattr("peft_rlvr_bench.geometry.model.run_geometry", broken)
    (run,) = tiny_suite(tmp_path, ["{name: lora, r: 4, lr: 1.0e-3}"]).runs
    result = execute_run(run)
    assert result.status == "failed" and "geometry failed" in (result.reason or "")
    assert log.count("build") == 1 and log.events[-1] == "shutdown"
    assert not list(outputs.glob(".vllm-eval-*"))


def test_an_engine_never_built_closes_quietly() -> None:
    engine = EvalEngine(build=lambda *_: pytest.fail("nothing asked for an evaluation"))
    with RunContext(eval_engine=engine):
        pass
    engine.close()
    assert engine.builds == 0


# The calls into vLLM ---------------------------------------------------------------------------


@dataclass
class Params:
    """vLLM's ``SamplingParams`` as ``SeededRequests`` sees it."""

    temperature: float
    seed: int | None = None

    def clone(self) -> Params:
        return copy.copy(self)


def test_sampled_requests_get_their_own_seeds_in_order_and_greedy_ones_none() -> None:
    sent: list[list[Params]] = []
    llm = types.SimpleNamespace(generate=lambda prompts, sampling_params: sent.append(sampling_params))
    requests = SeededRequests(llm)
    shared = Params(1.0)
    requests.start(7)
    requests.generate(
        ["a", "b", "c", "d"], sampling_params=[shared, shared, Params(0.0), Params(1.0, seed=3)]
    )
    requests.generate(["e"], sampling_params=[Params(0.6)])
    assert [[p.seed for p in batch] for batch in sent] == [[7, 8, None, 3], [9]]
    assert shared.seed is None, "lm-eval's objects are left as they were"
    requests.start(7)
    requests.generate(["a"], sampling_params=[Params(1.0)])
    assert sent[-1][0].seed == 7, "each evaluation starts from its own seed"
    requests.start(None)
    requests.generate(["a"], sampling_params=[Params(1.0)])
    assert sent[-1][0].seed is None, "no seed, nothing added"


def test_the_vllm_engine_builds_lm_evals_model_and_reloads_in_place(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    calls: list[Any] = []

    class LLM:
        def __init__(self) -> None:
            core = types.SimpleNamespace(shutdown=lambda: calls.append("shutdown"))
            self.llm_engine = types.SimpleNamespace(engine_core=core)

        def collective_rpc(self, method: str) -> None:
            calls.append(method)

        def reset_prefix_cache(self) -> None:
            calls.append("reset_prefix_cache")

        def sleep(self, level: int) -> None:
            calls.append(f"sleep {level}")

        def wake_up(self) -> None:
            calls.append("wake_up")

    class VLLM:
        def __init__(self, **kwargs: Any) -> None:
            calls.append(kwargs)
            self.model = LLM()

    fake = types.ModuleType("lm_eval.models.vllm_causallms")
    fake.VLLM = VLLM  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "lm_eval.models.vllm_causallms", fake)

    generation = GenerationSpec(
        vllm_gpu_memory_utilization=0.25, vllm_max_model_len=4096, vllm_eval_sleep=True
    )
    engine = VLLMEngine(tmp_path, generation)
    (built,) = calls
    assert built == {
        "pretrained": str(tmp_path),
        "dtype": "bfloat16",
        "gpu_memory_utilization": 0.25,
        "max_model_len": 4096,
        "seed": 1234,
        "batch_size": "auto",
        "enable_sleep_mode": True,
    }
    assert isinstance(engine.lm.model, SeededRequests), "lm-eval generates through the seeding stand-in"
    engine.sleep()
    engine.wake_up()
    engine.reload_weights()
    engine.shutdown()
    assert calls[1:] == ["sleep 2", "wake_up", "reload_weights", "reset_prefix_cache", "shutdown"]
    calls.clear()
    VLLMEngine(tmp_path, GenerationSpec())
    assert "enable_sleep_mode" not in calls[0], "sleep mode only when asked"


def test_an_evaluation_that_raises_leaves_the_engine_to_the_run_which_shuts_it_down(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import peft_rlvr_bench.evaluation as evaluation

    monkeypatch.setenv("PRB_OUTPUTS_DIR", str(tmp_path))
    stopped: list[bool] = []
    built = types.SimpleNamespace(
        lm=object(),
        seed_requests=lambda seed: None,
        shutdown=lambda: stopped.append(True),
    )

    def broken(*_: object) -> None:
        raise RuntimeError("evaluation failed")

    monkeypatch.setattr(evaluation, "_simple_evaluate", broken)
    model = types.SimpleNamespace(save_pretrained=lambda *a, **k: None)
    tokenizer = types.SimpleNamespace(save_pretrained=lambda *a, **k: None)
    context = RunContext(backends=VLLM_EVAL, eval_engine=EvalEngine(build=lambda *_: built))
    with pytest.raises(RuntimeError, match="evaluation failed"), context:
        evaluation._run_lm_eval_vllm(model, tokenizer, [], context, None)
    assert stopped == [True]
    assert not list(tmp_path.glob(".vllm-eval-*")), "the scratch weights are removed"


def test_an_engine_that_fails_to_build_leaves_no_checkpoint(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PRB_OUTPUTS_DIR", str(tmp_path))

    def out_of_memory(*_: object) -> None:
        raise RuntimeError("CUDA out of memory")

    engine = EvalEngine(build=out_of_memory)
    saver = types.SimpleNamespace(save_pretrained=lambda *a, **k: None)
    with pytest.raises(RuntimeError, match="out of memory"):
        engine.lm_for(saver, saver, GenerationSpec(), None)
    assert not list(tmp_path.glob(".vllm-eval-*")) and engine.builds == 0
