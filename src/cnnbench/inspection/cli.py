"""``cnnbench profile`` (with ``--layer-times``), ``cnnbench summary`` and ``cnnbench diagram``: a model
looked inside, printed (the work: ``profile``, ``layer_times``, ``summary``, ``diagram`` beside this)."""
from __future__ import annotations

import argparse
import json
import sys

from cnnbench.core.errors import CnnbenchError


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
    from cnnbench.reports.layer_time_tables import render

    for flag, on in (("--per-layer", args.per_layer), ("--memory", args.memory)):
        if on:
            raise ValueError(f"{flag} and --layer-times are two different profiles: ask for one")
    from cnnbench.core.settings import Settings
    from cnnbench.core.user_values import positive_int

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
    from cnnbench.reports.layer_time_tables import result_file

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
    from cnnbench.zoo.dispatch import framework_backend

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
    counters = {fw: framework_backend(fw).OP_COUNTER for fw in fws}  # fvcore for PyTorch, the TF profiler for Keras
    cols = ["name", "kind", "category", "shape_chw", "params", "macs", "predicted_analytic"]
    for fw, c in counters.items():
        cols += [f"{fw}_params", c["macs_field"], f"predicted_{c['name']}", c["name"]]
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
        headers = (["layer", "type", "output (NCHW)", "params"] + [f"params {fw}" for fw in fws] + ["MACs analytic"]
                   + [f"MACs {c['macs_label']}" for c in counters.values()] + ["agree"])
        rows = []
        for r in result["layers"]:
            row = [r["name"], r["kind"], "x".join(map(str, [result["batch"], *r["shape_chw"]])), r["params"]]
            params = [r["params"]]
            macs = [r["macs"]]
            for fw in fws:
                row.append(r.get(f"{fw}_params", 0 if r["params"] == 0 else None))
                params.append(row[-1])
            row.append(r["macs"])
            for c in counters.values():
                row.append(r.get(c["macs_field"], 0))
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
    for fw in result["frameworks"]:
        for mode, m in (result.get(f"{fw}_memory") or {}).items():
            value = "n/a" if m["peak_memory_bytes"] is None else f"{m['peak_memory_bytes'] / 2**20:,.1f} MiB"
            runtime = f" (runtime alone: {m['runtime_rss_bytes'] / 2**20:,.0f} MiB)" if m.get("runtime_rss_bytes") else ""
            print(f"{fw} measured peak, {mode}: {value}{runtime}; {m['peak_memory_kind']}")
    print(f"\nConvention: {result['convention']}")
    return 0 if ok_all else 1



def _cmd_summary(args: argparse.Namespace) -> int:
    from cnnbench.inspection.model_summary import identical, render, render_both, summarize
    from cnnbench.registry import FRAMEWORKS

    opts = _options(args)
    frameworks = FRAMEWORKS if args.framework == "both" else (args.framework,)
    found = {fw: summarize(args.model, fw, input_size=args.input_size, num_classes=args.num_classes, **opts)
             for fw in frameworks}
    if len(found) == 2:
        print(render_both(*found.values()))  # FRAMEWORKS' order: PyTorch, then Keras
        return 0 if identical(*found.values()) else 1
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


def add_profile_arguments(p: argparse.ArgumentParser) -> None:
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


def add_summary_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("model")
    p.add_argument("--framework", default="both", choices=("torch", "tf", "both"))
    p.add_argument("--input-size", type=int, default=None)
    p.add_argument("--num-classes", type=int, default=None)
    p.add_argument("--option", action="append", metavar="KEY=VALUE", help="a spec option, e.g. aux_logits=true")
    p.set_defaults(func=_cmd_summary)


def add_diagram_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("model")
    p.add_argument("--framework", default="both", choices=("torch", "tf", "both"),
                   help="shape layout of the labels: torch C x H x W, tf H x W x C (the layers are the same)")
    p.add_argument("--format", default="svg", choices=("svg", "png", "pdf", "dot"))
    p.add_argument("--out", default=None, metavar="PATH", help="default: MODEL.FORMAT in the current directory")
    p.add_argument("--expand", action="store_true", help="draw every layer and every repeated block")
    p.add_argument("--input-size", type=int, default=None)
    p.add_argument("--option", action="append", metavar="KEY=VALUE", help="a spec option, e.g. aux_logits=true")
    p.set_defaults(func=_cmd_diagram)
