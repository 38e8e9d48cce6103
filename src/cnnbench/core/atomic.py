"""Write a file whole or not at all: a temporary file in the same directory, flushed to disk, then
renamed over the target (a rename within one file system is atomic on POSIX). A reader, or a process
killed mid-write, sees the old file or the new one, never half of one. The benchmark's journal and
final files, every report output, ``cnnbench ab --out`` and ``history export --out`` write this way.

A write that fails (a full disk, a read-only file system, a directory where the file should be)
leaves the previous file as it was and no temporary file behind; ``failed`` turns the OSError into
the caller's own one-line error (``write_failure`` words it: the path and the reason).
"""
from __future__ import annotations

import errno
import os
import shutil
import tempfile
from pathlib import Path
from typing import Callable, Mapping


def write_failure(path: Path, exc: OSError) -> str:
    """One line: which file could not be written and why (the system's own words)."""
    if isinstance(exc, IsADirectoryError) or Path(path).is_dir():
        return f"{path}: is a directory; give a file path"
    reason = exc.strerror or str(exc)
    return f"{path}: cannot write ({reason}); nothing there was changed"


def _temporary(path: Path, raw: bytes) -> str:
    """A flushed temporary copy of ``raw`` beside ``path``; removed again if anything fails."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(raw)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
    except BaseException:
        _remove(tmp)
        raise
    return tmp


def _remove(tmp: str) -> None:
    try:
        os.unlink(tmp)
    except OSError:
        pass


def _put(tmp: str, path: Path, exclusive: bool) -> None:
    """Move the finished temporary file to ``path``: replacing it, or (``exclusive``) only where no file
    of that name exists yet (a hard link fails with EEXIST rather than replace another run's file)."""
    if path.is_dir():
        raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), str(path))
    if exclusive:
        os.link(tmp, path)
        _remove(tmp)
    else:
        os.replace(tmp, path)


def write_atomic(path: Path, data: bytes | str, *, exclusive: bool = False,
                 failed: Callable[[OSError], Exception] | None = None) -> Path:
    """Replace ``path`` only once the new content is fully written and flushed; the temporary file is
    removed on any failure. ``exclusive``: create ``path``, never replace one (FileExistsError).
    ``failed`` turns an OSError (no space, read-only, a directory) into the caller's own error;
    without it the OSError propagates."""
    path = Path(path)
    raw = data.encode("utf-8") if isinstance(data, str) else data
    try:
        tmp = _temporary(path, raw)
        try:
            _put(tmp, path, exclusive)
        except BaseException:
            _remove(tmp)
            raise
    except FileExistsError:
        raise
    except OSError as exc:
        if failed is None:
            raise
        raise failed(exc) from None
    return path


def write_or_fail(path: Path, data: bytes | str, error: Callable[[str], Exception]) -> Path:
    """write_atomic, a failure raised as ``error(one line)``: the path and the reason (a command's own
    one-line error type: CnnbenchError, ReportError)."""
    return write_atomic(path, data, failed=lambda exc: error(write_failure(path, exc)))


def write_all_atomic(files: Mapping[Path, bytes | str], *,
                     failed: Callable[[Path, OSError], Exception] | None = None) -> list[Path]:
    """Several files as one: every temporary file is written and flushed before any is renamed into
    place, so that a full disk or a read-only directory leaves all the old files (and no new one);
    the renames that follow need no space. ``failed(path, exc)``: as write_atomic's ``failed``."""
    written: dict[Path, str] = {}
    try:
        for path, data in files.items():
            path = Path(path)
            try:
                written[path] = _temporary(path, data.encode("utf-8") if isinstance(data, str) else data)
            except OSError as exc:
                if failed is None:
                    raise
                raise failed(path, exc) from None
        for path, tmp in list(written.items()):
            try:
                _put(tmp, path, exclusive=False)
            except OSError as exc:
                if failed is None:
                    raise
                raise failed(path, exc) from None
            del written[path]
    finally:
        for tmp in written.values():
            _remove(tmp)
    return [Path(p) for p in files]


def free_bytes(directory: Path) -> int | None:
    """Bytes an unprivileged writer may still use in ``directory``'s file system (None: unknown)."""
    try:
        st = os.statvfs(directory)
    except (OSError, AttributeError):
        try:
            return shutil.disk_usage(directory).free
        except OSError:
            return None
    return st.f_bavail * st.f_frsize


def output_file_problem(path: Path, option: str) -> str | None:
    """Why ``option PATH`` cannot take an output file, checked before any work is done (None: it can):
    a directory, a missing parent, a directory or file where nothing can be created. An existing file
    is not a problem: it is replaced whole (write_atomic), and the command says so."""
    path = Path(path)
    if path.is_dir():
        return f"{option} {path}: is a directory; give a file path such as {path / 'out.json'}"
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        return f"{option} {path}: the directory {parent}/ does not exist; create it first"
    try:  # a real write: permission bits do not tell everything (root, read-only mounts, /proc)
        with tempfile.NamedTemporaryFile(dir=parent, prefix=".cnnbench-probe-"):
            pass
    except OSError as exc:
        return f"{option} {path}: not writable ({exc.strerror}); give a path in a directory you can write"
    if path.exists() and not os.access(path, os.W_OK):
        return f"{option} {path}: not writable; give a path in a directory you can write"
    return None


def wrote(path: Path, existed: bool) -> str:
    """The line a command prints after writing an output file: a replaced file is never silent."""
    return f"wrote {path}" + (" (replaced the file that was there)" if existed else "")
