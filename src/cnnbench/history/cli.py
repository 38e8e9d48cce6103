"""``cnnbench history``: add saved runs to the store, list them, find the steps in their series.

    cnnbench history add .benchmarks/                   # every saved run under it; one already stored is skipped
    cnnbench history add run.json --series ci-main      # a named series, bound to the first run's machine
    cnnbench history list
    cnnbench history changes --cases 'resnet18-*'
    cnnbench history remove 7                           # a run added by mistake

The store is --store PATH, else $CNNBENCH_HISTORY, else .cnnbench-history.sqlite in the current
directory. Bad input (a file, a series, a ref, the store) prints one line, exits 2, and leaves the
store as it was: an add stores all of its runs or none.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

from cnnbench.core.errors import CnnbenchError
from cnnbench.history import store
from cnnbench.history.store import HistoryError
from cnnbench.reports.errors import ReportError


def _one_line_error(message: str):
    print(f"cnnbench history: error: {message}", file=sys.stderr)
    raise SystemExit(2)


def add_history_arguments(p: argparse.ArgumentParser) -> None:
    p.error = _one_line_error
    sub = p.add_subparsers(dest="history_command", required=True, metavar="{add,list,changes,remove,export}")

    def common(q: argparse.ArgumentParser) -> argparse.ArgumentParser:
        q.error = _one_line_error
        q.add_argument("--store", default=None, metavar="PATH",
                       help=f"the store (default: ${store.STORE_ENV}, else {store.DEFAULT_STORE} here)")
        return q

    q = common(sub.add_parser("add", help="add saved runs (files or directories of them) to the store"))
    q.add_argument("runs", nargs="+", metavar="RUN.json|DIR")
    q.add_argument("--series", default=None, metavar="NAME",
                   help="add to a named series, bound to the machine of its first run: a run of another "
                        "machine is refused")
    q.add_argument("--commit", default=None, metavar="REF",
                   help="record the runs as measuring this commit (a git ref of the current directory's "
                        "repository), e.g. for runs saved without commit_info")
    q.set_defaults(func=_cmd_add)
    q = common(sub.add_parser("list", help="the stored runs: commit, date, machine, profile, settings, versions"))
    q.add_argument("--format", default="table", choices=("table", "json"))
    q.set_defaults(func=_cmd_list)
    q = common(sub.add_parser("changes", help="steps in each series (case x metric x machine), with the commit "
                                              "range and a p-value"))
    q.add_argument("--metric", default="median_s", choices=tuple(store.METRICS) + ("all",))
    q.add_argument("--cases", default=None, metavar="PATTERN", help="case ids matching this pattern only")
    q.add_argument("--alpha", type=float, default=None, help="significance level of a step (default 0.01)")
    q.add_argument("--min-change", type=float, default=None, metavar="FRACTION",
                   help="smallest step reported (default 0.05: 5%%)")
    q.add_argument("--format", default="table", choices=("table", "json"))
    q.set_defaults(func=_cmd_changes)
    q = common(sub.add_parser("remove", help="take a run (added by mistake) out of the store"))
    q.add_argument("run_id", type=int, metavar="RUN_ID", help="the run's id (cnnbench history list)")
    q.set_defaults(func=_cmd_remove)
    q = common(sub.add_parser("export", help="a stored run's pytest-benchmark JSON, as it was added"))
    q.add_argument("run_id", type=int, metavar="RUN_ID", help="the run's id (cnnbench history list)")
    q.add_argument("--out", default=None, metavar="FILE", help="write it there (default: stdout)")
    q.set_defaults(func=_cmd_export)


def resolve_commit(ref: str) -> tuple[str, str]:
    """(sha, commit time) of a git ref of the current directory's repository; one line if there is none."""
    if not ref.strip() or ref.startswith("-"):
        raise HistoryError(f"--commit: {ref!r} is not a git ref")
    try:
        done = subprocess.run(["git", "log", "-1", "--format=%H %cI", f"{ref}^{{commit}}", "--"],
                              capture_output=True, text=True)
    except FileNotFoundError:
        raise HistoryError("--commit needs git, which is not installed here") from None
    if done.returncode != 0:
        where = "this directory is not in a git repository" if "not a git repository" in done.stderr else \
            f"no such commit in {Path.cwd()}"
        raise HistoryError(f"--commit {ref}: {where}; nothing was added")
    sha, time = done.stdout.split()[:2]
    return sha, time


def _cmd_add(args: argparse.Namespace) -> int:
    from cnnbench.reports.load import find_runs

    path = store.store_path(args.store)
    if args.series is not None and not args.series.strip():
        raise HistoryError("--series: give a non-empty name")
    commit = (*resolve_commit(args.commit), args.commit) if args.commit else None
    runs = find_runs(args.runs)  # every file validated (cnnbench.reports.schema) before the store is opened
    records = [store.record_of(run, commit=commit) for run in runs]
    added = store.add_records(path, records, series=args.series)
    for a in added:
        r = a.record
        what = f"added as run {a.run_id}" if a.new else f"already stored (run {a.run_id}); not added again"
        print(f"{r.source}: {what}: commit {(r.commit_id or 'none')[:10]}, {r.datetime or 'no date'}, "
              f"{len({(c, s) for c, s, _, _ in r.measurements})} cases, machine {r.machine_id}"
              + (f"; INCOMPLETE ({r.incomplete})" if r.incomplete else ""))
    new = sum(a.new for a in added)
    print(f"{path}: {new} run(s) added, {len(added) - new} already there")
    return 0


def _cmd_list(args: argparse.Namespace) -> int:
    with store.reading(store.store_path(args.store)) as conn:
        found = store.runs(conn)
    if args.format == "json":
        print(json.dumps(found, indent=1))
        return 0
    if not found:
        print("no runs stored")
        return 0
    for r in found:
        settings = ", ".join(f"{k}={v}" for k, v in r["settings"].items() if v is not None)
        versions = ", ".join(f"{k.removesuffix('_version')} {v}" for k, v in r["versions"].items() if v)
        commit = (r["commit_id"] or "none")[:10] + ("+dirty" if r["dirty"] else "")
        print(f"run {r['id']}: commit {commit}{' (' + r['commit_from'] + ')' if r['commit_from'] != 'run' else ''}"
              f"  {r['datetime'] or 'no date'}  machine {r['machine_id']} ({r['machine']})"
              f"{'  series ' + r['series'] if r['series'] else ''}  profile {r['profile'] or '-'}  "
              f"{r['cases']} cases" + (f"  INCOMPLETE ({r['incomplete']})" if r["incomplete"] else ""))
        print(f"    settings: {settings or 'not recorded'}; versions: {versions or 'not recorded'}; from {r['source']}")
    return 0


def _fraction(name: str, value: float | None, default: float) -> float:
    if value is None:
        return default
    if not 0 < value < 1:
        raise HistoryError(f"{name}: expected a fraction between 0 and 1, got {value}")
    return value


def changes_of(path: Path, *, metric: str | None, cases: str | None, alpha: float, min_change: float) -> list:
    """Every series of the store at ``path`` with its steps (cnnbench.history.series)."""
    from cnnbench.history.series import build_series, detect_all

    with store.reading(path) as conn:
        pts = store.points(conn, metric)
    return detect_all(build_series(pts, cases=cases), alpha=alpha, min_change=min_change)


def history_view_of(path: Path) -> dict:
    """The report's history view (``cnnbench report --store``): every step-time series of the store with its
    steps, as plain data; without ruptures, the series alone and a note saying what to install."""
    from cnnbench.core.deps import MissingDependencyError
    from cnnbench.history import changes
    from cnnbench.history.series import build_series, trend_view

    note = ""
    try:
        found = changes_of(path, metric="median_s", cases=None, alpha=changes.DEFAULT_ALPHA,
                           min_change=changes.DEFAULT_MIN_CHANGE)
    except MissingDependencyError as exc:
        with store.reading(path) as conn:
            found = build_series(store.points(conn, "median_s"))
        note = f"Steps not searched: {exc}"
    return {"store": str(path), "series": trend_view(found), "note": note}


def _cmd_changes(args: argparse.Namespace) -> int:
    from cnnbench.core.deps import require
    from cnnbench.history import changes
    from cnnbench.history.series import step_dict

    require("ruptures", feature="cnnbench history changes", extra="history")  # before the store is read
    alpha = _fraction("--alpha", args.alpha, changes.DEFAULT_ALPHA)
    min_change = _fraction("--min-change", args.min_change, changes.DEFAULT_MIN_CHANGE)
    found = changes_of(store.store_path(args.store), metric=None if args.metric == "all" else args.metric,
                       cases=args.cases, alpha=alpha, min_change=min_change)
    steps = [step_dict(s, st) for s in found for st in s.steps]
    if args.format == "json":
        print(json.dumps({"series": len(found), "alpha": alpha, "min_change": min_change, "steps": steps}, indent=1))
        return 0
    short = [s for s in found if len(s.values) < 2 * changes.MIN_SEGMENT]
    print(f"{len(found)} series ({len(short)} with fewer than {2 * changes.MIN_SEGMENT} commits: too short to "
          f"show a step); alpha {alpha}, smallest step {min_change:.0%}")
    for s in found:
        for st in s.steps:
            d = step_dict(s, st)
            print(f"{s.key.title}: {st.ratio:.3f}x ({st.ratio - 1:+.1%}) between {d['last_before_label']} "
                  f"(last before) and {d['first_after_label']} (first after); p = {st.p_value:.4f}; "
                  f"{st.before} commit(s) before, {st.after} after")
    if not steps:
        print("no step found")
    return 0


def _cmd_remove(args: argparse.Namespace) -> int:
    path = store.store_path(args.store)
    gone = store.remove_run(path, args.run_id)
    print(f"{path}: run {gone['id']} removed (commit {(gone['commit_id'] or 'none')[:10]}, from {gone['source']})")
    return 0


def _cmd_export(args: argparse.Namespace) -> int:
    from cnnbench.core.atomic import output_file_problem, wrote

    problem = args.out and output_file_problem(Path(args.out), "--out")
    if problem:  # before the store is read: a folder or an unwritable place is bad input
        raise HistoryError(problem)
    with store.reading(store.store_path(args.store)) as conn:
        raw = store.raw_run(conn, args.run_id)
    if raw is None:
        raise HistoryError(f"run {args.run_id}: no such run in the store (cnnbench history list)")
    if args.out:
        from cnnbench.reports.atomic import write_atomic

        existed = Path(args.out).exists()
        write_atomic(Path(args.out), raw)
        print(wrote(Path(args.out), existed), file=sys.stderr)
    else:
        sys.stdout.write(raw)
    return 0


def run_history(args: argparse.Namespace) -> int:
    """One history command; bad input: one line, exit 2."""
    try:
        return args.func(args)
    except (CnnbenchError, ReportError) as exc:  # HistoryError, a missing optional package, a bad file
        print(f"cnnbench history: error: {exc}", file=sys.stderr)
        return 2
