"""How far a tuned model moved from its base, measured on distributions rather than accuracy.

- **KL drift**: mean per-token ``KL(pi_tuned || pi_base)`` over the tuned model's own greedy
  completions of held-out in-domain prompts, with both models' full next-token distributions
  at every completion position (exact per position; only the path is greedy).
- **Answer NLL**: mean per-token negative log-likelihood of the reference answers of held-out
  items given their prompts: the loss the base task is trained with (the tiny world's SFT
  trains on completions only), so ``tuned - base`` on the forgetting tasks is forgetting as a loss.

The math is pure tensor functions (``token_kl``, ``token_nll``); the model-level functions
batch, pad on the left with explicit position ids (so a sequence scores the same in any batch)
and call them.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from peft_rlvr_bench.reporting.results import KLScore


def token_kl(p_logits: Tensor, q_logits: Tensor, mask: Tensor) -> Tensor:
    """Per-position ``KL(p || q)`` of next-token distributions given as logits ``[..., V]``,
    in float32, zero where ``mask`` is false. Identical logits give exactly zero."""
    log_p = torch.log_softmax(p_logits.float(), dim=-1)
    log_q = torch.log_softmax(q_logits.float(), dim=-1)
    kl = (log_p.exp() * (log_p - log_q)).sum(dim=-1).clamp_min(0.0)  # rounding can dip below 0
    return torch.where(mask.bool(), kl, torch.zeros_like(kl))


def token_nll(logits: Tensor, targets: Tensor, mask: Tensor) -> Tensor:
    """Per-position ``-log softmax(logits)[target]`` in float32, zero where ``mask`` is false.
    ``logits[..., t, :]`` is the distribution that predicts ``targets[..., t]``."""
    log_probs = torch.log_softmax(logits.float(), dim=-1)
    nll = -log_probs.gather(-1, targets.long().unsqueeze(-1)).squeeze(-1)
    return torch.where(mask.bool(), nll, torch.zeros_like(nll))


@dataclass(frozen=True)
class AnswerNLL:
    mean: float
    """Mean over every answer token of every item."""
    n_items: int
    n_tokens: int


def _pad_left(
    sequences: Sequence[tuple[list[int], list[int]]], pad_id: int, device: Any
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """(context, continuation) id lists -> input ids, attention mask, position ids and the
    ``[B, L-1]`` mask of next-token targets that belong to the continuation."""
    length = max(len(c) + len(x) for c, x in sequences)
    ids = torch.full((len(sequences), length), pad_id, dtype=torch.long)
    attention = torch.zeros((len(sequences), length), dtype=torch.long)
    continuation = torch.zeros((len(sequences), length), dtype=torch.bool)
    for row, (context, cont) in enumerate(sequences):
        start = length - len(context) - len(cont)
        ids[row, start:] = torch.tensor(context + cont, dtype=torch.long)
        attention[row, start:] = 1
        continuation[row, length - len(cont) :] = True
    positions = (attention.cumsum(dim=1) - 1).clamp_min(0)
    return ids.to(device), attention.to(device), positions.to(device), continuation[:, 1:].to(device)


def _next_token_logits(model: Any, ids: Tensor, attention: Tensor, positions: Tensor) -> Tensor:
    """Logits ``[B, L-1, V]`` where position t predicts token t+1."""
    return model(input_ids=ids, attention_mask=attention, position_ids=positions).logits[:, :-1]


LOGITS_BUDGET = 2**28
"""Logit entries one scoring batch may hold (1 GiB in fp32): a real model's vocabulary times a
long completion would not fit at the generation batch size."""


def _rows_per_batch(model: Any, pairs: Sequence[tuple[list[int], list[int]]], batch_size: int) -> int:
    length = max((len(c) + len(x) for c, x in pairs), default=1)
    vocab = model.get_output_embeddings().weight.shape[0]
    return max(1, min(batch_size, LOGITS_BUDGET // (length * vocab)))


def _pad_id(tokenizer: Any) -> int:
    pad = tokenizer.pad_token_id
    return pad if pad is not None else tokenizer.eos_token_id


def encode_pair(tokenizer: Any, context: str, continuation: str) -> tuple[list[int], list[int]]:
    """Token ids of ``context`` and of ``continuation`` after it, split the way lm-eval splits
    them (encode the whole, then cut at the context's length), without special tokens as
    lm-eval's HF backend encodes them."""
    spaces = len(context) - len(context.rstrip())
    if spaces:  # a trailing space belongs to the continuation's first token
        context, continuation = context[:-spaces], context[-spaces:] + continuation
    whole = tokenizer(context + continuation, add_special_tokens=False)["input_ids"]
    head = tokenizer(context, add_special_tokens=False)["input_ids"]
    return whole[: len(head)], whole[len(head) :]


def on_gpu_in_bf16(device: torch.device) -> Any:
    """bf16 autocast on a GPU, as training and vLLM generate there; nothing on a CPU (fp32)."""
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


@torch.no_grad()
def greedy_completions(
    model: Any,
    tokenizer: Any,
    prompts: Sequence[str],
    max_new_tokens: int,
    batch_size: int,
    stop_ids: Sequence[int] = (),
) -> list[tuple[list[int], list[int]]]:
    """(prompt ids, greedy completion ids up to and including the first EOS or stop id) per prompt:
    ``stop_ids`` are the template's end markers (``<|im_end|>``), where training and evaluation
    stop too, so the KL is measured over the answer, not what a base model writes after it."""
    device = next(model.parameters()).device
    pad, eos = _pad_id(tokenizer), tokenizer.eos_token_id
    ends = list(dict.fromkeys([*([] if eos is None else [eos]), *stop_ids]))
    pairs: list[tuple[list[int], list[int]]] = []
    for start in range(0, len(prompts), batch_size):
        batch = prompts[start : start + batch_size]
        encoded = [(tokenizer(p, add_special_tokens=False)["input_ids"], []) for p in batch]
        ids, attention, _, _ = _pad_left(encoded, pad, device)
        with on_gpu_in_bf16(device):
            generated = model.generate(
                input_ids=ids,
                attention_mask=attention,
                max_new_tokens=max_new_tokens,
                do_sample=False,
                pad_token_id=pad,
                eos_token_id=ends or None,
            )[:, ids.shape[1] :].tolist()
        for (context, _), tokens in zip(encoded, generated, strict=True):
            first_end = next((i for i, token in enumerate(tokens) if token in ends), None)
            if first_end is not None:
                tokens = tokens[: first_end + 1]
            pairs.append((context, tokens))
    return pairs


@torch.no_grad()
def kl_drift(
    tuned: Any,
    base: Any,
    tokenizer: Any,
    prompts: Sequence[str],
    max_new_tokens: int,
    batch_size: int = 64,
    stop_ids: Sequence[int] = (),
) -> KLScore:
    """Mean per-token ``KL(pi_tuned || pi_base)`` over ``tuned``'s greedy completions of ``prompts``
    (both models on one device), each ending at the first EOS or ``stop_ids`` token."""
    was_training = tuned.training, base.training
    tuned.eval()
    base.eval()
    completions = greedy_completions(tuned, tokenizer, prompts, max_new_tokens, batch_size, stop_ids)
    pairs = [p for p in completions if p[1]]
    device, pad = next(tuned.parameters()).device, _pad_id(tokenizer)
    total, per_sequence, n_tokens = 0.0, [], 0
    rows = _rows_per_batch(tuned, pairs, batch_size)
    for start in range(0, len(pairs), rows):
        ids, attention, positions, mask = _pad_left(pairs[start : start + rows], pad, device)
        with on_gpu_in_bf16(device):
            tuned_logits = _next_token_logits(tuned, ids, attention, positions)
            base_logits = _next_token_logits(base, ids, attention, positions)
        kl = token_kl(tuned_logits, base_logits, mask)
        total += float(kl.sum())
        per_sequence += kl.sum(dim=1).tolist()
        n_tokens += int(mask.sum())
    tuned.train(was_training[0])
    base.train(was_training[1])
    return KLScore(
        token_mean=total / n_tokens if n_tokens else 0.0,
        sequence_mean=sum(per_sequence) / len(per_sequence) if per_sequence else 0.0,
        n_items=len(pairs),
        n_tokens=n_tokens,
    )


@torch.no_grad()
def answer_nll(
    model: Any, tokenizer: Any, items: Sequence[tuple[str, str]], batch_size: int = 64
) -> AnswerNLL:
    """Mean per-token NLL of each item's answer given its prompt (``(prompt, answer)`` pairs)."""
    was_training = model.training
    model.eval()
    device, pad = next(model.parameters()).device, _pad_id(tokenizer)
    pairs = [encode_pair(tokenizer, prompt, answer) for prompt, answer in items]
    pairs = [p for p in pairs if p[1]]
    total, n_tokens = 0.0, 0
    rows = _rows_per_batch(model, pairs, batch_size)
    for start in range(0, len(pairs), rows):
        ids, attention, positions, mask = _pad_left(pairs[start : start + rows], pad, device)
        nll = token_nll(_next_token_logits(model, ids, attention, positions), ids[:, 1:], mask)
        total += float(nll.sum())
        n_tokens += int(mask.sum())
    model.train(was_training)
    mean = total / n_tokens if n_tokens else float("nan")
    return AnswerNLL(mean=mean, n_items=len(pairs), n_tokens=n_tokens)
