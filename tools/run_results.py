"""A ``pytest bench`` run's verdict as a result file: per model and mode, each runtime's median, its processes.

    python tools/run_results.py RUN.json --command "make bench" --wall "10 min 53 s" --out results/bench-DATE.json
    python tools/results_pages.py            # then render its page

One row per model, mode and runtime: the median step time, each counted worker process's median, the
ratio to torch with the run's 95% interval (the hierarchical bootstrap: processes, then rounds) and the
side named faster by the verdict's rule, how many processes were measured and why the case was measured
again; then the run's facts (processes, re-measurements, its per-process noise). All read from the run's
own rows (nothing typed). Exit 2 on a file that is not such a run.
"""
from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime
from pathlib import Path


def rows_of(run: dict) -> tuple[list[list[str]], dict]:
    from cnnbench.reports.rows import case_id
    from cnnbench.reports.verdict import comparisons

    judged = {cid: (est, side) for _, cid, est, side in comparisons(run["benchmarks"])}
    by: dict[tuple, dict] = {}
    for b in run["benchmarks"]:
        i = b["extra_info"]
        if "processes" in i:
            by.setdefault((i["model"], i["mode"]), {})[i["runtime"]] = b
    rows, facts = [], {"measured": 0, "again": 0, "disagree": 0, "busy": 0, "tie": 0, "compared": 0}
    for (model, mode), group in by.items():
        ref = group.get("torch")
        for runtime in sorted(group, key=lambda r: (r != "torch", r)):
            b = group[runtime]
            i = b["extra_info"]
            facts["measured"] += len(i["processes"])
            facts["busy"] += sum(bool(p.get("busy")) for p in i["processes"])
            facts["again"] += bool(i.get("remeasured"))
            ratio = faster = ""
            if ref is not None and runtime != "torch":
                est, faster = judged[case_id(b)]  # the verdict's own estimate and side
                ratio = f"{est.ratio:.2f} [{est.low:.2f}, {est.high:.2f}]"
                facts["compared"] += 1
                facts["tie"] += faster == "tie"
                faster += " (processes disagree)" if est.processes_disagree else ""
                facts["disagree"] += est.processes_disagree
            each = ", ".join(f"{1e3 * m:.3g}" for m in i["process_medians_s"])
            why = (i.get("remeasured") or [""])[-1]
            rows.append([model, mode, runtime, f"{1e3 * b['stats']['median']:.3g}", each, ratio, faster,
                         f"{i['processes_counted']} of {len(i['processes'])}", why])
    return rows, facts


def _spread(run: dict) -> str:
    from cnnbench.reports.rows import run_spread, spread_text

    found = {run_spread(b["extra_info"]) for b in run["benchmarks"]} - {None}
    return "; ".join(f"{spread_text(sd)}, worth {df:.1f} degrees of freedom"
                     for sd, df in sorted(found)) or "- (not recorded: a run saved before, or too few cases)"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python tools/run_results.py", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run")
    p.add_argument("--command", required=True, help="the command that made the run, as run")
    p.add_argument("--wall", required=True, help="the command's wall time, as measured")
    p.add_argument("--machine", default="the 2-core VM of this project")
    p.add_argument("--out", required=True)
    a = p.parse_args(argv)
    from cnnbench.core.stats import PAIR_RULE_TEXT

    try:
        run = json.loads(Path(a.run).read_text())
        rows, facts = rows_of(run)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        print(f"run_results: {a.run}: not a pytest bench run with worker processes ({exc})", file=sys.stderr)
        return 2
    mi, ci, cn = run["machine_info"], run["commit_info"], run["cnnbench"]
    noise = cn.get("process_noise") or {}
    result = {
        "format": 1,
        "title": f"`{a.command}`: the verdict, each row from its worker processes",
        "dates": [datetime.fromisoformat(run["datetime"]).date().isoformat()],
        "time": f"ended {datetime.fromisoformat(run['datetime']):%H:%M} UTC",
        "machine": {"description": a.machine, "cpu": mi.get("cpu_model"), "cores": mi.get("cpu_logical_cores"),
                    "ram": f"{round((mi.get('ram_bytes') or 0) / 2**30)} GiB", "gpu": None},
        "versions": {k: mi[v] for k, v in (("Python", "python_version"), ("PyTorch", "torch_version"),
                                           ("TensorFlow", "tf_version"), ("Keras", "keras_version")) if mi.get(v)},
        "settings": f"profile {cn['profile']}, {cn['processes_per_case']} processes per case (at most "
                    f"{cn['max_processes']}), workers {cn.get('workers')}, oneDNN "
                    f"{'on' if cn['settings'].get('onednn') else 'off'}, every core",
        "commit": (ci.get("id") or "")[:7] or None,
        "commands": [{"as_run": a.command, "now": None},
                     {"as_run": f"python tools/run_results.py RUN.json --command \"{a.command}\" --wall \"{a.wall}\" "
                                f"--out {a.out}", "now": None}],
        "source": "the run's JSON (pytest-benchmark's, with cnnbench's extra_info), read by tools/run_results.py",
        "raw_files": [],
        "tables": [{"caption": None,
                    "columns": ["model", "mode", "runtime", "median ms", "each counted process's median, ms",
                                "x torch [95% CI]", "faster", "processes counted", "last reason to measure again"],
                    "align": ["left", "left", "left", "right", "right", "right", "left", "right", "left"],
                    "rows": rows}],
        "facts": {"wall time": a.wall, "worker processes measured": str(facts["measured"]),
                  "rows measured again": str(facts["again"]),
                  "processes timed while the machine was busy": str(facts["busy"]),
                  "comparisons that name no side": f"{facts['tie']} of {facts['compared']}",
                  f"comparisons where {PAIR_RULE_TEXT}": str(facts["disagree"]),
                  "the run's spread between processes of a case (the interval's prior)": _spread(run),
                  "the run's per-process noise": (f"median spread between two processes of a case "
                                                  f"{100 * noise['median_spread']:.1f}%, threshold "
                                                  f"{100 * noise['threshold']:.1f}%") if noise else "-"},
        "notes": [],
    }
    from provenance import write  # tools/provenance.py: every measuring tool's result file, written one way

    write(result, a.out)
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
    sys.exit(main())
