"""Why is PyTorch VGG-11 training sometimes slower than VGG-13's? Per-step time, CPU time and page faults.

    python tools/vgg_train_probe.py --repeats 3 --out results/vgg-train-page-faults-2026-12-06.json

Issue #37: two clean-clone ``make bench`` runs in a row measured PyTorch VGG-11 training at about twice
VGG-13's step (1,448 vs 797 ms on an Intel VM, 1,592 vs 741 ms on an AMD EPYC one), where VGG-11 does 67%
of VGG-13's FLOPs. Each configuration here runs in fresh processes (alternating VGG-11 and VGG-13), builds
the model as the benchmark does (``cnnbench.get_model``, the backend's training step: SGD with momentum,
``zero_grad(set_to_none=True)``), and reads around each timed step the process's minor page faults, user
and system CPU time (``/proc/self/stat``). Configurations: glibc's defaults; glibc's malloc told to keep
freed memory (``MALLOC_MMAP_THRESHOLD_`` and ``MALLOC_TRIM_THRESHOLD_`` at 1 GiB, so that the 411 MB
gradient of the first classifier layer is not handed back to the kernel and faulted in again each step);
and, where this process may change it, transparent huge pages set to ``always``.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

THP = "/sys/kernel/mm/transparent_hugepage/enabled"
KEEP = {"MALLOC_MMAP_THRESHOLD_": str(2**30), "MALLOC_TRIM_THRESHOLD_": str(2**30)}


def child(model: str, steps: int) -> dict:
    import torch

    import cnnbench
    from cnnbench.models_torch.backend import BENCH_SGD, make_train_step

    torch.manual_seed(0)
    net = cnnbench.get_model(model, framework="torch")
    step = make_train_step(net, **BENCH_SGD)
    x, y = torch.rand(1, 3, 224, 224), torch.tensor([1])
    tick = os.sysconf("SC_CLK_TCK")

    def stat():
        f = Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()
        return int(f[7]), int(f[11]) / tick, int(f[12]) / tick  # minflt, utime, stime

    step(x, y)  # the first step: allocations, oneDNN primitives
    out = []
    for _ in range(steps):
        f0, u0, s0 = stat()
        t = time.perf_counter()
        step(x, y)
        wall = time.perf_counter() - t
        f1, u1, s1 = stat()
        out.append({"wall_s": wall, "minor_faults": f1 - f0, "user_s": u1 - u0, "sys_s": s1 - s0})
    return {"steps": out, "threads": torch.get_num_threads(), "torch": torch.__version__}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python tools/vgg_train_probe.py", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--repeats", type=int, default=3, help="fresh processes per model and configuration")
    p.add_argument("--steps", type=int, default=6, help="timed steps per process after the first")
    p.add_argument("--child", help=argparse.SUPPRESS)
    p.add_argument("--out")
    a = p.parse_args(argv)
    if a.child:
        print(json.dumps(child(a.child, a.steps)))
        return 0
    from provenance import child_json

    began = time.time()
    thp_was = Path(THP).read_text().split("[")[1].split("]")[0] if Path(THP).exists() else None
    configs = [("glibc defaults, THP " + str(thp_was), {}, None), ("malloc keeps freed memory", KEEP, None)]
    if thp_was and thp_was != "always" and os.access(THP, os.W_OK):
        configs.append(("THP always", {}, "always"))
    rows, raw, torch_version = [], {}, None
    try:
        for name, env, thp in configs:
            if thp:
                Path(THP).write_text(thp)
            per = {"vgg11": [], "vgg13": []}
            for r in range(a.repeats):
                for model in (("vgg11", "vgg13") if r % 2 == 0 else ("vgg13", "vgg11")):
                    got = child_json(__file__, ["--child", model, "--steps", str(a.steps)], model, env)
                    torch_version = got["torch"]
                    per[model].append(got["steps"])
                    print(f"{name:<32} {model}  median {1e3 * statistics.median(s['wall_s'] for s in got['steps']):7.0f} ms"
                          f"  faults {statistics.median(s['minor_faults'] for s in got['steps']):8.0f}"
                          f"  sys {1e3 * statistics.median(s['sys_s'] for s in got['steps']):5.0f} ms", flush=True)
            raw[name] = per
            for model, procs in per.items():
                steps = [s for proc in procs for s in proc]
                med = lambda k: statistics.median(s[k] for s in steps)  # noqa: E731
                each = ", ".join(f"{1e3 * statistics.median(s['wall_s'] for s in proc):,.0f}" for proc in procs)
                rows.append([name, model, f"{1e3 * med('wall_s'):,.0f}", each, f"{med('minor_faults'):,.0f}",
                             f"{1e3 * med('user_s'):,.0f}", f"{1e3 * med('sys_s'):,.0f}"])
    finally:
        if thp_was and os.access(THP, os.W_OK):
            Path(THP).write_text(thp_was)
    for r in rows:
        print("  ".join(r))
    if not a.out:
        return 0
    from provenance import result, write

    doc = result(
        "PyTorch VGG-11 and VGG-13 training on the CPU: step time, CPU time and page faults", began,
        "vgg_train_probe.py", f"python tools/vgg_train_probe.py --repeats {a.repeats} --steps {a.steps} --out {a.out}",
        versions={"PyTorch": torch_version},
        settings="batch 1, 224 px, every core (2 threads), SGD with momentum, zero_grad(set_to_none=True)",
        tables=[{"caption": None,
                 "columns": ["configuration", "model", "median step ms", "each process's median ms",
                             "minor page faults a step", "user CPU ms a step", "system CPU ms a step"],
                 "align": ["left", "left", "right", "right", "right", "right", "right"], "rows": rows}],
        facts={"wall time": f"{time.time() - began:.0f} s"})
    write(doc, a.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
