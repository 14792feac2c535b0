"""A run's one lm-eval vLLM engine: built at the run's first evaluation, reused by every later one,
shut down when the run ends.

A run evaluates many times: greedy and sampled final scores, lm-eval's shipped tasks, every
learning-curve point, every prediction of an extrapolation, a driven method's validation checks.
Building a vLLM engine costs tens of seconds (loading, memory profiling, CUDA graphs) and, in a
process where TRL's colocated vLLM has turned engine multiprocessing off, its memory is not given
back when it is dropped. So the run keeps one (``RunContext.eval_engine``; this module sits beside
``context.py``, below the ``evaluation`` package, which uses it) and, before each later
evaluation, writes the model's current weights over the engine's checkpoint and has every vLLM
worker reload them in place (the worker's ``reload_weights``, which reads the checkpoint the engine
was built from), then resets the prefix cache: curve points ask the same prompts, and a cached
prefix computed under the previous weights would otherwise be reused.

With ``generation.vllm_eval_sleep`` the engine sleeps between evaluations (vLLM sleep mode, level
2: weights and KV cache released), so training and rollouts get its share of the GPU back; it
wakes and reloads the weights before the next evaluation.

Sampled evaluations are seeded per request (``SeededRequests``): what an evaluation samples does
not depend on what the engine generated before it in the run.

The engine behind ``EvalEngine`` is any ``BuiltEngine``; ``VLLMEngine`` is the real one, and tests
drive the same life cycle through an engine that reads the checkpoint with transformers.
"""

from __future__ import annotations

import contextlib
import gc
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from peft_rlvr_bench.backends import GenerationSpec
from peft_rlvr_bench.paths import outputs_dir

LM_EVAL_SEED = 1234
"""lm-eval's default seed (``simple_evaluate``'s torch seed and its vLLM model's): the engine's own
seed, and the request seed of an evaluation that names none (lm-eval's shipped tasks)."""


class BuiltEngine(Protocol):
    """An evaluation engine built from a checkpoint directory."""

    lm: Any
    """The lm-eval model ``simple_evaluate`` drives."""

    def reload_weights(self) -> None:
        """Reads the weights in the checkpoint directory again (they have been overwritten)."""

    def sleep(self) -> None:
        """Releases the engine's weights and cache memory until ``wake_up``."""

    def wake_up(self) -> None: ...

    def seed_requests(self, seed: int | None) -> None:
        """Seeds the sampled requests of the next evaluation from ``seed`` (None: unseeded)."""

    def shutdown(self) -> None: ...


Builder = Callable[[Path, GenerationSpec], BuiltEngine]


class SeededRequests:
    """Stands in for a ``vllm.LLM`` inside lm-eval's model: each sampled request of an evaluation
    gets its own seed, ``seed``, ``seed + 1``, ... in the order lm-eval sends them (its order is
    sorted, so the same evaluation gets the same seeds). vLLM gives a seeded request its own
    generator, so a sample depends on its seed, not on what ran before it. Greedy requests and
    requests with a seed of their own are left as they are. Everything else is the engine's."""

    def __init__(self, llm: Any) -> None:
        self.llm = llm
        self.seed: int | None = None
        self.sent = 0

    def start(self, seed: int | None) -> None:
        self.seed, self.sent = seed, 0

    def generate(self, prompts: Any, sampling_params: Any = None, **kwargs: Any) -> Any:
        if self.seed is not None and isinstance(sampling_params, list):
            sampling_params = [self._seeded(params) for params in sampling_params]
        return self.llm.generate(prompts, sampling_params=sampling_params, **kwargs)

    def _seeded(self, params: Any) -> Any:
        if params.temperature == 0 or params.seed is not None:
            return params
        assert self.seed is not None
        params = params.clone()  # lm-eval may repeat one object for several requests
        params.seed = self.seed + self.sent
        self.sent += 1
        return params

    def __getattr__(self, name: str) -> Any:
        return getattr(self.llm, name)


class VLLMEngine:
    """lm-eval's vLLM model over a checkpoint directory, its generation seeded per request."""

    def __init__(self, checkpoint: Path, generation: GenerationSpec) -> None:
        from lm_eval.models.vllm_causallms import VLLM

        self.lm = VLLM(
            pretrained=str(checkpoint),
            dtype="bfloat16",
            gpu_memory_utilization=generation.vllm_gpu_memory_utilization,
            max_model_len=generation.vllm_max_model_len,
            seed=LM_EVAL_SEED,
            batch_size="auto",
            **({"enable_sleep_mode": True} if generation.vllm_eval_sleep else {}),
        )
        self.llm = self.lm.model
        self.requests = SeededRequests(self.llm)
        self.lm.model = self.requests

    def reload_weights(self) -> None:
        self.llm.collective_rpc("reload_weights")
        self.llm.reset_prefix_cache()

    def sleep(self) -> None:
        self.llm.sleep(level=2)

    def wake_up(self) -> None:
        self.llm.wake_up()

    def seed_requests(self, seed: int | None) -> None:
        self.requests.start(seed)

    def shutdown(self) -> None:
        """Stops the engine core. One in a child process (vLLM's default) ends with it, and its
        GPU memory with it; an in-process one (after TRL's colocated rollouts turned
        multiprocessing off) frees what vLLM lets go of, and the rest goes with the run's process
        (``runner/isolate.py``)."""
        self.llm.llm_engine.engine_core.shutdown()


def build_vllm_engine(checkpoint: Path, generation: GenerationSpec) -> BuiltEngine:
    return VLLMEngine(checkpoint, generation)


class EvalEngine:
    """The run's evaluation engine, built on first use (``lm_for``) and shut down by ``close``
    (``RunContext`` closes it when the run ends, whether it finished or raised). ``build``
    defaults to ``build_vllm_engine``, looked up when the engine is built. The seconds spent
    building and reloading add up in ``seconds`` (the run's timings, when given) under
    ``eval_engine_build`` and ``eval_engine_reload``."""

    def __init__(self, build: Builder | None = None, seconds: dict[str, float] | None = None) -> None:
        self.build = build
        self.builds = 0
        self.reloads = 0
        self.seconds: dict[str, float] = {} if seconds is None else seconds
        self._engine: BuiltEngine | None = None
        self._checkpoint: Path | None = None
        self._sleep = False
        self._sleeping = False

    def lm_for(self, model: Any, tokenizer: Any, generation: GenerationSpec, seed: int | None) -> Any:
        """lm-eval's model, its engine holding ``model``'s current weights and its sampled
        requests seeded from ``seed``."""
        clock = time.perf_counter()
        if self._engine is None:
            outputs_dir().mkdir(parents=True, exist_ok=True)
            checkpoint = Path(tempfile.mkdtemp(prefix=".vllm-eval-", dir=outputs_dir()))
            try:
                model.save_pretrained(checkpoint, safe_serialization=True)
                tokenizer.save_pretrained(checkpoint)
                self._engine = (self.build or build_vllm_engine)(checkpoint, generation)
            except BaseException:  # no engine, so nothing would ever remove it
                shutil.rmtree(checkpoint, ignore_errors=True)
                raise
            self._checkpoint = checkpoint
            self._sleep = generation.vllm_eval_sleep
            self.builds += 1
            phase = "eval_engine_build"
        else:
            assert self._checkpoint is not None
            if self._sleeping:
                self._engine.wake_up()
                self._sleeping = False
            model.save_pretrained(self._checkpoint, safe_serialization=True)
            self._engine.reload_weights()
            self.reloads += 1
            phase = "eval_engine_reload"
        self.seconds[phase] = self.seconds.get(phase, 0.0) + time.perf_counter() - clock
        self._engine.seed_requests(seed)
        return self._engine.lm

    def idle(self) -> None:
        """After an evaluation: with ``vllm_eval_sleep``, the engine gives its memory back."""
        if self._engine is not None and self._sleep and not self._sleeping:
            self._engine.sleep()
            self._sleeping = True

    def close(self) -> None:
        """Shuts the engine down and removes its checkpoint; harmless when never built or closed."""
        engine, self._engine = self._engine, None
        if engine is not None:
            with contextlib.suppress(Exception):  # best effort: never mask the run's own error
                engine.shutdown()
            del engine
            gc.collect()
            import torch

            if torch.cuda.is_available():
                torch.cuda.empty_cache()
        if self._checkpoint is not None:
            shutil.rmtree(self._checkpoint, ignore_errors=True)
            self._checkpoint = None
        self._sleeping = False
