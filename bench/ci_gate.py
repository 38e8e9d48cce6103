"""CI's regression gate: compare with the baseline, and confirm a timing regression before failing.

    python -m cnnbench.bench.ci_gate BASELINE CURRENT [--out DIR] [compare options]

Exact metrics (params, MACs, FLOPs, analytic memory) fail at once. A timing or memory regression
on a shared machine is re-measured once (the flagged models only, same profile and options) and
fails only if the same case is flagged again against the baseline: a real slowdown reproduces, a
burst of noise from a neighbour on the host rarely strikes the same case twice. Both comparisons
are written as markdown (``compare.md``, ``confirm.md``) under --out. Exit 0 clean, 1 regression,
2 bad input.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m cnnbench.bench.ci_gate", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("baseline")
    p.add_argument("current")
    p.add_argument("--out", default=".ci-out")
    p.add_argument("--bench-profile", default="smoke")
    p.add_argument("--time-threshold", type=float, default=0.10)
    p.add_argument("--alpha", type=float, default=0.01)
    p.add_argument("--memory-threshold", type=float, default=0.05)
    p.add_argument("--timing-advisory", action="store_true",
                   help="print timing/memory regressions but fail only on exact metrics (for machines whose "
                        "measured A/A false-alarm rate is too high to gate on, see README)")
    a = p.parse_args(argv)

    from cnnbench.reports.compare import Thresholds, compare_runs
    from cnnbench.reports.compare_output import render
    from cnnbench.reports.errors import ReportError
    from cnnbench.reports.load import find_runs

    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    th = Thresholds(time=a.time_threshold, alpha=a.alpha, memory=a.memory_threshold)
    try:
        baseline = find_runs([a.baseline])
        first = compare_runs(baseline, find_runs([a.current]), thresholds=th)
    except ReportError as exc:
        print(f"ci_gate: error: {exc}", file=sys.stderr)
        return 2
    text = render(first, "markdown")
    (out / "compare.md").write_text(text)
    print(render(first, "table"))
    exact = [c for c in first.regressions if c.exact_failures]
    if exact:
        print(f"ci_gate: {len(exact)} case(s) changed params/MACs/FLOPs/analytic memory: failing")
        return 1
    flagged = [c for c in first.regressions]
    if not flagged:
        return 0
    if a.timing_advisory:
        print(f"ci_gate: {len(flagged)} timing/memory regression(s) reported, NOT gating (--timing-advisory): "
              "on this machine the A/A experiments flag unchanged code too often (README, 'Does the detector "
              "work?'); exact metrics are unchanged")
        return 0
    cases = {c.case_id for c in flagged}
    models = sorted({c.split("-")[0] for c in cases})
    frameworks = sorted({c.split("-")[1] for c in cases})
    modes = sorted({c.split("-")[2] for c in cases} & {"inference", "train"})
    print(f"ci_gate: {len(cases)} timing/memory regression(s) on this machine; re-measuring "
          f"{', '.join(models)} once to confirm")
    confirm_json = out / "confirm.json"
    cmd = [sys.executable, "-m", "pytest", "bench", "--benchmark-only", "-q", "-p", "no:cacheprovider",
           "--bench-profile", a.bench_profile, "--models", ",".join(models), "--frameworks", ",".join(frameworks),
           "--no-time-to-accuracy", f"--benchmark-json={confirm_json}"]
    if modes:
        cmd += ["--modes", ",".join(modes)]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        sys.stderr.write(done.stdout[-3000:] + done.stderr[-3000:])
        print("ci_gate: the confirmation run failed: failing")
        return 1
    second = compare_runs(baseline, find_runs([confirm_json]), thresholds=th)
    (out / "confirm.md").write_text(render(second, "markdown"))
    print(render(second, "table"))
    again = sorted(c.case_id for c in second.regressions if c.case_id in cases)
    if again:
        print(f"ci_gate: confirmed on re-measurement: {', '.join(again)}: failing")
        return 1
    print(f"ci_gate: not reproduced on re-measurement ({', '.join(sorted(cases))}): noise, passing")
    return 0


if __name__ == "__main__":
    sys.exit(main())
