"""Peak memory per case: one call in a fresh Python process, which reports its own figures.

``in_subprocess(name, **kwargs)`` runs ``TARGETS[name](**kwargs)`` in a new interpreter and
returns what that process measured: the call's seconds, its peak resident set (``VmHWM``, reset
after the imports; it also counts the pages of memory-mapped checkpoint files the call touched)
and the peak of its anonymous memory (``RssAnon``: what the call allocated, without the mapped
files), each also as the increase over the process after its imports. Linux keeps no high-water
mark of ``RssAnon``, so it is sampled: every millisecond by the parent from ``/proc/<pid>/status``
(which the child's GIL cannot hold up), and every 5 ms by a thread in the child; the larger wins.
A spike shorter than that can be missed, so read ``added_anon_mb`` as a lower bound for fast calls.

A fresh process per case is what makes the peak the case's own. Not ``ru_maxrss`` (of the child
or of ``RUSAGE_CHILDREN``): Linux carries the forking parent's resident size across ``exec`` into
it, so a child of a large pytest process would report the parent's size as its floor.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]


def extrapolate(
    method: str, params: dict[str, Any], base: str, checkpoints: dict[str, str], target: int, out: str
):
    from peft_rlvr_bench.extrapolation.checkpoints import extrapolate_checkpoints

    steps = {int(step): Path(path) for step, path in checkpoints.items()}
    extrapolate_checkpoints(method, params, Path(base), steps, target, Path(out))


def analyze(base: str, tuned: str, method: str = "gram", device: str = "cpu"):
    from peft_rlvr_bench.analyze import analyze_dirs
    from peft_rlvr_bench.geometry import GeometryParams

    analyze_dirs(Path(base), Path(tuned), params=GeometryParams(method=method), device=device)


TARGETS = {"extrapolate": extrapolate, "analyze": analyze}
MODULES = {"extrapolate": "peft_rlvr_bench.extrapolation.checkpoints", "analyze": "peft_rlvr_bench.analyze"}


def _status_kb(field: str, path: Path = Path("/proc/self/status")) -> int:
    for line in path.read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def in_subprocess(name: str, timeout: float = 1800, **kwargs: Any) -> dict[str, float]:
    command = [sys.executable, __file__, json.dumps({"name": name, "kwargs": kwargs})]
    peak_anon = 0
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        child = subprocess.Popen(command, stdout=out, stderr=err, text=True, cwd=REPO)
        status = Path(f"/proc/{child.pid}/status")
        deadline = time.monotonic() + timeout
        while child.poll() is None:
            with contextlib.suppress(OSError, ValueError):
                peak_anon = max(peak_anon, _status_kb("RssAnon", status))
            if time.monotonic() > deadline:
                child.kill()
                child.wait()
                raise TimeoutError(f"{name} in a subprocess took over {timeout} s")
            time.sleep(0.001)
        out.seek(0)
        err.seek(0)
        if child.returncode != 0:
            raise RuntimeError(f"{name} in a subprocess failed ({child.returncode}):\n{err.read()[-3000:]}")
        figures = json.loads(out.read().strip().splitlines()[-1])
    # The parent's samples cover the whole process; after the imports it only grows or returns to
    # the baseline, so their maximum is the call's peak whenever it is above the child's own.
    figures["peak_anon_mb"] = max(figures["peak_anon_mb"], peak_anon / 1024)
    figures["added_anon_mb"] = figures["peak_anon_mb"] - figures["baseline_anon_mb"]
    return figures


def _child(spec: dict[str, Any]) -> None:
    import torch  # the baseline includes torch, as any caller of these functions has it

    target = TARGETS[spec["name"]]
    importlib.import_module(MODULES[spec["name"]])  # its import counts in the baseline, not in the call
    with contextlib.suppress(OSError):  # resets VmHWM to the current resident set (Linux >= 4.0)
        Path("/proc/self/clear_refs").write_text("5")
    baseline_rss = _status_kb("VmRSS")
    baseline_anon = _status_kb("RssAnon")
    peak_anon = baseline_anon
    stop = threading.Event()

    def sample() -> None:
        nonlocal peak_anon
        while not stop.wait(0.005):
            peak_anon = max(peak_anon, _status_kb("RssAnon"))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
    started = time.perf_counter()
    target(**spec["kwargs"])
    seconds = time.perf_counter() - started
    stop.set()
    sampler.join()
    peak_anon = max(peak_anon, _status_kb("RssAnon"))
    peak_rss = _status_kb("VmHWM")
    gpu_mb = torch.cuda.max_memory_allocated() / 2**20 if torch.cuda.is_available() else None
    mb = 1 / 1024
    print(
        json.dumps(
            {
                "seconds": seconds,
                "peak_rss_mb": peak_rss * mb,
                "baseline_rss_mb": baseline_rss * mb,
                "added_rss_mb": (peak_rss - baseline_rss) * mb,
                "peak_anon_mb": peak_anon * mb,
                "baseline_anon_mb": baseline_anon * mb,
                "gpu_peak_mb": gpu_mb,
            }
        )
    )


if __name__ == "__main__":
    _child(json.loads(sys.argv[1]))
