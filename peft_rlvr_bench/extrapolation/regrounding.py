"""Re-grounding: M real RL updates, a linear jump of N updates, repeated (arXiv 2601.04537).

Definition, options and departures from the paper: ``docs/methods.md``.

The first M updates are the source run's own (read from its trajectory at update M); every later
segment trains M real updates from the jumped weights, which "re-grounds" the straight-line
guess in real gradients before the next jump. A jump is the two-point ``linear`` extrapolation
from the segment's start to its end, ``W(e + N) = W(e) + (N / M) (W(e) - W(s))``, with 1-D
tensors (norms, biases) copied from the segment's end, as ``linear`` does.

Each later segment applies the run's adapter afresh on top of the jumped weights with a new
optimizer (the jumped point is a plain weight state, which a LoRA's factors cannot hold) and
draws its own prompts. Segments stop exactly at ``target`` virtual updates: the last real
segment or jump is shortened if needed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import Field

from peft_rlvr_bench.extrapolation import VALIDATION_ITEMS, DrivenOutcome, ExtrapolatorParams, TrainingSession
from peft_rlvr_bench.extrapolation.linear import Linear, LinearParams
from peft_rlvr_bench.registry import register_extrapolator

if TYPE_CHECKING:
    from torch import Tensor

Phase = tuple[Literal["train", "jump"], int]


class RegroundingParams(ExtrapolatorParams):
    jump: int = Field(gt=0, description="N: updates each linear jump skips (M is the entry's `observe`)")


def segment_plan(real: int, jump: int, target: int) -> list[Phase]:
    """The phases that reach ``target`` virtual updates: train ``real``, jump ``jump``, repeated."""
    if real <= 0 or jump <= 0:
        raise ValueError(f"real ({real}) and jump ({jump}) must be positive numbers of updates")
    plan: list[Phase] = []
    virtual = 0
    while virtual < target:
        kind: Literal["train", "jump"] = "train" if not plan or plan[-1][0] == "jump" else "jump"
        length = min(real if kind == "train" else jump, target - virtual)
        plan.append((kind, length))
        virtual += length
    return plan


def jump_state(
    start: Mapping[str, Tensor], end: Mapping[str, Tensor], real: int, jump: int
) -> dict[str, Tensor]:
    """``linear`` through ``start`` (update 0 of the segment) and ``end`` (update ``real``), at
    ``real + jump``; tensors equal at both ends are passed through untouched."""
    linear, params = Linear(), LinearParams(t0_index=0, t1_index=1)
    jumped = {}
    for name, after in end.items():
        before = start[name]
        if before is after or bool((before == after).all()):
            jumped[name] = after
        else:
            jumped[name] = linear.predict(name, after, [0, real], [before, after], real + jump, params)
    return jumped


@register_extrapolator("regrounding")
class Regrounding:
    Params: ClassVar[type[ExtrapolatorParams]] = RegroundingParams
    drives_training: ClassVar[bool] = True

    def validation_items(self, params: RegroundingParams) -> int:
        return VALIDATION_ITEMS  # it never validates; the session's spec is built all the same

    def validate(self, observe: int, target: int, every: int, params: RegroundingParams) -> None:
        if observe % every:
            raise ValueError(
                f"observe ({observe}) must be a multiple of trajectory.every ({every}): the first "
                "segment is read from the source's record at that update"
            )
        if target <= observe:
            raise ValueError(f"target ({target}) must come after the first segment ({observe})")

    def run(
        self, session: TrainingSession, observe: int, target: int, params: RegroundingParams
    ) -> DrivenOutcome:
        plan = segment_plan(observe, params.jump, target)
        start, current = session.base_state, session.state_at(observe)
        real_updates, last_real = observe, observe
        for index, (kind, length) in enumerate(plan[1:], start=1):
            if kind == "jump":
                current = jump_state(start, current, last_real, length)
            else:
                start = current
                current = session.train(start, length, segment=index)
                real_updates += length
                last_real = length
        details: dict[str, Any] = {"plan": [[kind, length] for kind, length in plan]}
        return DrivenOutcome(state=dict(current), updates_used=real_updates, details=details)
