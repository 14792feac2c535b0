"""Opening a user's safetensors file: a truncated, empty or garbage file is one line naming it.

``safetensors`` checks a file's header against its size when it opens it, so a file cut short
by a full disk or a broken download fails there with a ``SafetensorError``; this module turns
that, and the same error while reading a tensor, into a ``UserError`` naming the file.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from peft_rlvr_bench.errors import UserError


def _unreadable(path: Path, exc: BaseException) -> UserError:
    detail = " ".join(str(exc).split())[:200] or type(exc).__name__
    return UserError(
        f"{path}: not a readable safetensors file ({detail}); it is truncated or corrupt: "
        "save or download it again"
    )


@contextmanager
def open_safetensors(path: Path, device: str = "cpu") -> Iterator[Any]:
    """``safetensors.safe_open(path)`` whose failures, on opening or on reading a tensor through
    it, are a one-line ``UserError`` naming ``path``."""
    from safetensors import SafetensorError, safe_open

    try:
        handle_context = safe_open(str(path), framework="pt", device=device)
        handle = handle_context.__enter__()
    except (SafetensorError, OSError) as exc:
        raise _unreadable(path, exc) from None
    try:
        yield handle
    except SafetensorError as exc:
        raise _unreadable(path, exc) from None
    finally:
        handle_context.__exit__(None, None, None)


def read_tensor(handle: Any, path: Path, name: str) -> Any:
    """``handle.get_tensor(name)``; a file whose data is corrupt past its header is one line."""
    from safetensors import SafetensorError

    try:
        return handle.get_tensor(name)
    except SafetensorError as exc:
        raise _unreadable(path, exc) from None


def read_json_index(path: Path) -> dict[str, Any]:
    """A ``*.safetensors.index.json`` file's mapping; a corrupt one is one line naming it."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(data, dict) or not isinstance(data.get("weight_map"), dict):
            raise ValueError("no weight_map mapping")
        return data
    except (ValueError, OSError) as exc:
        detail = " ".join(str(exc).split())[:200]
        raise UserError(
            f"{path}: not a valid safetensors index ({detail}); save the checkpoint again"
        ) from None
