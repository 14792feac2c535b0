"""Verifier faults: an exception or a timeout in a verifier scores 0 for that sample and is counted.

A verifier is code that parses model output (a plugin's, a math parser's): one pathological
completion must neither kill a run nor hang it. ``guarded_verifier`` runs any registered verifier
in a worker thread with a timeout, from any thread (the caller waits on a future; a verifier that
never returns strands its daemon worker, never the caller or the process's exit). A result that
is not a finite number counts as an exception: a NaN reward would poison a whole GRPO group.

Counts go to the innermost active ``counting_faults()`` block; the runner opens one per run and
writes it to the result as ``verifier_faults``, for the RL reward and the evaluation's scoring.
``$PRB_VERIFIER_TIMEOUT_S`` sets the timeout (default 10 seconds per call).
"""

from __future__ import annotations

import math
import os
import queue
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

DEFAULT_TIMEOUT_S = 10.0
TIMEOUT_ENV = "PRB_VERIFIER_TIMEOUT_S"


@dataclass
class FaultCounter:
    """Verifier calls, and those that raised or timed out (each scored 0)."""

    calls: int = 0
    exceptions: int = 0
    timeouts: int = 0
    first_error: str | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def record(self, outcome: str, error: str | None = None) -> None:
        with self._lock:
            self.calls += 1
            if outcome == "exception":
                self.exceptions += 1
            elif outcome == "timeout":
                self.timeouts += 1
            if error is not None and self.first_error is None:
                self.first_error = error[:300]

    def add(self, counts: dict[str, Any]) -> None:
        """Adds counts saved earlier (a resumed run's, from its trainer checkpoint)."""
        with self._lock:
            self.calls += int(counts.get("calls", 0))
            self.exceptions += int(counts.get("exceptions", 0))
            self.timeouts += int(counts.get("timeouts", 0))
            self.first_error = self.first_error or counts.get("first_error")

    def as_dict(self) -> dict[str, Any]:
        with self._lock:
            return {
                "calls": self.calls,
                "exceptions": self.exceptions,
                "timeouts": self.timeouts,
                "first_error": self.first_error,
            }


_active: list[FaultCounter] = []


@contextmanager
def counting_faults() -> Iterator[FaultCounter]:
    """Counts the verifier calls and faults of the block (nested blocks count only their own)."""
    counter = FaultCounter()
    _active.append(counter)
    try:
        yield counter
    finally:
        _active.remove(counter)


def active_counter() -> FaultCounter | None:
    return _active[-1] if _active else None


class _DaemonPool:
    """Worker threads that never block interpreter exit; a new one starts whenever none is idle,
    so a verifier stuck forever costs one thread, not the pool."""

    def __init__(self) -> None:
        self._jobs: queue.SimpleQueue[tuple[Future[Any], Callable[..., Any], tuple[Any, ...]]] = (
            queue.SimpleQueue()
        )
        self._idle = 0
        self._lock = threading.Lock()

    def submit(self, fn: Callable[..., Any], *args: Any) -> Future[Any]:
        future: Future[Any] = Future()
        with self._lock:
            if self._idle:
                self._idle -= 1
            else:
                threading.Thread(target=self._work, name="prb-verifier", daemon=True).start()
        self._jobs.put((future, fn, args))
        return future

    def _work(self) -> None:
        while True:
            future, fn, args = self._jobs.get()
            if future.set_running_or_notify_cancel():
                try:
                    future.set_result(fn(*args))
                except BaseException as exc:  # handed to the caller, which decides
                    future.set_exception(exc)
            with self._lock:
                self._idle += 1


_POOL = _DaemonPool()


def call_with_timeout(fn: Callable[..., Any], *args: Any, timeout: float) -> Any:
    """``fn(*args)`` in a worker thread; raises ``TimeoutError`` after ``timeout`` seconds."""
    try:
        return _POOL.submit(fn, *args).result(timeout=timeout)
    except FutureTimeout:
        raise TimeoutError(f"{getattr(fn, '__name__', fn)} took longer than {timeout:g} s") from None


def verifier_timeout() -> float:
    return float(os.environ.get(TIMEOUT_ENV, DEFAULT_TIMEOUT_S))


def guarded_verifier(name: str, timeout: float | None = None) -> Callable[[str, str], float]:
    """The registered verifier ``name``, scoring 0 (and counting) wherever it raises, times out
    or returns something other than a finite number."""
    from peft_rlvr_bench.registry import VERIFIERS

    verifier = VERIFIERS.get(name)
    limit = verifier_timeout() if timeout is None else timeout

    def guarded(completion: str, answer: str) -> float:
        counter = active_counter() or FaultCounter()
        try:
            score = float(call_with_timeout(verifier, completion, answer, timeout=limit))
            if not math.isfinite(score):
                raise ValueError(f"returned {score}, not a finite score")
        except TimeoutError as exc:
            counter.record("timeout", f"{name}: {exc}")
            return 0.0
        except Exception as exc:
            counter.record("exception", f"{name}: {type(exc).__name__}: {exc}")
            return 0.0
        counter.record("ok")
        return score

    guarded.__name__ = name
    return guarded
