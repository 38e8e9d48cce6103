"""The ``cnnbench`` command line. Errors print one clear line and exit non-zero."""
# This module registers the commands; each command's body lives with its package, in that package's ``cli``
# module (``cnnbench.zoo.cli``: list, info; ``cnnbench.inspection.cli``: profile, summary, diagram; ...).
from __future__ import annotations

import argparse
import sys

from cnnbench.ab.bisect import add_bisect_arguments  # the first slow commit, by paired comparisons
from cnnbench.ab.cli import add_ab_arguments  # paired A/B timing: a commit, two runtimes or two settings
from cnnbench.core.errors import CnnbenchError
from cnnbench.deploy.cli import add_export_arguments
from cnnbench.history.cli import add_history_arguments  # the results store and its steps (argparse only)
from cnnbench.inspection.cli import add_diagram_arguments, add_profile_arguments, add_summary_arguments
from cnnbench.reports.cli import add_compare_arguments, add_report_arguments  # argparse only; pandas loads lazily
from cnnbench.train.cli import add_train_arguments
from cnnbench.zoo.cli import add_info_arguments, add_list_arguments


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cnnbench", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    add_list_arguments(sub.add_parser("list", help="registered models (wildcards allowed)"))
    add_info_arguments(sub.add_parser("info", help="a model's spec, reference count, minimum input and MACs"))
    add_profile_arguments(sub.add_parser("profile", help="params, MACs/FLOPs (analytic, fvcore, TF profiler) and memory"))
    add_summary_arguments(sub.add_parser("summary", help="Keras-style layer table (name, type, output shape, params) "
                                                         "per framework"))
    add_diagram_arguments(sub.add_parser("diagram", help="structure diagram (Graphviz): layers, shapes, params, skips, "
                                                         "branches"))
    add_export_arguments(sub.add_parser("export", help="a model exported with its framework's own exporter: ONNX or "
                                                       "TFLite (docs/deploy.md)"))
    add_train_arguments(sub.add_parser("train", help="train LeNet-5 on real handwritten digits (scikit-learn)"))

    p = sub.add_parser("report", help="results.csv, comparison.csv and report.html of saved runs")
    add_report_arguments(p)
    p.add_argument("--store", default=None, metavar="PATH",
                   help="add a history view from this results store (cnnbench history; default: $CNNBENCH_HISTORY, "
                        "else .cnnbench-history.sqlite here, when it exists)")
    p.add_argument("--no-store", action="store_true", help="no history view")
    add_compare_arguments(sub.add_parser("compare", help="regressions between two saved runs (exit 1 on one)"))
    add_ab_arguments(sub.add_parser("ab", help="paired A/B timing: baseline commit, frameworks or a setting"))
    add_bisect_arguments(sub.add_parser("bisect", help="the first commit between GOOD and BAD that slowed a case "
                                                       "(paired comparisons)"))
    add_history_arguments(sub.add_parser("history", help="results store of saved runs: add, list, changes, remove, "
                                                         "export"))
    return parser


def _history_view(given: str | None) -> tuple[dict | None, int]:
    """``cnnbench report``'s history view: computed here, above both layers, so that the reports never import
    the history layer. (None, 0) where no store is given and none is found; (None, 2) on a bad store."""
    from pathlib import Path

    from cnnbench.history.cli import history_view_of
    from cnnbench.history.store import store_path

    path = store_path(given)
    if given is None and not Path(path).exists():
        return None, 0
    try:
        return history_view_of(Path(path)), 0
    except CnnbenchError as exc:
        print(f"cnnbench report: error: --store: {exc}", file=sys.stderr)
        return None, 2


def main(argv: list[str] | None = None) -> int:
    try:
        return _main(argv)
    except BrokenPipeError:  # `cnnbench history list | head`: the reader has gone; no traceback for that
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # Python's docs: silence the final flush
        return 141  # 128 + SIGPIPE, as a shell reports a command ended by a closed pipe


def _main(argv: list[str] | None = None) -> int:
    import os

    from cnnbench.core.deps import require

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # TensorFlow's C++ start-up lines are not ours to print
    args = build_parser().parse_args(argv)
    if args.command == "history":
        from cnnbench.history.cli import run_history

        try:
            require("pandas", feature="cnnbench history", extra="history")  # the fingerprint: reports.tidy
        except CnnbenchError as exc:
            print(f"cnnbench: error: {exc}", file=sys.stderr)
            return 2
        return run_history(args)
    if args.command in ("report", "compare"):
        try:
            for module in ("pandas", "scipy") + (("jinja2", "matplotlib") if args.command == "report" else ()):
                require(module, feature=f"cnnbench {args.command}", extra="report")
        except CnnbenchError as exc:
            print(f"cnnbench: error: {exc}", file=sys.stderr)
            return 2
        if args.command == "report" and not args.no_store:
            args.history_view, status = _history_view(args.store)
            if status:
                return status
        from cnnbench.reports.cli import call

        return call(args)
    try:
        return args.func(args)
    except (CnnbenchError, ValueError) as exc:  # ValueError: bad option values from the spec layer
        print(f"cnnbench: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
