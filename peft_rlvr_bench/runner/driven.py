"""Extrapolations that alternate prediction with more RL (regrounding, NExt): the runner's side.

The method decides when to predict and when to train; ``RunnerSession`` gives it the source
run's observed trajectory, RL segments from any weights, and validation accuracy, all on the
run's own model, adapter and recipe.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from peft_rlvr_bench.paths import run_dir, trajectory_dir
from peft_rlvr_bench.suite import Budget, DerivedRun, EvalSpec

if TYPE_CHECKING:
    from torch import Tensor

    from peft_rlvr_bench.context import RunContext

SEGMENT_SEED_STRIDE = 10_000
"""Segment k of a seed-s run draws its prompts with seed ``s + k * stride``: fresh prompts that no
other seed of a suite uses."""


def segment_seed(seed: int, segment: int) -> int:
    return seed + segment * SEGMENT_SEED_STRIDE


class RunnerSession:
    """A ``TrainingSession`` over a finished source run (see ``extrapolation.TrainingSession``)."""

    def __init__(
        self,
        derived: DerivedRun,
        device: str,
        context: RunContext,
        on_update: Callable[[int], None] | None = None,
        validation_items: int = 200,
    ) -> None:
        from peft_rlvr_bench.extrapolation.from_trajectory import parameter_snapshot
        from peft_rlvr_bench.models import load_base
        from peft_rlvr_bench.trajectory import Trajectory

        self.source = derived.source
        self.device = device
        self.context = context
        self.on_update = on_update
        self.directory = run_dir(self.source.suite, derived.run_id)
        self.evaluation_model, self.tokenizer = load_base(self.source.model, device=device)
        self.base_state: dict[str, Tensor] = parameter_snapshot(self.evaluation_model)
        self.trajectory = Trajectory(trajectory_dir(self.source.suite, self.source.run_id)).upto(
            derived.observe
        )
        self.validation = EvalSpec(
            in_domain=[self.source.train_task],
            n_items=validation_items,
            batch_size=self.source.eval.batch_size,
            max_new_tokens=self.source.eval.tokens_for(self.source.train_task),
        )
        self.trained_updates = 0

    def state_at(self, update: int) -> dict[str, Tensor]:
        from peft_rlvr_bench.extrapolation.from_trajectory import effective_state_at

        return effective_state_at(self.trajectory, self.base_state, update)

    def train(self, start: Mapping[str, Tensor], updates: int, segment: int) -> dict[str, Tensor]:
        from transformers import set_seed

        from peft_rlvr_bench.extrapolation.from_trajectory import load_weights_, parameter_snapshot
        from peft_rlvr_bench.models import load_base
        from peft_rlvr_bench.rlvr.train import train_run

        seed = segment_seed(self.source.seed, segment)
        run = self.source.model_copy(update={"budget": Budget(max_steps=updates), "seed": seed})
        set_seed(seed)
        model, _ = load_base(run.model, device=self.device)
        load_weights_(model, start)
        done = self.trained_updates

        def progress(step: int) -> None:
            if self.on_update is not None:
                self.on_update(done + step)

        directory = self.directory / f"segment_{segment}"
        trained = train_run(run, model, self.tokenizer, self.context, self.device, directory, progress)
        self.trained_updates += updates
        return parameter_snapshot(trained.adapter.merge(trained.model))

    def validation_accuracy(self, state: Mapping[str, Tensor]) -> float:
        from peft_rlvr_bench.evaluation import evaluate
        from peft_rlvr_bench.extrapolation.from_trajectory import load_weights_

        load_weights_(self.evaluation_model, state)
        scores = evaluate(
            self.evaluation_model,
            self.tokenizer,
            self.validation,
            device=self.device,
            split="validation",
            context=self.context,
        )
        return scores["in_domain"].score


def drive(
    derived: DerivedRun, device: str, context: RunContext, on_update: Callable[[int], None] | None = None
) -> tuple[dict[str, Tensor], dict[str, Any], Any]:
    """Runs a training-driven method; returns its final state, result figures and the session."""
    from peft_rlvr_bench.registry import EXTRAPOLATORS

    method = EXTRAPOLATORS.get(derived.method)()
    params = method.Params.model_validate(derived.params)
    session = RunnerSession(
        derived, device, context, on_update, validation_items=method.validation_items(params)
    )
    outcome = method.run(session, derived.observe, derived.target, params)
    figures = {"updates_used": outcome.updates_used, **outcome.details}
    return outcome.state, figures, session
