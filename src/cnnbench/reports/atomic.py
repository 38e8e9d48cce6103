"""Write output files whole or not at all: a temporary file in the same directory, then rename."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

from cnnbench.reports.errors import ReportError


def ensure_writable_dir(directory: Path, *, parents: bool = False) -> Path:
    """The output directory, created if missing: only its last level unless ``parents`` (a typo in a
    path must not create a tree of directories from the root)."""
    if directory.exists() and not directory.is_dir():
        raise ReportError(f"{directory}: cannot create the output directory (a file of that name exists); "
                          "give a writable --out DIR")
    if not parents and not directory.parent.is_dir():
        why = "is a file" if directory.parent.exists() else "does not exist (only the last level is created)"
        raise ReportError(f"{directory}: cannot create the output directory: its parent {directory.parent}/ {why}; "
                          "create it first or give another --out DIR")
    try:
        directory.mkdir(parents=parents, exist_ok=True)
    except OSError as exc:
        raise ReportError(f"{directory}: cannot create the output directory ({exc.strerror}); "
                          "give a writable --out DIR") from None
    if not os.access(directory, os.W_OK | os.X_OK):
        raise ReportError(f"{directory}: the output directory is not writable; give a writable --out DIR")
    return directory


def write_atomic(path: Path, data: bytes | str) -> Path:
    """Replace ``path`` only once the new content is fully written and flushed."""
    raw = data.encode("utf-8") if isinstance(data, str) else data
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise ReportError(f"{path.parent}: cannot write there ({exc.strerror}); give a writable --out DIR") from None
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(raw)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    return path
