"""Value -> table text for the leaderboard's columns (``metrics.py`` picks one per column)."""

from __future__ import annotations


def percent(value: float) -> str:
    """A fraction as a percentage with one decimal: 0.9172 -> 91.7."""
    # Adding 0.0 turns a rounded -0.0 into 0.0, which would otherwise read as a tiny loss.
    return f"{round(value * 100, 1) + 0.0:.1f}"


def humanize_count(count: float) -> str:
    """Returns a parameter count as a short string: 950, 662.4k, 1.2M, 7.6B."""
    if count < 1000:
        return f"{count:.0f}"
    text = ""
    for scale, suffix in ((1e3, "k"), (1e6, "M"), (1e9, "B"), (1e12, "T")):
        text = f"{count / scale:.1f}{suffix}"
        # Rounding can carry into the next unit (999_960 -> 1000.0k); prefer 1.0M then.
        if round(count / scale, 1) < 1000:
            break
    return text


def integer(value: float) -> str:
    return f"{value:.0f}"


def general(value: float) -> str:
    return f"{value:g}"


def three_significant(value: float) -> str:
    return f"{value:.3g}"
