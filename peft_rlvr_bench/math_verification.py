"""``math_verify``: competition-math answers checked with Hugging Face's math-verify, safely.

One function serves as the RL reward and as the lm-eval metric, like every verifier. It parses the
gold answer (wrapped as ``\\boxed{gold}``) and the completion (the last ``\\boxed{}`` first, then
an anchored "the answer is ..."; a bare number somewhere in the text does not count) into sympy
and compares them, so ``\\frac{1}{2}``, ``\\dfrac12`` and ``0.5`` all match.

**Timeouts.** math-verify guards sympy with ``signal.alarm``, which works only in the main thread;
TRL and lm-eval may score from worker threads, and a pathological completion can keep sympy busy
for minutes. So its own timeouts are disabled (``parsing_timeout=None``, ``timeout_seconds=None``)
and the harness enforces one from outside: every check runs in a worker process (a plain
subprocess speaking JSON lines, so it is safe next to CUDA and threads), and a check that takes
longer than ``PRB_MATH_VERIFY_TIMEOUT`` seconds (default 5) kills the worker, which is restarted
on the next call. A thread could not do
this: a stuck sympy call cannot be interrupted and would keep the GIL busy.

**Faults raise; the harness scores them 0.** A wrong or missing answer is 0.0. A check that
times out raises ``MathVerifyTimeout`` (a ``TimeoutError``), a gold answer that does not parse
raises ``ValueError``, a worker that dies raises ``RuntimeError``. The reward function and the
lm-eval scoring call every verifier through ``verifier_faults.guarded_verifier``, which scores a
raising call 0 and counts it in the run's ``verifier_faults``, so faults are visible rather than
silently wrong answers. Where no worker can be started, checks run in the calling thread without
a timeout, with a warning.
"""

from __future__ import annotations

import json
import logging
import os
import select
import subprocess
import sys
import threading

from peft_rlvr_bench.registry import register_verifier

logger = logging.getLogger(__name__)

DEFAULT_TIMEOUT_S = 5.0
STARTUP_TIMEOUT_S = 120.0
"""The worker imports sympy and math-verify once before its first check; that is not a check's time."""


class MathVerifyTimeout(TimeoutError):
    """A check ran longer than ``PRB_MATH_VERIFY_TIMEOUT`` seconds; its worker was killed."""


def timeout_seconds() -> float:
    return float(os.environ.get("PRB_MATH_VERIFY_TIMEOUT", DEFAULT_TIMEOUT_S))


def check(completion: str, answer: str) -> bool:
    """The comparison itself, with math-verify's signal timeouts off (safe in any thread; it can
    run long, so the harness calls it in its worker process). Raises when the gold does not parse."""
    from math_verify import ExprExtractionConfig, LatexExtractionConfig, parse, verify

    logging.getLogger("math_verify").setLevel(logging.ERROR)  # "timeout disabled" is on purpose
    gold_text = answer if "\\boxed" in answer else f"\\boxed{{{answer}}}"
    gold = parse(gold_text, parsing_timeout=None, raise_on_error=True)
    if not gold:
        raise ValueError(f"the gold answer {answer!r} does not parse")
    predicted = parse(
        completion,
        extraction_config=[
            LatexExtractionConfig(boxed_match_priority=0, try_extract_without_anchor=False),
            ExprExtractionConfig(try_extract_without_anchor=False),
        ],
        extraction_mode="first_match",
        parsing_timeout=None,  # a malformed completion is a wrong answer, not a fault: no raise
    )
    return bool(predicted) and verify(gold, predicted, timeout_seconds=None)


WORKER_COMMAND = [sys.executable, "-c", "from peft_rlvr_bench.math_verification import serve; serve()"]
"""The worker imports this module by its name and calls ``serve``. Not ``python -m``: run as
``__main__`` the module would register ``math_verify`` a second time under another name, which the
registry refuses, and every check would fall back to the calling thread without a timeout."""


def serve() -> None:
    """The worker's loop (``WORKER_COMMAND``): one JSON request per line on stdin
    (``[completion, answer]``), one JSON reply per line on stdout."""
    import warnings

    import math_verify  # noqa: F401  (imported before "ready": startup is not a check's time)

    warnings.filterwarnings("ignore")
    replies, sys.stdout = sys.stdout, sys.stderr  # stray prints from libraries cannot break the protocol
    print("ready", file=replies, flush=True)
    for line in sys.stdin:
        completion, answer = json.loads(line)
        try:
            reply = [True, check(completion, answer)]
        except Exception as exc:
            reply = [False, f"{type(exc).__name__}: {exc}"[:300]]
        print(json.dumps(reply), file=replies, flush=True)


class _Worker:
    """One worker process, one check at a time (a lock serialises threads), killed on a timeout.

    A plain subprocess rather than ``multiprocessing``: it re-imports no ``__main__`` module, is
    safe next to CUDA and threads, and can be started from inside daemonic processes.
    """

    def __init__(self, command: list[str] | None = None) -> None:
        self.command = command or WORKER_COMMAND
        self._lock = threading.Lock()
        self._process: subprocess.Popen[str] | None = None
        self._in_thread = False

    def _start(self) -> None:
        process = subprocess.Popen(
            self.command,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            bufsize=1,
        )
        self._process = process
        if self._readline(STARTUP_TIMEOUT_S) != "ready":
            self._stop()
            raise RuntimeError("the math-verify worker did not start")

    def _readline(self, timeout: float) -> str | None:
        """The worker's next line, or None when none came within ``timeout`` seconds."""
        assert self._process is not None and self._process.stdout is not None
        ready, _, _ = select.select([self._process.stdout], [], [], timeout)
        if not ready:
            return None
        line = self._process.stdout.readline()
        return line.strip() if line else None

    def _stop(self) -> None:
        if self._process is not None:
            self._process.kill()
            self._process.wait(timeout=5)
            for stream in (self._process.stdin, self._process.stdout):
                if stream is not None:
                    stream.close()
        self._process = None

    def score(self, completion: str, answer: str, timeout: float) -> float:
        with self._lock:
            if self._in_thread:
                return float(check(completion, answer))
            if self._process is None or self._process.poll() is not None:
                self._stop()
                try:
                    self._start()
                except (OSError, RuntimeError) as exc:
                    logger.warning("math_verify: no worker process (%s); checking without a timeout", exc)
                    self._in_thread = True
                    return float(check(completion, answer))
            assert self._process is not None and self._process.stdin is not None
            try:
                self._process.stdin.write(json.dumps([completion, answer]) + "\n")
                self._process.stdin.flush()
                line = self._readline(timeout)
            except (OSError, ValueError) as exc:
                self._stop()
                raise RuntimeError(f"the math-verify worker died ({type(exc).__name__})") from None
            if line is None:
                dead = self._process.poll() is not None
                self._stop()  # stuck in sympy (or dead): kill it; the next check starts a new one
                if dead:
                    raise RuntimeError("the math-verify worker died during a check")
                raise MathVerifyTimeout(f"a math-verify check took longer than {timeout:g} s")
            ok, value = json.loads(line)
            if not ok:
                raise ValueError(value)
            return float(value)


_WORKER = _Worker()


@register_verifier("math_verify")
def math_verify(completion: str, answer: str) -> float:
    """1.0 when the completion's final answer equals ``answer`` mathematically (math-verify), else
    0.0. Raises ``MathVerifyTimeout`` on a timeout and ``ValueError`` when the gold does not parse
    (the harness's verifier guard scores those 0 and counts them)."""
    if not isinstance(completion, str):
        return 0.0  # states no answer (and cannot go to the worker as JSON text)
    return _WORKER.score(completion, answer, timeout_seconds())
