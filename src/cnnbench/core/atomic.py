"""Write a file whole or not at all: a temporary file in the same directory, flushed to disk, then
renamed over the target (a rename within one file system is atomic on POSIX). A reader, or a process
killed mid-write, sees the old file or the new one, never half of one. The benchmark's journal and
every report output write this way."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Callable


def write_atomic(path: Path, data: bytes | str, *,
                 cannot_create: Callable[[OSError], Exception] | None = None) -> Path:
    """Replace ``path`` only once the new content is fully written and flushed; the temporary file
    is removed on any failure. ``cannot_create`` turns the error of a directory where no file can be
    created into the caller's own (a one-line user error); other errors propagate."""
    path = Path(path)
    raw = data.encode("utf-8") if isinstance(data, str) else data
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        if cannot_create is None:
            raise
        raise cannot_create(exc) from None
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
