"""Write output files whole or not at all: a temporary file in the same directory, then rename."""
from __future__ import annotations

import os
from pathlib import Path

from cnnbench.core import atomic
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
    """Replace ``path`` only once the new content is fully written and flushed (cnnbench.core.atomic);
    a write that fails (no space, read-only, a directory there) is a one-line ReportError, the old file kept."""
    return atomic.write_or_fail(path, data, ReportError)


def write_all_atomic(files: dict[Path, bytes | str]) -> list[Path]:
    """Every file or none (cnnbench.core.atomic.write_all_atomic); a failure is a one-line ReportError."""
    return atomic.write_all_atomic(files, failed=lambda path, exc: ReportError(atomic.write_failure(path, exc)))
