"""The ``cnnbench`` command line. Errors print one clear line and exit non-zero."""
from __future__ import annotations

import argparse
import sys

from cnnbench.errors import CnnbenchError


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
    from cnnbench.analytic import build_graph, min_input_size
    from cnnbench.registry import get_spec

    spec = get_spec(args.model)
    g = build_graph(args.model, input_size=args.input_size)
    print(f"{spec.name}: {spec.paper}")
    print(f"  family            {spec.family} (models_torch/{spec.family}.py, models_tf/{spec.family}.py)")
    print(f"  input             {g.input_size}x{g.input_size}x{spec.in_channels} (default {spec.input_size}, minimum {min_input_size(spec.name)})")
    print(f"  params            {g.params:,} (reference {spec.reference_params:,}: {spec.reference_source})")
    print(f"  BN statistics     {g.buffers:,}")
    print(f"  MACs (conv+dense) {g.macs:,} per image")
    print(f"  options           {', '.join(f'{o}={spec.config[o]!r}' for o in spec.options) or 'none'}")
    for v in spec.variants:
        print(f"  variant           {dict(v.options)}: {v.params:,} params ({v.source})")
    return 0


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
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except CnnbenchError as exc:
        print(f"cnnbench: error: {exc}", file=sys.stderr)
        return 2
    except ValueError as exc:  # bad option values from the spec layer
        print(f"cnnbench: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
