"""Prove the regression detector: A/A runs must not be flagged; an injected slowdown must be.

    python -m cnnbench.bench.detector_check --repeats 5 [--models lenet5,resnet18] [--slowdown 15] [--out DIR]

Each repeat runs the benchmark on this machine as A (--baseline-runs times), A' (the same code
again) and S (A with a TEST-ONLY busy wait of --slowdown percent of A's median step time added to each of
--slow-model's cases).
``compare(A, A')`` counts false alarms over every case; ``compare(A, S)`` counts how many slowed
cases are flagged (detection) and any unslowed case flagged (more false alarms). Prints one line
per repeat and a summary; writes every run and ``detector_check.json`` to --out.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path


def _run(out: Path, name: str, args: list[str]) -> Path:
    path = out / f"{name}.json"
    cmd = [sys.executable, "-m", "pytest", "bench", "--benchmark-only", "-q", "-p", "no:cacheprovider",
           f"--benchmark-json={path}", *args]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        sys.stderr.write(done.stdout[-3000:] + done.stderr[-3000:])
        raise SystemExit(f"benchmark run {name} failed (exit {done.returncode})")
    return path


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m cnnbench.bench.detector_check", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--models", default="lenet5,resnet18")
    p.add_argument("--frameworks", default="torch,tf")
    p.add_argument("--modes", default="inference,train")
    p.add_argument("--device", default="auto")
    p.add_argument("--bench-profile", default="smoke")
    p.add_argument("--slow-model", default="resnet18")
    p.add_argument("--slowdown", type=float, default=15.0, help="percent of the step time (default 15)")
    p.add_argument("--time-threshold", type=float, default=0.10)
    p.add_argument("--alpha", type=float, default=0.01)
    p.add_argument("--baseline-runs", type=int, default=1,
                   help="runs of the unchanged code forming the baseline (>= 2 lets compare learn the "
                        "run-to-run noise floor; default 1: the plain A/A test)")
    p.add_argument("--out", default=".ci-out/detector")
    p.add_argument("--reanalyze", action="store_true",
                   help="measure nothing: compare the runs already saved in --out with the current compare")
    a = p.parse_args(argv)

    from cnnbench.reports.compare import Thresholds, compare_runs
    from cnnbench.reports.load import load_run

    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    common = ["--bench-profile", a.bench_profile, "--models", a.models, "--frameworks", a.frameworks,
              "--modes", a.modes, "--device", a.device, "--no-time-to-accuracy"]
    th = Thresholds(time=a.time_threshold, alpha=a.alpha)
    record = {"settings": vars(a), "repeats": []}
    aa_pairs = aa_cases = aa_alarms = 0
    slowed_cases = detected = other_alarms = other_cases = 0
    def saved_or_run(name: str, args: list[str]) -> Path:
        return out / f"{name}.json" if a.reanalyze else _run(out, name, args)

    for i in range(1, a.repeats + 1):
        t0 = time.time()
        if a.reanalyze and not (out / f"r{i}_S.json").exists():
            break
        base = [load_run(saved_or_run(f"r{i}_A{k}", common)) for k in range(1, a.baseline_runs + 1)]
        again = load_run(saved_or_run(f"r{i}_Aprime", common))
        # the slowdown: exactly --slowdown percent of each slowed case's median in the newest A run
        delays = ",".join(f"{b['param']}={b['stats']['median'] * a.slowdown / 100:.9f}"
                          for b in base[-1].data["benchmarks"] if b["param"].startswith(a.slow_model + "-"))
        slow = load_run(saved_or_run(f"r{i}_S", common + ["--inject-delay", delays]))
        aa = compare_runs(base, [again], thresholds=th)
        ab = compare_runs(base, [slow], thresholds=th)
        aa_flagged = [c.case_id for c in aa.cases if c.time_status == "regression"]
        slowed = [c for c in ab.cases if c.case_id.startswith(a.slow_model + "-")]
        others = [c for c in ab.cases if not c.case_id.startswith(a.slow_model + "-")]
        hit = [c.case_id for c in slowed if c.time_status == "regression"]
        missed = [(c.case_id, round(c.time_ratio or 0, 3), c.time_p) for c in slowed if c.time_status != "regression"]
        false_ab = [c.case_id for c in others if c.time_status == "regression"]
        aa_pairs += 1
        aa_cases += len(aa.cases)
        aa_alarms += len(aa_flagged)
        slowed_cases += len(slowed)
        detected += len(hit)
        other_cases += len(others)
        other_alarms += len(false_ab)
        rep = {"repeat": i, "aa_cases": len(aa.cases), "aa_false_alarms": aa_flagged,
               "aa_ratios": {c.case_id: c.time_ratio for c in aa.cases},
               "slowed_cases": len(slowed), "detected": hit, "missed": missed,
               "slow_ratios": {c.case_id: c.time_ratio for c in slowed}, "false_alarms_in_slow_run": false_ab,
               "seconds": round(time.time() - t0, 1)}
        record["repeats"].append(rep)
        print(f"repeat {i}: A/A {len(aa_flagged)} false alarm(s) in {len(aa.cases)} cases; "
              f"slowdown {len(hit)}/{len(slowed)} detected (ratios "
              + ", ".join(f"{r:.3f}" for r in rep["slow_ratios"].values() if r) + f"); "
              f"{len(false_ab)} other case(s) flagged; {rep['seconds']} s", flush=True)
    record["summary"] = {
        "aa_false_alarms": aa_alarms, "aa_cases": aa_cases,
        "false_alarm_rate": aa_alarms / aa_cases if aa_cases else None,
        "detected": detected, "slowed_cases": slowed_cases,
        "detection_rate": detected / slowed_cases if slowed_cases else None,
        "false_alarms_beside_slowdown": other_alarms, "unslowed_cases": other_cases,
    }
    s = record["summary"]
    print(f"SUMMARY: A/A false alarms {aa_alarms}/{aa_cases} case comparisons; "
          f"{a.slowdown:g}% slowdown detected {detected}/{slowed_cases}; "
          f"false alarms beside the slowdown {other_alarms}/{other_cases}")
    (out / "detector_check.json").write_text(json.dumps(record, indent=2))
    return 0 if aa_alarms == 0 and detected == slowed_cases and other_alarms == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
