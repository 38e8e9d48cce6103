"""Command line of the reports package: ``cnnbench report`` / ``cnnbench compare`` (also ``python -m cnnbench.reports``)."""
from __future__ import annotations

import argparse
import sys

from cnnbench.reports.errors import ReportError


def add_report_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("runs", nargs="*", metavar="RUN.json|RUN_DIR",
                   help="saved runs (files or directories, several allowed); default: the newest under .benchmarks/")
    p.add_argument("--out", default="reports/out", metavar="DIR", help="output directory (default: reports/out)")
    p.add_argument("--time-threshold", type=float, default=0.10, help="trend: slowdown that counts (default 0.10)")
    p.add_argument("--alpha", type=float, default=0.01, help="trend: significance level (default 0.01)")
    p.add_argument("--no-diagrams", action="store_true", help="do not embed model structure diagrams")
    p.add_argument("--history", default=".benchmarks", metavar="DIR",
                   help="saved runs to chart the trend from (default: .benchmarks/, when it exists)")
    p.add_argument("--no-history", action="store_true", help="trend from the given runs only")
    p.set_defaults(func=run_report)


def add_compare_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("baseline", metavar="BASELINE", help="pytest-benchmark JSON file or run directory")
    p.add_argument("current", metavar="CURRENT", help="pytest-benchmark JSON file or run directory")
    p.add_argument("--time-threshold", type=float, default=0.10,
                   help="a timing regression needs median ratio > 1 + this (default 0.10) ...")
    p.add_argument("--alpha", type=float, default=0.01, help="... and Mann-Whitney p < this (default 0.01)")
    p.add_argument("--memory-threshold", type=float, default=0.05,
                   help="relative change of measured peak memory that counts (default 0.05)")
    p.add_argument("--allow-changes", action="append", default=[], metavar="WHAT",
                   help="exact-metric changes that do not fail: a metric (params), a model or case pattern "
                        "(resnet50, 'vgg*'), or PATTERN:METRIC (resnet50:macs); repeatable or comma-separated")
    p.add_argument("--cross-machine", action="store_true",
                   help="compare timings of runs from different machines after dividing by each GEMM peak")
    p.add_argument("--format", default="table", choices=("table", "csv", "json", "markdown"))
    p.add_argument("--output", metavar="FILE", help="also write the rendered comparison to FILE")
    p.set_defaults(func=run_compare)


def _check_unit_interval(name: str, value: float) -> None:
    if not 0 < value < 1:
        raise ReportError(f"{name} must be between 0 and 1 (exclusive), got {value}")


def run_report(args: argparse.Namespace) -> int:
    from pathlib import Path

    from cnnbench.reports.diagrams import diagrams_for
    from cnnbench.reports.compare import Thresholds
    from cnnbench.reports.load import find_runs
    from cnnbench.reports.report import build_report

    _check_unit_interval("--alpha", args.alpha)
    runs = find_runs(args.runs)
    history = []
    if not args.no_history and Path(args.history).is_dir():
        try:
            history = find_runs([args.history], require_benchmarks=False, strict=False)
        except ReportError:  # an empty storage: no history, nothing wrong with the report's runs
            history = []
    diagrams = {} if args.no_diagrams else diagrams_for(runs, args.out)
    files = build_report(runs, args.out, thresholds=Thresholds(time=args.time_threshold, alpha=args.alpha),
                         diagrams=diagrams, history=history)
    print(f"read {len(runs)} run(s): {', '.join(str(r.path) for r in runs)}")
    print(f"wrote {files.rows} rows to {files.results_csv}")
    print(f"wrote {files.comparison_csv}, {files.skipped_csv}" + (f", {files.parquet}" if files.parquet else ""))
    print(f"wrote {files.html}" + (f" (with {len(diagrams)} model diagram(s))" if diagrams else "")
          + (f"; trend over {len(history)} saved run(s) in {args.history}/" if history else ""))
    return 0


def run_compare(args: argparse.Namespace) -> int:
    from cnnbench.reports.atomic import write_atomic
    from cnnbench.reports.compare import Thresholds, compare_runs
    from cnnbench.reports.compare_output import render
    from cnnbench.reports.load import find_runs

    _check_unit_interval("--alpha", args.alpha)
    if args.time_threshold < 0 or args.memory_threshold < 0:
        raise ReportError("--time-threshold and --memory-threshold must be >= 0")
    allow = [a.strip() for item in args.allow_changes for a in item.split(",") if a.strip()]
    comp = compare_runs(find_runs([args.baseline]), find_runs([args.current]),
                        thresholds=Thresholds(time=args.time_threshold, alpha=args.alpha,
                                              memory=args.memory_threshold),
                        allow_changes=allow, cross_machine=args.cross_machine)
    text = render(comp, args.format)
    sys.stdout.write(text)
    if args.output:
        from pathlib import Path

        write_atomic(Path(args.output), text)
    return comp.exit_status


def call(args: argparse.Namespace) -> int:
    """Run a report/compare command; bad input prints one line and returns 2."""
    try:
        return args.func(args)
    except ReportError as exc:
        print(f"cnnbench {args.command}: error: {exc}", file=sys.stderr)
        return 2


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(prog="python -m cnnbench.reports",
                                     description="Build the HTML/CSV report of saved runs, or compare two runs.")
    sub = parser.add_subparsers(dest="command")
    add_report_arguments(sub.add_parser("report", help="results.csv, comparison.csv and report.html"))
    add_compare_arguments(sub.add_parser("compare", help="regressions between two runs (exit 1 on one)"))
    if not argv or argv[0] not in ("report", "compare", "-h", "--help"):
        argv = ["report"] + argv  # `python -m cnnbench.reports [RUN ...]` builds the report
    return call(parser.parse_args(argv))
