"""``prb run SUITE --dry-run``: the run plan and each run's estimated GPU memory and disk, offline.

The suite is loaded and validated exactly as for a real run (``--set`` included) and planned by
the runner's own planner (``runner.plan``): base evaluation first, then every pending run after
the runs it needs (an ``rl_delta`` mask after its ``full`` run, a derived extrapolation after its
source). Memory comes from ``memory.py``, disk from ``disk_usage.py``; nothing is downloaded and no
model is built.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from peft_rlvr_bench.architecture import Architecture
from peft_rlvr_bench.disk_usage import RunDisk, run_disk
from peft_rlvr_bench.errors import UserError
from peft_rlvr_bench.memory import GIB, PROMPT_TOKENS, adapter_footprint, estimate_memory
from peft_rlvr_bench.suite import TINY_MODEL, DerivedRun, RunSpec, Suite

GPU_GIB = 80
"""The card the plan flags runs against (an H100 80GB); a flagged run needs ``launch:`` sharding."""


def suite_architecture(suite: Suite) -> tuple[Architecture, str]:
    """The suite model's architecture: the tiny world, a local config, the table or the HF cache."""
    from peft_rlvr_bench.architecture import resolve_architecture, world_architecture

    model = suite.spec.model
    if model.name == TINY_MODEL and model.world is not None:
        return world_architecture(model.world)
    return resolve_architecture(model.name, model.path)


def run_memory(run: RunSpec, arch: Architecture, vllm_rollouts: bool) -> dict[str, Any]:
    """The estimate for one trained run, in GiB by component (``memory.py`` explains each)."""
    from peft_rlvr_bench.rlvr.recipes import recipe_of

    recipe, params = recipe_of(run.recipe.name, run.recipe.params)
    footprint = adapter_footprint(run.adapter.name, run.adapter.params, arch)
    work = recipe.workload(params, PROMPT_TOKENS, vllm_rollouts)
    micro, tokens = work.micro_batch, work.sequence_tokens
    estimate = estimate_memory(
        arch,
        footprint,
        reference=work.reference,
        micro_batch=micro,
        sequence_tokens=tokens,
        gradient_checkpointing=work.gradient_checkpointing,
        generation_batch=work.generation_batch,
    )
    return {
        "trainable": footprint.trainable,
        "model": (estimate.weights + estimate.adapter) / GIB,
        "grads_adam": (estimate.gradients + estimate.optimizer + estimate.masks) / GIB,
        "reference": estimate.reference / GIB,
        "activations": max(estimate.activations, estimate.rollout_kv_cache) / GIB,
        "total": estimate.total / GIB,
        "micro": micro,
        "tokens": tokens,
    }


def disk_of(run: RunSpec, arch: Architecture, trainable: int | None) -> RunDisk:
    """What the run writes to disk (``disk_usage.py``)."""
    from peft_rlvr_bench.registry import ADAPTERS

    return run_disk(
        total_params=arch.parameters(),
        trainable=trainable,
        max_steps=run.budget.max_steps,
        trajectory_every=run.trajectory.every if run.trajectory else None,
        dense_until=run.trajectory.dense_until if run.trajectory else None,
        checkpoint_keep=run.checkpoint.keep if run.checkpoint else None,
        rewrites_base=ADAPTERS.get(run.adapter.name).rewrites_base,
    )


def _count(value: int | None) -> str:
    if value is None:  # a mask built from the weights: its size is known once built
        return "mask"
    for unit, size in (("B", 1e9), ("M", 1e6), ("k", 1e3)):
        if value >= size:
            return f"{value / size:.2f}{unit}"
    return str(value)


def render_plan(suite: Suite, results_dir: Path, force: bool = False) -> str:
    """The plan as text: one line per run in execution order, with its dependencies and memory."""
    from peft_rlvr_bench.backends import select_backends
    from peft_rlvr_bench.runner.plan import environment_notes, plan_suite

    spec = suite.spec
    plan = plan_suite(suite, results_dir, force=force)
    try:
        arch, source = suite_architecture(suite)
    except UserError as exc:
        arch, source = None, str(exc)
    share = spec.generation.vllm_gpu_memory_utilization if spec.generation else 0.3
    try:
        backends = select_backends(spec.generation)
        here = f"here: rollouts {backends.rollout}, eval {backends.eval}"
    except RuntimeError as exc:
        here = f"here: {exc}"
    where = f" at {spec.model.path}" if spec.model.path else ""
    lines = [f"suite {spec.name}: {spec.model.name}{where}"]
    if arch is not None:
        lines.append(f"  {arch.parameters() / 1e9:.3f}B parameters ({source}); {here}")
    else:
        lines.append(f"  no memory estimate: {source}")
    pending = sum(work.counted for work in plan.work)
    lines.append(
        f"  {len(suite.runs)} trained runs, {len(suite.derived)} derived; "
        f"{pending} to run, {len(plan.skipped)} finished"
    )
    lines += [f"  {note}" for note in environment_notes(spec.name, plan)]
    if not plan.work and not plan.base:
        lines.append(
            f"  nothing left to run: every run has a result under {results_dir / spec.name}; "
            "--force reruns them"
        )
        return "\n".join(lines)
    lines += [
        "  GiB (training peak with vLLM rollouts): model = fp32 weights + adapter; grads+adam = fp32",
        "  gradients and AdamW moments of the trainable weights (+ sparse masks); ref = fp32 base copy",
        "  (beta > 0); act = bf16 activations + logits of one micro-batch; vLLM takes its share",
        f"  ({share:g} of the GPU) on top; ! = over {GPU_GIB} GiB with it. disk = GiB the run writes",
        "  at its peak: trajectory records, final checkpoint, trainer checkpoints (disk_usage.py).",
        "  Evaluation: one lm-eval vLLM engine per run, the same share, from the run's first",
        "  evaluation to its end (generation.vllm_eval_sleep frees it between evaluations)",
        "",
        f"{'#':>3}  {'run':<32} {'after':<24} {'trainable':>9} {'model':>6} {'grads+adam':>10} "
        f"{'ref':>5} {'act':>5} {'disk':>6} {'total':>6}",
    ]
    disks: list[RunDisk] = []
    rows: list[tuple[str, str, str]] = []
    if plan.base:
        rows.append(("base (evaluation)", "-", ""))
    for work in plan.work:
        after = ", ".join(work.after) or "-"
        name = work.run_id + ("" if work.counted else " (redo)")
        if isinstance(work.run, DerivedRun):
            rows.append((name, after, f"{'':>9} derived ({work.run.method})"))
            continue
        if arch is None:
            rows.append((name, after, ""))
            continue
        try:
            m = run_memory(work.run, arch, vllm_rollouts=True)
        except UserError as exc:
            rows.append((name, after, str(exc)))
            continue
        flag = " !" if m["total"] + share * GPU_GIB > GPU_GIB else ""
        disk = disk_of(work.run, arch, m["trainable"])
        disks.append(disk)
        figures = (
            f"{_count(m['trainable']):>9} {m['model']:>6.1f} {m['grads_adam']:>10.1f} "
            f"{m['reference']:>5.1f} {m['activations']:>5.1f} {disk.peak / GIB:>6.1f} "
            f"{m['total']:>6.1f}{flag}"
        )
        rows.append((name, after, figures))
    lines += [
        f"{i:>3}  {name:<32} {after:<24} {figures}".rstrip()
        for i, (name, after, figures) in enumerate(rows, 1)
    ]
    if disks:
        lasting = sum(d.lasting for d in disks) / GIB
        trajectories = sum(d.trajectory for d in disks) / GIB
        lines += [
            "",
            f"  disk: {lasting:.1f} GiB stay under $PRB_OUTPUTS_DIR after these runs ({trajectories:.1f} GiB "
            "of it trajectories,",
            "  which trajectory: {keep: false} drops after each result), plus the largest run's trainer "
            f"checkpoints while it runs ({max(d.checkpoints for d in disks) / GIB:.1f} GiB)",
        ]
    if arch is not None and suite.runs:
        first = suite.runs[0]
        with_vllm = run_memory(first, arch, vllm_rollouts=True)
        without = run_memory(first, arch, vllm_rollouts=False)
        lines += [
            "",
            f"  act: micro-batch {with_vllm['micro']} x {with_vllm['tokens']} tokens ({PROMPT_TOKENS}-token "
            "prompt allowance + max_completion_length). With transformers rollouts instead,",
            f"  the generation KV cache takes {first.adapter.label}'s peak to {without['total']:.1f} GiB.",
        ]
    return "\n".join(lines)
