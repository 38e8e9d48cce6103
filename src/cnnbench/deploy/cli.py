"""``cnnbench export``: one model exported with its ecosystem's exporter, the file and its graph's facts."""
from __future__ import annotations

import argparse


def _cmd_export(args: argparse.Namespace) -> int:
    """Export one model with its ecosystem's exporter (docs/deploy.md); the file and its graph's facts."""
    from pathlib import Path

    from cnnbench.core.analytic import min_input_size
    from cnnbench.core.build_args import check_build_args
    from cnnbench.core.case import layout_shape
    from cnnbench.deploy.backend import export, source_model
    from cnnbench.zoo.dispatch import framework_backend
    from cnnbench.deploy.export import EXPORT_NEEDS, ExportError, check_request
    from cnnbench.registry import get_spec

    spec = get_spec(args.model)
    check_request(args.framework, args.format, args.opset)
    needs, extra = EXPORT_NEEDS[(args.framework, args.format)]
    import importlib.util

    missing = [m for m in needs if importlib.util.find_spec(m) is None]
    if missing:
        raise ExportError(f"{', '.join(missing)} not installed: pip install -e \".[{extra}]\"")
    size = args.input_size or spec.input_size
    check_build_args(args.model, None, size, {})  # too small an input: its own one line, with the minimum
    out = Path(args.out)
    if not out.parent.is_dir():
        raise ExportError(f"--out {out}: the directory {out.parent} does not exist; create it first")
    model, weights = source_model(args.framework, args.model, size, {}, seed=0)
    import numpy as np

    shape = layout_shape(framework_backend(args.framework).INPUT_LAYOUT, 1, spec.in_channels, size)
    x = np.full(shape, 0.5, np.float32)  # the exporters trace at this shape (the Keras ONNX file keeps the batch free)
    facts = export(args.framework, model, x, args.format, str(out), args.opset)
    top = ", ".join(f"{op} {n}" for op, n in list(facts["export_ops"].items())[:6])
    opset = f", opset {facts['export_opset']}" if facts["export_opset"] else ""
    print(f"wrote {out} ({facts['export_file_bytes']:,} bytes) with {facts['exporter']} ({facts['exporter_version']})"
          f"{opset}, input {shape}, weights: {weights}")
    print(f"  {facts['export_nodes']} nodes: {top}{', ...' if len(facts['export_ops']) > 6 else ''}; "
          f"export {facts['export_s']:.1f} s (minimum input {min_input_size(args.model)})")
    return 0


def add_export_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("model")
    p.add_argument("--framework", required=True, choices=("torch", "tf"), help="the zoo: torch, or tf (Keras)")
    p.add_argument("--format", required=True, choices=("onnx", "tflite"), help="onnx (both zoos), tflite (Keras)")
    p.add_argument("--out", required=True, metavar="PATH", help="the file to write")
    p.add_argument("--opset", type=int, default=None, help="ONNX opset (default: the exporter's own)")
    p.add_argument("--input-size", type=int, default=None, help="square input (default: the model's); batch 1")
    p.set_defaults(func=_cmd_export)
