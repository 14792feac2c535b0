"""Ending an lm-eval vLLM engine (``evaluation._run_lm_eval_vllm`` builds one per call)."""

from __future__ import annotations

import contextlib
from typing import Any


def shutdown_engine(lm: Any) -> None:
    """Stops an lm-eval vLLM model's engine, whether its evaluation finished or raised. A V1
    engine running in a child process (vLLM's default) ends with it, and its GPU memory with it;
    an in-process engine (after TRL's colocated rollouts turned multiprocessing off) frees what
    vLLM lets go of."""
    core = getattr(getattr(getattr(lm, "model", None), "llm_engine", None), "engine_core", None)
    shutdown = getattr(core, "shutdown", None)
    if shutdown is not None:
        with contextlib.suppress(Exception):  # best effort: never mask the evaluation's own error
            shutdown()
