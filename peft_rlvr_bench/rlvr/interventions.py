"""In-training interventions: changes to the weights between RL updates, named on an adapter entry.

**Rank-1 substitution** (arXiv 2605.06523; ``docs/methods.md``). Every K optimizer updates, each
attention/MLP matrix's update ``dW = W - W0`` is replaced by its norm-matched top singular
component, ``||dW||_F u1 v1^T``. The paper's signature: held-out accuracy holds while the
training reward stays lower ("implicit reward overfitting"); a run with this intervention
records both (the per-update reward curve and the learning curve).

It acts on the effective weights in place, so it applies to full fine-tuning. A PEFT model's
weights live in factors, and a sparse mask forbids the dense rank-1 update, so both are refused.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import ConfigDict, Field

from peft_rlvr_bench.architecture import is_block_matrix
from peft_rlvr_bench.schema import InputModel

if TYPE_CHECKING:
    import torch


class Rank1SubstitutionSpec(InputModel):
    """``{name: rank1_substitution, every: K}`` on an adapter entry."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field("rank1_substitution", pattern="^rank1_substitution$")
    every: int = Field(gt=0, description="optimizer updates between substitutions")


def norm_matched_rank1(delta: torch.Tensor) -> torch.Tensor:
    """``||delta||_F u1 v1^T``: the top singular direction of ``delta`` carrying all its norm."""
    import torch

    if not torch.any(delta):
        return delta.clone()
    wide = delta.to(torch.float64)
    u, _, vh = torch.linalg.svd(wide, full_matrices=False)
    rank1 = torch.linalg.matrix_norm(wide) * torch.outer(u[:, 0], vh[0])
    return rank1.to(delta.dtype)


def rank1_substitution_callback(model: torch.nn.Module, every: int) -> Any:
    """A trainer callback that substitutes every ``every`` updates, against W0 taken now."""
    from peft import PeftModel
    from transformers import TrainerCallback

    if isinstance(model, PeftModel):
        raise ValueError("rank1_substitution acts on full weights; use it with the `full` adapter")
    matrices = [
        (name, parameter)
        for name, parameter in model.named_parameters()
        if parameter.requires_grad and is_block_matrix(name, parameter)
    ]
    if not matrices:
        raise ValueError("rank1_substitution found no trainable attention/MLP matrix")
    originals = {name: parameter.detach().clone() for name, parameter in matrices}

    class Rank1Substitution(TrainerCallback):
        def on_optimizer_step(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            # Runs before global_step is incremented for the update that just happened.
            if (state.global_step + 1) % every:
                return
            import torch

            with torch.no_grad():
                for name, parameter in matrices:
                    w0 = originals[name]
                    parameter.copy_(w0 + norm_matched_rank1(parameter - w0))

    return Rank1Substitution()
