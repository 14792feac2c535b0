"""Suite loading: every shipped suite validates, and bad suites fail with one located line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from peft_rlvr_bench.errors import UserError
from peft_rlvr_bench.suite import load_suite

REPO = Path(__file__).resolve().parents[1]
SHIPPED = sorted((REPO / "suites").glob("*.yaml"))

GOOD = """\
name: t
train_task: add
eval:
  in_domain: [add]
  forgetting: [copy]
recipe: {name: grpo}
budget: {max_steps: 5}
seeds: [0, 1]
adapters:
  - {name: full, lr: 1.0e-4}
  - {name: lora, r: 4, lr: 1.0e-3}
"""


def write(tmp_path: Path, text: str, name: str = "suite.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.mark.parametrize("path", SHIPPED, ids=[p.stem for p in SHIPPED])
def test_every_shipped_suite_validates(path: Path) -> None:
    from peft_rlvr_bench.registry import ADAPTERS, RECIPES

    suite = load_suite(path)
    assert suite.runs, "a shipped suite must expand to at least one run"
    assert suite.spec.name == path.stem, "the suite's name must match its file name"
    for run in suite.runs:  # the training path validates the resolved parameters again
        ADAPTERS.get(run.adapter.name).Params.model_validate(run.adapter.params)
        RECIPES.get(run.recipe.name).Params.model_validate(run.recipe.params)


def test_expansion_is_adapters_times_seeds_with_stable_unique_ids(tmp_path: Path) -> None:
    runs = load_suite(write(tmp_path, GOOD)).runs
    assert [(r.adapter.label, r.seed) for r in runs] == [("full", 0), ("full", 1), ("lora", 0), ("lora", 1)]
    assert len({r.run_id for r in runs}) == 4
    again = load_suite(write(tmp_path, GOOD, "copy.yaml")).runs
    assert [r.run_id for r in runs] == [r.run_id for r in again]
    assert runs[2].adapter.params["r"] == 4 and runs[2].adapter.params["alpha"] == 16.0, "defaults resolved"


def test_run_id_changes_with_any_resolved_setting(tmp_path: Path) -> None:
    base = load_suite(write(tmp_path, GOOD)).runs[2]
    changed = load_suite(write(tmp_path, GOOD.replace("r: 4", "r: 8"), "b.yaml")).runs[2]
    assert base.run_id.startswith("lora-s0-") and changed.run_id.startswith("lora-s0-")
    assert base.run_id != changed.run_id


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


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "peft_rlvr_bench.cli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_cli_validate_exits_2_with_one_line_and_writes_nothing(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace("name: lora", "name: lorra"))
    before = sorted(tmp_path.rglob("*"))
    done = run_cli("validate", str(path), cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "did you mean 'lora'?" in done.stderr
    assert "Traceback" not in done.stderr + done.stdout
    assert sorted(tmp_path.rglob("*")) == before


def test_cli_run_of_bad_suite_writes_no_results(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace("max_steps: 5", "max_steps: -1"))
    done = run_cli("run", str(path), cwd=tmp_path)
    assert done.returncode == 2 and "budget.max_steps" in done.stderr
    assert not (tmp_path / "results").exists()


def test_validate_list_and_run_ids_import_no_heavy_library(tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "from peft_rlvr_bench.suite import load_suite\n"
        "from peft_rlvr_bench.registry import REGISTRIES\n"
        f"suite = load_suite({str(REPO / 'suites' / 'tiny.yaml')!r})\n"
        "ids = [r.run_id for r in suite.runs] + [d.run_id for d in suite.derived]\n"
        "[r.names() for r in REGISTRIES.values()]\n"
        "heavy = [m for m in ('torch', 'trl', 'peft', 'lm_eval', 'transformers') if m in sys.modules]\n"
        "print(heavy)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


COMMITTED = sorted(p.parent for p in (REPO / "results").glob("*/base.json"))


@pytest.mark.parametrize("results", COMMITTED, ids=[p.name for p in COMMITTED])
def test_committed_results_keep_their_run_ids_and_base_spec(results: Path) -> None:
    """Eval settings added later (sampling, kl_items, loss_items) stay out of the identity at their
    defaults, so every committed run file is still the file of a run of its suite, and the base
    evaluation is still current (not redone)."""
    from peft_rlvr_bench.reporting.results import load_result

    suite = load_suite(REPO / "suites" / f"{results.name}.yaml")
    ids = {run.run_id for run in suite.runs} | {derived.run_id for derived in suite.derived}
    committed = {path.stem for path in (results / "runs").glob("*.json")}
    assert committed and committed <= ids
    assert load_result(results / "base.json").spec == suite.spec.base_identity()


def test_eval_depth_settings_enter_the_run_id_only_when_set(tmp_path: Path) -> None:
    ids = {r.run_id for r in load_suite(write(tmp_path, GOOD)).runs}
    for i, extra in enumerate(["kl_items: 64", "loss_items: 128", "sampling: null"]):
        same = GOOD.replace("forgetting: [copy]", f"forgetting: [copy]\n  {extra}")
        assert {r.run_id for r in load_suite(write(tmp_path, same, f"same{i}.yaml")).runs} == ids, extra
    for i, extra in enumerate(["kl_items: 32", "loss_items: 0", "sampling: {k: 8, temperature: 0.6}"]):
        changed = GOOD.replace("forgetting: [copy]", f"forgetting: [copy]\n  {extra}")
        other = {r.run_id for r in load_suite(write(tmp_path, changed, f"changed{i}.yaml")).runs}
        assert other.isdisjoint(ids), extra


@pytest.mark.parametrize(
    ("seeds", "bad"),
    [("[0, -1]", 1), ("[true]", 0), ("[1.0]", 0), ("['3']", 0), ("[0, 4294967296]", 1)],
)
def test_a_seed_the_seeding_functions_refuse_is_a_suite_error(tmp_path: Path, seeds: str, bad: int) -> None:
    path = write(tmp_path, GOOD.replace("seeds: [0, 1]", f"seeds: {seeds}"))
    with pytest.raises(UserError) as info:
        load_suite(path)
    assert str(info.value).startswith(
        f"{path}:8: seeds.{bad}: not a seed; use whole numbers from 0 to 4294967295"
    )


def test_the_seed_range_is_the_one_set_seed_accepts(tmp_path: Path) -> None:
    from transformers import set_seed

    from peft_rlvr_bench.suite import MAX_SEED

    runs = load_suite(write(tmp_path, GOOD.replace("seeds: [0, 1]", f"seeds: [0, {MAX_SEED}]"))).runs
    assert sorted({run.seed for run in runs}) == [0, MAX_SEED]
    set_seed(MAX_SEED)
    for refused in (MAX_SEED + 1, -1):
        with pytest.raises(ValueError):
            set_seed(refused)
    set_seed(0)


def test_repeated_seeds_are_named(tmp_path: Path) -> None:
    with pytest.raises(
        UserError, match=r"suite.yaml:8: seeds: Value error, seeds repeat \(1\); list each seed once"
    ):
        load_suite(write(tmp_path, GOOD.replace("seeds: [0, 1]", "seeds: [1, 0, 1]")))
