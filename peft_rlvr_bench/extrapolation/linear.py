"""Linear extrapolation through two recorded checkpoints (arXiv 2601.04537; ``docs/methods.md``).

``W(t') = W(t0) + a (W(t1) - W(t0))`` with ``a = (t' - t0) / (t1 - t0)``, for every tensor of two
or more dimensions (embeddings included); 1-D tensors (norm weights, biases) are copied from t1,
as the paper does. ``t0`` and ``t1`` are chosen by their index among the recorded checkpoints, so
a caller who wants the line from the base passes a step-0 checkpoint and ``t0_index=0``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, ClassVar

from pydantic import Field

from peft_rlvr_bench.extrapolation import (
    ExtrapolatorParams,
    check_steps,
    check_trajectory,
    is_norm_or_bias,
)
from peft_rlvr_bench.registry import register_extrapolator

if TYPE_CHECKING:
    from torch import Tensor


class LinearParams(ExtrapolatorParams):
    t0_index: int = Field(-2, description="index among the recorded checkpoints of the line's start t0")
    t1_index: int = Field(-1, description="index among the recorded checkpoints of the line's end t1")


@register_extrapolator("linear")
class Linear:
    Params: ClassVar[type[ExtrapolatorParams]] = LinearParams
    drives_training: ClassVar[bool] = False

    def validate(self, steps: Sequence[int], target: int, params: LinearParams) -> None:
        self._endpoints(steps, target, params)

    def predict(
        self,
        name: str,
        base: Tensor,
        steps: Sequence[int],
        weights: Sequence[Tensor],
        target: int,
        params: LinearParams,
    ) -> Tensor:
        import torch

        i0, i1 = self._endpoints(steps, target, params)
        check_trajectory(name, base, steps, weights)
        if is_norm_or_bias(name, base):
            return weights[i1].detach().to(device=base.device, dtype=base.dtype, copy=True)
        a = (target - steps[i0]) / (steps[i1] - steps[i0])
        w0 = weights[i0].detach().to(device=base.device, dtype=torch.float64)
        w1 = weights[i1].detach().to(device=base.device, dtype=torch.float64)
        return (w0 + a * (w1 - w0)).to(base.dtype)

    @staticmethod
    def _endpoints(steps: Sequence[int], target: int, params: LinearParams) -> tuple[int, int]:
        """``(i0, i1)`` as non-negative indices into ``steps``, after checking them."""
        checked = check_steps(steps, target, method="linear", min_points=2)
        n = len(checked)
        indices = []
        for field, index in (("t0_index", params.t0_index), ("t1_index", params.t1_index)):
            if not -n <= index < n:
                raise ValueError(f"linear: {field}={index} is out of range for {n} recorded checkpoints")
            indices.append(index % n)
        if indices[0] == indices[1]:
            raise ValueError(
                f"linear: t0_index={params.t0_index} and t1_index={params.t1_index} name the same "
                f"checkpoint (step {checked[indices[0]]}); a line needs two"
            )
        return indices[0], indices[1]
