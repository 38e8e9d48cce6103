"""Which runtimes Callgrind can count, and how steady their counts are: LeNet-5's inference step in every
Keras backend and in PyTorch, each counted in two worker processes, three repeats in each.

    python tools/instructions_runtimes.py --out results/instructions-runtimes-2026-12-06.json

Issue #38 asks for PyTorch and Keras on TensorFlow, "and JAX if it works; say what does not, with the
measurement". A runtime whose worker does not start or count under Valgrind is recorded with the
error it gave; one that counts is gated only if its two processes agree within the gate's threshold
(docs/instructions.md).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from tools import provenance  # noqa: E402

RUNTIMES = (("torch", None), ("tf", "tensorflow"), ("tf", "jax"), ("tf", "torch"))


def count(model: str, processes: int, repeats: int, steps: int) -> list[dict]:
    from cnnbench.core.settings import Settings
    from cnnbench.harness.cases import build_cases
    from cnnbench.harness.instructions import count_cases

    rows = []
    for framework, backend in RUNTIMES:
        cases = build_cases(profile="smoke", models=model, frameworks=framework, keras_backends=backend,
                            modes="inference", device="cpu")
        for p in range(1, processes + 1):
            start = time.time()
            (c,) = count_cases(cases[:1], Settings(threads=1, interop_threads=1), repeats=repeats, steps=steps,
                               log=lambda line: print(line, file=sys.stderr, flush=True))
            rows.append({"runtime": cases[0].runtime, "case": c.case_id, "process": p, "per_step": c.per_step,
                         "repeats": c.instructions, "steps": c.steps, "error": c.error,
                         "seconds": round(time.time() - start, 1), "versions": c.info.get("versions")})
    return rows


def table(rows: list[dict]) -> dict:
    out = []
    for runtime in dict.fromkeys(r["runtime"] for r in rows):
        mine = [r for r in rows if r["runtime"] == runtime]
        steps = [r["per_step"] for r in mine if r["per_step"]]
        within = [100 * (max(r["repeats"]) / min(r["repeats"]) - 1) for r in mine if r["per_step"]]
        out.append([runtime, ", ".join(f"{s:,.0f}" for s in steps) or "-",
                    " | ".join(", ".join(f"{x:,.0f}" for x in r["repeats"]) for r in mine if r["per_step"]) or "-",
                    f"{max(within):.3f}%" if within else "-",
                    f"{100 * (max(steps) / min(steps) - 1):.3f}%" if len(steps) > 1 else "-",
                    ", ".join(f"{r['seconds']:.0f}" for r in mine),
                    "; ".join(sorted({r["error"] for r in mine if r["error"]})) or "counted"])
    columns = ["runtime", "instructions a step (process 1, 2)", "each repeat, in order (process 1 | 2)",
               "largest spread within a process",
               "between processes", "seconds a process", "result"]
    return {"caption": None, "columns": columns, "align": ["left"] + ["right"] * 5 + ["left"], "rows": out}


def versions(rows: list[dict]) -> dict:
    """Each runtime's framework versions as its worker reported them under Valgrind."""
    return {r["runtime"]: ", ".join(f"{k} {v}" for k, v in sorted((r["versions"] or {}).items()))
            for r in rows if r["versions"]}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", required=True)
    p.add_argument("--model", default="lenet5")
    p.add_argument("--processes", type=int, default=2)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--steps", type=int, default=10, help="steps a count (default 10: cnnbench ab's, as CI counts)")
    args = p.parse_args(argv)
    began = time.time()
    rows = count(args.model, args.processes, args.repeats, args.steps)
    doc = provenance.result(
        "Instruction counts in every Keras backend and PyTorch", began, "instructions_runtimes.py",
        f"python tools/instructions_runtimes.py --out {args.out}", tables=[table(rows)],
        facts={"wall time": f"{time.time() - began:.0f} s", "steps a count": args.steps,
               "counts a process": f"{args.repeats}, after one dropped (cnnbench.worker.instruction_count)"}, versions=versions(rows))
    provenance.write(doc, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
