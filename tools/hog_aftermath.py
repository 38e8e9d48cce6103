"""Is the machine slower for minutes after a CPU hog? A fixed kernel timed before, during and after one.

    python tools/hog_aftermath.py [--seconds 240 --hog-at 45 --hog-seconds 30]

The hog checks (tools/hog_check.py) missed a quiet run's side only where every counted process of a case
had been timed after the hog ended. If the hog itself left the machine slower for a while (a hypervisor's
CPU credits, heat), the harness could not see it: no other process runs then. This times a single-thread
NumPy kernel (20 products of two 192 x 192 float32 matrices, one thread) every 0.2 s, starts the same hog as
hog_check.py (one busy-looping process on one core) at ``--hog-at`` for ``--hog-seconds``, and prints the
kernel's median and minimum per 15 s window. Run it on an otherwise idle machine.
"""
from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

HOG = "import time\nend = time.perf_counter() + {s}\nwhile time.perf_counter() < end:\n    pass\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python tools/hog_aftermath.py", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seconds", type=float, default=240.0)
    p.add_argument("--hog-at", type=float, default=45.0)
    p.add_argument("--hog-seconds", type=float, default=30.0)
    a = p.parse_args(argv)
    import os

    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):  # one thread, set before NumPy loads
        os.environ.setdefault(var, "1")
    import numpy as np

    x = np.random.default_rng(0).random((192, 192), dtype=np.float32)

    def kernel() -> float:
        start = time.perf_counter()
        for _ in range(20):
            x @ x
        return time.perf_counter() - start

    began, hog, times = time.monotonic(), None, []
    while (now := time.monotonic() - began) < a.seconds:
        if hog is None and now >= a.hog_at:
            hog = subprocess.Popen([sys.executable, "-c", HOG.format(s=a.hog_seconds)])
        times.append((now, kernel()))
        time.sleep(0.2)
    if hog is not None:
        hog.wait()
    for w in range(0, int(a.seconds), 15):
        xs = [t for at, t in times if w <= at < w + 15]
        during = a.hog_at <= w < a.hog_at + a.hog_seconds
        if xs:
            print(f"{w:4d}-{w + 15:<4d} s  median {1e3 * statistics.median(xs):7.3f} ms  "
                  f"min {1e3 * min(xs):7.3f} ms  n {len(xs)}" + ("  <- hog" if during else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
