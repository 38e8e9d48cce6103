"""What both framework runners share: the prepared case, timing helpers, memory probes."""
from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import Any, Callable


class OutOfMemory(Exception):
    """A step ran out of memory; the case is skipped with this message, the session goes on."""


class NonFiniteLoss(Exception):
    """The training loss is NaN or infinite; the case fails with this message."""


@dataclass
class Prepared:
    """A case ready to time: ``step()`` runs one step and returns only when the device is done."""

    step: Callable[[], Any]
    check: Callable[[Any], None]  # validates the result of the last timed step (NaN loss, ...)
    measure_peak_memory: Callable[[], dict]  # one extra step with the peak counters reset
    build_s: float
    first_step_s: float
    params: int
    trainable_params: int
    settings: dict = field(default_factory=dict)  # versions, threads, fairness settings
    cleanup: Callable[[], None] = lambda: None


def timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def reset_process_peak_rss() -> bool:
    """Reset the kernel's peak-RSS mark (VmHWM) of this process; False where unsupported."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def process_peak_rss() -> int | None:
    """Peak resident set size of this process in bytes (Linux VmHWM), or None."""
    from cnnbench.memprobe import vmhwm_bytes

    return vmhwm_bytes()


def cpu_threads() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def busy_wait(seconds: float) -> None:
    """TEST ONLY: hold the CPU for ``seconds``, the way slower code would.

    A ``time.sleep`` lets the cores idle, and the intra-op thread pools then pay to wake up in
    the next step, so a 15% sleep slowed steps on the 2-core reference machine by 1.1x to 4.4x.
    """
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass
