"""Run identity: what determines a run's outcome, hashed into its id.

A run id is ``<label>-s<seed>-<digest>``, the digest a sha256 of the run's identity: its
resolved spec as JSON (``RunSpec``), less what only files or observes the run, plus the TRL
config that the spec decides (``rlvr.recipes.harness_config``). So editing a recipe, the
harness's schedule or a default changes the id of every run it touches, and ``prb run`` redoes
those runs instead of skipping their stale results as finished. Settings that only reflect the
machine (device and precision, logging, output directory, the rollout backend, a launch's batch
share) are recorded in a result's ``train_config`` but stay out of the identity, which is
computed when a suite is validated, without a GPU and without importing TRL.

Everything here works on the JSON form of a spec, the form results record.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from peft_rlvr_bench.rlvr.recipes import harness_config

OBSERVING_RUN_FIELDS = ("suite", "trajectory", "checkpoint", "generation", "tracking")
"""RunSpec fields that file a run or observe it without changing what it computes: the suite name,
how often the trajectory is recorded and trainer checkpoints are saved (a resumed run restores
the RNG states and ends bitwise the same), and the generation backend (vLLM and transformers
sample the same distribution with different numerics, like two devices), and live tracking."""

OBSERVING_EVAL_FIELDS = ("keep_samples",)
"""Eval settings that change no score: whether the answers are stored."""

OBSERVING_ADAPTER_FIELDS = ("control",)
"""Adapter settings that change no score: which arm a control arm is reported against."""

FIELDS_ADDED_LATER: dict[tuple[str, ...], dict[str, Any]] = {
    ("recipe", "params"): {"trl": {}, "importance_sampling": "sequence_mask", "importance_sampling_cap": 3.0},
    # TRL's own defaults, made explicit by the recipes: the same TRL run as before they were written.
    ("train_config",): {
        "vllm_importance_sampling_correction": True,
        "vllm_importance_sampling_mode": "sequence_mask",
        "vllm_importance_sampling_clip_max": 3.0,
    },
    (): {"eval_split": "eval"},
    ("eval",): {"task_max_new_tokens": {}, "lm_eval_tasks": [], "lm_eval_include": []},
    ("data",): {"reasoning_gym": {}},
}
"""Settings added after run ids were published, by the section of the identity they sit in
(``()`` the top, ``("eval",)``, ``("recipe", "params")``, ...): left out of the identity while
they hold these defaults, so the runs published before them keep their ids; set to anything
else, they are part of it. A recipe's ``trl:`` fields and importance-sampling settings, a
selection run's validation split, per-task generation lengths, lm-eval's shipped tasks and
reasoning-gym's task settings came after every id was renewed (when the TRL config joined the
identity)."""


def without_later_defaults(identity: dict[str, Any]) -> dict[str, Any]:
    """``identity`` less every ``FIELDS_ADDED_LATER`` setting that holds its default."""
    for path, defaults in FIELDS_ADDED_LATER.items():
        section: Any = identity
        for key in path:
            section = section.get(key) if isinstance(section, dict) else None
        if not isinstance(section, dict):
            continue
        for name, default in defaults.items():
            if name in section and section[name] == default:
                del section[name]
    return identity


def eval_identity(eval_spec: Mapping[str, Any]) -> dict[str, Any]:
    """An ``eval`` section's identity: every setting that can change a score."""
    return {name: value for name, value in eval_spec.items() if name not in OBSERVING_EVAL_FIELDS}


def run_identity(spec: Mapping[str, Any]) -> dict[str, Any]:
    """A run's identity from its resolved spec (``RunSpec.model_dump(mode="json")``)."""
    identity = {name: value for name, value in spec.items() if name not in OBSERVING_RUN_FIELDS}
    identity["eval"] = eval_identity(spec["eval"])
    identity["adapter"] = {
        name: value for name, value in spec["adapter"].items() if name not in OBSERVING_ADAPTER_FIELDS
    }
    identity["train_config"] = harness_config(
        spec["recipe"]["name"],
        spec["recipe"]["params"],
        learning_rate=spec["adapter"]["lr"],
        seed=spec["seed"],
        max_steps=spec["budget"]["max_steps"],
    )
    return without_later_defaults(json.loads(json.dumps(identity)))


def base_identity(suite: Mapping[str, Any]) -> dict[str, Any]:
    """What determines the base evaluation, from a suite spec's JSON: the model, the eval settings
    and the data settings (where dataset tasks read from and how prompts look)."""
    identity = {"model": suite["model"], "eval": eval_identity(suite["eval"]), "data": suite.get("data")}
    return without_later_defaults(json.loads(json.dumps(identity)))


def digest(identity: Mapping[str, Any]) -> str:
    """The first 8 hex digits of the sha256 of ``identity`` as sorted JSON."""
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:8]
