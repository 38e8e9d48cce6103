"""The ``cnnbench`` command line. Errors print one clear line and exit non-zero."""
from __future__ import annotations

import argparse
import json
import sys

from cnnbench.core.errors import CnnbenchError


def _cmd_list(args: argparse.Namespace) -> int:
    from cnnbench.registry import get_spec, list_models

    names = list_models(args.pattern)
    if not names:
        print(f"no model matches {args.pattern!r}", file=sys.stderr)
        return 2
    width = max(map(len, names))
    for name in names:
        spec = get_spec(name)
        print(f"{name:<{width}}  {spec.reference_params:>12,} params  {spec.input_size}x{spec.input_size}x{spec.in_channels}")
    return 0


def _cmd_info(args: argparse.Namespace) -> int:
    from cnnbench.core.analytic import build_graph, min_input_size
    from cnnbench.registry import get_spec

    spec = get_spec(args.model)
    g = build_graph(args.model, input_size=args.input_size)
    print(f"{spec.name}: {spec.paper}")
    print(f"  family            {spec.family} (src/cnnbench/core/families/{spec.family}.py, src/cnnbench/models_torch/{spec.family}.py)")
    print(f"  input             {g.input_size}x{g.input_size}x{spec.in_channels} (default {spec.input_size}, minimum {min_input_size(spec.name)})")
    print(f"  params            {g.params:,} (reference {spec.reference_params:,}: {spec.reference_source})")
    print(f"  BN statistics     {g.buffers:,}")
    print(f"  MACs (conv+dense) {g.macs:,} per image")
    for key, option in spec.options.items():
        print(f"  option            {key}={spec.config[key]!r} ({option.describe()})")
    for v in spec.variants:
        print(f"  variant           {dict(v.options)}: {v.params:,} params ({v.source})")
    return 0


def _options(args: argparse.Namespace) -> dict:
    """``--option aux_logits=true --option branch3_kernel=3`` -> the model's typed, checked options."""
    from cnnbench.core.specs import get_spec, parse_options

    return parse_options(get_spec(args.model), args.option or [])


def _fmt(v) -> str:
    if v is None:
        return "-"
    return f"{v:,}" if isinstance(v, int) else str(v)


def _table(headers: list[str], rows: list[list], right: set[int] | None = None) -> str:
    right = right if right is not None else set(range(1, len(headers)))
    cells = [headers] + [[_fmt(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    line = lambda r: "  ".join(c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths)))  # noqa: E731
    return "\n".join([line(cells[0]), "  ".join("-" * w for w in widths)] + [line(r) for r in cells[1:]])


_LAYER_TIMES_ONLY = (("mode", "--mode"), ("steps", "--steps"), ("threads", "--threads"), ("result_file", "--result-file"),
                     ("note", "--note"))


def _cmd_layer_times(args: argparse.Namespace) -> int:
    """``cnnbench profile MODEL --layer-times``: each framework's step per layer, matched by name."""
    from cnnbench.inspection.layer_times import measure_layer_times
    from cnnbench.reports.layer_times import render

    for flag, on in (("--per-layer", args.per_layer), ("--memory", args.memory)):
        if on:
            raise ValueError(f"{flag} and --layer-times are two different profiles: ask for one")
    from cnnbench.core.settings import Settings
    from cnnbench.core.validate import positive_int

    if args.threads is not None:
        positive_int("threads", args.threads)
    result = measure_layer_times(args.model, args.framework, mode=args.mode or "inference", batch=args.batch,
                                 input_size=args.input_size, steps=5 if args.steps is None else args.steps,
                                 settings=Settings(threads=args.threads), options=_options(args))
    if args.result_file:
        _write_layer_times_result(args, result)
    sys.stdout.write(json.dumps(result, indent=1) + "\n" if args.format == "json" else render(result, args.format))
    return 0


def _write_layer_times_result(args: argparse.Namespace, result: dict) -> None:
    """``--result-file results/<slug>.json``: the tables with their provenance (date, machine, versions,
    commit, the command), for ``python tools/results_pages.py`` to render into the docs."""
    import datetime
    import shlex
    import subprocess
    from pathlib import Path

    from cnnbench.harness.machine import describe
    from cnnbench.reports.layer_times import result_file

    info = describe()
    ram = f"{info['ram_bytes'] / 2**30:.0f} GiB" if info.get("ram_bytes") else None
    machine = {"description": f"{info['cpu_affinity_cores']} CPU cores available to the run", "cpu": info["cpu_model"],
               "cores": info["cpu_affinity_cores"], "ram": ram, "gpu": None}
    try:
        git = lambda *a: subprocess.run(["git", *a], capture_output=True, text=True, check=True).stdout.strip()  # noqa: E731
        commit = git("rev-parse", "--short", "HEAD") or None
        if commit and git("status", "--porcelain", "--untracked-files=no"):
            commit += " with uncommitted changes"  # never a commit the numbers did not come from
    except (OSError, subprocess.CalledProcessError):
        commit = None
    argv, shown = sys.argv[1:], []
    while argv:  # the command as run, less its --note texts (the result's notes carry them)
        arg = argv.pop(0)
        if arg == "--note" and argv:
            argv.pop(0)
        elif not arg.startswith("--note="):
            shown.append(arg)
    command = "cnnbench " + " ".join(shlex.quote(a) for a in shown)
    title = (f"Per-layer step time of {result['model']} in both frameworks ({result['mode']}, batch "
             f"{result['batch']}, {result['input_size']} px)")
    data = result_file(result, title=title, date=datetime.datetime.now(datetime.timezone.utc).date().isoformat(),
                       machine=machine, command=command, commit=commit, notes=list(args.note or []))
    from cnnbench.core.atomic import write_or_fail

    write_or_fail(Path(args.result_file), json.dumps(data, indent=1) + "\n", CnnbenchError)
    print(f"wrote {args.result_file}", file=sys.stderr)


def _cmd_profile(args: argparse.Namespace) -> int:
    from cnnbench.inspection.profile import profile_model

    if args.layer_times:
        return _cmd_layer_times(args)
    for key, flag in _LAYER_TIMES_ONLY + (("markdown", "--format markdown"),):
        if (args.format == "markdown") if key == "markdown" else getattr(args, key) is not None:
            raise ValueError(f"{flag} applies to --layer-times only")

    result = profile_model(args.model, args.framework, input_size=args.input_size, batch=args.batch,
                           memory=args.memory, use_cache=not args.no_cache, **_options(args))
    fws = result["frameworks"]
    if args.format == "json":
        print(json.dumps(result, indent=1, default=str))
        return 0
    cols = ["name", "kind", "category", "shape_chw", "params", "macs", "predicted_analytic"]
    if "torch" in fws:
        cols += ["torch_params", "fvcore_macs", "predicted_fvcore", "fvcore"]
    if "tf" in fws:
        cols += ["tf_params", "tf_macs", "predicted_tf_profiler", "tf_profiler"]
    if args.format == "csv":
        import csv

        w = csv.writer(sys.stdout)
        w.writerow(cols)
        for r in result["layers"]:
            w.writerow(["x".join(map(str, r[c])) if c == "shape_chw" else r.get(c) for c in cols])
        return 0
    print(f"{result['model']}  input {result['input_size']}x{result['input_size']}  batch {result['batch']}  "
          f"frameworks {', '.join(fws)}")
    print(f"params {result['params']:,} (+ {result['buffers']:,} BN statistics)   "
          f"MACs {result['macs']:,}   FLOPs {result['flops']:,}   train-step FLOPs {result['train_step_flops']:,}")
    ok_all = True
    if args.per_layer:
        headers = ["layer", "type", "output (NCHW)", "params"]
        if "torch" in fws:
            headers += ["params torch"]
        if "tf" in fws:
            headers += ["params tf"]
        headers += ["MACs analytic"]
        if "torch" in fws:
            headers += ["MACs fvcore"]
        if "tf" in fws:
            headers += ["MACs tf/2"]
        headers += ["agree"]
        rows = []
        for r in result["layers"]:
            row = [r["name"], r["kind"], "x".join(map(str, [result["batch"], *r["shape_chw"]])), r["params"]]
            params = [r["params"]]
            macs = [r["macs"]]
            if "torch" in fws:
                row.append(r.get("torch_params", 0 if r["params"] == 0 else None))
                params.append(row[-1])
            if "tf" in fws:
                row.append(r.get("tf_params", 0 if r["params"] == 0 else None))
                params.append(row[-1])
            row.append(r["macs"])
            if "torch" in fws:
                row.append(r.get("fvcore_macs", 0))
                macs.append(row[-1])
            if "tf" in fws:
                row.append(r.get("tf_macs", 0))
                macs.append(row[-1])
            agree = len(set(params)) == 1 and len(set(macs)) == 1
            ok_all &= agree
            row.append("yes" if agree else "NO")
            rows.append(row)
        print()
        print(_table(headers, rows, right=set(range(3, len(headers)))))
    print("\nFLOPs by category (predicted from the spec / reported by the counter):")
    headers = ["counter"] + list(result["totals"]["analytic"]["predicted"]) + ["total", "exact"]
    rows = []
    for counter, t in result["totals"].items():
        if t["measured"] is None:  # the analytic convention: the prediction the counters are held to
            rows.append([counter + " (convention)"] + [t["predicted"][c] for c in t["predicted"]]
                        + [t["predicted_total"], "-"])
            continue
        exact = t["predicted"] == t["measured"]
        ok_all &= exact
        rows.append([counter] + [f"{t['predicted'][c]:,}/{t['measured'][c]:,}" if t["predicted"][c] != t["measured"][c]
                                 else t["measured"][c] for c in t["predicted"]]
                    + [t["measured_total"], "yes" if exact else "NO"])
    print(_table(headers, rows))
    if "fvcore" in result:
        fv = result["fvcore"]
        print(f"fvcore total {fv['total']:,}; unsupported (warned, counted 0): "
              + (", ".join(f"{k} x{v}" for k, v in sorted(fv["skipped_ops"].items())) or "none")
              + "; ignored (silently 0): "
              + (", ".join(f"{k} x{v}" for k, v in sorted(fv["ignored_ops"].items())) or "none"))
    if "tf_profiler" in result:
        print(f"TF profiler total {result['tf_profiler']['total']:,}; by op: "
              + ", ".join(f"{k} {v:,}" for k, v in sorted(result["tf_profiler"]["by_op_type"].items())))
    for fw in ("torch", "tf"):
        for mode, m in (result.get(f"{fw}_memory") or {}).items():
            value = "n/a" if m["peak_memory_bytes"] is None else f"{m['peak_memory_bytes'] / 2**20:,.1f} MiB"
            runtime = f" (runtime alone: {m['runtime_rss_bytes'] / 2**20:,.0f} MiB)" if m.get("runtime_rss_bytes") else ""
            print(f"{fw} measured peak, {mode}: {value}{runtime}; {m['peak_memory_kind']}")
    print(f"\nConvention: {result['convention']}")
    return 0 if ok_all else 1


def _cmd_summary(args: argparse.Namespace) -> int:
    from cnnbench.inspection.summary import identical, render, render_both, summarize

    opts = _options(args)
    frameworks = ("torch", "tf") if args.framework == "both" else (args.framework,)
    found = {fw: summarize(args.model, fw, input_size=args.input_size, num_classes=args.num_classes, **opts)
             for fw in frameworks}
    if len(found) == 2:
        print(render_both(found["torch"], found["tf"]))
        return 0 if identical(found["torch"], found["tf"]) else 1
    print(render(found[frameworks[0]]))
    return 0


def _cmd_diagram(args: argparse.Namespace) -> int:
    from cnnbench.inspection.diagram import draw

    fmt = args.format
    out = args.out or f"{args.model}{'-' + args.framework if args.framework != 'both' else ''}.{fmt}"
    path = draw(args.model, out, fmt=fmt, input_size=args.input_size, expand=args.expand,
                framework=args.framework, **_options(args))
    print(f"wrote {path} ({path.stat().st_size:,} bytes)")
    return 0


def _cmd_export(args: argparse.Namespace) -> int:
    """Export one model with its ecosystem's exporter (docs/deploy.md); the file and its graph's facts."""
    from pathlib import Path

    from cnnbench.core.analytic import min_input_size
    from cnnbench.core.build_args import check_build_args
    from cnnbench.deploy.backend import export, source_model
    from cnnbench.deploy.export import ExportError, check_request
    from cnnbench.registry import get_spec

    spec = get_spec(args.model)
    check_request(args.framework, args.format, args.opset)
    needs = {("torch", "onnx"): ("torch", "onnx", "onnxscript"),
             ("tf", "onnx"): ("tensorflow", "keras", "onnx", "tf2onnx"),
             ("tf", "tflite"): ("tensorflow", "keras")}[(args.framework, args.format)]
    import importlib.util

    missing = [m for m in needs if importlib.util.find_spec(m) is None]
    if missing:
        extra = "torch,onnx" if args.framework == "torch" else "tf,onnx" if args.format == "onnx" else "tf"
        raise ExportError(f"{', '.join(missing)} not installed: pip install -e \".[{extra}]\"")
    size = args.input_size or spec.input_size
    check_build_args(args.model, None, size, {})  # too small an input: its own one line, with the minimum
    out = Path(args.out)
    if not out.parent.is_dir():
        raise ExportError(f"--out {out}: the directory {out.parent} does not exist; create it first")
    model, weights = source_model(args.framework, args.model, size, {}, seed=0)
    shape = (1, spec.in_channels, size, size) if args.framework == "torch" else (1, size, size, spec.in_channels)
    import numpy as np

    x = np.full(shape, 0.5, np.float32)  # the exporters trace at this shape (the Keras ONNX file keeps the batch free)
    facts = export(args.framework, model, x, args.format, str(out), args.opset)
    top = ", ".join(f"{op} {n}" for op, n in list(facts["export_ops"].items())[:6])
    opset = f", opset {facts['export_opset']}" if facts["export_opset"] else ""
    print(f"wrote {out} ({facts['export_file_bytes']:,} bytes) with {facts['exporter']} ({facts['exporter_version']})"
          f"{opset}, input {shape}, weights: {weights}")
    print(f"  {facts['export_nodes']} nodes: {top}{', ...' if len(facts['export_ops']) > 6 else ''}; "
          f"export {facts['export_s']:.1f} s (minimum input {min_input_size(args.model)})")
    return 0


def _cmd_train(args: argparse.Namespace) -> int:
    from cnnbench.train.loop import run_cli

    return run_cli(args)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cnnbench", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("list", help="registered models (wildcards allowed)")
    p.add_argument("pattern", nargs="?", default="*")
    p.set_defaults(func=_cmd_list)
    p = sub.add_parser("info", help="a model's spec, reference count, minimum input and MACs")
    p.add_argument("model")
    p.add_argument("--input-size", type=int, default=None)
    p.set_defaults(func=_cmd_info)
    p = sub.add_parser("profile", help="params, MACs/FLOPs (analytic, fvcore, TF profiler) and memory")
    p.add_argument("model")
    p.add_argument("--framework", default="both", choices=("torch", "tf", "both"))
    p.add_argument("--input-size", type=int, default=None)
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--per-layer", action="store_true", help="one row per layer, frameworks side by side")
    p.add_argument("--format", default="table", choices=("table", "csv", "json", "markdown"),
                   help="markdown: --layer-times only")
    p.add_argument("--memory", action="store_true", help="also measure peak memory of one step per mode")
    p.add_argument("--layer-times", action="store_true",
                   help="time per layer of each framework's real step (its profiler), matched by layer name and "
                        "grouped by kind; each framework in its own worker process under the suite's settings")
    p.add_argument("--mode", default=None, choices=("inference", "train"), help="--layer-times: the step profiled "
                   "(default inference)")
    p.add_argument("--steps", type=int, default=None, metavar="N",
                   help="--layer-times: steps timed untraced, then profiled (default 5, after 3 warm-up steps)")
    p.add_argument("--threads", type=int, default=None, metavar="N",
                   help="--layer-times: intra- and inter-op threads of both frameworks (default: the cores available)")
    p.add_argument("--result-file", default=None, metavar="PATH",
                   help="--layer-times: also write the tables as a committed result (results/<slug>.json)")
    p.add_argument("--note", action="append", metavar="TEXT", help="--layer-times --result-file: a note to add")
    p.add_argument("--no-cache", action="store_true", help="recompute framework counts")
    p.add_argument("--option", action="append", metavar="KEY=VALUE", help="a spec option, e.g. aux_logits=true")
    p.set_defaults(func=_cmd_profile)

    p = sub.add_parser("summary", help="Keras-style layer table (name, type, output shape, params) per framework")
    p.add_argument("model")
    p.add_argument("--framework", default="both", choices=("torch", "tf", "both"))
    p.add_argument("--input-size", type=int, default=None)
    p.add_argument("--num-classes", type=int, default=None)
    p.add_argument("--option", action="append", metavar="KEY=VALUE", help="a spec option, e.g. aux_logits=true")
    p.set_defaults(func=_cmd_summary)

    p = sub.add_parser("diagram", help="structure diagram (Graphviz): layers, shapes, params, skips, branches")
    p.add_argument("model")
    p.add_argument("--framework", default="both", choices=("torch", "tf", "both"),
                   help="shape layout of the labels: torch C x H x W, tf H x W x C (the layers are the same)")
    p.add_argument("--format", default="svg", choices=("svg", "png", "pdf", "dot"))
    p.add_argument("--out", default=None, metavar="PATH", help="default: MODEL.FORMAT in the current directory")
    p.add_argument("--expand", action="store_true", help="draw every layer and every repeated block")
    p.add_argument("--input-size", type=int, default=None)
    p.add_argument("--option", action="append", metavar="KEY=VALUE", help="a spec option, e.g. aux_logits=true")
    p.set_defaults(func=_cmd_diagram)

    p = sub.add_parser("export", help="a model exported with its framework's own exporter: ONNX or TFLite "
                                      "(docs/deploy.md)")
    p.add_argument("model")
    p.add_argument("--framework", required=True, choices=("torch", "tf"), help="the zoo: torch, or tf (Keras)")
    p.add_argument("--format", required=True, choices=("onnx", "tflite"), help="onnx (both zoos), tflite (Keras)")
    p.add_argument("--out", required=True, metavar="PATH", help="the file to write")
    p.add_argument("--opset", type=int, default=None, help="ONNX opset (default: the exporter's own)")
    p.add_argument("--input-size", type=int, default=None, help="square input (default: the model's); batch 1")
    p.set_defaults(func=_cmd_export)

    from cnnbench.train.loop import add_train_arguments

    add_train_arguments(sub.add_parser("train", help="train LeNet-5 on real handwritten digits (scikit-learn)"))

    from cnnbench.reports.cli import add_compare_arguments, add_report_arguments  # argparse only; pandas loads lazily

    p = sub.add_parser("report", help="results.csv, comparison.csv and report.html of saved runs")
    add_report_arguments(p)
    p.add_argument("--store", default=None, metavar="PATH",
                   help="add a history view from this results store (cnnbench history; default: $CNNBENCH_HISTORY, "
                        "else .cnnbench-history.sqlite here, when it exists)")
    p.add_argument("--no-store", action="store_true", help="no history view")
    add_compare_arguments(sub.add_parser("compare", help="regressions between two saved runs (exit 1 on one)"))
    from cnnbench.ab.ab_cli import add_ab_arguments  # paired A/B timing: a commit, two runtimes or two settings

    add_ab_arguments(sub.add_parser("ab", help="paired A/B timing: baseline commit, frameworks or a setting"))
    from cnnbench.ab.bisect import add_bisect_arguments  # the first slow commit, by paired comparisons

    add_bisect_arguments(sub.add_parser("bisect", help="the first commit between GOOD and BAD that slowed a case "
                                                       "(paired comparisons)"))
    from cnnbench.history.cli import add_history_arguments  # the results store and its steps (argparse only)

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
