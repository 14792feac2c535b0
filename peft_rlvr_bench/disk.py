"""A full disk, recognised and named: which file could not be written, on which disk.

Libraries report a full disk differently: Python raises ``OSError`` with errno ENOSPC (often
without a file name when writing through a descriptor), safetensors raises ``SafetensorError``
whose text carries the OS error ("No space left on device", ``code: 28``), torch a
``RuntimeError`` with that text. A run's failure reason must name the file either way, so the
file is taken from the exception when it has one, else from the innermost frame of its
traceback that holds the path being written (safetensors' ``save_file(tensors, filename)``,
``torch.save(obj, f)``).
"""

from __future__ import annotations

import errno
import os
from pathlib import Path
from types import TracebackType

_TEXTS = ("no space left on device", "storagefull", "code: 28,")
_PATH_NAMES = ("filename", "file", "f", "path", "save_path", "output_file")


def is_disk_full(exc: BaseException) -> bool:
    """Whether ``exc`` or an exception it was raised from is a full disk."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, OSError) and current.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        if any(text in str(current).lower() for text in _TEXTS):
            return True
        current = current.__cause__ or current.__context__
    return False


def _path_in(tb: TracebackType | None) -> str | None:
    found = None
    while tb is not None:  # outermost to innermost: the last match is nearest the write
        for name in _PATH_NAMES:
            value = tb.tb_frame.f_locals.get(name)
            if isinstance(value, str | os.PathLike) and os.sep in os.fspath(value):
                found = os.fspath(value)
                break
        tb = tb.tb_next
    return found


def file_of(exc: BaseException) -> str | None:
    """The file a failed write was writing: the exception's own, else its traceback's."""
    filename = getattr(exc, "filename", None)
    if filename:
        return os.fspath(filename)
    return _path_in(exc.__traceback__)


def mount_point(path: Path) -> Path:
    """The mount point of the file system holding ``path`` (or its nearest existing parent)."""
    current = path.resolve()
    while not current.exists():
        current = current.parent
    while not os.path.ismount(current) and current != current.parent:
        current = current.parent
    return current


def disk_full_reason(exc: BaseException, fallback_dir: Path) -> str:
    """``disk full writing FILE (disk MOUNT): ...`` for a run's failure reason."""
    written = file_of(exc)
    target = Path(written) if written else fallback_dir
    what = f" writing {written}" if written else ""
    return (
        f"disk full{what} (disk {mount_point(target)}): no space left on the device; free space "
        "(or point PRB_OUTPUTS_DIR or --results-dir at a larger disk) and rerun"
    )
