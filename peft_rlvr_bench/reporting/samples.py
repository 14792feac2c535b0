"""What a model answered: a gzipped JSON-lines sidecar per run result.

``results/<suite>/samples/<run_id>.jsonl.gz`` (``base.jsonl.gz`` for the base evaluation) holds
one ``ItemSample`` per task item: task, index, prompt, target, the greedy response and its score,
and on sampled tasks the k responses and their scores (``docs/results.md``). The writer of a run
result writes its sidecar first, then the JSON, so a result never exists without the answers
behind it; a result without samples (failed, diverged, ``eval.keep_samples: false``) removes
any older sidecar of the same run, so a sidecar always belongs to the JSON next to it.
Leaderboards read only the JSON files; nothing reads a sidecar whose JSON is gone.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterable
from pathlib import Path
from typing import BinaryIO

from peft_rlvr_bench.reporting.atomic import atomic_write
from peft_rlvr_bench.reporting.results import ItemSample, RunResult, save_result

SUFFIX = ".jsonl.gz"


def samples_path(results_root: Path, suite: str, run_id: str) -> Path:
    """The sidecar of ``run_id`` (``base`` for the base evaluation)."""
    return results_root / suite / "samples" / f"{run_id}{SUFFIX}"


def samples_to_jsonl(samples: Iterable[ItemSample]) -> str:
    """One compact JSON object per line; the fields a line does not have (greedy-only tasks have
    no ``responses``) are left out rather than written as null."""
    return "".join(
        json.dumps(sample.model_dump(mode="json", exclude_none=True), ensure_ascii=False) + "\n"
        for sample in samples
    )


def write_samples(path: Path, samples: Iterable[ItemSample]) -> None:
    """Writes the sidecar atomically (``reporting/atomic.py``). The gzip header carries no
    time or name, so the same answers give the same bytes."""
    data = samples_to_jsonl(samples).encode("utf-8")

    def write(raw: BinaryIO) -> None:
        with gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as handle:
            handle.write(data)

    atomic_write(path, write)


def read_samples(path: Path) -> list[ItemSample]:
    """The sidecar's lines, validated (``pd.read_json(path, lines=True)`` reads it as a table)."""
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        return [ItemSample.model_validate_json(line) for line in handle if line.strip()]


def save_result_and_samples(result: RunResult, path: Path, sidecar: Path) -> RunResult:
    """Writes the result's samples to ``sidecar`` (or removes a stale one when it has none), then
    the result to ``path``; returns the result without its samples, as a reader would load it."""
    if result.samples is not None:
        write_samples(sidecar, result.samples)
    else:
        sidecar.unlink(missing_ok=True)
    save_result(result, path)
    return result.model_copy(update={"samples": None})
