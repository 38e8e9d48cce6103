"""Linux ``/proc`` files read without a framework: the harness reads the machine's memory
(``/proc/meminfo``), a worker its own resident memory (``/proc/self/status``)."""
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
