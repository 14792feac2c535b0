"""The real ``math-1.5b`` suite end to end, with a tiny local Llama and the fixture datasets in place
of the downloads: the same YAML, tasks, verifier, recipe settings, dependencies and extrapolation,
changed only by ``--set`` (model.path, data sources, a 3-update budget, a few items)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from peft_rlvr_bench.reporting.results import load_result
from peft_rlvr_bench.tasks.data import TEMPLATES
from tests.helpers.datasets import FIXTURES, SOURCES
from tests.helpers.paths import REPO
from tests.helpers.tiny_models import tiny_llama

pytestmark = [pytest.mark.e2e, pytest.mark.slow]  # about 2 minutes on 2 cores: opt-in (make test-slow)

TASKS = ["math500", "aime24", "amc23", "gpqa_diamond", "mmlu_pro", "mmlu"]
ADAPTERS = (
    "[{name: full, lr: 1.0e-4}, {name: lora, r: 2, alpha: 4, lr: 1.0e-3}, {name: pissa, r: 2, lr: 1.0e-4}, "
    + ("{name: sparse, mask: rl_delta, lr: 1.0e-4, label: sparse-rl}]")
)


def save_tiny_model(directory: Path) -> None:
    """A random tiny Llama with a BPE trained on the fixtures, the chat markers as single tokens."""
    from peft_rlvr_bench.world.tokenizer import train_tokenizer

    corpus = [line for path in sorted(FIXTURES.glob("*.jsonl")) for line in path.read_text().splitlines()]
    corpus.append(TEMPLATES["qwen_math"].text)
    tokenizer = train_tokenizer(corpus, vocab_size=300)
    tokenizer.add_special_tokens(
        {"additional_special_tokens": ["<|im_start|>", "<|im_end|>", "<|endoftext|>"]}
    )
    model = tiny_llama(0, vocab_size=len(tokenizer), max_position_embeddings=1024, tie_word_embeddings=True)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.config.pad_token_id = tokenizer.pad_token_id
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)


def substitution_overrides(model_dir: Path) -> list[str]:
    sources = [f"data.sources.{task}={json.dumps(source)}" for task, source in SOURCES.items()]
    return [
        f"model.path={model_dir}",
        *sources,
        "seeds=[0]",
        "generation.backend=transformers",  # the suite asks for vLLM; this CPU has none
        "budget.max_steps=3",
        "trajectory.every=1",
        "checkpoint=null",
        "extrapolation.0.observe=2",
        "extrapolation.0.target=3",
        "recipe.prompts_per_step=2",
        "recipe.num_generations=2",
        "recipe.max_completion_length=8",
        "recipe.micro_batch_size=2",
        "eval.n_items=4",
        "eval.task_items={}",
        "eval.max_new_tokens=8",
        "eval.task_max_new_tokens={}",
        "eval.batch_size=8",
        "eval.sampling.k=2",
        "eval.kl_items=2",
        "eval.loss_items=2",
        f"adapters={ADAPTERS}",
    ]


@pytest.fixture(scope="module")
def substituted(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp_path = tmp_path_factory.mktemp("math-tiny")
    save_tiny_model(tmp_path / "model")
    args = [arg for item in substitution_overrides(tmp_path / "model") for arg in ("--set", item)]
    env = {**os.environ, "PRB_OUTPUTS_DIR": str(tmp_path / "outputs"), "HF_HUB_OFFLINE": "1"}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "peft_rlvr_bench.cli",
            "run",
            "math-1.5b",
            *args,
            "--results-dir",
            str(tmp_path),
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=1500,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return tmp_path / "math-1.5b"


def test_every_run_of_the_real_suite_finishes_ok_on_the_substitutes(substituted: Path) -> None:
    base = load_result(substituted / "base.json")
    runs = {r.method: r for r in map(load_result, (substituted / "runs").glob("*.json"))}
    assert sorted(runs) == sorted(["full", "lora", "pissa", "sparse-rl", "full+relex@2", "lora+relex@2"])
    for result in [base, *runs.values()]:
        assert result.status == "ok", result.reason
        assert result.backends == {"rollout": "transformers", "eval": "hf"}
        assert sorted(t for role in result.metrics.values() for t in role.tasks) == sorted(TASKS)
        assert all(task.n == 4 for role in result.metrics.values() for task in role.tasks.values())
        in_domain = result.metrics["in_domain"]
        assert in_domain.k == 2 and in_domain.pass_at_k is not None, "avg@k / pass@k on the in-domain sets"
    for name in ("full", "lora", "pissa", "sparse-rl"):
        run = runs[name]
        assert [step.step for step in run.train_curve] == [1, 2, 3]
        assert run.spec["model"]["path"].endswith("model") and run.spec["train_task"] == "math_train"
        assert run.spec["recipe"]["params"]["micro_batch_size"] == 2
        assert run.spec["data"]["template"] == "qwen_math"
    assert runs["sparse-rl"].spec["dependencies"]["rl_delta"] == runs["full"].run_id
    assert runs["full+relex@2"].extrapolation["source_run_id"] == runs["full"].run_id


def test_the_results_are_filed_under_ids_that_name_the_substitution(substituted: Path) -> None:
    from peft_rlvr_bench.suite import load_suite

    real = {run.run_id for run in load_suite(REPO / "suites" / "math-1.5b.yaml").runs}
    assert not real & {path.stem for path in (substituted / "runs").glob("*.json")}
