"""The training path, top to bottom: adapter, KL reference, callbacks, TRL config, trainer, result.

``train_run`` is what every trained run does, and every segment of a driven extrapolation
(regrounding, NExt) from a jumped point. The loop itself is the recipe's (``rlvr/recipes.py``
registers them; ``rlvr/grpo.py`` and ``rlvr/sft.py`` run them). What each recipe computes, with
TRL 1.16's trainers, for a prompt whose G = ``num_generations`` completions are sampled at
``temperature`` and scored 0 or 1 by the task's verifier (the same function that scores eval):

- ``grpo``: advantage ``A = (r - mean of the group) / (std of the group + 1e-4)``. Token loss
  ``-min(ratio A, clip(ratio, 1 - eps, 1 + eps) A)``, averaged over each completion's tokens, then
  over completions (TRL's ``loss_type="grpo"``: a long completion's tokens weigh less). KL only
  with ``beta > 0`` (default 0): ``beta`` times the k3 estimate per token, against the base.
- ``dr_grpo`` (Dr. GRPO): ``A = r - mean of the group``, no std division; token losses summed and
  divided by completions x ``max_completion_length``, a constant, so no length normalisation.
- ``dapo``: token losses summed over the whole update and divided by its completion tokens;
  clip-higher, ``ratio`` clipped to ``[1 - 0.2, 1 + 0.28]``; no KL (``beta`` is held at 0);
  overlong filtering (a completion cut at ``max_completion_length`` adds no loss; TRL's
  ``mask_truncated_completions``, on by default). Missing from DAPO: dynamic sampling (drop groups
  whose rewards are all equal, refill), which TRL lacks, and the soft overlong penalty.
- ``sft``: TRL's SFTTrainer, cross-entropy on the answer tokens only, ``batch_size`` verified
  answers per update. No sampling, no reward, no KL: the control the RLVR claims compare with.

Honest notes for the GRPO family:

- Each update generates once and takes one gradient step on it (``num_iterations`` 1), so the
  sampling policy is the current one, ``ratio`` is exactly 1 and the clip never binds: the update
  is the plain group-baseline policy gradient. (With vLLM rollouts TRL also masks sequences whose
  training/sampling probability ratio is extreme, its default importance-sampling correction.)
- Against stock TRL: the learning rate is constant after warmup (TRL decays linearly), with no
  weight decay and each adapter entry's own rate; TRL's default loss is ``dapo``, every recipe here
  names its own; the KL reference is a separate copy of the original base (TRL would use the
  adapter disabled, which for PiSSA-like methods is the residual); an adapter may bring its own
  optimizer (LoRA+, LoRA-FA), callbacks (AdaLoRA's rank budget, sparse masks' restore) or loss
  term (AdaLoRA's orthogonality, counted once per update); completions stop at the task's
  template marker.

What the spec decides of the TRL config is ``harness_config`` (``rlvr/recipes.py``), part of the
run id. ``trainer_config`` adds what only reflects the machine and process (device and
precision, output directory, logging, checkpoints, the rollout backend, a launch's batch
share); all of it is recorded as the result's ``train_config``.
"""

from __future__ import annotations

import shutil
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from peft_rlvr_bench.adapters import Adapter, ApplyContext, TrainingHooks, count_parameters
from peft_rlvr_bench.adapters.checkpoints import snapshot_initial_adapter
from peft_rlvr_bench.context import RunContext
from peft_rlvr_bench.distributed import is_main_process, world_size
from peft_rlvr_bench.models import load_base, model_location
from peft_rlvr_bench.paths import final_dir, trajectory_dir
from peft_rlvr_bench.registry import ADAPTERS
from peft_rlvr_bench.reporting.results import StepRecord
from peft_rlvr_bench.rlvr.generation import rollout_fields
from peft_rlvr_bench.rlvr.interventions import rank1_substitution_callback
from peft_rlvr_bench.rlvr.job import TrainingJob
from peft_rlvr_bench.rlvr.recipes import harness_config, recipe_of
from peft_rlvr_bench.rlvr.resilience import (
    Diverged,
    checkpoint_fields,
    checkpoint_step,
    last_complete_checkpoint,
)
from peft_rlvr_bench.rlvr.sharded import (
    GatherWholeWeights,
    load_whole_state,
    refuse_weight_hooks,
    sharded_launch,
)
from peft_rlvr_bench.suite import RunSpec
from peft_rlvr_bench.tasks import Item
from peft_rlvr_bench.trajectory import TrajectoryRecorder


@dataclass
class Trained:
    """An adapted model after RL, with what its result reports."""

    model: Any
    adapter: Adapter
    curve: list[StepRecord]
    trainable: int
    total: int
    initial_adapter: Path | None
    """The adapter at update 0, for residual methods' conversion to a plain LoRA when saved."""
    train_config: dict[str, Any]


def train_run(
    run: RunSpec,
    model: Any,
    tokenizer: Any,
    context: RunContext,
    device: str,
    directory: Path,
    on_update: Callable[[int], None] | None = None,
    *,
    record_trajectory: bool = False,
    snapshot_initial: bool = False,
    resume: bool = False,
) -> Trained:
    """Applies the run's adapter to ``model`` (whatever weights it holds) and runs its recipe.

    Trained runs start from the base; driven extrapolations call it for every segment from a
    jumped point, with the same adapter, recipe, hooks and KL reference. ``directory`` holds the
    trainer's scratch (and, with ``snapshot_initial``, a residual method's initial adapter).
    ``record_trajectory`` records the run's weights; ``resume`` continues a killed run from its
    newest trainer checkpoint (suites with ``checkpoint:``), which stays on disk until the run's
    result is written (``runner.execute.tidy_run_dir``).
    """
    recipe, recipe_params = recipe_of(run.recipe.name, run.recipe.params)

    # 1. The adapter: what trains, and how it reaches into the loop (optimizer, callbacks, loss).
    adapter = ADAPTERS.get(run.adapter.name)()
    params = adapter.Params.model_validate(run.adapter.params)
    dependencies = {role: final_dir(run.suite, run_id) for role, run_id in run.dependencies.items()}
    applied = ApplyContext(seed=run.seed, total_updates=run.budget.max_steps, dependency_dirs=dependencies)
    model = adapter.apply(model, params, applied)
    hooks = adapter.hooks(model, params)
    snapshot = snapshot_initial and adapter.rewrites_base and is_main_process()  # rank 0 writes files
    initial = snapshot_initial_adapter(model, directory) if snapshot else None

    # 2. The KL reference: with a KL term, always a separate copy of the original base. A PEFT
    # model's "adapter disabled" is a residual for PiSSA-like methods, and TRL's alternative, a
    # second "ref" adapter, is one AdaLoRA cannot hold. Full fine-tuning reloads it the same way.
    reference = load_base(run.model, device=device)[0] if recipe.needs_reference(recipe_params) else None

    # 3. Callbacks: the entry's intervention, the sharded gather, the trajectory recorder.
    callbacks: list[Any] = []
    if run.adapter.intervention is not None:
        callbacks.append(rank1_substitution_callback(model, run.adapter.intervention.every))
    gather = None
    if sharded_launch():  # ZeRO-3/FSDP: rank 0 needs the whole trained weights (rlvr/sharded.py)
        refuse_weight_hooks(hooks, run.adapter.intervention)
        gather = GatherWholeWeights()
        callbacks.append(gather)
    scratch = directory / "trainer"
    keep_checkpoints = resume and run.checkpoint is not None and adapter.resumable
    if not keep_checkpoints:  # driven segments and non-resumable adapters: checkpoints nobody reads
        run = run.model_copy(update={"checkpoint": None})
    resume_from = last_complete_checkpoint(scratch) if keep_checkpoints else None
    if record_trajectory and run.trajectory is not None and is_main_process():
        recorder, resume_from = _trajectory_recorder(run, model, resume_from, scratch)
        callbacks.append(recorder)
    if resume_from is not None:
        print(f"{run.run_id}: resuming from {resume_from}", file=sys.stderr)
    elif is_main_process():
        shutil.rmtree(scratch, ignore_errors=True)  # checkpoints of an attempt that cannot resume

    # 4. and 5. The TRL config and the trainer: the recipe's own loop.
    curve, train_config = run_recipe(
        run,
        model,
        tokenizer,
        scratch,
        context=context,
        hooks=hooks,
        reference=reference,
        callbacks=callbacks,
        on_update=on_update,
        resume_from=resume_from,
    )

    # 6. The trained result: a plain model again on rank 0 of a sharded launch.
    if not keep_checkpoints:
        shutil.rmtree(scratch, ignore_errors=True)
    if gather is not None and gather.state is not None:
        fresh = adapter.apply(load_base(run.model, device=device)[0], params, applied)
        model = load_whole_state(fresh, gather.state)
    return Trained(
        model=model,
        adapter=adapter,
        curve=curve,
        trainable=adapter.trainable_parameters(model),
        total=count_parameters(model)[1],
        initial_adapter=initial,
        train_config=train_config,
    )


def run_recipe(
    run: RunSpec,
    model: Any,
    tokenizer: Any,
    output_dir: Path,
    *,
    context: RunContext | None = None,
    hooks: TrainingHooks | None = None,
    reference: Any = None,
    callbacks: Sequence[Any] = (),
    on_update: Callable[[int], None] | None = None,
    resume_from: Path | None = None,
) -> tuple[list[StepRecord], dict[str, Any]]:
    """Trains an already adapted ``model`` in place with the run's recipe; returns the per-update
    curve and the TRL config it ran with. A divergence re-raises with that config attached."""
    context = context or RunContext()
    recipe, _ = recipe_of(run.recipe.name, run.recipe.params)
    config = trainer_config(run, context, output_dir)
    job = TrainingJob(
        model=model,
        tokenizer=tokenizer,
        task=context.task(run.train_task),
        items=training_items(run, context),
        config=config,
        hooks=hooks or TrainingHooks(),
        reference=reference,
        callbacks=list(callbacks),
        on_update=on_update,
        resume_from=resume_from,
    )
    try:
        return recipe.loop()(job), config
    except Diverged as diverged:
        diverged.train_config = config
        raise


def trainer_config(run: RunSpec, context: RunContext, output_dir: Path) -> dict[str, Any]:
    """The keyword arguments given to TRL's ``GRPOConfig``/``SFTConfig``: the harness config the
    run id covers, and then the settings that only reflect this machine and process."""
    recipe, _ = recipe_of(run.recipe.name, run.recipe.params)
    on_gpu = torch.cuda.is_available()
    config = harness_config(
        run.recipe.name,
        run.recipe.params,
        learning_rate=run.adapter.lr,
        seed=run.seed,
        max_steps=run.budget.max_steps,
        processes=world_size(),
    )
    config |= {
        "output_dir": str(output_dir),
        "use_cpu": not on_gpu,
        "bf16": on_gpu,  # autocast over fp32 master weights on a GPU
        "logging_steps": 1,
        "report_to": run.tracking.report_to if run.tracking and run.tracking.report_to else "none",
        "run_name": run.run_id,  # what a tracker names the run
        "disable_tqdm": True,
        "dataloader_num_workers": 0,
        **checkpoint_fields(run),
    }
    if recipe.generates:  # vLLM rollouts when the run's backend is vLLM, else transformers
        config |= rollout_fields(context, context.task(run.train_task).stop or ())
    return config


def training_items(run: RunSpec, context: RunContext) -> list[Item]:
    """Exactly the items the run's updates consume, drawn from the train split by run seed."""
    recipe, params = recipe_of(run.recipe.name, run.recipe.params)
    count = recipe.train_items(params, run.budget.max_steps)
    return context.task(run.train_task).items("train", count, run.seed)


def _trajectory_recorder(
    run: RunSpec, model: Any, resume_from: Path | None, scratch: Path
) -> tuple[TrajectoryRecorder, Path | None]:
    """The run's trajectory recorder, and the checkpoint to resume from: none (a fresh start)
    when the records on disk cannot go on from it."""
    assert run.trajectory is not None
    directory = trajectory_dir(run.suite, run.run_id)
    recorder = TrajectoryRecorder(
        directory, run.trajectory.every, model_location(run.model), dense_until=run.trajectory.dense_until
    )
    if resume_from is not None and not recorder.resume(model, checkpoint_step(resume_from)):
        if world_size() > 1:  # the other processes resume: they cannot be told to restart
            raise RuntimeError(f"{directory} cannot go on from {resume_from}; delete {scratch}")
        print(f"{run.run_id}: trajectory cannot go on from {resume_from}; restarting", file=sys.stderr)
        resume_from = None
    if resume_from is None:
        shutil.rmtree(directory, ignore_errors=True)  # a rerun records afresh
    return recorder, resume_from
