"""The norm-matched rank-1 model of a checkpoint (METHODS.md §3, "rank-1 gain recovery").

``W0 + ||dW||_F u1 v1^T`` per attention/MLP matrix, with ``dW`` the checkpoint's update at
``target`` (a recorded update, normally the run's last) and everything else at W0. Registered
with the extrapolators because it is the same kind of thing: a checkpoint rebuilt from a run's
trajectory and evaluated like any run; the runner adds ``gain_recovery``, ``(acc(rank-1) -
acc(base)) / (acc(tuned) - acc(base))``, to every derived run.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, ClassVar

from peft_rlvr_bench.extrapolation import (
    ExtrapolatorParams,
    check_steps,
    check_trajectory,
    is_block_matrix,
)
from peft_rlvr_bench.extrapolation.rank1 import norm_matched_rank1
from peft_rlvr_bench.registry import register_extrapolator

if TYPE_CHECKING:
    from torch import Tensor


@register_extrapolator("rank1")
class Rank1Model:
    Params: ClassVar[type[ExtrapolatorParams]] = ExtrapolatorParams

    def validate(self, steps: Sequence[int], target: int, params: ExtrapolatorParams) -> None:
        checked = check_steps(steps, target, method="rank1", min_points=1)
        if target not in checked:
            raise ValueError(
                f"rank1 rebuilds a recorded checkpoint: target {target} is not among the recorded "
                f"updates {checked}; set target (and observe) to a recorded update, e.g. the budget"
            )

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
