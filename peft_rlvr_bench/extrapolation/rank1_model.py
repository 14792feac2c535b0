"""The norm-matched rank-1 model of a checkpoint, and its control (``docs/methods.md``, "Rank-1
gain recovery and its control").

``rank1``: ``W0 + ||dW||_F u1 v1^T`` per attention/MLP matrix, with ``dW`` the checkpoint's update
at ``target`` (a recorded update, normally the run's last) and everything else at W0.

``blocks_only``: the checkpoint's attention/MLP matrices exactly as tuned, everything else
(embeddings, LM head, norms, biases) at W0. It makes the same reset as ``rank1`` without the rank
truncation, so the two gain recoveries separate the two effects.

Both are registered with the extrapolators because they are the same kind of thing: a checkpoint
rebuilt from a run's trajectory and evaluated like any run; the runner adds ``gain_recovery``,
``(acc(derived) - acc(base)) / (acc(tuned) - acc(base))``, to every derived run.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, ClassVar

from peft_rlvr_bench.architecture import is_block_matrix
from peft_rlvr_bench.extrapolation import (
    ExtrapolatorParams,
    check_steps,
    check_trajectory,
)
from peft_rlvr_bench.registry import register_extrapolator
from peft_rlvr_bench.rlvr.interventions import norm_matched_rank1

if TYPE_CHECKING:
    from torch import Tensor


def check_recorded_target(method: str, steps: Sequence[int], target: int) -> None:
    """Raises ``ValueError`` unless ``target`` is one of the recorded ``steps``: these methods
    rebuild a recorded checkpoint, they predict nothing."""
    checked = check_steps(steps, target, method=method, min_points=1)
    if target not in checked:
        raise ValueError(
            f"{method} rebuilds a recorded checkpoint: target {target} is not among the recorded "
            f"updates {checked}; set target (and observe) to a recorded update, e.g. the budget"
        )


@register_extrapolator("rank1")
class Rank1Model:
    Params: ClassVar[type[ExtrapolatorParams]] = ExtrapolatorParams
    drives_training: ClassVar[bool] = False

    def validate(self, steps: Sequence[int], target: int, params: ExtrapolatorParams) -> None:
        check_recorded_target("rank1", steps, target)

    def predict(
        self,
        name: str,
        base: Tensor,
        steps: Sequence[int],
        weights: Sequence[Tensor],
        target: int,
        params: ExtrapolatorParams,
    ) -> Tensor:
        import torch

        self.validate(steps, target, params)
        check_trajectory(name, base, steps, weights)
        if not is_block_matrix(name, base):
            return base.detach().clone()
        tuned = weights[list(steps).index(target)].to(device=base.device, dtype=torch.float64)
        w0 = base.detach().to(torch.float64)
        return (w0 + norm_matched_rank1(tuned - w0)).to(base.dtype)


@register_extrapolator("blocks_only")
class BlocksOnlyModel:
    Params: ClassVar[type[ExtrapolatorParams]] = ExtrapolatorParams
    drives_training: ClassVar[bool] = False

    def validate(self, steps: Sequence[int], target: int, params: ExtrapolatorParams) -> None:
        check_recorded_target("blocks_only", steps, target)

    def predict(
        self,
        name: str,
        base: Tensor,
        steps: Sequence[int],
        weights: Sequence[Tensor],
        target: int,
        params: ExtrapolatorParams,
    ) -> Tensor:
        self.validate(steps, target, params)
        check_trajectory(name, base, steps, weights)
        if not is_block_matrix(name, base):
            return base.detach().clone()
        # The recorded tensor as it is, with no float64 round trip, so it is the tuned one bitwise.
        return weights[list(steps).index(target)].detach().to(device=base.device, dtype=base.dtype).clone()
