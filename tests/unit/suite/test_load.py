"""Suite loading: bad suites fail with one line naming the file, the line and the field."""

from __future__ import annotations

from pathlib import Path

import pytest

from peft_rlvr_bench.errors import UserError
from peft_rlvr_bench.suite import load_suite
from tests.helpers.suites import GOOD, write

BAD_SUITES = {
    "unknown adapter": (
        GOOD.replace("name: lora", "name: lorra"),
        11,
        "adapters.1.name",
        "did you mean 'lora'?",
    ),
    "wrong type": (GOOD.replace("max_steps: 5", "max_steps: many"), 7, "budget.max_steps", "valid integer"),
    "zero budget": (GOOD.replace("max_steps: 5", "max_steps: 0"), 7, "budget.max_steps", "greater than 0"),
    "missing field": (GOOD.replace("train_task: add\n", ""), 1, "train_task", "required field is missing"),
    "unknown key": (GOOD + "seedz: [3]\n", 12, "seedz", "unknown field (did you mean 'seeds'?)"),
    "unknown adapter param": (
        GOOD.replace("r: 4", "r: 4, alpah: 8"),
        11,
        "adapters.1.alpah",
        "did you mean 'alpha'?",
    ),
    "unknown recipe": (GOOD.replace("name: grpo", "name: grpp"), 6, "recipe.name", "did you mean 'grpo'?"),
    "bad recipe param": (
        GOOD.replace("{name: grpo}", "{name: grpo, num_generations: 1}"),
        6,
        "recipe.num_generations",
        "greater than or equal to 2",
    ),
    "unknown task": (
        GOOD.replace("train_task: add", "train_task: addd"),
        2,
        "train_task",
        "did you mean 'add'?",
    ),
    "unknown eval task": (
        GOOD.replace("forgetting: [copy]", "forgetting: [cpy]"),
        5,
        "eval.forgetting.0",
        "did you mean 'copy'?",
    ),
    "duplicate label": (
        GOOD.replace("{name: lora, r: 4,", "{name: full,"),
        11,
        "adapters.1.label",
        "repeats",
    ),
    "repeated seeds": (GOOD.replace("[0, 1]", "[1, 1]"), 8, "seeds", "seeds repeat"),
    "too many eval items": (
        GOOD.replace("forgetting: [copy]", "forgetting: [copy]\n  n_items: 5000"),
        6,
        "eval.n_items",
        "set n_items <= 1000",
    ),
    "unsafe name": (GOOD.replace("name: t", "name: ../t"), 1, "name", "letters, digits"),
    "extrapolation target before window": (
        GOOD + "trajectory: {every: 1}\nextrapolation:\n  - {name: relex, observe: 4, target: 3}\n",
        14,
        "extrapolation.0",
        "must not come before the observation window",
    ),
    "extrapolation applies to an unknown label": (
        GOOD
        + "trajectory: {every: 1}\nextrapolation:\n"
        + "  - {name: relex, observe: 2, target: 4, applies_to: [lorra]}\n",
        14,
        "extrapolation.0.applies_to",
        "did you mean 'lora'?",
    ),
    "unknown recipe on an adapter entry": (
        GOOD.replace("{name: full, lr: 1.0e-4}", "{name: full, lr: 1.0e-4, recipe: {name: sfft}}"),
        10,
        "adapters.0.recipe.name",
        "did you mean 'sft'?",
    ),
    "extrapolation without trajectory": (
        GOOD + "extrapolation:\n  - {name: relex, observe: 2, target: 4}\n",
        13,
        "extrapolation.0",
        "needs recorded trajectories",
    ),
    "unknown extrapolator": (
        GOOD + "trajectory: {every: 1}\nextrapolation:\n  - {name: relx, observe: 2, target: 4}\n",
        14,
        "extrapolation.0.name",
        "did you mean 'relex'?",
    ),
    "observe beyond budget": (
        GOOD + "trajectory: {every: 1}\nextrapolation:\n  - {name: relex, observe: 9, target: 20}\n",
        14,
        "extrapolation.0.observe",
        "exceeds budget.max_steps",
    ),
    "zero samples": (
        GOOD.replace("forgetting: [copy]", "forgetting: [copy]\n  sampling: {k: 0}"),
        6,
        "eval.sampling.k",
        "greater than or equal to 1",
    ),
    "greedy temperature": (
        GOOD.replace("forgetting: [copy]", "forgetting: [copy]\n  sampling: {k: 4, temperature: 0}"),
        6,
        "eval.sampling.temperature",
        "temperature must be > 0; greedy accuracy is always reported, drop `sampling`",
    ),
    "sampling without k": (
        GOOD.replace("forgetting: [copy]", "forgetting: [copy]\n  sampling: {temperature: 0.6}"),
        6,
        "eval.sampling.k",
        "required field is missing",
    ),
}


@pytest.mark.parametrize("case", BAD_SUITES, ids=list(BAD_SUITES))
def test_bad_suite_is_one_line_naming_file_line_and_field(tmp_path: Path, case: str) -> None:
    text, line, field, fragment = BAD_SUITES[case]
    path = write(tmp_path, text)
    with pytest.raises(UserError) as info:
        load_suite(path)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"{path}:{line}: {field}: "), message
    assert fragment in message


def test_not_yaml_and_not_a_mapping_and_not_utf8(tmp_path: Path) -> None:
    with pytest.raises(UserError, match=r"suite.yaml:2: not valid YAML"):
        load_suite(write(tmp_path, "name: t\n\tadapters: []\n"))  # a tab
    with pytest.raises(UserError, match="must be a YAML mapping"):
        load_suite(write(tmp_path, "- just\n- a list\n"))
    bad = tmp_path / "latin1.yaml"
    bad.write_bytes("name: caf\xe9\n".encode("latin-1"))
    with pytest.raises(UserError, match="not UTF-8"):
        load_suite(bad)
    with pytest.raises(UserError, match="no such suite file"):
        load_suite(tmp_path / "missing.yaml")
