"""GeoRA's own claims, each on its own (C4a-C4d), and "PiSSA is no better than LoRA under RLVR" (C7).

GeoRA (arXiv 2601.09361, Qwen3-8B, GRPO on DeepMath-103K) reports GeoRA > PiSSA > LoRA in-domain
(AIME24 23.75, 22.50, 19.58), a normalised spectral shift of 0.092 against PiSSA's 0.395, and
better out-of-domain scores (HumanEval, MMLU, IFEval) than every baseline. Each method here runs
at the best rate of its own grid (``suites/claims.yaml``).
"""

from __future__ import annotations

from peft_rlvr_bench.reporting.claims.reading import Runs, arm, compare, geometry_value, role_arm
from peft_rlvr_bench.reporting.claims.rules import Scale, above, below
from peft_rlvr_bench.reporting.claims.spec import EQUIVALENCE_MARGIN, ClaimSpec, estimate_text, part
from peft_rlvr_bench.reporting.results import RunResult

GEORA = "GeoRA, arXiv 2601.09361 (Qwen3-8B, GRPO on DeepMath-103K)"
SHIFT = Scale(1.0, "", ".3g", None)
PAPER_SHIFT = {"geora": 0.092, "pissa": 0.395}
"""The paper's normalised spectral shifts."""


def _missing(*methods: str) -> str:
    return " and ".join(f"`{m}`" for m in methods) + " results"


def _order(runs: Runs, key: str, first: str, second: str, paper: str) -> ClaimSpec:
    names = {"geora": "GeoRA", "pissa": "PiSSA", "lora": "LoRA"}
    return ClaimSpec(
        key,
        f"{names[first]} beats {names[second]} in-domain",
        GEORA,
        f"{names[first]} reaches a higher in-domain accuracy than {names[second]} under RLVR ({paper}).",
        f"The paired {names[first]}-minus-{names[second]} difference of in-domain accuracy above 0 (paired "
        "t, or seeds x items when both stored item scores).",
        (
            part(
                f"{names[first]} minus {names[second]}, in-domain accuracy",
                above(),
                role_arm(runs, first, "in_domain"),
                role_arm(runs, second, "in_domain"),
                _missing(first, second),
            ),
        ),
        (_rates(runs, first, second),),
    )


def _rate(run: RunResult) -> float | None:
    adapter = run.spec.get("adapter")
    rate = adapter.get("lr") if isinstance(adapter, dict) else None
    return float(rate) if rate is not None else None


def _rates(runs: Runs, *methods: str) -> str:
    texts = []
    for method in methods:
        rates = {_rate(run) for run in runs.get(method, {}).values()}
        texts.append(
            f"{method} {', '.join(f'{r:g}' for r in sorted(r for r in rates if r is not None)) or '-'}"
        )
    return "learning rates (each method's tuned rate): " + "; ".join(texts)


def c4a_geora_over_pissa(runs: Runs) -> ClaimSpec:
    return _order(runs, "C4a", "geora", "pissa", "the paper: AIME24 23.75 against 22.50")


def c4b_geora_over_lora(runs: Runs) -> ClaimSpec:
    return _order(runs, "C4b", "geora", "lora", "the paper: AIME24 23.75 against 19.58")


def c4c_spectral_shift(runs: Runs) -> ClaimSpec:
    """GeoRA shifts W0's singular values less than PiSSA (geometry's spectral shift)."""
    shift = geometry_value("spectral_shift")
    geora, pissa, lora = (arm(runs, m, shift) for m in ("geora", "pissa", "lora"))
    context = (
        f"normalised spectral shift, ours: GeoRA {estimate_text(geora, SHIFT)}, PiSSA "
        f"{estimate_text(pissa, SHIFT)} (LoRA {estimate_text(lora, SHIFT)}); the paper's: GeoRA "
        f"{PAPER_SHIFT['geora']}, PiSSA {PAPER_SHIFT['pissa']}",
        "ours is `||sigma(W+) - sigma(W0)|| / ||sigma(W0)||` per block matrix, mean over the model's "
        "block matrices, after the same number of updates for both; the paper's model, data and step "
        "count differ, so compare the order, not the size",
        "a higher learning rate moves the singular values further in the same number of updates; each "
        "method runs at its own tuned rate, as a user would run it",
        _rates(runs, "geora", "pissa"),
    )
    return ClaimSpec(
        "C4c",
        "GeoRA's update shifts the spectrum less than PiSSA's",
        GEORA,
        f"GeoRA's normalised spectral shift is much smaller than PiSSA's ({PAPER_SHIFT['geora']} against "
        f"{PAPER_SHIFT['pissa']}): it leaves W0's principal spectrum in place.",
        "The paired GeoRA-minus-PiSSA difference of the spectral shift below 0 (t over seeds).",
        (
            part(
                "GeoRA minus PiSSA, normalised spectral shift",
                below(),
                geora,
                pissa,
                "geometry of `geora` and `pissa`",
                SHIFT,
            ),
        ),
        context,
    )


def c4d_forgetting(runs: Runs) -> ClaimSpec:
    """GeoRA keeps more of what the base could do outside the trained domain than LoRA and PiSSA."""
    geora = role_arm(runs, "geora", "forgetting")
    parts = tuple(
        part(
            f"GeoRA minus {name}, accuracy on the forgetting tasks (= {name}'s forgetting minus GeoRA's)",
            above(),
            geora,
            role_arm(runs, method, "forgetting"),
            _missing("geora", method),
        )
        for method, name in (("lora", "LoRA"), ("pissa", "PiSSA"))
    )
    context = (
        *(
            f"context, not rated: GeoRA minus {name} on the out-of-domain role (the trained skill in a "
            f"shifted format), {_difference(runs, method)}"
            for method, name in (("lora", "LoRA"), ("pissa", "PiSSA"))
        ),
        _rates(runs, "geora", "lora", "pissa"),
    )
    return ClaimSpec(
        "C4d",
        "GeoRA forgets less outside the trained domain than LoRA and PiSSA",
        GEORA,
        "GeoRA keeps better out-of-domain scores than every baseline (HumanEval 82.9, MMLU 76.0, IFEval "
        "53.7 after math RL).",
        "The paper's out-of-domain benchmarks are other skills than the one RL trains (code, knowledge, "
        "instruction following after math), which is what this harness's forgetting role measures (tasks "
        "unrelated to the training task, scored against the base). Both parts must hold: GeoRA's "
        "forgetting-role accuracy above LoRA's and above PiSSA's (paired, above 0).",
        parts,
        context,
    )


def _difference(runs: Runs, method: str) -> str:
    comparison = compare(role_arm(runs, "geora", "out_of_domain"), role_arm(runs, method, "out_of_domain"))
    if comparison is None:
        return "not measured"
    return (
        f"{comparison.difference * 100:.1f} points [{comparison.ci_low * 100:.1f}, "
        f"{comparison.ci_high * 100:.1f}] (95%, n={comparison.n})"
    )


def c7_pissa_no_better(runs: Runs) -> ClaimSpec:
    """PiSSA is no better than LoRA under RLVR: non-superiority of PiSSA minus LoRA."""
    margin = EQUIVALENCE_MARGIN
    return ClaimSpec(
        "C7",
        "PiSSA is no better than LoRA under RLVR",
        "arXiv 2512.23165 (PiSSA collapses under DAPO: 0.2 against LoRA's 42.5); arXiv 2511.08567 "
        "(PiSSA gives no gain over LoRA under RLVR)",
        "Starting the adapter on W0's principal components does not help RLVR: PiSSA ends no better "
        "than LoRA.",
        f"Non-superiority: the paired PiSSA-minus-LoRA in-domain difference below +{margin * 100:g} points "
        f"(reproduced when the 95% interval's upper end is below +{margin * 100:g}; contradicted when its "
        f"lower end is above it, i.e. PiSSA is better by more than the margin).",
        (
            part(
                "PiSSA minus LoRA, in-domain accuracy",
                below(margin),
                role_arm(runs, "pissa", "in_domain"),
                role_arm(runs, "lora", "in_domain"),
                _missing("pissa", "lora"),
            ),
        ),
        (_rates(runs, "pissa", "lora"),),
    )
