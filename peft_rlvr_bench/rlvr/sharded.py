"""Runs launched with a sharding strategy (DeepSpeed ZeRO-3, FSDP2): whole weights for rank 0.

Under ZeRO-3 and FSDP2 no process holds a whole weight after training: DeepSpeed partitions each
parameter, FSDP2 turns it into a sharded DTensor. Rank 0 saves and evaluates whole weights, so at
the end of training every process takes part in gathering them, one tensor at a time, onto rank
0's CPU (``GatherWholeWeights``); rank 0 then loads them into a fresh copy of the adapted model
(``load_whole_state``), which is a plain model again, and carries on like a one-process run.
ZeRO-3 with bf16 gathers the bf16 weights the forward pass used (its fp32 master copy lives in
the optimizer). Methods that touch weights during training (sparse masks' restore, AdaLoRA's
budget, rank-1 substitution) need them whole and are refused; so is trajectory recording
(suite validation). Neither path runs in CI, which has no GPUs: see ``docs/scaling.md``.
"""

from __future__ import annotations

import os
from typing import Any

from transformers import TrainerCallback

from peft_rlvr_bench.distributed import is_main_process


def sharded_launch() -> bool:
    """Whether this process belongs to an ``accelerate launch`` job that shards the weights."""
    zero3 = (
        os.environ.get("ACCELERATE_USE_DEEPSPEED", "").lower() == "true"
        and os.environ.get("ACCELERATE_DEEPSPEED_ZERO_STAGE") == "3"
    )
    return zero3 or os.environ.get("ACCELERATE_USE_FSDP", "").lower() == "true"


def refuse_weight_hooks(hooks: Any, intervention: Any) -> None:
    """Hooks that read or write weights between updates see shards under ZeRO-3/FSDP: refuse them."""
    if hooks.callbacks or hooks.extra_loss is not None or intervention is not None:
        raise ValueError(
            "this method reads or rewrites weights during training, and zero3/fsdp shard them; "
            "launch it with strategy zero2 or ddp"
        )


def gather_whole_state(module: Any) -> dict[str, Any] | None:
    """Every parameter whole, on the CPU, on rank 0 (None elsewhere). Collective: every process
    of the job must call it, in the same order, which ``named_parameters`` gives."""
    from torch.distributed.tensor import DTensor

    main = is_main_process()
    state: dict[str, Any] = {}
    for name, parameter in module.named_parameters():
        if hasattr(parameter, "ds_id"):  # a DeepSpeed ZeRO-3 partition
            import deepspeed

            with deepspeed.zero.GatheredParameters([parameter], modifier_rank=None):
                whole = parameter.detach().to("cpu", copy=True) if main else None
        elif isinstance(parameter, DTensor):  # an FSDP2 shard
            gathered = parameter.full_tensor()
            whole = gathered.detach().to("cpu", copy=True) if main else None
        else:
            whole = parameter.detach().to("cpu", copy=True) if main else None
        if main:
            state[name] = whole
    return state if main else None


class GatherWholeWeights(TrainerCallback):
    """At the end of training, gathers the whole trained weights onto rank 0 (``state``)."""

    def __init__(self) -> None:
        self.state: dict[str, Any] | None = None

    def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.state = gather_whole_state(kwargs["model"])


def load_whole_state(fresh: Any, state: dict[str, Any]) -> Any:
    """Loads gathered weights into ``fresh``, a new copy of the adapted model; every parameter
    must be among them (buffers are rebuilt by the copy itself)."""
    import torch

    missing = sorted(set(dict(fresh.named_parameters())) - set(state))
    if missing:
        raise ValueError(f"gathered weights lack {len(missing)} parameter(s), e.g. {missing[0]}")
    with torch.no_grad():
        for name, parameter in fresh.named_parameters():
            parameter.copy_(state[name].to(parameter.device, parameter.dtype))
    return fresh
