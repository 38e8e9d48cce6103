"""Where a Keras model's resident memory goes on the CPU: the process's RSS and TensorFlow's CPU allocator
statistics after importing TensorFlow and after building the model, with oneDNN on and off.

    python tools/memory_probe.py vgg11 --out results/keras-cpu-allocator-vgg11-2026-12-05.json

Each setting runs in a process of its own (TF_ENABLE_ONEDNN_OPTS is read when TensorFlow starts). Found
on 2026-12-05 (issue #30 item 7, "Keras VGG inference at 2.5x PyTorch's peak memory"): with oneDNN on,
TensorFlow serves CPU tensors from a pooling allocator that keeps its high-water mark, so what the weight
initialisers needed while the model was built stays resident; with oneDNN off the allocator keeps no
pool and reports no statistics. The reports flag such a row (cnnbench.reports.plausibility).
"""
from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

MiB = 2**20


def probe(model: str) -> dict:
    """In this process: RSS and allocator statistics at each stage."""
    from cnnbench.core.procfs import release_free_heap, rss_bytes

    def stage() -> dict:
        release_free_heap()
        gc.collect()
        release_free_heap()
        out = {"rss_mib": round(rss_bytes() / MiB, 1)}
        try:
            info = tf.config.experimental.get_memory_info("CPU:0")
            out.update(allocator_in_use_mib=round(info["current"] / MiB, 1), allocator_peak_mib=round(info["peak"] / MiB, 1))
        except ValueError:  # no statistics: the allocator keeps none (oneDNN off)
            out.update(allocator_in_use_mib=None, allocator_peak_mib=None)
        return out

    import numpy as np
    import tensorflow as tf

    import cnnbench

    imported = stage()
    m = cnnbench.get_model(model, "tf")
    built = stage()
    weights = sum(int(np.prod(v.shape)) * 4 for v in m.weights) / MiB
    return {"imported": imported, "built": built, "weights_mib": round(weights, 1),
            "versions": {"TensorFlow": tf.__version__, "Keras": __import__("keras").__version__}}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python tools/memory_probe.py", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model")
    p.add_argument("--out", help="write a result file (results/<slug>.json; python tools/results_pages.py renders it)")
    p.add_argument("--child", choices=["0", "1"], help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    if a.child is not None:
        print(json.dumps(probe(a.model)))
        return 0
    from provenance import child_json

    runs = {}
    for onednn in ("1", "0"):
        runs[onednn] = child_json(__file__, [a.model, "--child", onednn], f"oneDNN={onednn}",
                                  {"TF_ENABLE_ONEDNN_OPTS": onednn, "TF_CPP_MIN_LOG_LEVEL": "3"})
    rows = []
    for onednn, r in runs.items():
        grew = r["built"]["rss_mib"] - r["imported"]["rss_mib"]
        fmt = lambda v: "-" if v is None else f"{v:,.0f}"  # noqa: E731
        rows.append([f"oneDNN {'on' if onednn == '1' else 'off'}", fmt(r["weights_mib"]), fmt(grew),
                     f"{grew / r['weights_mib']:.2f}", fmt(r["built"]["allocator_in_use_mib"]),
                     fmt(r["built"]["allocator_peak_mib"])])
        print(f"{rows[-1][0]}: weights {rows[-1][1]} MiB; RSS grew {rows[-1][2]} MiB while building "
              f"({rows[-1][3]}x the weights); allocator in use {rows[-1][4]} MiB, its peak {rows[-1][5]} MiB")
    if a.out:
        import torch  # noqa: F401  (only its version, for the record)

        cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                    if line.startswith("model name")), platform.processor())
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
        result = {
            "format": 1,
            "title": f"Keras {a.model} on TensorFlow: resident memory after building, oneDNN on and off",
            "dates": [datetime.now(timezone.utc).date().isoformat()],
            "machine": {"description": "the 2-core VM of this project", "cpu": cpu, "cores": os.cpu_count(),
                        "ram": f"{round(os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30)} GiB",
                        "gpu": None},
            "versions": runs["1"]["versions"],
            "commit": commit or None,
            "commands": [{"as_run": f"python tools/memory_probe.py {a.model} --out {a.out}", "now": None}],
            "source": "tools/memory_probe.py (this file's numbers are its output)",
            "raw_files": [],
            "tables": [{"caption": None,
                        "columns": ["TensorFlow", "weights MiB", "RSS growth while building, MiB", "x weights",
                                    "allocator in use, MiB", "allocator peak, MiB"],
                        "align": ["left", "right", "right", "right", "right", "right"], "rows": rows}],
            "notes": [
                "Each setting in a fresh process: import TensorFlow, then build the Keras model with "
                "`cnnbench.get_model(MODEL, 'tf')` (its weights initialised by Keras' initialisers), freeing "
                "glibc's heap before each reading (`malloc_trim`), as the benchmark's memory probe does.",
                "With oneDNN on, TensorFlow serves CPU tensors from a pooling allocator that keeps its high-water "
                "mark: the initialisers' scratch tensors are freed to the pool, not to the system, so the "
                "process keeps the build's peak resident. A benchmark row's CPU peak memory (the step's peak "
                "RSS minus the runtime's RSS before the model was built) then includes that pool: Keras VGG "
                "inference read about 2.5x PyTorch's. The memory is really held by the process, so the row keeps "
                "its figure; the reports flag it (`cnnbench.reports.plausibility`). With oneDNN off the "
                "allocator keeps no pool (and reports no statistics) and the growth is the weights.",
            ],
        }
        Path(a.out).write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
        print(f"wrote {a.out}; render it with python tools/results_pages.py")
    return 0


if __name__ == "__main__":
    sys.exit(main())
