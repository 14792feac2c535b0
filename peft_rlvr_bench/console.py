"""Terminal output shared by the CLI and the runners: quiet libraries and one progress layout."""

from __future__ import annotations

import logging
import os
import warnings
from typing import Any


def quiet_libraries() -> None:
    """Silences library progress bars and chatter that would tear rich's live display apart."""
    os.environ.setdefault("TQDM_DISABLE", "1")
    os.environ.setdefault("HF_DATASETS_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    logging.getLogger("lm_eval").setLevel(logging.ERROR)


LIVE: dict[str, float] = {}
"""The latest training figures of this process (``reward``), set by the trainer's log callback
and shown by the progress bars; a Ray worker's stay in its own process."""


def report_live(name: str, value: float) -> None:
    """Makes ``value`` the live figure ``name`` the progress bars show."""
    LIVE[name] = value


def live_text() -> str:
    """``reward 0.62`` while a run logs one, else empty."""
    reward = LIVE.get("reward")
    return "" if reward is None else f"reward {reward:.2f}"


def progress_columns() -> tuple[Any, ...]:
    """The columns of every progress bar: description, bar, done of total, elapsed time, time
    left (rich's estimate from the recent rate) and the live reward of the run in progress."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        ProgressColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )
    from rich.text import Text

    class LiveColumn(ProgressColumn):
        def render(self, task: Any) -> Text:
            # Only the bar of the run in progress (an unfinished updates bar) carries the reward.
            return Text(live_text() if task.fields.get("live") and not task.finished else "")

    return (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
        LiveColumn(),
    )
