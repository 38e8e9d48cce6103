"""Structure diagrams of every model, drawn with Graphviz from the analytic graph.

The analytic graph has the same layer names, shapes and parameter counts as both framework
builds (tests/test_models.py proves it layer by layer), so one drawing serves PyTorch and Keras and
needs neither framework. Legibility for long networks:

* a *unit* is the module that holds a merge (a ResNet block, an Inception module, a DenseNet layer)
  or, elsewhere, a top-level stage; each unit is a box (a Graphviz cluster) of its layers;
* a run of consecutive units with the same structure (``stage3.block2`` ... ``block23``) is drawn
  once, labelled with the repeat count; ``expand=True`` draws every unit;
* BatchNorm, activation and dropout layers that directly follow a layer are folded into its node
  (``conv 3x3/2 > bn > relu``); ``expand=True`` shows them as nodes too.

Skip connections (ResNet adds), concatenations (DenseNet, Inception) and branches are edges.
"""
from __future__ import annotations

import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from cnnbench.core.analytic import build_graph
from cnnbench.core.case import NATIVE_LAYOUT
from cnnbench.core.errors import CnnbenchError
from cnnbench.registry import get_spec

FORMATS = ("svg", "png", "pdf", "dot")
_FOLDABLE = {"batchnorm", "activation", "dropout"}
_MERGES = {"add", "concat"}
_COLORS = {"conv": "#dbe9f6", "linear": "#e6dbf6", "add": "#f9d9d4", "concat": "#fbe8c8",
           "maxpool": "#e3f2e1", "avgpool": "#e3f2e1", "adaptive_avgpool": "#e3f2e1"}


class DiagramError(CnnbenchError):
    """Graphviz is missing, or the output cannot be written."""


@dataclass
class Node:
    name: str
    kinds: list[str]
    labels: list[str]
    out_shape: tuple
    params: int
    inputs: tuple[str, ...]
    members: list[str] = field(default_factory=list)  # folded layer names


def _describe(layer) -> str:
    a = layer.attrs
    if layer.kind == "conv":
        k = a.get("kernel", "?")
        k = f"{k[0]}x{k[1]}" if isinstance(k, (tuple, list)) else f"{k}x{k}"
        s = a.get("stride", 1) if not isinstance(a.get("stride"), (tuple, list)) else a["stride"][0]
        groups = a.get("groups", 1)
        if groups > 1:  # depthwise: one filter per input channel; else grouped
            return f"dwconv {k}/{s}" if groups == layer.in_shapes[0][0] else f"conv {k}/{s} g{groups}"
        return f"conv {k}/{s}"
    if layer.kind in ("maxpool", "avgpool"):
        k = a.get("kernel", "")
        k = k[0] if isinstance(k, (tuple, list)) else k
        return f"{layer.kind} {k}x{k}" if k else layer.kind
    if layer.kind == "activation":
        return str(a.get("fn", "act"))
    if layer.kind == "linear":
        return "dense"
    return {"batchnorm": "bn"}.get(layer.kind, layer.kind)


def _shape(shape: tuple, layout: str = "chw") -> str:
    if layout == "hwc" and len(shape) == 3:
        shape = (shape[1], shape[2], shape[0])
    return "x".join(map(str, shape))


def _units(layers) -> dict[str, str]:
    """Layer name -> unit name (the merging module holding it, else its top-level stage)."""
    merge_prefixes = sorted({l.name.rsplit(".", 1)[0] for l in layers if l.kind in _MERGES and "." in l.name},
                            key=len, reverse=True)
    out = {}
    for l in layers:
        hit = next((p for p in merge_prefixes if l.name.startswith(p + ".")), None)
        out[l.name] = hit or l.name.split(".")[0]
    return out


def _fold(layers, expand: bool) -> list[Node]:
    consumers: dict[str, int] = {}
    for l in layers:
        for i in l.inputs:
            consumers[i] = consumers.get(i, 0) + 1
    nodes: list[Node] = []
    owner: dict[str, str] = {}  # folded layer -> node name
    for l in layers:
        src = owner.get(l.inputs[0]) if len(l.inputs) == 1 else None
        prev = nodes[-1] if nodes else None
        if (not expand and l.kind in _FOLDABLE and src is not None and prev is not None and src == prev.name
                and consumers.get(prev.members[-1], 0) == 1 and prev.kinds[0] not in _MERGES | {"flatten"}
                and l.name.rsplit(".", 1)[0] == prev.name.rsplit(".", 1)[0]):
            prev.kinds.append(l.kind)
            prev.labels.append(_describe(l))
            prev.out_shape = l.out_shape
            prev.params += l.params + l.buffers
            prev.members.append(l.name)
            owner[l.name] = prev.name
            continue
        node = Node(l.name, [l.kind], [_describe(l)], l.out_shape, l.params + l.buffers,
                    tuple(owner.get(i, i) for i in l.inputs), [l.name])
        nodes.append(node)
        owner[l.name] = l.name
    return nodes


def _signature(unit: str, nodes: list[Node]) -> tuple:
    return tuple((n.name[len(unit):], tuple(n.labels)) for n in nodes)


def _runs(order: list[str], by_unit: dict[str, list[Node]], expand: bool) -> list[list[str]]:
    """Consecutive units of the same parent and the same structure, grouped (never with expand)."""
    runs: list[list[str]] = []
    for unit in order:
        last = runs[-1][-1] if runs else None
        if (not expand and last is not None and "." in unit and unit.rsplit(".", 1)[0] == last.rsplit(".", 1)[0]
                and re.sub(r"\d+$", "", unit) == re.sub(r"\d+$", "", last)
                and _signature(unit, by_unit[unit]) == _signature(last, by_unit[last])):
            runs[-1].append(unit)
        else:
            runs.append([unit])
    return runs


def to_dot(model: str, *, input_size: int | None = None, expand: bool = False, framework: str = "both",
           **options):
    """A pydot graph of ``model``: units as clusters, repeats collapsed, BN/activations folded.

    Shapes are C x H x W (PyTorch) unless ``framework="tf"``: H x W x C (Keras).
    """
    from cnnbench.core.deps import require

    pydot = require("pydot", feature="cnnbench diagram", extra="diagram")

    spec = get_spec(model)
    g = build_graph(model, input_size=input_size, **options)
    unit_of = _units(g.layers)
    nodes = _fold(g.layers, expand)
    by_unit: dict[str, list[Node]] = {}
    for n in nodes:
        by_unit.setdefault(unit_of[n.name], []).append(n)
    order = list(by_unit)
    runs = _runs(order, by_unit, expand)

    # a node of a collapsed repeat is drawn as the same-position node of the run's first unit
    drawn: dict[str, str] = {}
    for run in runs:
        first = run[0]
        for unit in run:
            for n, rep in zip(by_unit[unit], by_unit[first]):
                drawn[n.name] = rep.name

    layout = "hwc" if NATIVE_LAYOUT.get(framework) == "nhwc" else "chw"  # "both": PyTorch's order
    who = {"torch": "PyTorch, shapes C x H x W", "tf": "Keras, shapes H x W x C",
           "both": "PyTorch and Keras (same layers), shapes C x H x W"}[framework]
    title = (f"{spec.name} ({who}): {g.params:,} params + {g.buffers:,} BN statistics; "
             f"{'every layer' if expand else 'repeated units collapsed (red boxes), BN/activations folded'}")
    dot = pydot.Dot(graph_name=re.sub(r"\W", "_", model), graph_type="digraph", rankdir="TB", fontname="Helvetica",
                    label=title, labelloc="t", fontsize="16", nodesep="0.25", ranksep="0.3", compound="true")
    dot.set_node_defaults(shape="box", style="rounded,filled", fontname="Helvetica", fontsize="10")
    dot.add_node(pydot.Node("input", label=f"input\n{_shape(g.input.shape, layout)}", fillcolor="#eeeeee"))
    drawn["input"] = "input"
    for run in runs:
        first = run[0]
        total = sum(n.params for u in run for n in by_unit[u])
        if len(run) > 1:
            label = f"{first} ... {run[-1].rsplit('.', 1)[-1]}  (x{len(run)}, {total:,} params in all)"
        else:
            label = f"{first}  ({total:,} params)"
        cluster = pydot.Cluster(re.sub(r"\W", "_", first), label=label, style="rounded,dashed",
                                color="#999999" if len(run) == 1 else "#d32f2f", fontname="Helvetica",
                                fontsize="11")
        for n in by_unit[first]:
            name = n.name[len(first) + 1:] if n.name.startswith(first + ".") else n.name
            params = f"{n.params:,} params" if n.params else ""
            last = by_unit[run[-1]][by_unit[first].index(n)].out_shape
            shapes = (_shape(n.out_shape, layout) if len(run) == 1 or last == n.out_shape
                      else f"{_shape(n.out_shape, layout)} ... {_shape(last, layout)}")
            what = " > ".join(n.labels)
            text = "\n".join(filter(None, [name, "" if what == name.rsplit(".", 1)[-1] else what, shapes, params]))
            cluster.add_node(pydot.Node(f'"{n.name}"', label=text, fillcolor=_COLORS.get(n.kinds[0], "#ffffff")))
        dot.add_subgraph(cluster)

    seen = set()
    for n in nodes:
        for src in n.inputs:
            a, b = drawn.get(src, src), drawn[n.name]
            if a == b or (a, b) in seen:
                continue
            if _same_run(src, n.name, runs, unit_of):
                continue  # an edge between two repeats of one collapsed run
            seen.add((a, b))
            style = {}
            if n.kinds[0] in _MERGES and unit_of.get(src) != unit_of[n.name]:
                style = {"color": "#d32f2f", "style": "dashed"}  # a skip connection / dense connection
            dot.add_edge(pydot.Edge(f'"{a}"', f'"{b}"', **style))
    return dot


def _same_run(a: str, b: str, runs, unit_of) -> bool:
    ua, ub = unit_of.get(a), unit_of.get(b)
    return any(ua in r and ub in r and ua != ub for r in runs if len(r) > 1)


def draw(model: str, out: str | Path, *, fmt: str | None = None, input_size: int | None = None,
         expand: bool = False, framework: str = "both", **options) -> Path:
    """Write the diagram of ``model`` to ``out`` (format from --format or the suffix); returns the path."""
    out = Path(out)
    fmt = fmt or out.suffix.lstrip(".") or "svg"
    if fmt not in FORMATS:
        raise DiagramError(f"unknown diagram format {fmt!r}; choose from {', '.join(FORMATS)}")
    dot = to_dot(model, input_size=input_size, expand=expand, framework=framework, **options)
    if fmt == "dot":
        data = dot.to_string().encode()
    else:
        if shutil.which("dot") is None:
            raise DiagramError("Graphviz's `dot` program is not installed (apt-get install graphviz, "
                               "brew install graphviz); `--format dot` writes the graph without it")
        data = dot.create(format=fmt, prog="dot")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_name(f".{out.name}.tmp")
        tmp.write_bytes(data)
        tmp.replace(out)
    except OSError as exc:
        raise DiagramError(f"{out}: cannot write the diagram ({exc.strerror})") from None
    return out
