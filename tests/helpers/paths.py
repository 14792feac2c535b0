"""Where the tests find the repository and its committed test data, from any directory depth."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
"""The repository root (the directory holding ``peft_rlvr_bench/``, ``suites/`` and ``tests/``)."""

FIXTURES = REPO / "tests" / "fixtures"
"""Committed test data: the bad-input corpus, dataset files in the real layouts, legacy results."""
