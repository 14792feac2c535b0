"""Sweeps: list-valued fields expand into a grid; ``select:`` validates and plans a selection stage."""

from __future__ import annotations

from pathlib import Path

import pytest

from peft_rlvr_bench.errors import UserError
from peft_rlvr_bench.suite import load_suite, with_choice
from peft_rlvr_bench.suite.expand import expand
from peft_rlvr_bench.suite.sweep import point_label, points, selection_round
from tests.helpers.suites import GOOD, write

SWEPT = GOOD.replace("{name: full, lr: 1.0e-4}", "{name: full, lr: [1.0e-5, 3.0e-5, 1.0e-4]}").replace(
    "{name: lora, r: 4, lr: 1.0e-3}",
    "{name: lora, r: [4, 8], lr: [1.0e-3, 3.0e-3], target_modules: [q_proj]}",
)
SELECT = SWEPT + "select: {items: 50, seeds: [100, 101], budget: {max_steps: 3}}\n"


def test_lists_expand_into_a_grid_of_labelled_entries(tmp_path: Path) -> None:
    suite = load_suite(write(tmp_path, SWEPT))
    labels = sorted({run.adapter.label for run in suite.runs})
    assert labels == sorted(
        ["full-lr1e-5", "full-lr3e-5", "full-lr1e-4"]
        + [f"lora-r{r}-lr{lr}" for r in (4, 8) for lr in ("1e-3", "3e-3")]
    )
    assert len(suite.runs) == 7 * 2  # two seeds
    lora = next(run for run in suite.runs if run.adapter.label == "lora-r8-lr3e-3")
    assert (lora.adapter.lr, lora.adapter.params["r"]) == (3.0e-3, 8)
    # A field whose own type is a list is a value, never a sweep.
    assert lora.adapter.params["target_modules"] == ["q_proj"]


def test_a_suite_recipe_list_sweeps_every_entry_without_its_own_recipe(tmp_path: Path) -> None:
    text = GOOD.replace("recipe: {name: grpo}", "recipe: {name: grpo, beta: [0.0, 0.01]}")
    suite = load_suite(write(tmp_path, text))
    assert {(run.adapter.label, run.recipe.params["beta"]) for run in suite.runs} == {
        ("full-beta0", 0.0),
        ("full-beta1e-2", 0.01),
        ("lora-beta0", 0.0),
        ("lora-beta1e-2", 0.01),
    }


def test_a_bad_grid_value_is_reported_on_its_entry_line(tmp_path: Path) -> None:
    path = write(tmp_path, SWEPT.replace("[1.0e-3, 3.0e-3]", "[1.0e-3, -1.0]"))
    with pytest.raises(UserError) as caught:
        load_suite(path)
    assert str(caught.value).startswith(f"{path}:11: adapters.1.lr: ")
    assert "greater than 0" in str(caught.value)


def test_select_waits_for_the_choice_then_runs_the_chosen_values(tmp_path: Path) -> None:
    suite = load_suite(write(tmp_path, SELECT))
    assert suite.awaits_selection and suite.runs == []
    chosen = with_choice(suite, {0: {"lr": 3.0e-5}, 1: {"r": 8, "lr": 1.0e-3}})
    assert [(run.adapter.label, run.adapter.lr, run.seed) for run in chosen.runs] == [
        ("full", 3.0e-5, 0),
        ("full", 3.0e-5, 1),
        ("lora", 1.0e-3, 0),
        ("lora", 1.0e-3, 1),
    ]
    # The chosen values are part of the comparison runs' identity.
    other = with_choice(suite, {0: {"lr": 1.0e-4}, 1: {"r": 8, "lr": 1.0e-3}})
    assert chosen.runs[0].run_id != other.runs[0].run_id
    assert chosen.runs[2].run_id == other.runs[2].run_id


def test_the_selection_stage_uses_its_own_seeds_budget_and_validation_items(tmp_path: Path) -> None:
    suite = load_suite(write(tmp_path, SELECT))
    found = selection_round(suite.spec, suite.source, suite.sweeps, {})
    assert found is not None
    spec, candidates = found
    runs = expand(spec, eval_split="validation")
    assert {run.seed for run in runs} == {100, 101}
    assert {run.budget.max_steps for run in runs} == {3}
    assert {run.eval_split for run in runs} == {"validation"}
    assert {tuple(run.eval.in_domain) for run in runs} == {("add",)}
    assert {run.eval.n_items for run in runs} == {50}
    assert len(candidates) == 3 + 4
    assert candidates["lora-r4-lr3e-3"] == (1, {"r": 4, "lr": 3.0e-3})


def test_rl_delta_candidates_build_on_the_chosen_full_run(tmp_path: Path) -> None:
    text = SELECT.replace("seeds: [0, 1]\n", "seeds: [0, 1]\n").replace(
        "  - {name: lora", "  - {name: sparse, mask: rl_delta, lr: [1.0e-4, 3.0e-4]}\n  - {name: lora"
    )
    suite = load_suite(write(tmp_path, text))
    first = selection_round(suite.spec, suite.source, suite.sweeps, {})
    assert first is not None
    assert all(label.startswith(("full", "lora")) for label in first[1])  # sparse waits for full's choice
    full_runs = {r.adapter.label: r.run_id for r in expand(first[0], "validation") if r.seed == 100}
    second = selection_round(
        suite.spec, suite.source, suite.sweeps, {0: {"lr": 3.0e-5}, 2: {"r": 4, "lr": 1e-3}}
    )
    assert second is not None
    assert set(second[1]) == {"sparse-lr1e-4", "sparse-lr3e-4"}
    sparse = [r for r in expand(second[0], "validation") if r.adapter.name == "sparse" and r.seed == 100]
    # The same full candidate (same id, so its finished result and final weights are reused).
    assert {r.dependencies["rl_delta"] for r in sparse} == {full_runs["full-lr3e-5"]}
    done = {0: {"lr": 3.0e-5}, 1: {"lr": 1.0e-4}, 2: {"r": 4, "lr": 1e-3}}
    assert selection_round(suite.spec, suite.source, suite.sweeps, done) is None


@pytest.mark.parametrize(
    ("edit", "line", "field", "message"),
    [
        (lambda t: GOOD + "select: {seeds: [100]}\n", 12, "select", "no adapter entry lists values"),
        (lambda t: t.replace("seeds: [100, 101]", "seeds: [1, 100]"), 12, "select.seeds", "also comparison"),
        (
            lambda t: t.replace("{items: 50,", "{metric: out_of_domain, items: 50,"),
            12,
            "select.metric",
            "lists no",
        ),
        (lambda t: t.replace("{items: 50,", "{itemz: 50,"), 12, "select.itemz", "did you mean 'items'?"),
        (
            lambda t: t.replace(
                "{name: full, lr: [1.0e-5, 3.0e-5, 1.0e-4]}", "{name: lora, r: 2, lr: [1.0e-4]}"
            ),
            11,
            "adapters.1.label",
            "repeats adapters[0]",
        ),
    ],
)
def test_bad_select_sections_name_the_file_line_and_field(
    tmp_path: Path, edit: object, line: int, field: str, message: str
) -> None:
    path = write(tmp_path, edit(SELECT))  # type: ignore[operator]
    with pytest.raises(UserError) as caught:
        load_suite(path)
    text = str(caught.value)
    assert text.startswith(f"{path}:{line}: {field}: "), text
    assert message in text


def test_point_labels_are_readable_and_ordered_like_the_axes() -> None:
    assert point_label("lora", {"r": 8, "lr": 3.0e-4, "recipe.beta": 0.5}) == "lora-r8-lr3e-4-beta0.5"
    from peft_rlvr_bench.suite import Axis, EntrySweep

    sweep = EntrySweep(
        index=0, label="x", axes=[Axis(path=("r",), values=[4, 8]), Axis(path=("lr",), values=[1, 2])]
    )
    assert points(sweep) == [{"r": 4, "lr": 1}, {"r": 4, "lr": 2}, {"r": 8, "lr": 1}, {"r": 8, "lr": 2}]


def test_extrapolation_applies_to_a_swept_entry_by_its_label(tmp_path: Path) -> None:
    extra = (
        "trajectory: {every: 1}\n"
        "extrapolation:\n  - {name: linear, observe: 2, target: 5, applies_to: [lora]}\n"
    )
    grid = load_suite(write(tmp_path, SWEPT + extra, "grid.yaml"))
    assert sorted(d.source.adapter.label for d in grid.derived if d.source.seed == 0) == [
        f"lora-r{r}-lr{lr}" for r in (4, 8) for lr in ("1e-3", "3e-3")
    ]
    selected = with_choice(load_suite(write(tmp_path, SELECT + extra)), {})
    assert {d.source.adapter.label for d in selected.derived} == {"lora"}
