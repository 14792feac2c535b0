"""The steps of ``gpu_check.py``, each a function of the model's shape: a random Qwen2 model and
its run spec, bare TRL / harness pairs, the memory estimates, trajectory records, and relex,
alpharl and analyze on synthetic checkpoints of the same tensors."""

from __future__ import annotations

import shutil
import statistics
import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from measure import in_subprocess
from overhead import run_case
from paired import ratio_interval, rotation
from synthetic import Layout, write_trajectory

REPO = Path(__file__).resolve().parents[1]
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


def architecture(shape: str) -> Any:
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


def tokenizer_and_spec(updates: int, adapter: str) -> tuple[Any, Any]:
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
    """Interleaved pairs of bare TRL and the harness, a fresh model each run, after an untimed
    two-update run of each (imports, CUDA kernels and the allocator's pools are paid there, not by
    whichever case runs first: at the tiny shape the first run was 3x slower than the second)."""
    from peft_rlvr_bench.suite import Budget

    updates = spec.budget.max_steps
    cases = ("bare-trl", "harness")
    warm = spec.model_copy(update={"budget": Budget(max_steps=2)})
    for case in cases:
        run_case(
            case,
            _adapted(build_model(arch, tokenizer, spec.seed, device), warm, 2),
            tokenizer,
            warm,
            out / f"warm-{case}",
        )
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


def in_process(name: str, **kwargs: Any) -> dict[str, Any]:
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
    ``measure.in_subprocess``, or ``in_process``)."""
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
