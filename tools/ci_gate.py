"""CI's gate on exact metrics: the smoke run against the committed baseline runs.

    python tools/ci_gate.py BASELINE CURRENT [--out DIR] [compare options]

Exact metrics (params, MACs, FLOPs, analytic memory) must not change: a change fails. Timings are
gated elsewhere, by the paired comparison (``cnnbench ab --baseline``, see .ci/run), which measures
the baseline commit and the candidate alternately on this machine. The timings and measured memory
that ``compare`` finds between two runs taken at different times in different processes are printed
for information and never fail (docs/ab.md). Writes ``compare.md`` under --out.
Exit 0 clean, 1 an exact metric changed, 2 bad input.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python tools/ci_gate.py", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("baseline")
    p.add_argument("current")
    p.add_argument("--out", default=".ci-out")
    p.add_argument("--time-threshold", type=float, default=0.10)
    p.add_argument("--alpha", type=float, default=0.01)
    p.add_argument("--memory-threshold", type=float, default=0.05)
    a = p.parse_args(argv)

    from cnnbench.reports.compare import Thresholds, compare_runs
    from cnnbench.reports.compare_output import render
    from cnnbench.reports.errors import ReportError
    from cnnbench.reports.load import find_runs

    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    th = Thresholds(time=a.time_threshold, alpha=a.alpha, memory=a.memory_threshold)
    try:
        comp = compare_runs(find_runs([a.baseline]), find_runs([a.current]), thresholds=th)
    except ReportError as exc:
        print(f"ci_gate: error: {exc}", file=sys.stderr)
        return 2
    (out / "compare.md").write_text(render(comp, "markdown"))
    print(render(comp, "table"))
    exact = [c for c in comp.regressions if c.exact_failures]
    if exact:
        print(f"ci_gate: {len(exact)} case(s) changed params/MACs/FLOPs/analytic memory: failing")
        return 1
    others = [c.case_id for c in comp.regressions]
    if others:
        print(f"ci_gate: exact metrics unchanged; {len(others)} timing/memory difference(s) between the two runs "
              "shown for information (timings are gated by the paired comparison)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
