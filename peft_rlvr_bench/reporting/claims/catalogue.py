"""Claims about what RLVR does to the weights and how far a trajectory can be extrapolated (C1-C3, C5, C6).

Each function reads the runs ``suites/claims.yaml`` names and returns the claim's parts; a part
whose runs are absent is listed as missing, and the claim is then incomplete, never rated from the
parts that happen to exist. GeoRA's and PiSSA's claims are in :mod:`.geora`.
"""

from __future__ import annotations

from peft_rlvr_bench.reporting.claims.reading import (
    Runs,
    arm,
    curve_at,
    derived_with,
    extrapolation_value,
    geometry_value,
    last_reward,
    on_source_curve_items,
    principal_excess,
    role_arm,
    source_at_updates_used,
)
from peft_rlvr_bench.reporting.claims.rules import POINTS, SHARE, Scale, above, below, within
from peft_rlvr_bench.reporting.claims.spec import (
    EQUIVALENCE_MARGIN,
    LAST_UPDATES,
    RECOVERY_THRESHOLD,
    ClaimSpec,
    estimate_text,
    one_sample,
    part,
)
from peft_rlvr_bench.reporting.results import RunResult
from peft_rlvr_bench.reporting.stats import mean, updates_to_match

REWARD = Scale(1.0, "", ".3f", None)
MARGIN_TEXT = f"±{EQUIVALENCE_MARGIN * 100:g} points"


def c1_rank1(runs: Runs) -> ClaimSpec:
    """Rank-1 keeps >= 99% of the gain; ``blocks_only`` separates the reset of non-block tensors."""
    recovery = extrapolation_value("gain_recovery")
    rank1 = arm(runs, derived_with(runs, "full", "rank1"), recovery)
    blocks = arm(runs, derived_with(runs, "full", "blocks_only"), recovery)
    truncation_margin = 1 - RECOVERY_THRESHOLD
    parts = (
        one_sample(
            "rank-1 model of full fine-tuning (blocks rank-1, everything else at W0): share of the "
            "in-domain gain kept",
            above(RECOVERY_THRESHOLD),
            rank1,
            "`rank1` runs of `full`",
            SHARE,
        ),
        part(
            "the truncation's own cost: rank-1 model minus the control `blocks_only` (blocks as tuned, "
            "everything else at W0), share of the gain",
            above(-truncation_margin),
            rank1,
            blocks,
            "`blocks_only` runs of `full`, the control",
            POINTS,
        ),
    )
    context = [
        f"control `blocks_only` of full fine-tuning keeps {estimate_text(blocks, SHARE)} of the gain"
        if blocks is not None
        else "control `blocks_only` of full fine-tuning: not measured"
    ]
    for source in ("lora", "pissa", "geora"):
        kept = arm(runs, derived_with(runs, source, "rank1"), recovery)
        control = arm(runs, derived_with(runs, source, "blocks_only"), recovery)
        if kept is not None or control is not None:
            context.append(
                f"{source} (update already rank <= r; context only): rank-1 keeps "
                f"{estimate_text(kept, SHARE)}, `blocks_only` {estimate_text(control, SHARE)}"
            )
    return ClaimSpec(
        "C1",
        "The rank-1 model of an RL update keeps at least 99% of the RL gain",
        "arXiv 2605.06523 (rank-1 gain recovery); AlphaRL, arXiv 2510.00553",
        "Replacing each attention/MLP update by its norm-matched rank-1 component, `W0 + ||dW||_F u1 "
        "v1^T`, with every other tensor at W0, keeps more than 99% of the RL gain.",
        f"Share of the gain kept, `(acc - acc_base) / (acc_run - acc_base)` per seed: at least "
        f"{RECOVERY_THRESHOLD:.0%} (t of the per-seed shares against {RECOVERY_THRESHOLD:.0%}). The rank-1 "
        "model also resets embeddings, LM head and norms to W0, so the control `blocks_only` makes that "
        "reset alone; the truncation's own cost (rank-1 minus control, paired) must be no worse than "
        f"-{truncation_margin * 100:g} points of the gain (non-inferiority), else the loss would be the "
        "truncation's. Full fine-tuning only (the papers' setting); the LoRA-family rows are context.",
        parts,
        tuple(context),
    )


def c2_relex(runs: Runs) -> ClaimSpec:
    """RELEX from a 15% window matches the run at the end, and does so 10x beyond its window."""
    real = role_arm(runs, "full", "in_domain")
    budget = _budget(runs, "full")
    windows = (
        (
            round(0.15 * budget),
            f"from a 15% window (the first {round(0.15 * budget)} updates, predicting {budget})",
        ),
        (
            round(0.10 * budget),
            f"10x beyond its window (the first {round(0.10 * budget)} updates, predicting {budget})",
        ),
    )
    parts = tuple(
        part(
            f"RELEX {label} minus the real run at {budget}, in-domain accuracy",
            within(EQUIVALENCE_MARGIN),
            role_arm(runs, derived_with(runs, "full", "relex", observe), "in_domain"),
            real,
            f"`relex` runs of `full` observing {observe} updates",
        )
        for observe, label in windows
    )
    return ClaimSpec(
        "C2",
        "RELEX from a 15% window matches the full run, and stays good 10x beyond it",
        "RELEX, arXiv 2605.21468",
        "A rank-1 trajectory-space extrapolation from the first 15% of RL updates predicts a checkpoint "
        "as good as the real run at the end, and still does 10x beyond the window.",
        f"Each window's prediction must match the real run at its last update ({budget}) within "
        f"{MARGIN_TEXT} (equivalence, TOST on the paired difference).",
        parts,
    )


def _budget(runs: Runs, method: str, default: int = 100) -> int:
    """The RL budget (updates) of ``method``'s runs: the windows of C2 are shares of it."""
    for run in runs.get(method, {}).values():
        budget = (run.spec.get("budget") or {}).get("max_steps")
        if isinstance(budget, int):
            return budget
    return default


def c3_sparsity(runs: Runs) -> ClaimSpec:
    """RLVR's bf16 updates are sparser than SFT's and avoid W0's principal coordinates."""
    unchanged = geometry_value("update_sparsity")
    rl, sft = arm(runs, "full", unchanged), arm(runs, "full-sft", unchanged)
    parts = (
        part(
            "bf16 weights left unchanged, RLVR (full GRPO) minus SFT (same task, rate and updates)",
            above(),
            rl,
            sft,
            "geometry of `full` and of `full-sft` (the SFT control)",
        ),
        one_sample(
            "RLVR's changed coordinates inside W0's principal mask (k = 16) minus the random baseline",
            below(),
            arm(runs, "full", principal_excess),
            "the principal-mask overlap in `full`'s geometry",
        ),
    )
    context = (
        f"bf16 unchanged: RLVR {estimate_text(rl, SHARE)}, SFT {estimate_text(sft, SHARE)} (the paper: "
        "RLVR 36-92%, SFT 0.6-18.8%)",
    )
    return ClaimSpec(
        "C3",
        "RLVR's bf16 updates are far sparser than SFT's, and off the principal coordinates",
        "The Path Not Taken, arXiv 2511.08567",
        "RLVR leaves 36-92% of bf16 weights bitwise unchanged against SFT's 0.6-18.8%, and the "
        "coordinates it changes avoid W0's principal ones (overlap with M_princ below random).",
        "Sparser: the paired RLVR-minus-SFT difference of the unchanged share above 0. Off principal: the "
        "overlap of the changed coordinates with W0's principal mask below its random baseline (t over "
        "seeds against 0). The tiny world trains in float32; sparsity compares the weights rounded to bf16.",
        parts,
        context,
    )


def c5_next(runs: Runs) -> ClaimSpec:
    """NExt saves steps: it matches the run at the target, and beats it at the same real updates."""
    name = derived_with(runs, "lora", "next")
    used_arm = arm(runs, name, extrapolation_value("updates_used"))
    target_arm = arm(runs, name, extrapolation_value("target"))
    used = round(mean(list(used_arm.values.values()))) if used_arm else None
    target = round(mean(list(target_arm.values.values()))) if target_arm else None
    nxt = role_arm(runs, name, "in_domain")
    at_used = source_at_updates_used(runs, name, "lora")
    # The curve may score only the first eval.curve_items items: NExt on those same items.
    nxt_on_curve_items = arm(runs, name, lambda run: on_source_curve_items(runs, run, "lora"))
    used_text = f"{used}" if used is not None else "the same number of"
    parts = (
        part(
            f"NExt ({used_text} real updates) minus the real LoRA run at the target ({target or 'target'})",
            within(EQUIVALENCE_MARGIN),
            nxt,
            role_arm(runs, "lora", "in_domain"),
            "`next` runs of `lora`",
        ),
        part(
            f"what the extension added: NExt minus the real LoRA run at the same {used_text} real updates "
            "(its learning curve)",
            above(),
            nxt_on_curve_items,
            at_used,
            "the `next` runs and the LoRA run's learning curve at their real updates (record the "
            "trajectory every few updates so the curve has that point)",
        ),
    )
    context = []
    if used is not None and target is not None:
        context.append(
            f"real updates used: {used} of {target} ({1 - used / target:.1%} fewer by construction; "
            "the paper: 37.5%)"
        )
    lora_runs = runs.get("lora", {})
    if at_used is not None and target is not None:
        final = arm(runs, "lora", lambda run: curve_at(run, target))
        shared = sorted(set(at_used.values) & set(final.values)) if final else []
        if shared:
            gaps = [at_used.values[s] - final.values[s] for s in shared]
            context.append(
                f"the real run alone, at {used} minus at {target} updates: "
                f"{', '.join(POINTS.text(g) for g in gaps)} (seeds {', '.join(map(str, shared))})"
            )
    reached = [_reached_final(lora_runs[s]) for s in sorted(lora_runs)]
    if any(r is not None for r in reached):
        context.append(
            "the real LoRA run first reaches its final accuracy (within the 95% binomial half-width) at "
            f"update {', '.join('-' if r is None else str(r) for r in reached)} (seeds "
            f"{', '.join(map(str, sorted(lora_runs)))}): after that, extra real updates add nothing to "
            "extend"
        )
    return ClaimSpec(
        "C5",
        "NExt saves about 37.5% of the RL steps",
        "NExt, arXiv 2604.11446",
        "Extrapolating LoRA's rank-1 update trajectory and continuing RL reaches the full run's accuracy "
        "with about 37.5% fewer RL updates (250 against 400).",
        f"Both parts must hold: NExt matches the real run at the target within {MARGIN_TEXT} "
        "(equivalence, TOST, seeds x items when both have item scores), and it beats the real run at "
        "the same number of real updates (paired, above 0): if the real run is as good there, the "
        "saving comes from the budget being longer than needed, not from the extension.",
        parts,
        tuple(context),
    )


def _reached_final(run: RunResult) -> int | None:
    """The first recorded update at which a run's curve reaches its own final accuracy, within the
    final accuracy's 95% binomial half-width."""
    curve = [(point.update, point.in_domain) for point in run.learning_curve]
    if not curve or "in_domain" not in run.metrics:
        return None
    return updates_to_match(curve, run.metrics["in_domain"].score, run.metrics["in_domain"].n)


def c6_substitution(runs: Runs) -> ClaimSpec:
    """Rank-1 substitution keeps accuracy (equivalence) while the training reward drops (order)."""
    reward = last_reward(LAST_UPDATES)
    parts = (
        part(
            "held-out in-domain accuracy, with the substitution minus without",
            within(EQUIVALENCE_MARGIN),
            role_arm(runs, "full-rank1sub", "in_domain"),
            role_arm(runs, "full", "in_domain"),
            "`full-rank1sub` and `full` results",
        ),
        part(
            f"training reward over the last {LAST_UPDATES} updates, without minus with",
            above(),
            arm(runs, "full", reward),
            arm(runs, "full-rank1sub", reward),
            "the training reward curves of `full` and `full-rank1sub`",
            REWARD,
        ),
    )
    return ClaimSpec(
        "C6",
        "Rank-1 substitution keeps test accuracy while training reward drops",
        "arXiv 2605.06523 (implicit reward overfitting)",
        "Substituting each update by its rank-1 component every K updates keeps held-out accuracy, "
        "while the training reward stays lower.",
        f"Accuracy kept: equivalent within {MARGIN_TEXT} (TOST). Reward drops: the paired difference "
        "(without minus with) above 0.",
        parts,
    )
