"""What both framework runners share: the prepared case, timing helpers, memory probes."""
from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import Any, Callable


# CUDA's torch.OutOfMemoryError, TensorFlow's ResourceExhaustedError, Python's (and numpy's) MemoryError
_OOM_TYPES = {"OutOfMemoryError", "ResourceExhaustedError", "MemoryError"}
# the CPU allocators: PyTorch "DefaultCPUAllocator: can't allocate memory", TF "OOM when allocating tensor"
_OOM_TEXT = ("out of memory", "can't allocate memory", "cannot allocate memory", "oom when allocating")


def is_out_of_memory(exc: BaseException) -> bool:
    """Whether ``exc`` is a framework or allocator running out of memory, on any device."""
    return (any(cls.__name__ in _OOM_TYPES for cls in type(exc).__mro__)
            or any(text in str(exc).lower() for text in _OOM_TEXT))


def out_of_memory_reason(batch: int, device: str, exc: BaseException) -> str:
    """The skip reason: what ran out, the framework's own first line, and what would fit instead."""
    lines = str(exc).strip().splitlines()
    detail = lines[0][:240] if lines else type(exc).__name__
    return (f"out of memory at batch {batch} on {device}: {type(exc).__name__}: {detail} "
            "(a smaller batch, --batch-sizes, or a smaller --input-size would fit)")


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
