"""Command line of the reports package: ``cnnbench report`` / ``cnnbench compare`` (also ``python -m cnnbench.reports``).

Bad input (a file, an option, an output path) prints one line naming it and exits 2. An unexpected
error is a bug: its traceback is shown, with a line asking to report it, and the exit status is 3.
"""
from __future__ import annotations

import argparse
import sys

from cnnbench.reports.errors import ReportError

DEFAULT_OUT = "reports/out"


def add_report_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("runs", nargs="*", metavar="RUN.json|AB.json|DIR",
                   help="saved runs and paired A/B results (files or directories, several allowed); "
                        "default: the newest run under .benchmarks/")
    p.add_argument("--out", default=DEFAULT_OUT, metavar="DIR",
                   help=f"output directory (default: {DEFAULT_OUT}); its parent must exist")
    p.add_argument("--reference", default="torch", metavar="RUNTIME",
                   help="runtime the others are compared with: torch (default), keras-tf, keras-jax, keras-torch")
    p.add_argument("--time-threshold", type=float, default=0.10, help="trend: slowdown that counts (default 0.10)")
    p.add_argument("--alpha", type=float, default=0.01, help="trend: significance level (default 0.01)")
    p.add_argument("--memory-threshold", type=float, default=0.05,
                   help="trend: relative change of measured peak memory that counts (default 0.05)")
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
    p.add_argument("--allow-missing", action="store_true",
                   help="do not fail when baseline cases are missing from the current run (listed either way)")
    p.add_argument("--cross-machine", action="store_true",
                   help="compare timings of runs from different machines after dividing by each GEMM peak")
    p.add_argument("--format", default="table", choices=("table", "csv", "json", "markdown"))
    p.add_argument("--output", metavar="FILE", help="also write the rendered comparison to FILE")
    p.set_defaults(func=run_compare)


def _thresholds(args: argparse.Namespace):
    from cnnbench.reports.compare import checked_thresholds

    return checked_thresholds(time=args.time_threshold, alpha=args.alpha, memory=args.memory_threshold)


def run_report(args: argparse.Namespace) -> int:
    from pathlib import Path

    from cnnbench.reports.atomic import ensure_writable_dir
    from cnnbench.reports.load import find_inputs
    from cnnbench.reports.rows import RUNTIMES

    thresholds = _thresholds(args)
    if args.reference not in RUNTIMES:
        raise ReportError(f"--reference must be one of {', '.join(RUNTIMES)}, got {args.reference!r}")
    inputs = find_inputs(args.runs)
    new_folder = not Path(args.out).exists()
    out = ensure_writable_dir(Path(args.out), parents=args.out == DEFAULT_OUT)
    try:
        return _write_report(args, inputs, out, thresholds)
    except ReportError:
        if new_folder:  # a write failed (a full disk): no half-written folder of our own is left behind
            import shutil

            shutil.rmtree(out, ignore_errors=True)
        raise


def _write_report(args: argparse.Namespace, inputs, out, thresholds) -> int:
    from pathlib import Path

    from cnnbench.reports.diagrams import diagrams_for
    from cnnbench.reports.load import find_history
    from cnnbench.reports.report import build_report

    history = None
    if not args.no_history and Path(args.history).is_dir():
        history = find_history(args.history)
        for line in history.left_out:
            print(line)
    diagrams = None if args.no_diagrams else diagrams_for(inputs.runs, out)
    if diagrams is not None and diagrams.left_out:
        print(f"diagrams left out: {diagrams.left_out}")
    files = build_report(inputs.runs, out, thresholds=thresholds, diagrams=diagrams,
                         history=history.runs if history else None, paired=inputs.paired, reference=args.reference,
                         history_view=getattr(args, "history_view", None))  # `cnnbench report --store` (cnnbench/cli.py)
    print(f"read {len(inputs.runs)} run(s): {', '.join(str(r.path) for r in inputs.runs)}")
    for doc in (*inputs.runs, *inputs.paired):
        if doc.incomplete:
            print(f"incomplete: {doc.path}: {doc.incomplete}")
    if inputs.paired:
        print(f"read {len(inputs.paired)} paired A/B result(s): {', '.join(str(p.path) for p in inputs.paired)}")
    for line in files.messages:
        print(line)
    print(f"wrote {files.rows} rows to {files.results_csv}")
    print(f"wrote {files.comparison_csv}, {files.skipped_csv}" + (f", {files.parquet}" if files.parquet else ""))
    n_diagrams = len(diagrams.files) if diagrams is not None else 0
    print(f"wrote {files.html}" + (f" (with {n_diagrams} model diagram(s))" if n_diagrams else "")
          + (f"; trend over {len(history.runs)} saved run(s) in {args.history}/" if history and history.runs else "")
          + (f"; history of {len(args.history_view['series'])} series from {args.history_view['store']}"
             if getattr(args, "history_view", None) else ""))
    return 0


def _check_output_file(value: str):
    """``compare --output FILE``: refuse a directory or a missing parent before any work is done."""
    from pathlib import Path

    from cnnbench.core.atomic import output_file_problem

    problem = output_file_problem(Path(value), "--output")
    if problem:
        raise ReportError(problem)
    return Path(value)


def run_compare(args: argparse.Namespace) -> int:
    from cnnbench.reports.atomic import write_atomic
    from cnnbench.reports.compare import compare_runs
    from cnnbench.reports.compare_output import render
    from cnnbench.reports.load import find_runs

    thresholds = _thresholds(args)
    output = _check_output_file(args.output) if args.output else None
    allow = [a.strip() for item in args.allow_changes for a in item.split(",") if a.strip()]
    comp = compare_runs(find_runs([args.baseline]), find_runs([args.current]), thresholds=thresholds,
                        allow_changes=allow, cross_machine=args.cross_machine, allow_missing=args.allow_missing)
    text = render(comp, args.format)
    sys.stdout.write(text)
    if output is not None:
        from cnnbench.core.atomic import wrote

        existed = output.exists()
        write_atomic(output, text)
        print(wrote(output, existed), file=sys.stderr)
    return comp.exit_status


def call(args: argparse.Namespace) -> int:
    """Run a report/compare command; bad input prints one line and returns 2, a bug its traceback and 3."""
    try:
        return args.func(args)
    except ReportError as exc:
        print(f"cnnbench {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except Exception:  # not the user's input: a bug in cnnbench; show everything needed to fix it
        import traceback

        traceback.print_exc()
        print(f"cnnbench {args.command}: internal error (a bug in cnnbench, not in your input): please report it "
              "with the command line and the traceback above", file=sys.stderr)
        return 3


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
