"""``cnnbench list`` and ``cnnbench info``: the registered models and one model's spec."""
from __future__ import annotations

import argparse
import sys


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


def add_list_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("pattern", nargs="?", default="*")
    p.set_defaults(func=_cmd_list)


def add_info_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("model")
    p.add_argument("--input-size", type=int, default=None)
    p.set_defaults(func=_cmd_info)
