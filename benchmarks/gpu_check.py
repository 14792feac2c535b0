"""``make gpu-check``: the real-model path at Qwen2.5-1.5B's size on one GPU, in minutes, offline.

    python benchmarks/gpu_check.py                      # Qwen2.5-1.5B's shape (the GPU check)
    python benchmarks/gpu_check.py --shape tiny         # the same steps at a tiny shape (CPU smoke)

A randomly initialised ``Qwen2ForCausalLM`` with Qwen2.5-1.5B's sizes (``architecture.KNOWN``; no
download) and the tiny world's tokenizer, built in memory and passed as an object: a Qwen2 config
makes transformers 5 reload a custom tokenizer from disk as a Qwen2 tokenizer, which it is not.
The model samples ids beyond the tokenizer's 43, which decode to nothing, so completions run to
``max_completion_length`` and score 0: the same work in every case, which is what timing needs.
Steps, each with its seconds and peak memory:

1. GRPO updates through bare TRL and through the harness (``overhead.run_case``) in interleaved
   pairs: the harness overhead on this device (``paired.ratio_interval``), and TRL's token counts
   compared to check the pairs did the same work;
2. the measured peak GPU memory of a harness run against the dry run's estimate (``dry_run``'s
   figure at its 512 prompt tokens, and ``memory.estimate_memory`` at this run's prompt length);
3. trajectory recording of the full model (every parameter trainable), two records;
4. ``prb extrapolate`` with relex and alpharl, and ``prb analyze``, on synthetic checkpoints of the
   same shape (``synthetic.py``), each in a process of its own (``measure.in_subprocess``).

Prints one table and writes it, with the raw figures, as JSON (``--json``).
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

import torch  # noqa: E402
from measure import in_subprocess  # noqa: E402
from overhead import run_case  # noqa: E402
from paired import ratio_interval, rotation  # noqa: E402
from synthetic import Layout, write_trajectory  # noqa: E402

REPO = HERE.parent
SHAPES = {"1.5b": "Qwen/Qwen2.5-1.5B", "tiny": None}
TINY = {"hidden": 64, "layers": 2, "mlp": 176, "vocab": 512, "heads": 4, "kv": 2}
"""The smoke shape: Qwen2 with grouped-query attention and tied embeddings, like 1.5B."""


@dataclass
class Row:
    step: str
    seconds: float | None
    gpu_peak_mb: float | None
    cpu_added_mb: float | None
    figure: str


def _architecture(shape: str) -> Any:
    from peft_rlvr_bench.architecture import KNOWN, Architecture

    if SHAPES[shape]:
        return KNOWN[SHAPES[shape]]
    t = TINY
    return Architecture(
        "qwen2", t["hidden"], t["layers"], t["mlp"], t["vocab"], t["heads"], t["kv"], None, True, True
    )


def build_model(arch: Any, tokenizer: Any, seed: int, device: str) -> Any:
    """A random ``Qwen2ForCausalLM`` of ``arch``'s sizes in fp32 on ``device`` (as ``load_base``
    gives a model), its special tokens the tokenizer's."""
    from transformers import Qwen2Config, Qwen2ForCausalLM, set_seed

    config = Qwen2Config(
        vocab_size=arch.vocab_size,
        hidden_size=arch.hidden_size,
        intermediate_size=arch.intermediate_size,
        num_hidden_layers=arch.num_hidden_layers,
        num_attention_heads=arch.num_attention_heads,
        num_key_value_heads=arch.num_key_value_heads,
        tie_word_embeddings=arch.tie_word_embeddings,
        max_position_embeddings=4096,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    set_seed(seed)
    with torch.device(device):
        model = Qwen2ForCausalLM(config).float()
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    return model


def _tokenizer_and_spec(updates: int, adapter: str) -> tuple[Any, Any]:
    """The tiny world's tokenizer (an object, never reloaded) and the tiny suite's run spec."""
    from peft_rlvr_bench.models import load_base
    from peft_rlvr_bench.suite import Budget, load_suite

    _, tokenizer = load_base(load_suite(REPO / "suites" / "smoke.yaml").spec.model)
    suite = load_suite(REPO / "suites" / "tiny.yaml")
    spec = next(r for r in suite.runs if r.adapter.name == adapter and r.seed == 0)
    return tokenizer, spec.model_copy(update={"budget": Budget(max_steps=updates), "trajectory": None})


def _adapted(model: Any, spec: Any, updates: int) -> Any:
    from peft_rlvr_bench.adapters import ApplyContext
    from peft_rlvr_bench.registry import ADAPTERS

    adapter = ADAPTERS.get(spec.adapter.name)()
    params = adapter.Params.model_validate(spec.adapter.params)
    return adapter.apply(model, params, ApplyContext(seed=spec.seed, total_updates=updates))


@contextmanager
def gpu_peak(found: dict[str, float | None]):
    """Sets ``found["mb"]`` to the block's peak allocated GPU memory (None on CPU)."""
    cuda = torch.cuda.is_available()
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    started = time.perf_counter()
    yield
    if cuda:
        torch.cuda.synchronize()
    found["seconds"] = time.perf_counter() - started
    found["mb"] = torch.cuda.max_memory_allocated() / 2**20 if cuda else None


def overhead_pairs(
    arch: Any, tokenizer: Any, spec: Any, pairs: int, device: str, out: Path
) -> dict[str, Any]:
    """Interleaved pairs of bare TRL and the harness, a fresh model each run."""
    updates = spec.budget.max_steps
    cases = ("bare-trl", "harness")
    totals: dict[str, list[float]] = {case: [] for case in cases}
    steps: dict[str, list[float]] = {case: [] for case in cases}
    tokens: dict[str, list[list[float]]] = {case: [] for case in cases}
    peaks: dict[str, list[float]] = {case: [] for case in cases}
    for index in range(pairs):
        for case in rotation(cases, index):
            model = _adapted(build_model(arch, tokenizer, spec.seed, device), spec, updates)
            found: dict[str, Any] = {}
            with gpu_peak(found):
                clock = run_case(case, model, tokenizer, spec, out / f"pair{index}-{case}")
            timed = clock.intervals[1:]  # the first update is warm-up (kernels, allocator)
            totals[case].append(sum(timed))
            steps[case] += timed
            tokens[case].append(clock.tokens)
            if found["mb"] is not None:
                peaks[case].append(found["mb"])
            del model, clock
            if torch.cuda.is_available():
                torch.cuda.empty_cache()
    return {
        "updates_timed": updates - 1,
        "pairs": pairs,
        "median_update_seconds": {case: statistics.median(steps[case]) for case in cases},
        "peak_gpu_mb": {case: max(peaks[case]) if peaks[case] else None for case in cases},
        # Equal and present: a TRL that stopped logging num_tokens must not pass as "same work".
        "same_tokens": all(tokens["bare-trl"]) and tokens["harness"] == tokens["bare-trl"],
        "harness_over_bare": ratio_interval(totals["harness"], totals["bare-trl"]),
    }


def memory_estimates(arch: Any, spec: Any, tokenizer: Any) -> dict[str, float]:
    """The dry run's figure for this run (GiB), and the same estimate at this run's prompt length."""
    from peft_rlvr_bench.context import RunContext
    from peft_rlvr_bench.dry_run import run_memory
    from peft_rlvr_bench.memory import GIB, adapter_footprint, estimate_memory
    from peft_rlvr_bench.rlvr.recipes import recipe_of
    from peft_rlvr_bench.rlvr.train import training_items

    dry = run_memory(spec, arch, vllm_rollouts=False)
    prompts = [item.prompt for item in training_items(spec, RunContext())]
    # A conversational prompt is measured as the chat template renders it.
    texts = [p if isinstance(p, str) else tokenizer.apply_chat_template(p, tokenize=False) for p in prompts]
    prompt_tokens = max(len(tokenizer(text)["input_ids"]) for text in texts)
    recipe, params = recipe_of(spec.recipe.name, spec.recipe.params)
    work = recipe.workload(params, prompt_tokens, False)
    own = estimate_memory(
        arch,
        adapter_footprint(spec.adapter.name, spec.adapter.params, arch),
        reference=work.reference,
        micro_batch=work.micro_batch,
        sequence_tokens=work.sequence_tokens,
        gradient_checkpointing=work.gradient_checkpointing,
        generation_batch=work.generation_batch,
    )
    return {"dry_run_gib": dry["total"], "at_own_prompt_gib": own.total / GIB, "prompt_tokens": prompt_tokens}


def record_trajectory(arch: Any, tokenizer: Any, device: str, out: Path, records: int = 2) -> dict[str, Any]:
    """``records`` trajectory records of a fully trainable model (the largest record there is)."""
    from peft_rlvr_bench.trajectory.recorder import TrajectoryRecorder

    model = build_model(arch, tokenizer, 0, device)
    recorder = TrajectoryRecorder(out, every=1, base_reference="gpu-check", background=False)
    seconds = []
    found: dict[str, Any] = {}
    with gpu_peak(found):
        for update in range(records):
            with torch.no_grad():
                for parameter in model.parameters():
                    parameter.add_(1e-3)  # a stand-in for an optimizer step between records
            started = time.perf_counter()
            recorder.record(model, update)
            recorder.flush()
            seconds.append(time.perf_counter() - started)
    written = sum(path.stat().st_size for path in out.rglob("*") if path.is_file())
    trainable = sum(p.numel() * p.element_size() for p in model.parameters())
    del model
    return {"seconds": seconds, "gpu_peak_mb": found["mb"], "bytes": written, "trainable_bytes": trainable}


def synthetic_layout(arch: Any) -> Layout:
    kv = arch.num_key_value_heads * arch.head_size
    return Layout(
        arch.hidden_size,
        arch.intermediate_size,
        arch.num_hidden_layers,
        arch.vocab_size,
        kv,
        arch.tie_word_embeddings,
    )


def _in_process(name: str, **kwargs: Any) -> dict[str, Any]:
    """``measure.in_subprocess``'s call without the process: seconds only (the CPU smoke, where
    three interpreter start-ups would cost more than the calls)."""
    from measure import TARGETS

    started = time.perf_counter()
    TARGETS[name](**kwargs)
    return {"seconds": time.perf_counter() - started, "gpu_peak_mb": None, "added_anon_mb": None}


def checkpoint_steps(
    layout: Layout,
    root: Path,
    checkpoints: int,
    device: str,
    call: Callable[..., dict[str, Any]] = in_subprocess,
) -> list[Row]:
    """Synthetic checkpoints of ``layout``, then relex, alpharl and analyze on them (``call``:
    ``measure.in_subprocess``, or ``_in_process``)."""
    started = time.perf_counter()
    base, available = write_trajectory(layout, root, list(range(1, checkpoints + 1)))
    rows = [
        Row(
            "write synthetic checkpoints",
            time.perf_counter() - started,
            None,
            None,
            f"base + {checkpoints} x {layout.numel / 1e6:.1f}M parameters (fp32)",
        )
    ]
    target = 2 * checkpoints
    for method in ("relex", "alpharl"):
        out = root / f"out-{method}"
        figures = call(
            "extrapolate",
            method=method,
            params={},
            base=str(base),
            checkpoints={str(step): str(path) for step, path in available.items()},
            target=target,
            out=str(out),
        )
        shutil.rmtree(out, ignore_errors=True)
        rows.append(
            Row(
                f"prb extrapolate {method}",
                figures["seconds"],
                figures["gpu_peak_mb"],
                figures["added_anon_mb"],
                f"T = {checkpoints}, target {target}",
            )
        )
    figures = call("analyze", base=str(base), tuned=str(available[checkpoints]), device=device)
    rows.append(
        Row(
            "prb analyze",
            figures["seconds"],
            figures["gpu_peak_mb"],
            figures["added_anon_mb"],
            f"device {device}, gram, k = 16 and 64",
        )
    )
    return rows


def _mb(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"


def render(rows: Sequence[Row]) -> str:
    lines = ["| step | s | peak GPU MB | +CPU MB | figure |", "| --- | --: | --: | --: | --- |"]
    for row in rows:
        seconds = "-" if row.seconds is None else f"{row.seconds:.2f}"
        lines.append(
            f"| {row.step} | {seconds} | {_mb(row.gpu_peak_mb)} | {_mb(row.cpu_added_mb)} | {row.figure} |"
        )
    return "\n".join(lines)


def _timed(step: str, call: Callable[[], Any]) -> tuple[Any, float]:
    started = time.perf_counter()
    value = call()
    print(f"gpu-check: {step} done in {time.perf_counter() - started:.1f} s", file=sys.stderr, flush=True)
    return value, time.perf_counter() - started


def run_check(
    shape: str, updates: int, pairs: int, checkpoints: int, adapter: str, work: Path, in_process: bool = False
) -> dict[str, Any]:
    device = "cuda" if torch.cuda.is_available() else "cpu"
    arch = _architecture(shape)
    tokenizer, spec = _tokenizer_and_spec(updates, adapter)
    rows: list[Row] = []
    model, seconds = _timed("build", lambda: build_model(arch, tokenizer, 0, device))
    count = sum(p.numel() for p in model.parameters())
    rows.append(
        Row("build random Qwen2 model", seconds, None, None, f"{count / 1e6:.1f}M parameters on {device}")
    )
    del model
    overhead, _ = _timed(
        "GRPO pairs", lambda: overhead_pairs(arch, tokenizer, spec, pairs, device, work / "grpo")
    )
    ratio = overhead["harness_over_bare"]
    for case in ("bare-trl", "harness"):
        rows.append(
            Row(
                f"GRPO update, {case} ({adapter})",
                overhead["median_update_seconds"][case],
                overhead["peak_gpu_mb"][case],
                None,
                f"median of {pairs} x {updates - 1} updates",
            )
        )
    interval = "" if ratio["t_low"] is None else f" (95% t {ratio['t_low']:.3f} to {ratio['t_high']:.3f})"
    rows.append(
        Row(
            "harness / bare TRL",
            None,
            None,
            None,
            f"{ratio['ratio']:.3f}{interval}, {pairs} pairs; same tokens: {overhead['same_tokens']}",
        )
    )
    estimates = memory_estimates(arch, spec, tokenizer)
    measured = overhead["peak_gpu_mb"]["harness"]
    against = "-" if measured is None else f"{measured / 1024 / estimates['at_own_prompt_gib']:.2f}"
    rows.append(
        Row(
            "memory: measured / estimate",
            None,
            measured,
            None,
            f"estimate {estimates['at_own_prompt_gib'] * 1024:.0f} MB at {estimates['prompt_tokens']} "
            f"prompt tokens (measured / estimate {against}); "
            f"the dry run's {estimates['dry_run_gib'] * 1024:.0f} MB at 512",
        )
    )
    trajectory, _ = _timed(
        "trajectory", lambda: record_trajectory(arch, tokenizer, device, work / "trajectory")
    )
    shutil.rmtree(work / "trajectory", ignore_errors=True)
    rows.append(
        Row(
            "trajectory record (full model)",
            statistics.fmean(trajectory["seconds"]),
            trajectory["gpu_peak_mb"],
            None,
            f"{len(trajectory['seconds'])} records, bytes / trainable "
            f"{trajectory['bytes'] / len(trajectory['seconds']) / trajectory['trainable_bytes']:.3f}",
        )
    )
    layout = synthetic_layout(arch)
    extra, _ = _timed(
        "checkpoints",
        lambda: checkpoint_steps(
            layout, work / "checkpoints", checkpoints, device, _in_process if in_process else in_subprocess
        ),
    )
    rows += extra
    shutil.rmtree(work / "checkpoints", ignore_errors=True)
    return {
        "shape": shape,
        "device": torch.cuda.get_device_name(0) if device == "cuda" else platform.processor() or "cpu",
        "versions": _versions(),
        "rows": [asdict(row) for row in rows],
        "overhead": overhead,
        "memory_estimate": estimates,
        "trajectory": trajectory,
        "table": render(rows),
    }


def _versions() -> dict[str, str]:
    from importlib.metadata import version

    return {name: version(name) for name in ("torch", "transformers", "trl", "peft", "accelerate")}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shape", choices=sorted(SHAPES), default="1.5b")
    parser.add_argument("--updates", type=int, default=None, help="per GRPO run (default 6; tiny: 3)")
    parser.add_argument("--pairs", type=int, default=None, help="bare/harness pairs (default 3; tiny: 1)")
    parser.add_argument("--checkpoints", type=int, default=3, help="synthetic checkpoints T")
    parser.add_argument("--adapter", default="lora", help="the tiny suite's adapter to train")
    parser.add_argument("--json", type=Path, default=REPO / "outputs" / "gpu-check.json")
    parser.add_argument(
        "--in-process",
        action="store_true",
        help="extrapolate and analyze in this process (no memory figures)",
    )
    parser.add_argument(
        "--work", type=Path, default=None, help="scratch directory (default: a temporary one)"
    )
    args = parser.parse_args(argv)
    tiny = args.shape == "tiny"
    updates = args.updates or (3 if tiny else 6)
    pairs = args.pairs or (1 if tiny else 3)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(dir=args.work) as scratch:
        result = run_check(
            args.shape, updates, pairs, args.checkpoints, args.adapter, Path(scratch), args.in_process
        )
    result["wall_seconds"] = time.perf_counter() - started
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=1, default=str) + "\n")
    head = f"gpu-check ({result['shape']}, {result['device']}, {result['wall_seconds']:.0f} s)"
    print(f"{head}\n\n{result['table']}")
    print(f"\n(JSON: {args.json})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
