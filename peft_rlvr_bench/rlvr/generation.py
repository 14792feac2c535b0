"""Rollout generation settings for TRL: vLLM when the run's backend is vLLM, and stop tokens.

**vLLM rollouts** (``use_vllm=True``): ``colocate`` (the default) runs vLLM inside the training
process on the same GPU, holding ``vllm_gpu_memory_utilization`` of it; ``server`` talks to a
separate ``trl vllm-serve --model MODEL`` process (``generation.vllm_server_base_url``).
Before each generation TRL pushes the policy's current weights into vLLM
(``VLLMGeneration.sync_weights``). For a PEFT model it calls ``merge_adapter()``, walks
``named_parameters()`` renaming ``base_model.model.X.base_layer.weight`` to ``X.weight`` and
skipping the adapter tensors, then ``unmerge_adapter()``. ``merge_adapter`` adds ``s * B A`` to
each wrapped layer's ``base_layer`` weight, which for PiSSA, OLoRA, MiLoRA and GeoRA holds the
residual ``W_res = W0 - s B0 A0``: vLLM receives ``W_res + s B A``, the effective weight, the
same as ``merge_and_unload()`` (``tests/unit/rlvr/test_generation.py`` checks this on a CPU).
Sparse and full runs are plain models: their parameters are the effective weights, and a sparse
mask has already restored the frozen coordinates after each optimizer step.

**Stop tokens.** A dataset task's template ends a completion at its own marker (``<|im_end|>``
for the Qwen chat template), which a base model's generation config does not list as an EOS.
The marker's token id is added to ``model.generation_config.eos_token_id``, which TRL reads both
to stop generation and to mask what follows. vLLM reads neither that in-memory config nor special
tokens in its stop strings (it checks them against text decoded without special tokens), so vLLM
rollouts get the same ids as ``stop_token_ids`` (``vllm_stop_kwargs``), and ``stop`` strings only
for markers that are several tokens long. Evaluation stops on the same ids (``stop_tokens_added``
around lm-eval's transformers model; lm-eval's vLLM model keeps special tokens in its text).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from peft_rlvr_bench.context import RunContext


def rollout_fields(context: RunContext, stop: Sequence[str] = ()) -> dict[str, Any]:
    """``GRPOConfig`` fields for the run's rollout backend (none for transformers). ``stop``
    strings are replaced by token ids once the tokenizer is known (``vllm_stop_kwargs``)."""
    spec = context.generation
    if context.backends.rollout != "vllm":
        return {}
    fields: dict[str, Any] = {
        "use_vllm": True,
        "vllm_mode": spec.vllm_mode,
        "vllm_gpu_memory_utilization": spec.vllm_gpu_memory_utilization,
    }
    if spec.vllm_mode == "server" and spec.vllm_server_base_url:
        fields["vllm_server_base_url"] = spec.vllm_server_base_url
    if spec.vllm_max_model_len:
        fields["vllm_max_model_length"] = spec.vllm_max_model_len
    if stop:  # until the tokenizer turns the single-token ones into ids (``vllm_stop_kwargs``)
        fields["generation_kwargs"] = {"stop": list(stop)}
    return fields


def single_token_stops(tokenizer: Any, stop: Sequence[str]) -> dict[str, int]:
    """The ``stop`` strings that are one token of ``tokenizer``, with their ids."""
    found = {}
    for text in stop:
        token_ids = tokenizer.encode(text, add_special_tokens=False)
        if len(token_ids) == 1:
            found[text] = token_ids[0]
    return found


def vllm_stop_kwargs(eos_ids: Sequence[int], stop: Sequence[str], tokenizer: Any) -> dict[str, Any]:
    """vLLM ``SamplingParams`` fields (TRL's ``generation_kwargs``) that stop a rollout where the
    transformers path and evaluation stop: every EOS id TRL knows as ``stop_token_ids`` (vLLM keeps
    the id in the completion, so TRL counts it as terminated), plus the multi-token markers as
    ``stop`` strings."""
    single = single_token_stops(tokenizer, stop)
    kwargs: dict[str, Any] = {}
    if eos_ids:
        kwargs["stop_token_ids"] = sorted(set(eos_ids))
    multi = [text for text in stop if text not in single]
    if multi:
        kwargs["stop"] = multi
    return kwargs


@contextlib.contextmanager
def stop_tokens_added(model: Any, tokenizer: Any, stop: Sequence[str]) -> Iterator[list[int]]:
    """``add_stop_tokens`` for the duration of the block, the model's EOS ids restored after
    (evaluation of a base model must not change it for what follows)."""
    config = getattr(model, "generation_config", None)
    if config is None:
        yield []
        return
    before = config.eos_token_id
    try:
        yield add_stop_tokens(model, tokenizer, stop)
    finally:
        config.eos_token_id = before


def add_stop_tokens(model: Any, tokenizer: Any, stop: Sequence[str]) -> list[int]:
    """Adds the ids of the single-token ``stop`` strings to the model's EOS ids; returns them all."""
    config = model.generation_config
    current = config.eos_token_id
    ids = [] if current is None else [current] if isinstance(current, int) else list(current)
    added = False
    for token_id in single_token_stops(tokenizer, stop).values():
        if token_id not in ids:
            ids.append(token_id)
            added = True
    if added:  # otherwise the config stays exactly as it was (the tiny world's tasks have no stops)
        config.eos_token_id = ids
    return ids


def release_vllm(trainer: Any) -> None:
    """Frees what a trainer's vLLM holds, whether training ended or raised: server mode closes its
    weight-sync channel (TRL only closes it at process exit, and the next run would open another
    on the same port); a colocated engine is dropped so evaluation can take the GPU (best effort:
    vLLM does not promise to release every byte inside a live process, hence a process per run
    on a GPU, ``runner/isolate.py``)."""
    generation = getattr(trainer, "vllm_generation", None)
    if generation is None:
        return
    client = getattr(generation, "vllm_client", None)
    if client is not None:
        with contextlib.suppress(Exception):  # a server that died must not mask the run's own error
            client.close_communicator()
        session = getattr(client, "session", None)
        if session is not None:
            session.close()
        generation.vllm_client = None
    if getattr(generation, "llm", None) is None:
        return
    import gc

    import torch

    generation.llm = None
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
