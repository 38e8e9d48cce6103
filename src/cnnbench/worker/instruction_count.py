"""The worker's side of an instruction count: a prepared case's steps under Callgrind, switched on around
the steps only (``cnnbench.core.callgrind``; the worker's ``count_instructions`` command).

TEST ONLY, ``work``: variants whose counted steps are followed by an extra elementwise op (libc's
``memset`` of a buffer, through ``ctypes``) sized to that share of the steps' own instructions, so that a
detector can be checked on a real increase of work (a sleep counts no instructions). Its size comes from
two counts: the fill alone (instructions a byte, exact: plain C) and the steps with an empty fill (what
the call costs beside the steps: ~8,000-10,000 instructions, 1% of a LeNet-5 step on Keras/TensorFlow,
which is why the op runs once after the counted steps rather than after each; a NumPy ufunc cost
~22,000 a call there, so NumPy was dropped).
"""
from __future__ import annotations

import ctypes
import gc
import time
from typing import Callable

from cnnbench.core.callgrind import dump_files, parse_dump

CALIBRATION_BYTES = 1 << 22


class _Requests:
    """Callgrind's client requests through the compiled library; each counted block ends in a dump of its own."""

    def __init__(self, library: str, out_file: str):
        self.lib = ctypes.CDLL(library)
        self.lib.cg_dump.argtypes = [ctypes.c_char_p]
        if not self.lib.cg_running():
            raise RuntimeError("count_instructions: this worker is not running under Valgrind")
        self.out_file = out_file

    def count(self, name: str, fn: Callable[[], None]) -> int:
        gc.collect()  # Python's collector runs when allocations say so: never inside a count
        gc.disable()
        try:
            # every thread collects once instrumented (--collect-atstart=yes): Callgrind's collection
            # switch is per thread, and TensorFlow runs its kernels on its pool's threads, so a switch
            # thrown here would count the Python thread only (ResNet-18 on Keras/TF: 2.1 million
            # instructions a step instead of ~50); zeroing and dumping cover every thread
            self.lib.cg_zero()
            fn()
            self.lib.cg_dump(name.encode())
        finally:
            gc.enable()
        dump = parse_dump(dump_files(self.out_file)[-1].read_text(errors="replace"))
        if dump.trigger != name:
            raise RuntimeError(f"count_instructions: the last dump is {dump.trigger!r}, not {name!r}")
        return dump.instructions


def count_steps(step: Callable[[], object], *, library: str, out_file: str, steps: int = 3, repeats: int = 1,
                work: list[float] | None = None, label: str = "case") -> dict:
    """Instructions a step of ``steps`` back-to-back steps, ``repeats`` times; then, for each fraction in
    ``work``, the same with the extra elementwise op after the steps (TEST ONLY). Instrumentation is on
    from the first step here (one uncounted step translates the code) until the last count; Python's
    garbage collector runs before each count, not in it."""
    req = _Requests(library, out_file)
    start = time.perf_counter()
    req.lib.cg_start()
    try:
        step()  # uncounted: Valgrind translates the step's code once, instrumented

        def steps_with(extra: Callable[[], object] | None):
            def run():
                for _ in range(steps):
                    step()
                if extra is not None:
                    extra()
            return run

        # the first count of a process is higher (Keras on TensorFlow, LeNet-5: +2.4%, while the next five
        # agree to 0.3%), even after uncounted steps: it is made and dropped
        req.count(f"{label}:dropped", steps_with(None))
        base = [req.count(f"{label}:base:{r}", steps_with(None)) / steps for r in range(repeats)]
        variants = _work_variants(req, label, steps_with, steps, sorted(base)[len(base) // 2], work, repeats) if work else []
    finally:
        req.lib.cg_stop()  # the next case's build and first step run uninstrumented again
    return {"steps": steps, "instructions": base, "variants": variants,
            "count_s": round(time.perf_counter() - start, 2)}


def _work_variants(req: _Requests, label: str, steps_with, steps: int, base: float, work: list[float],
                   repeats: int) -> list[dict]:
    buf = ctypes.create_string_buffer(CALIBRATION_BYTES)

    def fill(n: int):
        return lambda: ctypes.memset(buf, 1, n)

    per_byte = req.count(f"{label}:calibrate:fill", fill(CALIBRATION_BYTES)) / CALIBRATION_BYTES
    per_call = req.count(f"{label}:calibrate:empty", steps_with(fill(0))) - base * steps
    sizes = [round((fraction * base * steps - per_call) / per_byte) for fraction in work]
    buf = ctypes.create_string_buffer(max(CALIBRATION_BYTES, *sizes))  # before any count of the variants
    variants = []
    for fraction, n in zip(work, sizes):
        if n <= 0:
            raise ValueError(f"count_instructions: {fraction:.0%} of {base:,.0f} instructions needs a fill of "
                             f"{n} bytes (an empty one costs {per_call:,.0f}); not injected")
        counts = [req.count(f"{label}:work{fraction:g}:{r}", steps_with(fill(n))) / steps for r in range(repeats)]
        variants.append({"work_fraction": fraction, "bytes": n, "per_call": per_call, "instructions": counts})
    return variants
