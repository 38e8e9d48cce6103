"""Do TensorFlow's spinning thread pools move Keras/TF's instruction counts? LeNet-5's steps on Keras/TF counted
under Callgrind in worker processes that alternate between the pools' default (an idle thread polls for work
before it sleeps) and no spinning (``CNNBENCH_TF_THREAD_SPINNING=0``, what every counting worker now uses).

    python tools/instructions_spinning.py --out results/instructions-tf-spinning-2026-12-07.json

CI's gate takes the median of five counts of ten steps on each side and fails above 0.5%
(docs/instructions.md). Its Keras/TF inference step, counted with the pools spinning, reached -0.48% and then
+0.83% between two commits that did not change the counted path. Each mode runs ``--processes`` workers of
each kind, in turns, one of each kind (spinning, not spinning, and with ``--no-rep-movsb`` not spinning and
without rep movsb); a row per kind gives every count, the spread within each process and between the
processes' medians.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from tools import provenance  # noqa: E402
from tools.instructions_runtimes import versions  # noqa: E402

from cnnbench.core.callgrind import TF_THREAD_SPINNING_ENV, spread  # noqa: E402

KINDS = (("spinning (TensorFlow's default)", {TF_THREAD_SPINNING_ENV: "1"}),
         ("no spinning (the counting workers' setting)", {TF_THREAD_SPINNING_ENV: "0"}))
# --no-rep-movsb: a third kind, without spinning and with glibc's memcpy and memset never using rep movsb/stosb
# (their thresholds above any size), which they otherwise pick by a copy's size and where its buffers lie
NO_REP_MOVSB = ("no spinning, no rep movsb (GLIBC_TUNABLES)",
                {TF_THREAD_SPINNING_ENV: "0",
                 "GLIBC_TUNABLES": "glibc.cpu.x86_rep_movsb_threshold=1099511627776:"
                                   "glibc.cpu.x86_rep_stosb_threshold=1099511627776"})


def count(model: str, modes: list[str], processes: int, repeats: int, steps: int, began: float,
          kinds=KINDS) -> list[dict]:
    from cnnbench.core.settings import Settings
    from cnnbench.harness.cases import build_cases
    from cnnbench.harness.instructions import count_cases

    rows = []
    for mode in modes:
        (case,) = build_cases(profile="smoke", models=model, frameworks="tf", keras_backends="tensorflow",
                              modes=mode, device="cpu")
        for p in range(1, processes + 1):
            for kind, env in kinds:
                start = time.time()
                (c,) = count_cases([case], Settings(threads=1, interop_threads=1), repeats=repeats, steps=steps,
                                   env=env,
                                   log=lambda line: print(line, file=sys.stderr, flush=True))
                rows.append({"case": case.id, "runtime": case.runtime, "mode": mode, "kind": kind, "process": p,
                             "per_step": c.per_step, "repeats": c.instructions, "error": c.error,
                             "started_s": round(start - began, 1), "seconds": round(time.time() - start, 1),
                             "spinning_read_back": c.info.get("tf_thread_spinning"),
                             "versions": c.info.get("versions")})
                print(rows[-1], file=sys.stderr, flush=True)
    return rows


def _pct(fraction: float) -> str:
    return f"{100 * fraction:.3f}%"


def table(rows: list[dict], steps: int, repeats: int, kinds=KINDS) -> dict:
    out = []
    for case in dict.fromkeys(r["case"] for r in rows):
        for kind, _ in kinds:
            mine = [r for r in rows if r["case"] == case and r["kind"] == kind]
            done = [r for r in mine if r["per_step"]]
            medians = [r["per_step"] for r in done]
            out.append([case, kind, ", ".join(f"{m:,.0f}" for m in medians) or "-",
                        " | ".join(", ".join(f"{x:,.0f}" for x in r["repeats"]) for r in done) or "-",
                        _pct(max(spread(r["repeats"]) for r in done)) if done else "-",
                        _pct(spread(medians)) if len(medians) > 1 else "-",
                        ", ".join(str(r["spinning_read_back"]) for r in mine),
                        "; ".join(sorted({r["error"] for r in mine if r["error"]})) or "counted"])
    columns = ["case", "TensorFlow's thread pools", "instructions a step (median of each process)",
               "each count, in order (process 1 | 2 | ...)", "largest spread within a process",
               "between the processes' medians", "spinning, as the worker read it back", "result"]
    return {"caption": f"{steps} steps a count, {repeats} counts a process (after one dropped), processes of the "
                       "kinds alternating", "columns": columns,
            "align": ["left", "left"] + ["right"] * 4 + ["left", "left"], "rows": out}



def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", required=True)
    p.add_argument("--model", default="lenet5")
    p.add_argument("--modes", default="inference,train")
    p.add_argument("--processes", type=int, default=2, help="processes of each kind a mode (default 2)")
    p.add_argument("--repeats", type=int, default=5, help="counts a process (default 5, as CI's Keras/TF gate)")
    p.add_argument("--steps", type=int, default=10, help="steps a count (default 10: cnnbench ab's, as CI counts)")
    p.add_argument("--no-rep-movsb", action="store_true",
                   help="count a third kind of process: no spinning, and glibc's memcpy without rep movsb")
    args = p.parse_args(argv)
    kinds = (*KINDS, NO_REP_MOVSB) if args.no_rep_movsb else KINDS
    began = time.time()
    rows = count(args.model, args.modes.split(","), args.processes, args.repeats, args.steps, began, kinds)
    doc = provenance.result(
        "Keras on TensorFlow's instruction counts with and without its thread pools' spinning", began,
        "instructions_spinning.py",
        " ".join(["python tools/instructions_spinning.py", *(sys.argv[1:] if argv is None else argv)]),
        tables=[table(rows, args.steps, args.repeats, kinds)],
        facts={"wall time": f"{time.time() - began:.0f} s", "steps a count": args.steps,
               "counts a process": f"{args.repeats}, after one dropped (cnnbench.worker.instruction_count)",
               "threads": "one intra-op, one inter-op (the counting workers' default)"},
        versions=versions(rows))
    provenance.write(doc, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
