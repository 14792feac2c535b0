"""The headline figures of an extrapolated run, read off its source's learning curve: steps saved,
the real run at the target, and the share of the RL gain the prediction keeps."""

from __future__ import annotations

from peft_rlvr_bench.reporting.results import RunResult
from peft_rlvr_bench.reporting.stats import updates_to_match


def with_steps_saved(derived: RunResult, source: RunResult, base: RunResult | None = None) -> RunResult:
    """Adds the headline figures of an extrapolated run, measured against its source's curve.

    - ``updates_to_match``: the first update at which the real run's in-domain accuracy reaches
      the extrapolated checkpoint's, within the latter's 95% binomial interval;
    - ``steps_saved``: that minus the updates the extrapolation actually used (None when the
      real run never matched it: it saved at least the whole rest of the budget);
    - ``real_at_target`` and ``gap_at_target``: the real run at the target update, and the
      extrapolated accuracy minus it;
    - ``gain_recovery`` (with ``base``): the share of the source's in-domain gain over the base
      that the derived checkpoint keeps, ``(acc - acc_base) / (acc_source - acc_base)``; None
      when the source gained nothing.
    """
    if derived.status != "ok" or derived.extrapolation is None or "in_domain" not in derived.metrics:
        return derived
    accuracy = derived.metrics["in_domain"].score
    curve = [(point.update, point.in_domain) for point in source.learning_curve]
    # The curve may score fewer items than the final evaluation (eval.curve_items): compare the
    # prediction with it on the same items, or an easier or harder head of the eval set biases it.
    on_curve_items, n_items = accuracy_on_first_items(derived, curve_items(source))
    matched = updates_to_match(curve, on_curve_items, n_items)
    info = dict(derived.extrapolation)
    real = dict(curve).get(info["target"])
    if base is not None and "in_domain" in source.metrics and "in_domain" in base.metrics:
        gain = source.metrics["in_domain"].score - base.metrics["in_domain"].score
        recovered = accuracy - base.metrics["in_domain"].score
        info["gain_recovery"] = recovered / gain if gain != 0 else None
    info.update(
        updates_to_match=matched,
        steps_saved=None if matched is None else matched - info["updates_used"],
        real_at_target=real,
        gap_at_target=None if real is None else on_curve_items - real,
    )
    return derived.model_copy(update={"extrapolation": info})


def curve_items(run: RunResult) -> int | None:
    """The in-domain items behind a run's curve points (``eval.curve_items``); None: the final
    evaluation's."""
    return next((point.n_items for point in run.learning_curve if point.n_items is not None), None)


def accuracy_on_first_items(run: RunResult, n: int | None) -> tuple[float, int]:
    """A run's in-domain accuracy on the first ``n`` eval items of its one in-domain task, from its
    per-item scores, and the item count; the whole score where ``n`` is None or the scores are
    not there (several in-domain tasks, results without per-item scores)."""
    role = run.metrics["in_domain"]
    tasks = list(role.tasks.values())
    if n is not None and len(tasks) == 1 and tasks[0].items is not None and len(tasks[0].items) >= n:
        head = tasks[0].items[:n]
        return sum(head) / n, n
    return role.score, role.n
