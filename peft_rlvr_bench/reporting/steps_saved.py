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
    matched = updates_to_match(curve, accuracy, derived.metrics["in_domain"].n)
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
        gap_at_target=None if real is None else accuracy - real,
    )
    return derived.model_copy(update={"extrapolation": info})
