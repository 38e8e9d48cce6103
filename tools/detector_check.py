"""Prove the paired regression detector on this machine: A/A comparisons must not raise alarms, injected
slowdowns must be found.

    python tools/detector_check.py --repeats 10                 # A/A, then 15%, 10%, 5% slowdowns
    python tools/detector_check.py --repeats 2 --frameworks     # TF vs PyTorch twice: same verdicts?
    python tools/detector_check.py --repeats 10 --confirm 3 --slowdowns 15 --out .ci-out/detector-confirm
                                                                          # CI's rule: possible regressions re-measured

Each comparison is one ``cnnbench ab`` of the smoke cases (no time-to-accuracy): ``--baseline HEAD``
against the working tree (commit first: A/A means the same code on both sides), and the same with a
TEST-ONLY busy wait of 15%, 10% and 5% of each step added to --slow-model's steps on the candidate
side. Every comparison's JSON is written to --out as it finishes (``aa_1.json``, ``slow15_1.json``,
...); a comparison whose file is there already is not measured again, so an interrupted check resumes
and ``--repeats`` can grow. The summary (``detector_check.json``, ``detector_check.md``) is rebuilt
from every file in --out each time.

A false alarm is a case decided "regression" that was not slowed; a detection is a slowed case decided
"regression". Decisions are re-made at --threshold from each case's stored ratio and interval, so saved
comparisons can be scored at another threshold without measuring again (default 10%, as CI). With --frameworks, the check is that two paired TF-vs-PyTorch runs of the smoke set agree
on every verdict (a faster / b faster / tie).
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

SLOWDOWNS = (15, 10, 5)


def _ab(out: Path, args: list[str]) -> float | None:
    """Run one comparison into ``out`` unless it is there; its wall time, or None when it was there."""
    if out.exists():
        print(f"== {out.name}: already measured, kept", file=sys.stderr, flush=True)
        return None
    print(f"== {out.name}: cnnbench ab {' '.join(args)}", file=sys.stderr, flush=True)
    start = time.perf_counter()
    partial = out.with_suffix(".partial.json")
    done = subprocess.run([sys.executable, "-m", "cnnbench", "ab", *args, "--format", "json", "--out", str(partial)],
                          stdout=subprocess.DEVNULL)
    if done.returncode not in (0, 1) or not partial.exists():
        raise SystemExit(f"detector_check: cnnbench ab failed (exit {done.returncode}); see above")
    wall = time.perf_counter() - start
    doc = json.loads(partial.read_text())
    doc["detector_check"] = {"wall_s": round(wall, 1), "args": args}
    out.write_text(json.dumps(doc, indent=1))
    partial.unlink()
    return wall


def _load(out: Path, pattern: str) -> list[tuple[str, dict]]:
    def repeat(p: Path) -> int:
        return int(p.stem.rsplit("_", 1)[1])

    done = [p for p in out.glob(pattern) if not p.name.endswith(".partial.json")]
    return [(p.stem, json.loads(p.read_text())) for p in sorted(done, key=repeat)]


def _wall(doc: dict) -> float:
    return doc.get("detector_check", {}).get("wall_s") or sum(c["seconds"] for c in doc["cases"])


def decision(case: dict, threshold: float | None) -> str:
    """The case's stored decision, or re-decided at ``threshold`` from its stored ratio and interval; a case
    measured with ``--confirm`` is a regression only if its re-measurements, pooled with it, say so too (as
    `cnnbench ab`: ``cnnbench.core.paired_stats.confirmed_decision``)."""
    if threshold is None:
        return case["decision"]
    from cnnbench.core.paired_stats import confirmed_decision, stored_estimate

    return confirmed_decision(stored_estimate(case), [stored_estimate(c) for c in case.get("confirmations") or []],
                              threshold)


def _range(values: list[float]) -> list[float] | None:
    return [round(min(values), 3), round(max(values), 3)] if values else None


def slowed_models(slow_model: str) -> list[str]:
    """--slow-model's models: one, or several comma-separated."""
    return [m.strip() for m in slow_model.split(",") if m.strip()]


def summarize_detector(out: Path, slow_model: str, threshold: float | None = None,
                       slowdowns: tuple[int, ...] = SLOWDOWNS) -> dict:
    """``slow_model``: the model whose steps were slowed, or several, comma-separated."""
    slowed_set = set(slowed_models(slow_model))
    rows = []
    groups = [("A/A (same commit)", "aa_*.json", None)] + [
        (f"{p}% slowdown of {slow_model}", f"slow{p}_*.json", p) for p in slowdowns]
    for name, pattern, pct in groups:
        runs = _load(out, pattern)
        if not runs:
            continue
        slowed, others, detected, alarms, missed, other_decisions, walls, lost = 0, 0, 0, 0, [], {}, [], 0
        complete, remeasured, slowed_ratios, other_ratios = 0, 0, [], []
        per_case: dict[str, list[int]] = {}  # slowed case -> [comparisons that caught it, comparisons]
        for stem, doc in runs:
            walls.append(_wall(doc))
            found_all = True
            for c in doc["cases"]:
                verdict = decision(c, threshold)
                remeasured += bool(c.get("confirmations"))
                if pct is not None and c["model"] in slowed_set:
                    slowed += 1
                    slowed_ratios.append(c["ratio"])
                    tally = per_case.setdefault(c["pair_id"], [0, 0])
                    tally[0] += verdict == "regression"
                    tally[1] += 1
                    if verdict == "regression":
                        detected += 1
                    else:
                        found_all = False
                        missed.append(f"{stem}:{c['pair_id']} {verdict} x{c['ratio']:.3f}")
                else:
                    others += 1
                    other_ratios.append(c["ratio"])
                    alarms += verdict == "regression"
                    other_decisions[verdict] = other_decisions.get(verdict, 0) + 1
            lost += len(doc["unfinished"])
            complete += found_all and not doc["unfinished"]
        rows.append({"comparison": name, "slowdown_pct": pct, "runs": len(runs), "slowed_cases": slowed,
                     "detected": detected, "missed": missed, "unslowed_cases": others, "false_alarms": alarms,
                     "unslowed_decisions": other_decisions, "not_measured": lost,
                     "runs_that_found_every_slowed_case": complete if pct is not None else None,
                     "cases_measured_again": remeasured, "per_slowed_case": per_case,
                     "first_pass_ratio_range": {"slowed": _range(slowed_ratios), "unslowed": _range(other_ratios)},
                     "median_wall_s": round(statistics.median(walls), 1),
                     "max_wall_s": round(max(walls), 1),
                     "ratios": {stem: {c["pair_id"]: round(c["ratio"], 4) for c in doc["cases"]}
                                for stem, doc in runs}})
    return {"slow_model": slow_model, "threshold": threshold, "rows": rows}


def scan_thresholds(out: Path, slow_model: str, thresholds: list[float], slowdowns: tuple[int, ...],
                    need: float = 0.9) -> dict:
    """The same comparisons scored at several thresholds (comparisons measured without ``--confirm``
    only: with it, a case below the measured threshold was never re-measured). Per threshold: the A/A
    false alarms, and per slowdown the detections of every slowed case; ``smallest`` is the smallest
    slowdown that every slowed case (model, framework) caught in at least ``need`` of its comparisons
    with no A/A false alarm at that threshold."""
    rows = []
    for t in thresholds:
        summary = summarize_detector(out, slow_model, t, slowdowns)
        by_pct = {r["slowdown_pct"]: r for r in summary["rows"]}
        aa = by_pct.get(None)
        row = {"threshold": t, "aa_false_alarms": aa["false_alarms"] if aa else None,
               "aa_cases": aa["unslowed_cases"] if aa else 0, "detected": {}, "per_case": {}}
        smallest = None
        for pct in sorted(slowdowns):
            r = by_pct.get(pct)
            if r is None:
                continue
            per_case = r["per_slowed_case"]
            row["detected"][pct] = [r["detected"], r["slowed_cases"]]
            row["per_case"][pct] = per_case
            if smallest is None and per_case and aa and aa["false_alarms"] == 0 and all(
                    hit >= need * n for hit, n in per_case.values()):
                smallest = pct
        row["smallest_caught"] = smallest
        rows.append(row)
    return {"slow_model": slow_model, "need": need, "rows": rows}


def _markdown(columns: list[str], align: list[str], rows: list[list[str]]) -> list[str]:
    return ["| " + " | ".join(columns) + " |", "|" + "".join("---:|" if a == "right" else "---|" for a in align),
            *("| " + " | ".join(row) + " |" for row in rows)]


def scan_table(scan: dict) -> dict:
    """The scan as a table (columns, align, rows of text): markdown_scan renders it, --result stores it."""
    pcts = sorted({int(p) for r in scan["rows"] for p in r["detected"]})
    rows = []
    for r in scan["rows"]:
        cells = []
        for p in pcts:
            d, per = r["detected"].get(p), r["per_case"].get(p) or {}
            worst = min((hit for hit, _ in per.values()), default=0)
            n = max((n for _, n in per.values()), default=0)
            cells.append(f"{d[0]} / {d[1]} ({worst}/{n})" if d else "-")
        aa = "-" if r["aa_false_alarms"] is None else f"{r['aa_false_alarms']} / {r['aa_cases']}"
        small = f"{r['smallest_caught']}%" if r["smallest_caught"] is not None else "none"
        rows.append([f"{r['threshold']:.1%}", aa, *cells, small])
    return {"pcts": pcts, "columns": ["threshold", "A/A false alarms", *(f"{p}% caught (worst case)" for p in pcts),
                                      f"smallest caught in {scan['need']:.0%} of comparisons by every case"],
            "align": ["right"] * (len(pcts) + 3), "rows": rows}


def markdown_scan(scan: dict) -> str:
    t = scan_table(scan)
    return "\n".join(_markdown(t["columns"], t["align"], t["rows"])) + "\n"


DETECTOR_COLUMNS = ["comparison", "runs", "detected (slowed cases)", "runs that found every slowed case",
                    "false alarms (unslowed cases)", "verdicts of unslowed cases", "cases measured again",
                    "first-pass B/A: slowed; unslowed", "wall time per comparison (median, max)"]
DETECTOR_ALIGN = ["left", "right", "right", "right", "right", "left", "right", "left", "right"]


def detector_rows(summary: dict) -> list[list[str]]:
    """The summary's rows as table text: markdown_detector renders them, --result stores them."""
    def span(r: list[float] | None) -> str:
        return "-" if r is None else f"{r[0]:.3f}-{r[1]:.3f}"

    rows = []
    for r in summary["rows"]:
        pct = r["slowdown_pct"]
        detected = f"{r['detected']} / {r['slowed_cases']}" if pct else "-"
        complete = f"{r['runs_that_found_every_slowed_case']} / {r['runs']}" if pct else "-"
        verdicts = ", ".join(f"{k} {v}" for k, v in sorted(r["unslowed_decisions"].items()))
        ranges = r["first_pass_ratio_range"]
        rows.append([r["comparison"], str(r["runs"]), detected, complete,
                     f"{r['false_alarms']} / {r['unslowed_cases']}", verdicts, str(r["cases_measured_again"]),
                     f"{span(ranges['slowed'])}; {span(ranges['unslowed'])}",
                     f"{r['median_wall_s']:.0f} s, {r['max_wall_s']:.0f} s"])
    return rows


def markdown_detector(summary: dict) -> str:
    head = f"Threshold {summary['threshold']:.0%}" if summary.get("threshold") is not None else "Stored decisions"
    return "\n".join([head, "", *_markdown(DETECTOR_COLUMNS, DETECTOR_ALIGN, detector_rows(summary))]) + "\n"


def summarize_frameworks(out: Path) -> dict:
    runs = _load(out, "fw_*.json")
    verdicts: dict[str, list[str]] = {}
    for _, doc in runs:
        for c in doc["cases"]:
            verdicts.setdefault(c["pair_id"], []).append(f"{c['decision']} (x{c['ratio']:.3f})")
    agree = {pid: len({v.split(' (')[0] for v in vs}) == 1 and len(vs) == len(runs) for pid, vs in verdicts.items()}
    return {"runs": len(runs), "pairs": verdicts, "agree": agree, "all_agree": bool(agree) and all(agree.values()),
            "wall_s": [_wall(doc) for _, doc in runs]}


def markdown_frameworks(summary: dict) -> str:
    head = "| pair | " + " | ".join(f"run {i + 1}" for i in range(summary["runs"])) + " | same verdict |"
    lines = [head, "|---|" + "---|" * summary["runs"] + "---|"]
    for pid, vs in summary["pairs"].items():
        lines.append(f"| `{pid}` | " + " | ".join(vs) + f" | {'yes' if summary['agree'][pid] else 'NO'} |")
    return "\n".join(lines) + "\n"


def _result_file(a, out: Path, summary: dict, scan: dict, thresholds: list[float]) -> None:
    """The scan and the comparisons at the stored threshold as a format-1 result file (tools/provenance)."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from provenance import result, write

    docs = [doc for pattern in ("aa_*.json", "slow*_*.json") for _, doc in _load(out, pattern)]
    began = min(datetime.fromisoformat(d["datetime"]).timestamp() for d in docs)
    info = docs[0]["machine_info"]
    table = scan_table(scan)
    pcts = table["pcts"]
    argv = " ".join(sys.argv[1:])
    doc = result(
        "Paired wall time, replicated: injected slowdowns of " + "/".join(f"{p}%" for p in pcts)
        + " and A/A pairs (the wall-time half of the detector check)", began, "detector_check.py",
        f"python tools/detector_check.py {argv}",
        versions={k: info[k] for k in ("torch_version", "tf_version", "keras_version") if info.get(k)},
        settings=docs[0]["method"],
        tables=[{"caption": "Every comparison scored at each threshold: A/A false alarms (cases decided "
                            "'regression' in the same-code comparisons), and per injected slowdown the slowed cases "
                            "decided 'regression' (the worst case's count of its comparisons in brackets)",
                 "columns": table["columns"], "align": table["align"], "rows": table["rows"]},
                {"caption": f"The comparisons at the measured threshold ({float(a.threshold):.0%}), first pass "
                            "B/A ranges and wall time per comparison",
                 "columns": DETECTOR_COLUMNS, "align": DETECTOR_ALIGN, "rows": detector_rows(summary)}],
        facts={"comparisons": str(len(docs)), "thresholds scanned": ", ".join(f"{t:.1%}" for t in thresholds)})
    write(doc, a.result)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python tools/detector_check.py", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--repeats", type=int, default=10)
    p.add_argument("--from-repeat", type=int, default=1, metavar="K",
                   help="measure repeats K..--repeats only (two checks on two cores share one --out: 1-5, 6-10)")
    p.add_argument("--cpus", default=None, help="cnnbench ab's --cpus (default auto: the last CPU)")
    p.add_argument("--frameworks", action="store_true", help="TF-vs-PyTorch agreement instead of A/A and slowdowns")
    p.add_argument("--slow-model", default="resnet18", metavar="MODEL[,MODEL...]",
                   help="the model(s) whose B steps are slowed (default resnet18); the others are A/A controls")
    p.add_argument("--models", default=None, help="default: the smoke profile's")
    p.add_argument("--modes", default=None)
    p.add_argument("--input-size", default=None, help="cnnbench ab's --input-size (default: each model's)")
    p.add_argument("--process-pairs", default=None, metavar="N",
                   help="cnnbench ab's --process-pairs: fresh pairs of worker processes per case, pooled")
    p.add_argument("--measured-builds", default=None, metavar="R", help="cnnbench ab's --measured-builds")
    p.add_argument("--target-precision", default=None, metavar="FRACTION",
                   help="cnnbench ab's --target-precision (a small one spends the whole --time-budget)")
    p.add_argument("--result", default=None, metavar="FILE",
                   help="with --scan: write the scan and the comparisons as a result file (results/*.json)")
    p.add_argument("--scan", default=None, metavar="T,...",
                   help="also score the comparisons at these thresholds (fractions, e.g. 0.01,0.02,0.03) and "
                        "name the smallest slowdown every slowed case caught 9 times in 10 with no A/A "
                        "false alarm (comparisons without --confirm only)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", default="1", help="threads per worker (default 1: docs/ab.md)")
    p.add_argument("--time-budget", default="12", help="seconds of rounds per case (default 12, as CI)")
    p.add_argument("--threshold", default="0.10",
                   help="cnnbench ab's --threshold (default 0.10, as CI); saved comparisons are re-decided with it")
    p.add_argument("--confirm", default="0", metavar="N",
                   help="cnnbench ab's --confirm (CI: 3): a case that may have regressed is measured again in up "
                        "to N fresh pairs and is a regression only if the pairs, pooled, say so. Scores "
                        "are then valid at the measured --threshold only (below it, nothing was re-measured)")
    p.add_argument("--slowdowns", default=",".join(map(str, SLOWDOWNS)), metavar="PCT,...",
                   help="the injected slowdowns to measure, in percent (default 15,10,5)")
    p.add_argument("--out", default=".ci-out/detector")
    a = p.parse_args(argv)
    if a.repeats < 0:
        p.error("--repeats must be >= 0")
    try:
        slowdowns = tuple(int(x) for x in a.slowdowns.split(",") if x.strip())
    except ValueError:
        p.error(f"--slowdowns: whole percentages separated by commas (e.g. 15,10,5), got {a.slowdowns!r}")
    if any(x <= 0 for x in slowdowns):
        p.error(f"--slowdowns: each must be a positive percentage, got {a.slowdowns!r}")
    thresholds: list[float] = []
    if a.result and not a.scan:
        p.error("--result: the result file is the scan's; give --scan too")
    if a.scan:
        if a.confirm != "0":
            p.error("--scan: comparisons measured with --confirm can be scored at their own threshold only")
        try:
            thresholds = [float(x) for x in a.scan.split(",") if x.strip()]
        except ValueError:
            p.error(f"--scan: fractions separated by commas (e.g. 0.01,0.02,0.03), got {a.scan!r}")
        if not thresholds or any(not 0 < t < 1 for t in thresholds):
            p.error(f"--scan: each threshold a fraction between 0 and 1 (e.g. 0.01,0.02,0.03), got {a.scan!r}")
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    common = ["--bench-profile", "smoke", "--device", a.device, "--threads", a.threads, "--threshold", a.threshold]
    if a.confirm != "0":
        common += ["--confirm", a.confirm]
    for opt, value in (("--models", a.models), ("--modes", a.modes), ("--time-budget", a.time_budget),
                       ("--input-size", a.input_size), ("--process-pairs", a.process_pairs),
                       ("--measured-builds", a.measured_builds), ("--target-precision", a.target_precision),
                       ("--cpus", a.cpus)):
        if value is not None:
            common += [opt, value]
    if a.frameworks:
        for i in range(1, a.repeats + 1):
            _ab(out / f"fw_{i}.json", ["--compare-frameworks", *common])
        summary = summarize_frameworks(out)
        text = markdown_frameworks(summary)
        (out / "frameworks_check.json").write_text(json.dumps(summary, indent=1))
        (out / "frameworks_check.md").write_text(text)
        print(text + f"\n{summary['runs']} run(s); every verdict the same: {summary['all_agree']}")
        return 0 if summary["all_agree"] else 1
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], capture_output=True, text=True)
    if dirty.stdout.strip():
        print("detector_check: the working tree has uncommitted changes: A/A compares them with HEAD; commit "
              "first for a true A/A", file=sys.stderr)
    for i in range(a.from_repeat, a.repeats + 1):
        _ab(out / f"aa_{i}.json", ["--baseline", "HEAD", *common])
        for pct in slowdowns:
            slowed = ",".join(f"{m}={pct}%" for m in slowed_models(a.slow_model))
            _ab(out / f"slow{pct}_{i}.json", ["--baseline", "HEAD", *common, "--inject-delay", slowed])
    summary = summarize_detector(out, a.slow_model, float(a.threshold), slowdowns)
    text = markdown_detector(summary)
    (out / "detector_check.json").write_text(json.dumps(summary, indent=1))
    (out / "detector_check.md").write_text(text)
    print(text)
    if a.scan:
        scan = scan_thresholds(out, a.slow_model, thresholds, slowdowns)
        (out / "detector_scan.json").write_text(json.dumps(scan, indent=1))
        (out / "detector_scan.md").write_text(markdown_scan(scan))
        print(markdown_scan(scan))
        if a.result:
            _result_file(a, out, summary, scan, thresholds)
    for r in summary["rows"]:
        for m in r["missed"]:
            print(f"missed: {m}")
    clean = all(r["false_alarms"] == 0 for r in summary["rows"])
    found = all(r["detected"] == r["slowed_cases"] for r in summary["rows"] if r["slowdown_pct"] == 15)
    if a.scan:  # the scan is the check: the smallest slowdown caught, whatever it is
        return 0 if any(r["smallest_caught"] is not None for r in scan["rows"]) else 1
    return 0 if clean and found else 1


if __name__ == "__main__":
    sys.exit(main())
