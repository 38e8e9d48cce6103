"""Does a busy moment change the verdict? The same benchmark run quiet, then with a CPU hog mid-run.

    python tools/hog_check.py --out results/busy-machine-verdict-2026-12-06.json

Issue #37's acceptance: a run with a CPU hog started after its first case (a busy loop, like
``stress -c 1``, for ``--hog-seconds``) gives the same verdict as a quiet run for the cases the hog
touched, because the harness measures how busy the machine was while each worker process timed its
rounds and measures a case again when it was (docs/benchmarks.md#several-processes-per-case), and it
says which cases those were. Three runs of ``pytest bench --benchmark-only`` with the same options
(default: the smoke profile without time to accuracy), one after the other: quiet, with the hog, quiet
again. The hog is a separate Python process spinning on one core, started when the first case's line
appears. The two quiet runs measure how often the verdict moves from one run to the next without any
hog, so that a hog run that differs from one quiet run is judged against what quiet runs do.

``--judge DIR`` runs nothing: it judges three runs already saved (a result file's raw folder) with this
checkout's verdict, so that a change to the verdict's rules is checked on the same measurements.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def bench(out: Path, options: list[str], hog_seconds: float | None) -> tuple[float, float | None]:
    """Run the benchmark into ``out``; with ``hog_seconds``, spin a core for that long from the first case on.
    Returns the run's wall time and when the hog started (seconds after the run did)."""
    cmd = [sys.executable, "-m", "pytest", "bench", "--benchmark-only", "-p", "no:cacheprovider",
           f"--benchmark-json={out}", *options]
    start = time.monotonic()
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    hog, hog_at = None, None
    for line in proc.stdout:
        sys.stdout.write(line)
        if hog_seconds and hog is None and line.startswith("[1/"):
            hog_at = time.monotonic() - start
            hog = subprocess.Popen([sys.executable, "-c",
                                    f"import time\nt = time.time()\nwhile time.time() - t < {hog_seconds}: pass"])
    proc.wait()
    if hog is not None:
        hog.wait()
    if proc.returncode != 0:
        raise SystemExit(f"hog_check: the benchmark exited {proc.returncode}")
    return time.monotonic() - start, hog_at


def verdicts(path: Path) -> dict[str, dict]:
    """Per model and mode: keras-tf / torch with the run's interval and the side named faster (the verdict's
    rule), and which of the two rows were measured again and why."""
    from cnnbench.reports.rows import case_id
    from cnnbench.reports.verdict import comparisons

    rows = {case_id(b): b for b in json.loads(path.read_text())["benchmarks"]}
    out = {}
    for ref_id, cid, est, side in comparisons(list(rows.values())):  # the verdict's own estimate and side
        a, b = rows[ref_id], rows[cid]
        i = b["extra_info"]
        if i["runtime"] != "keras-tf" or i.get("mode") not in ("inference", "train"):
            continue
        pair = {"torch": a, "keras-tf": b}
        again = {rt: r["extra_info"].get("remeasured") or [] for rt, r in pair.items()}
        busy = {rt: sum(p.get("busy", False) for p in r["extra_info"]["processes"]) for rt, r in pair.items()}
        out[f"{i['model']} {i['mode']}"] = {
            "ratio": est.ratio, "low": est.low, "high": est.high,
            "faster": {"torch": "torch", "keras-tf": "k-tf"}.get(side, side),
            "processes": [len(a["extra_info"]["process_rounds"]), len(i["process_rounds"])],
            "remeasured": again, "busy_processes": busy}
    return dict(sorted(out.items()))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python tools/hog_check.py", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--hog-seconds", type=float, default=30.0)
    p.add_argument("--options", default="--bench-profile smoke --no-time-to-accuracy",
                   help="the benchmark's options, the same for both runs")
    p.add_argument("--out")
    p.add_argument("--judge", metavar="DIR", help="run nothing: judge the three runs saved in DIR (quiet.json, "
                   "hog.json, quiet2.json, e.g. a result file's raw folder) with this checkout's verdict and print "
                   "the table")
    a = p.parse_args(argv)
    if a.judge and a.out:
        p.error("--judge prints the table of runs already saved; --out writes a result file of new runs: give one")
    began = time.time()
    tmp = Path(a.judge) if a.judge else Path(tempfile.mkdtemp(prefix="cnnbench-hog-"))
    if a.judge and not all((tmp / f"{n}.json").is_file() for n in ("quiet", "hog", "quiet2")):
        p.error(f"--judge {a.judge}: needs quiet.json, hog.json and quiet2.json in it")
    options = a.options.split()
    # quiet, hog, quiet: the hog run between two quiet ones, so that what the verdict does from one run to the
    # next on this machine (without any hog) is measured too, and the hog run is judged against both
    if not a.judge:
        quiet_s, _ = bench(tmp / "quiet.json", options, None)
        hog_s, hog_at = bench(tmp / "hog.json", options, a.hog_seconds)
        quiet2_s, _ = bench(tmp / "quiet2.json", options, None)
    quiet, hogged, quiet2 = (verdicts(tmp / f"{n}.json") for n in ("quiet", "hog", "quiet2"))
    rows, same, touched, settled, settled_same = [], 0, 0, 0, 0
    for key in quiet:
        q, h, q2 = quiet[key], hogged.get(key), quiet2.get(key)
        if h is None or q2 is None:
            continue
        busy = h["busy_processes"]["torch"] + h["busy_processes"]["keras-tf"]
        agree = q["faster"] == q2["faster"]
        if busy:
            touched += 1
            same += h["faster"] in (q["faster"], q2["faster"])
            settled += agree
            settled_same += agree and h["faster"] == q["faster"]
        why = "; ".join(f"{rt}: {w}" for rt, ws in h["remeasured"].items() for w in dict.fromkeys(ws)) or "-"
        shown = [f"{v['ratio']:.2f} [{v['low']:.2f}, {v['high']:.2f}] {v['faster']}" for v in (q, q2, h)]
        rows.append([key, *shown, "yes" if agree else "no",
                     "yes" if h["faster"] == q["faster"] and agree else
                     ("as one quiet run" if h["faster"] in (q["faster"], q2["faster"]) else "no"), str(busy), why])
    for r in rows:
        print(" | ".join(r))
    print(f"{touched} comparisons touched by the hog: the side of a quiet run named in {same}; where both quiet "
          f"runs agree ({settled}), the hog run agrees in {settled_same}")
    if not a.out:
        return 0
    from provenance import result, write

    run = json.loads((tmp / "hog.json").read_text())
    versions = run["machine_info"]
    harness = run.get("cnnbench", {})  # what the harness ran with (as tools/run_results.py reads it)
    onednn = harness.get("settings", {}).get("onednn")
    doc = result(
        "The verdict of a quiet run and of a run with a CPU hog started after its first case", began, "hog_check.py",
        f"python tools/hog_check.py --hog-seconds {a.hog_seconds:g} --options '{a.options}' --out {a.out}",
        versions={k: versions.get(k) for k in ("torch_version", "tf_version", "keras_version") if versions.get(k)},
        settings=f"pytest bench --benchmark-only {a.options}".rstrip() + " (the harness's defaults otherwise: "
                 f"{harness.get('processes_per_case', '?')} processes per case (up to "
                 f"{harness.get('max_processes', '?')}), fork servers, every core, TensorFlow's oneDNN "
                 + ("as each row records" if onednn is None else "on" if onednn else "off") + ")",
        tables=[{"caption": None,
                 "columns": ["model, mode", "quiet run 1: k-tf / torch [95% CI], faster",
                             "quiet run 2", "hog run (between them)", "quiet runs agree",
                             "hog run agrees", "processes timed while busy", "measured again, and why (hog run)"],
                 "align": ["left", "right", "right", "right", "left", "left", "right", "left"], "rows": rows}],
        facts={"quiet runs": f"{quiet_s:.0f} s, {quiet2_s:.0f} s", "hog run": f"{hog_s:.0f} s",
               "hog": f"one busy-looping process for {a.hog_seconds:g} s, started {hog_at:.0f} s into the run "
                      "(when the first case's line appeared)",
               "comparisons touched by the hog": str(touched),
               "touched, the side of a quiet run named": f"{same} of {touched}",
               "touched and both quiet runs agree": f"{settled}; the hog run agrees in {settled_same}"})
    write(doc, a.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
