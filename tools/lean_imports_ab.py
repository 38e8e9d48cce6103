"""What a worker gains by leaving the unused optional packages out of its framework's import, and that it measures
the same: a paired check (cnnbench.worker.lean_imports).

    python tools/lean_imports_ab.py --repeats 4 --out results/worker-lean-imports-2026-12-07.json

For each case (the smoke profile's Keras on TensorFlow cases: LeNet-5 at 28 px and ResNet-18 at 64 px, batch 2,
inference and training; and ResNet-18 training on Keras' torch and JAX backends and in PyTorch, whose import
leaves nothing out), ``--repeats`` pairs of fresh worker processes: one that imports everything installed
(CNNBENCH_WORKER_FULL_IMPORT=1, as before), one that leaves the packages out, measured back to back in
alternating order, each with its own build, warm-up and timed rounds, as the benchmark measures a case
(``cnnbench.harness.harness.measure_process``). Per case: the ratio of medians lean / full with the hierarchical
bootstrap over processes and rounds, the spread between the full processes themselves, the worker's start-up,
the runtime's own RSS (every CPU memory figure's baseline), the step's own peak and the process figure.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

NOTES = (
    "{repeats} pairs of fresh worker processes per case (no fork server: each side's start-up is its own "
    "import), full and lean measured back to back in alternating order, each process with its own build, "
    "warm-up and timed rounds (the later one of a pair as many rounds as the first of its kind). 'Full' imports "
    "what the framework imports where every extra of this project is installed (CNNBENCH_WORKER_FULL_IMPORT=1); "
    "'lean' leaves scikit-learn, pandas and matplotlib out of the runtime's import, and JAX where the runtime "
    "does not compute with it (cnnbench.worker.lean_imports). The ratio is lean / full with the hierarchical "
    "bootstrap (processes, then rounds); 'interval holds 1' is whether its 95% interval contains 1. Read it "
    "against the spread between the full processes themselves.\n\n"
    "Worker start is the worker's own start-up: its imports, the settings and the runtime's warm-up. The "
    "runtime's own RSS is the baseline that every CPU memory figure subtracts; the process figure is the "
    "process peak minus it, the step's own peak the peak above the steady state after the build.")


def cases(models: str):
    from cnnbench.harness.cases import build_cases

    out = [c for c in build_cases(profile="smoke", models=models, device="cpu") if c.runtime == "keras-tf"]
    for backend in ("torch", "jax"):
        out += build_cases(profile="smoke", models="resnet18", frameworks="tf", modes="train", batch_sizes="2",
                           input_size=64, keras_backends=backend, device="cpu")
    return out + build_cases(profile="smoke", models="resnet18", frameworks="torch", modes="train",
                             batch_sizes="2", input_size=64, device="cpu")


def measure(repeats: int, models: str) -> list[dict]:
    from process_pairs import measure_alternating, smoke_state

    from cnnbench.worker.lean_imports import FULL_IMPORT_ENV

    state = smoke_state(cases(models))
    state.fork_workers = False

    def start_as(kind: str) -> None:
        os.environ[FULL_IMPORT_ENV] = "1" if kind == "full" else "0"

    try:
        return measure_alternating(state.cases, state, repeats, ("full", "lean"), start_as,
                                   lambda m: f"left out {m['info'].get('imports_left_out')}")
    finally:
        os.environ.pop(FULL_IMPORT_ENV, None)


def table(measured: list[dict]) -> list[list[str]]:
    from process_pairs import summary

    rows = []
    for m in measured:
        full, lean = m["runs"]["full"], m["runs"]["lean"]
        s = summary(full, lean)
        rows.append([m["case"].id, ", ".join(lean[0]["info"].get("imports_left_out") or []) or "none",
                     *(s[k] for k in ("a_ms", "b_ms", "ratio", "holds_1", "spread_a", "start", "runtime_rss",
                                      "step_peak", "figure", "busy"))])
    return rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python tools/lean_imports_ab.py", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--repeats", type=int, default=4, help="pairs of processes per case (default 4)")
    p.add_argument("--models", default="lenet5,resnet18", help="the Keras on TensorFlow cases' models")
    p.add_argument("--out", help="write a result file (results/<slug>.json; python tools/results_pages.py renders it)")
    a = p.parse_args(argv)
    if a.repeats < 2:
        p.error(f"--repeats {a.repeats}: give at least 2 (a spread needs two processes a side)")
    began = time.time()
    measured = measure(a.repeats, a.models)
    rows = table(measured)
    columns = ["case", "left out", "full ms", "lean ms", "lean / full [95% CI]", "interval holds 1",
               "spread of the full processes", "worker start s full / lean", "runtime's own RSS MiB full / lean",
               "step's own peak MiB full / lean", "process figure MiB full / lean", "processes timed while busy"]
    for r in rows:
        print("  ".join(r))
    if not a.out:
        return 0
    from provenance import result, write

    versions = measured[0]["runs"]["full"][0]["info"]["versions"] if measured else {}
    doc = result(
        "Workers without the optional packages their framework's import does not need: start-up, memory and "
        "step time, paired", began, "lean_imports_ab.py",
        f"python tools/lean_imports_ab.py --repeats {a.repeats} --out {a.out}",
        versions={k: v for k, v in versions.items() if v},
        settings="the harness's defaults: every core, oneDNN on, batch 2, the smoke profile's rounds; fresh workers",
        tables=[{"caption": None, "columns": columns, "align": ["left", "left"] + ["right"] * (len(columns) - 2),
                 "rows": rows}],
        facts={"wall time": f"{time.time() - began:.0f} s"},
        notes=NOTES.format(repeats=a.repeats).split("\n\n"))
    write(doc, a.out)
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
    sys.exit(main())
