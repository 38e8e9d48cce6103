"""Why two processes of a short case disagree: the machine's speed wanders within a process.

Two measurements, each in fresh interpreters (one case, batch 1, the harness's default settings: every
core, oneDNN as the framework defaults):

1. **The timed window.** ``--processes`` processes each warm up for 0.5 s and then time the case's steps
   for ``--window`` seconds. Each reports the median of its first 100 steps (what a process of the default
   profile timed for LeNet-5 while its rounds were capped at 100) and of the whole window. If the processes
   differed by a bias of their own (memory layout, thread placement), a longer window would not bring their
   medians closer; if the machine's speed wanders, it does.
2. **Drift against a reference.** ``--drift-processes`` processes each alternate ``--blocks`` blocks of 100
   steps of the case with 100 runs of a fixed NumPy kernel (a 96x96 matmul and tanh, 20 times), and read
   the hypervisor's steal time (``/proc/stat``) around each block. A block median of the case that moves
   with the reference's, in the same process, is the machine, not the process.

``python tools/step_drift.py --out results/step-drift-<date>.json`` writes a result file
(``python tools/results_pages.py`` renders it). Keep the machine quiet while it runs (about 2 minutes).
"""
from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

NOTES = """\
{processes} fresh interpreters measured {case} for {window} s each after 0.5 s of warm-up; {drift} more \
alternated blocks of 100 of its steps with a fixed NumPy kernel in the same process."""


def _prepare(model: str, framework: str, mode: str):
    from cnnbench.core.case import Case
    from cnnbench.core.settings import Settings
    from cnnbench.zoo.dispatch import runtime_backend

    case = Case(model=model, framework=framework, mode=mode, batch=1, device="cpu",
                input_size=_input_size(model))
    backend = runtime_backend(case.runtime)
    backend.configure(Settings(), "cpu")
    backend.warm_runtime()
    prep = backend.prepare(case, 0)
    end = time.perf_counter() + 0.5
    while time.perf_counter() < end:
        prep.step()
    return prep


def _input_size(model: str) -> int:
    from cnnbench.core.specs import get_spec

    return get_spec(model).input_size


def _timed(step) -> float:
    start = time.perf_counter()
    step()
    return time.perf_counter() - start


def child_window(model: str, framework: str, mode: str, window: float) -> dict:
    prep = _prepare(model, framework, mode)
    times, start = [], time.perf_counter()
    while time.perf_counter() - start < window:
        times.append(_timed(prep.step))
    return {"first_100_s": statistics.median(times[:100]), "window_s": statistics.median(times), "steps": len(times)}


def _steal() -> int:
    with open("/proc/stat") as f:
        return int(f.readline().split()[8])  # cpu user nice system idle iowait irq softirq steal


def child_drift(model: str, framework: str, mode: str, blocks: int) -> dict:
    import numpy as np

    prep = _prepare(model, framework, mode)
    a = np.random.default_rng(0).random((96, 96), dtype=np.float32)

    def reference():
        x = a
        for _ in range(20):
            x = np.tanh(x @ a * 0.01)

    case, ref, steal = [], [], []
    for _ in range(blocks):
        before = _steal()
        case.append(statistics.median(_timed(prep.step) for _ in range(100)))
        ref.append(statistics.median(_timed(reference) for _ in range(100)))
        steal.append(_steal() - before)
    return {"case_s": case, "reference_s": ref, "steal_ticks": steal,
            "correlation": float(np.corrcoef(case, ref)[0, 1])}


def _run_child(kind: str, a) -> dict:
    from provenance import child_json

    return child_json(__file__, ["--child", kind, "--model", a.model, "--framework", a.framework, "--mode", a.mode,
                                 "--window", str(a.window), "--blocks", str(a.blocks)], kind)


def _sd_log(values: list[float]) -> float:
    return statistics.stdev(math.log(v) for v in values)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python tools/step_drift.py", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="lenet5")
    p.add_argument("--framework", default="torch", choices=("torch", "tf"))
    p.add_argument("--mode", default="train", choices=("train", "inference"))
    p.add_argument("--processes", type=int, default=12)
    p.add_argument("--window", type=float, default=0.75, help="timed seconds per process (default 0.75: the "
                   "default profile's 1.5 s per case shared by two processes)")
    p.add_argument("--drift-processes", type=int, default=3)
    p.add_argument("--blocks", type=int, default=40)
    p.add_argument("--child", choices=("window", "drift"), help=argparse.SUPPRESS)
    p.add_argument("--out")
    a = p.parse_args(argv)
    if a.child:
        fn = child_window if a.child == "window" else child_drift
        arg = a.window if a.child == "window" else a.blocks
        print(json.dumps(fn(a.model, a.framework, a.mode, arg)))
        return 0
    if a.processes < 3:
        p.error(f"--processes {a.processes}: give at least 3 (a spread between processes needs several)")
    began = time.time()
    case = f"{a.model} {a.framework} {a.mode}, batch 1"
    windows = [_run_child("window", a) for _ in range(a.processes)]
    drifts = [_run_child("drift", a) for _ in range(a.drift_processes)]
    ms = lambda s: f"{1e3 * s:.3f}"  # noqa: E731
    rows = [[str(i + 1), ms(w["first_100_s"]), ms(w["window_s"]), str(w["steps"])] for i, w in enumerate(windows)]
    first, whole = [w["first_100_s"] for w in windows], [w["window_s"] for w in windows]
    spread = {"first 100 steps": _sd_log(first), f"the {a.window} s window": _sd_log(whole)}
    for name, sd in spread.items():
        print(f"spread between processes, {name}: {100 * sd:.1f}% (sd of the log medians)")
    drift_rows = []
    for i, d in enumerate(drifts):
        c, r = d["case_s"], d["reference_s"]
        drift_rows.append([str(i + 1), f"{ms(min(c))}-{ms(max(c))}", f"{ms(min(r))}-{ms(max(r))}",
                           f"{d['correlation']:.2f}", str(sum(d["steal_ticks"]))])
        print("drift", "  ".join(drift_rows[-1]))
    if not a.out:
        return 0
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from provenance import result, write

    command = (f"python tools/step_drift.py --model {a.model} --framework {a.framework} --mode {a.mode} "
               f"--processes {a.processes} --window {a.window} --drift-processes {a.drift_processes} "
               f"--blocks {a.blocks} --out {a.out}")
    doc = result(
        f"Why two processes of a short case disagree: {case}", began, "step_drift.py", command,
        settings="batch 1, every core, the framework's default oneDNN, fresh interpreters, 0.5 s of warm-up",
        tables=[{"caption": "The timed window: each process's median step (ms) over its first 100 steps and over "
                            f"its whole {a.window} s window",
                 "columns": ["process", "first 100 steps", f"{a.window} s window", "steps in the window"],
                 "align": ["left", "right", "right", "right"], "rows": rows},
                {"caption": "Drift within a process: block medians of 100 steps of the case and of 100 runs of a "
                            "fixed NumPy kernel, alternated; their correlation; steal ticks over all blocks",
                 "columns": ["process", "case's block medians, ms", "reference's block medians, ms",
                             "correlation", "steal ticks"],
                 "align": ["left", "right", "right", "right", "right"], "rows": drift_rows}],
        facts={f"spread between processes, {k} (sd of the log medians)": f"{100 * v:.1f}%"
               for k, v in spread.items()} | {"wall time": f"{time.time() - began:.0f} s"},
        notes=NOTES.format(processes=a.processes, case=case, window=a.window, drift=a.drift_processes).split("\n\n"))
    write(doc, a.out)
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT / "src"))
    sys.exit(main())
