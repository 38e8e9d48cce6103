"""The ``cnnbench`` command line. Errors print one clear line and exit non-zero."""
# This module registers the commands; each command's body lives with its package, in that package's ``cli``
# module (``cnnbench.zoo.cli``: list, info; ``cnnbench.inspection.cli``: profile, summary, diagram; ...).
from __future__ import annotations

import argparse
import importlib
import sys

from cnnbench.core.errors import CnnbenchError

# (command, help, the module and function that add its arguments): each command's module is imported only when
# that command runs (``cnnbench ab`` and ``bisect`` load NumPy through their statistics, ``train`` its loop: 0.3 s
# that ``cnnbench list`` or a mistyped option of another command need not wait for)
COMMANDS = (
    ("list", "registered models (wildcards allowed)", "cnnbench.zoo.cli:add_list_arguments"),
    ("info", "a model's spec, reference count, minimum input and MACs", "cnnbench.zoo.cli:add_info_arguments"),
    ("profile", "params, MACs/FLOPs (analytic, fvcore, TF profiler) and memory",
     "cnnbench.inspection.cli:add_profile_arguments"),
    ("summary", "Keras-style layer table (name, type, output shape, params) per framework",
     "cnnbench.inspection.cli:add_summary_arguments"),
    ("diagram", "structure diagram (Graphviz): layers, shapes, params, skips, branches",
     "cnnbench.inspection.cli:add_diagram_arguments"),
    ("export", "a model exported with its framework's own exporter: ONNX or TFLite (docs/deploy.md)",
     "cnnbench.deploy.cli:add_export_arguments"),
    ("train", "train LeNet-5 on real handwritten digits (scikit-learn)", "cnnbench.train.cli:add_train_arguments"),
    # argparse only; pandas loads lazily
    ("report", "results.csv, comparison.csv and report.html of saved runs", "cnnbench.cli:_add_report_arguments"),
    ("compare", "regressions between two saved runs (exit 1 on one)", "cnnbench.reports.cli:add_compare_arguments"),
    # paired A/B timing: a commit, two runtimes or two settings
    ("ab", "paired A/B timing: baseline commit, frameworks or a setting", "cnnbench.ab.cli:add_ab_arguments"),
    # the first slow commit, by paired comparisons
    ("bisect", "the first commit between GOOD and BAD that slowed a case (paired comparisons)",
     "cnnbench.ab.bisect:add_bisect_arguments"),
    # the results store and its steps (argparse only)
    ("history", "results store of saved runs: add, list, changes, remove, export",
     "cnnbench.history.cli:add_history_arguments"),
)


def _add_report_arguments(p: argparse.ArgumentParser) -> None:
    from cnnbench.reports.cli import add_report_arguments

    add_report_arguments(p)
    p.add_argument("--store", default=None, metavar="PATH",
                   help="add a history view from this results store (cnnbench history; default: $CNNBENCH_HISTORY, "
                        "else .cnnbench-history.sqlite here, when it exists)")
    p.add_argument("--no-store", action="store_true", help="no history view")


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The whole parser; given ``command``, only that command's arguments are added (its module imported), the
    others listed by name and help, as ``cnnbench --help`` shows them."""
    parser = argparse.ArgumentParser(prog="cnnbench", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    for name, text, adder in COMMANDS:
        p = sub.add_parser(name, help=text)
        if command is None or command == name:
            module, function = adder.split(":")
            getattr(importlib.import_module(module), function)(p)
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
    given = sys.argv[1:] if argv is None else argv
    chosen = given[0] if given and given[0] in {name for name, _, _ in COMMANDS} else ""  # "": no command's module
    args = build_parser(chosen).parse_args(argv)
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
