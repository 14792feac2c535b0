"""Evaluation through lm-eval: greedy accuracy per task, grouped by role, and its depth measures.

Harness tasks become lm-eval tasks from shipped templates over the task's generated eval JSONL,
scored by the task's verifier, which is also the RL reward: ``lm_eval_tasks/prb_task.yaml``
(greedy accuracy) and ``prb_task_sampled.yaml`` (``k`` seeded samples per item: avg@k and
pass@k). The model and tokenizer objects are handed to lm-eval directly, so nothing is reloaded
from disk (and transformers cannot re-resolve the tokenizer differently).

``evaluate_in_depth`` adds what a run's result reports besides greedy accuracy: the sampled
scores, the answer NLL on the forgetting tasks and the KL drift from the base (``drift.py``).
Every lm-eval call logs its samples, so accuracies come with per-item scores in item order and,
when the caller collects them (``per_item.SampleLog``), with what the model answered.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

from peft_rlvr_bench.context import RunContext
from peft_rlvr_bench.eval_engine import LM_EVAL_SEED
from peft_rlvr_bench.evaluation.per_item import SampleLog, greedy_items, sampled_items
from peft_rlvr_bench.evaluation.prompts import truncated_prompts
from peft_rlvr_bench.paths import cache_dir
from peft_rlvr_bench.reporting.results import KLScore, RoleScore, TaskScore, write_text_atomic
from peft_rlvr_bench.suite import EvalSpec, SamplingSpec

TEMPLATE = Path(__file__).parent / "lm_eval_tasks" / "prb_task.yaml"
SAMPLED_TEMPLATE = Path(__file__).parent / "lm_eval_tasks" / "prb_task_sampled.yaml"
VALIDATION_SEED = 999_983
"""Seeds the validation items: drawn from the train split, so they never repeat an eval item."""

Split = Literal["eval", "validation"]


def lm_eval_task_name(task: str) -> str:
    return f"prb_{task}"


def eval_data_file(task: str, n_items: int, split: Split = "eval", context: RunContext | None = None) -> Path:
    """The task's first ``n_items`` items of ``split`` as JSONL in the cache, written once.

    ``eval`` items are the held-out test set; ``validation`` items come from the train split, for
    choices a method makes during a run (NExt's coefficient) without looking at the test set.
    ``context`` holds the run's data settings (default: every task as registered).
    """
    task_impl = (context or RunContext()).task(task)
    items = (
        task_impl.items("eval", n_items, seed=0)
        if split == "eval"
        else task_impl.items("train", n_items, seed=VALIDATION_SEED)
    )
    lines = [
        json.dumps({"prompt": item.prompt, "answer": item.answer, "verifier": task_impl.verifier})
        for item in items
    ]
    text = "\n".join(lines) + "\n"
    digest = hashlib.sha256(text.encode()).hexdigest()[:12]
    path = cache_dir() / "eval_data" / f"{task}-{split}-{n_items}-{digest}.jsonl"
    if not path.exists():
        write_text_atomic(path, text)
    return path


def resolve_items(task: str, n_items: int | str, context: RunContext | None = None) -> int:
    """A task's item count: ``n_items`` itself, or with ``all`` the size of its eval pool."""
    return (context or RunContext()).task(task).max_eval_items if n_items == "all" else int(n_items)


def lm_eval_task_config(
    task: str,
    n_items: int | str,
    max_new_tokens: int,
    split: Split = "eval",
    sampling: SamplingSpec | None = None,
    context: RunContext | None = None,
) -> dict[str, Any]:
    """The template config with this task's name, data file and generation length; with
    ``sampling``, the sampled template with its ``k`` repeats, temperature and top_p."""
    context = context or RunContext()
    from lm_eval.tasks._yaml_loader import load_yaml

    config = load_yaml(TEMPLATE if sampling is None else SAMPLED_TEMPLATE)
    config["task"] = lm_eval_task_name(task) + ("" if sampling is None else "_sampled")
    n_items = resolve_items(task, n_items, context) if split == "eval" else int(n_items)
    config["dataset_kwargs"] = {"data_files": {"test": str(eval_data_file(task, n_items, split, context))}}
    config["generation_kwargs"] = {**config["generation_kwargs"], "max_gen_toks": max_new_tokens}
    stop = context.task(task).stop
    if stop is not None:  # dataset tasks reason over many lines: stop at the template's end markers
        config["generation_kwargs"]["until"] = list(stop)
    if sampling is not None:
        config["repeats"] = sampling.k
        config["generation_kwargs"].update(temperature=sampling.temperature, top_p=sampling.top_p)
        (keep_all,) = config["filter_list"][0]["filter"]
        keep_all["k"] = sampling.k
    return config


def _all_tasks(spec: EvalSpec) -> list[str]:
    return sorted({task for names in spec.roles().values() for task in names})


def run_lm_eval(
    model: Any,
    tokenizer: Any,
    spec: EvalSpec,
    configs: list[Any],
    device: str,
    context: RunContext,
    torch_seed: int | None = None,
    **evaluate: Any,
) -> dict[str, Any]:
    """One ``simple_evaluate`` call on task ``configs`` (dicts, or lm-eval task names with a
    ``task_manager`` in ``evaluate``, which goes to ``simple_evaluate`` with ``gen_kwargs``). It
    seeds python, numpy and torch globally (torch with ``torch_seed``, else its default), which
    later code (a driven segment) inherits."""
    from lm_eval.models.huggingface import HFLM

    if context.backends.eval == "vllm":
        return _run_lm_eval_vllm(model, tokenizer, configs, context, torch_seed, **evaluate)
    from peft_rlvr_bench.rlvr.generation import stop_tokens_added

    was_training = model.training
    model.eval()
    # lm-eval's transformers model decodes without special tokens before it splits on ``until``, so
    # a marker like <|im_end|> only stops generation as an EOS id: the same ids training stops on.
    with stop_tokens_added(model, tokenizer, task_stops(spec, context)):
        lm = HFLM(pretrained=model, tokenizer=tokenizer, batch_size=spec.batch_size, device=device)
        output = _simple_evaluate(lm, configs, torch_seed, **evaluate)
    model.train(was_training)
    return output


def task_stops(spec: EvalSpec, context: RunContext) -> list[str]:
    """The template end markers of the evaluated tasks (dataset tasks; the tiny world's have
    none), once each: what training adds to the EOS ids too (``rlvr.generation``)."""
    stops = [text for task in _all_tasks(spec) for text in context.task(task).stop or ()]
    return list(dict.fromkeys(stops))


def _simple_evaluate(lm: Any, configs: list[Any], torch_seed: int | None, **evaluate: Any) -> dict[str, Any]:
    """lm-eval's ``simple_evaluate`` on a ready model (HF or vLLM), with its per-item results
    (``log_samples``: what the model answered and how each item scored; ``per_item.py``)."""
    from unittest import mock

    from lm_eval import simple_evaluate
    from lm_eval.tasks import TaskManager

    # lm-eval forces its tqdm bars on (disable= is passed explicitly), which would tear the
    # runner's live display; the bars are the only thing it writes to stderr on success. It also
    # adds torch's environment report to every result (11 subprocesses, 0.5 s a call, over half
    # of a learning-curve point; benchmarks/RESULTS.md), which the harness never reads.
    with contextlib.redirect_stderr(io.StringIO()), mock.patch("lm_eval.evaluator.add_env_info"):
        output = simple_evaluate(
            model=lm,
            tasks=configs,
            **{"task_manager": TaskManager(include_defaults=False), "log_samples": True, **evaluate},
            bootstrap_iters=0,
            **({} if torch_seed is None else {"torch_random_seed": torch_seed}),
        )
    assert output is not None  # only None on non-zero ranks of a distributed run
    return output


def _run_lm_eval_vllm(
    model: Any,
    tokenizer: Any,
    configs: list[Any],
    context: RunContext,
    torch_seed: int | None,
    **evaluate: Any,
) -> dict[str, Any]:
    """The same ``simple_evaluate`` through lm-eval's vLLM model, on the run's one engine
    (``context.eval_engine``: built at the run's first evaluation, given the model's current
    weights at each later one, shut down when the run ends). ``torch_seed`` (default lm-eval's,
    as on the HF path) seeds the sampled requests (``eval_engine.SeededRequests``)."""
    engine = context.eval_engine
    seed = LM_EVAL_SEED if torch_seed is None else torch_seed
    lm = engine.lm_for(model, tokenizer, context.generation, seed)
    try:
        return _simple_evaluate(lm, configs, torch_seed, **evaluate)
    finally:
        engine.idle()


def new_sample_log(spec: EvalSpec) -> SampleLog | None:
    """A collector of the final evaluation's answers, unless the suite says ``keep_samples: false``."""
    return SampleLog() if spec.keep_samples else None


def greedy_scores(
    model: Any,
    tokenizer: Any,
    spec: EvalSpec,
    device: str = "cpu",
    split: Split = "eval",
    samples: SampleLog | None = None,
    context: RunContext | None = None,
) -> dict[str, TaskScore]:
    """Greedy accuracy of ``model`` on every task of ``spec``, with every item's score in item
    order and the items' digest; what the model answered goes into ``samples`` when given.
    ``context``: the run's data settings and backends (default: hf evaluation, registered tasks)."""
    context = context or RunContext()
    tasks = _all_tasks(spec)
    configs = [
        lm_eval_task_config(task, spec.items_for(task), spec.tokens_for(task), split, context=context)
        for task in tasks
    ]
    output = run_lm_eval(model, tokenizer, spec, configs, device, context)
    scores = {}
    for task, config in zip(tasks, configs, strict=True):
        name = lm_eval_task_name(task)
        items = greedy_items(task, output["samples"][name])
        scores[task] = TaskScore(
            accuracy=float(output["results"][name]["acc,none"]),
            n=int(output["n-samples"][name]["effective"]),
            items=items.scores,
            items_digest=items.digest,
            truncated_prompts=truncated_prompts(model, tokenizer, config, spec.tokens_for(task)),
        )
        if samples is not None:
            samples.add_greedy(items.samples)
    return scores


def sampled_scores(
    model: Any,
    tokenizer: Any,
    spec: EvalSpec,
    sampling: SamplingSpec,
    device: str = "cpu",
    samples: SampleLog | None = None,
    context: RunContext | None = None,
) -> dict[str, dict[str, float | list[float]]]:
    """avg@k and pass@k of ``model`` on the tasks of ``sampling.roles``, and each item's mean
    sample score in item order: ``{task: {avg_at_k, pass_at_k, sampled_items}}``. The k answers
    and their scores go into ``samples`` (which must hold the same items' greedy answers).

    lm-eval seeds torch with ``sampling.seed`` before generating, so the same model and settings
    give the same samples (on one device and thread count); the caller's random state is
    restored afterwards, so adding sampling changes nothing that runs after it."""
    import numpy as np
    import torch

    context = context or RunContext()
    roles = spec.roles()
    tasks = sorted({task for role in sampling.roles for task in roles[role]})
    configs = [
        lm_eval_task_config(
            task, spec.items_for(task), spec.tokens_for(task), sampling=sampling, context=context
        )
        for task in tasks
    ]
    cuda = list(range(torch.cuda.device_count())) if torch.cuda.is_available() else []
    python_state, numpy_state = random.getstate(), np.random.get_state()
    with torch.random.fork_rng(devices=cuda):
        output = run_lm_eval(model, tokenizer, spec, configs, device, context, torch_seed=sampling.seed)
    random.setstate(python_state)
    np.random.set_state(numpy_state)
    scores: dict[str, dict[str, float | list[float]]] = {}
    for task in tasks:
        name = lm_eval_task_name(task) + "_sampled"
        items = sampled_items(output["samples"][name])
        results = output["results"][name]
        scores[task] = {
            "avg_at_k": float(results["avg_at_k,samples"]),
            "pass_at_k": float(results["pass_at_k,samples"]),
            "sampled_items": items.means,
        }
        if samples is not None:
            samples.add_sampled(task, items)
    return scores


def by_role(scores: dict[str, TaskScore], spec: EvalSpec) -> dict[str, RoleScore]:
    roles = spec.roles().items()
    return {role: RoleScore.from_tasks({t: scores[t] for t in names}) for role, names in roles if names}


def evaluate(
    model: Any,
    tokenizer: Any,
    spec: EvalSpec,
    device: str = "cpu",
    split: Split = "eval",
    context: RunContext | None = None,
) -> dict[str, RoleScore]:
    """Greedy accuracy of ``model`` on every task of ``spec``, grouped by role."""
    return by_role(greedy_scores(model, tokenizer, spec, device, split, context=context), spec)


def held_out_items(task: str, n_items: int, context: RunContext) -> list[Any]:
    """The task's first ``n_items`` held-out eval items, fewer when its pool is smaller."""
    task_impl = context.task(task)
    return task_impl.items("eval", min(n_items, task_impl.max_eval_items), seed=0)


def evaluate_in_depth(
    model: Any,
    tokenizer: Any,
    spec: EvalSpec,
    device: str = "cpu",
    reference: Callable[[], Any] | None = None,
    timings: dict[str, float] | None = None,
    samples: SampleLog | None = None,
    context: RunContext | None = None,
) -> tuple[dict[str, RoleScore], KLScore | None]:
    """Everything a result reports about ``model``: greedy accuracy per role and task with its
    per-item scores (timing ``eval``), avg@k and pass@k with ``spec.sampling``
    (``eval_sampling``), the answer NLL of the forgetting tasks (``eval_nll``), and, given a
    loader of the base model as ``reference``, the KL drift from it (``eval_kl``). Seconds per
    phase go into ``timings``; what the model answered (greedy and sampled) into ``samples``."""
    from peft_rlvr_bench.evaluation.drift import answer_nll, kl_drift

    context = context or RunContext()
    timings = {} if timings is None else timings
    clock = time.perf_counter()
    scores = greedy_scores(model, tokenizer, spec, device, samples=samples, context=context)
    timings["eval"] = time.perf_counter() - clock

    if spec.sampling is not None:
        clock = time.perf_counter()
        sampled_by_task = sampled_scores(
            model, tokenizer, spec, spec.sampling, device, samples=samples, context=context
        )
        for task, sampled in sampled_by_task.items():
            scores[task] = scores[task].model_copy(update={"k": spec.sampling.k, **sampled})
        timings["eval_sampling"] = time.perf_counter() - clock

    if spec.loss_items and spec.forgetting:
        clock = time.perf_counter()
        for task in spec.forgetting:
            items = [(item.prompt, item.answer) for item in held_out_items(task, spec.loss_items, context)]
            nll = answer_nll(model, tokenizer, items, batch_size=spec.batch_size)
            scores[task] = scores[task].model_copy(
                update={"nll": nll.mean, "nll_items": nll.n_items, "nll_tokens": nll.n_tokens}
            )
        timings["eval_nll"] = time.perf_counter() - clock

    kl = None
    if reference is not None and spec.kl_items:
        clock = time.perf_counter()
        prompts = [
            item.prompt for task in spec.in_domain for item in held_out_items(task, spec.kl_items, context)
        ]
        base = reference()
        from peft_rlvr_bench.rlvr.generation import single_token_stops

        stop_ids = list(single_token_stops(tokenizer, task_stops(spec, context)).values())
        kl = kl_drift(
            model,
            base,
            tokenizer,
            prompts,
            spec.max_new_tokens,
            batch_size=spec.batch_size,
            stop_ids=stop_ids,
        )
        del base
        timings["eval_kl"] = time.perf_counter() - clock
    return by_role(scores, spec), kl
