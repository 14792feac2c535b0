"""The claims report: published claims about RLVR, each with our figures and a verdict by a fixed rule.

A pure function of a suite's result files (``suites/claims.yaml`` names the runs each claim
needs), written to ``results/<suite>/CLAIMS.md`` by ``prb claims`` with plots from
:mod:`peft_rlvr_bench.reporting.claims_plots`. ``docs/claims.md`` is the reader's guide.

- :mod:`.rules`: the verdict rules (order, margin and equivalence tests on paired comparisons from
  the statistics module, Holm over the page, seeds needed, a claim's verdict from its parts);
- :mod:`.reading`: per-seed arms out of run results, with per-item scores where they pair;
- :mod:`.catalogue` (C1-C3, C5, C6) and :mod:`.geora` (C4a-C4d, C7): the claims;
- :mod:`.report`: judging every claim as one family and rendering the page.
"""

from peft_rlvr_bench.reporting.claims.report import (
    CLAIMS,
    REPORT_NAME,
    Claim,
    evaluate_claims,
    render,
    write_claims,
)

LAYERS_PLOT = "claims_layers.png"
SPECTRA_PLOT = "claims_spectra.png"

__all__ = [
    "CLAIMS",
    "LAYERS_PLOT",
    "REPORT_NAME",
    "SPECTRA_PLOT",
    "Claim",
    "evaluate_claims",
    "render",
    "write_claims",
]
