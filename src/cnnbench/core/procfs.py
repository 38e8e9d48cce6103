"""Linux memory read without a framework: the harness reads the machine's (``/proc/meminfo``), a
worker its own resident memory (``/proc/self/status``), which it can reset and trim between steps."""
from __future__ import annotations


def kib_field(path: str, field: str) -> int | None:
    """The ``Field:   1234 kB`` line of a /proc file, in bytes; None where the file or the line is
    missing (not Linux, a restricted /proc)."""
    try:
        with open(path) as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def _status_bytes(field: str) -> int | None:
    return kib_field("/proc/self/status", field)


def rss_bytes() -> int | None:
    """Resident set size of this process now (Linux VmRSS)."""
    return _status_bytes("VmRSS")


def peak_rss_bytes() -> int | None:
    """Peak RSS of this address space (Linux VmHWM). Not ru_maxrss: Linux carries the parent's
    high-water mark across fork and exec into it."""
    return _status_bytes("VmHWM")


def release_free_heap() -> None:
    """Give freed heap memory back to the kernel (glibc malloc_trim), so that resident memory counts
    what is live, not what an allocator keeps cached after a compile or a warm-up; a no-op elsewhere."""
    import ctypes
    import ctypes.util

    try:
        ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def reset_peak_rss() -> bool:
    """Reset the kernel's peak-RSS mark (VmHWM) to the current RSS; False where unsupported."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False
