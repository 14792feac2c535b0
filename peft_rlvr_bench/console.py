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


def progress_columns() -> tuple[Any, ...]:
    """The columns of every progress bar: description, bar, done of total, elapsed time."""
    from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn

    return (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
