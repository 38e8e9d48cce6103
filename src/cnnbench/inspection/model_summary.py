"""Keras-style model summaries for both frameworks, with the same rows in the same order.

Rows follow the analytic graph's layer order (the spec's), so PyTorch and Keras summaries line up
row by row; output shapes come from the built framework models (PyTorch NCHW, Keras NHWC), and
parameter counts from their weights. Keras' explicit ``ZeroPadding2D`` layers (``<conv>.pad``)
have no PyTorch counterpart (padding is a conv argument there) and are listed after the table.
"""
from __future__ import annotations

from dataclasses import dataclass

from cnnbench.core.analytic import build_graph
from cnnbench.core.case import layout_shape
from cnnbench.registry import check_build_args, check_framework, get_model, get_spec
from cnnbench.zoo.dispatch import framework_backend


@dataclass
class Row:
    name: str
    type: str
    shape: tuple
    trainable: int
    non_trainable: int  # BatchNorm statistics (PyTorch buffers, Keras non-trainable weights)

    @property
    def params(self) -> int:
        return self.trainable + self.non_trainable


@dataclass
class Summary:
    model: str
    framework: str
    layout: str  # "NCHW" | "NHWC"
    input_shape: tuple
    rows: list[Row]
    extra_layers: list[str]  # framework layers without an analytic counterpart (Keras pads)
    version: str

    @property
    def trainable(self) -> int:
        return sum(r.trainable for r in self.rows)

    @property
    def non_trainable(self) -> int:
        return sum(r.non_trainable for r in self.rows)

    @property
    def total(self) -> int:
        return self.trainable + self.non_trainable


def summarize(name: str, framework: str, *, input_size: int | None = None, num_classes: int | None = None,
              model=None, **options) -> Summary:
    """The layer table of ``name`` in ``framework``; ``model`` summarizes one already built (as
    ``get_model`` builds it with the same arguments) instead of building it."""
    check_framework(framework)
    spec = get_spec(name)
    check_build_args(name, num_classes, input_size, options)  # before the graph: one message per bad value
    graph = build_graph(name, input_size=input_size, num_classes=num_classes, **options)
    size = graph.input_size
    if model is None:
        model = get_model(name, framework=framework, num_classes=num_classes, input_size=input_size, **options)
    backend = framework_backend(framework)
    shapes = backend.layer_output_shapes(model, size, spec.in_channels)
    params = backend.layer_params(model)
    layout, version = backend.INPUT_LAYOUT.upper(), backend.framework_version()
    input_shape = layout_shape(backend.INPUT_LAYOUT, None, spec.in_channels, size)
    rows = []
    for layer in graph.layers:
        p = params.get(layer.name)
        if p is None:
            raise RuntimeError(f"{name}: layer {layer.name!r} of the spec is missing from the {framework} model")
        rows.append(Row(layer.name, p["type"], (None, *shapes.get(layer.name, ())), p["trainable"],
                        p["buffers"] + p["frozen"]))
    known = {l.name for l in graph.layers}
    extra = [n for n in params if n not in known]
    return Summary(name, framework, layout, input_shape, rows, extra, version)


def _fmt_shape(shape: tuple) -> str:
    return "(" + ", ".join("None" if d is None else str(d) for d in shape) + ")"


def render(s: Summary) -> str:
    """One framework's summary in Keras' layout."""
    fw = {"torch": "PyTorch", "tf": "Keras"}[s.framework]
    head = ("Layer (type)", f"Output shape ({s.layout})", "Param #")
    body = [(f"{r.name} ({r.type})", _fmt_shape(r.shape), f"{r.params:,}") for r in s.rows]
    w = [max(len(x[i]) for x in [head, *body]) for i in range(3)]
    line = lambda r: f"{r[0]:<{w[0]}}  {r[1]:<{w[1]}}  {r[2]:>{w[2]}}"  # noqa: E731
    bar = "=" * (sum(w) + 4)
    out = [f'Model: "{s.model}" ({fw} {s.version}, input {_fmt_shape(s.input_shape)} {s.layout})', bar, line(head),
           bar, *map(line, body), bar,
           f"Total params: {s.total:,} ({4 * s.total / 2**20:.2f} MB float32)",
           f"Trainable params: {s.trainable:,}",
           f"Non-trainable params: {s.non_trainable:,} (BatchNorm running statistics)"]
    if s.extra_layers:
        out.append(f"Not in the table (no counterpart in the other framework, 0 params): "
                   f"{len(s.extra_layers)} layer(s), e.g. {', '.join(s.extra_layers[:3])}")
    return "\n".join(out)


def render_both(t: Summary, k: Summary) -> str:
    """PyTorch and Keras side by side; a row whose names or counts differ is marked (a bug)."""
    head = ("Layer", "PyTorch type", "Keras type", "Output (NCHW)", "Output (NHWC)", "Param #", "")
    body = []
    same = True
    for a, b in zip(t.rows, k.rows):
        ok = a.name == b.name and a.trainable == b.trainable and a.non_trainable == b.non_trainable \
            and a.shape[1:] and b.shape[1:] and _nchw_to_nhwc(a.shape) == b.shape
        same &= bool(ok)
        params = f"{a.params:,}" if a.params == b.params else f"{a.params:,} != {b.params:,}"
        body.append((a.name, a.type, b.type, _fmt_shape(a.shape), _fmt_shape(b.shape), params, "" if ok else "DIFF"))
    same &= len(t.rows) == len(k.rows)
    w = [max(len(x[i]) for x in [head, *body]) for i in range(len(head))]
    line = lambda r: "  ".join(  # noqa: E731
        f"{v:>{w[i]}}" if i == 5 else f"{v:<{w[i]}}" for i, v in enumerate(r)).rstrip()
    bar = "=" * (sum(w) + 2 * (len(w) - 1))
    out = [f'Model: "{t.model}" (PyTorch {t.version} NCHW | Keras {k.version} NHWC)', bar, line(head), bar,
           *map(line, body), bar]
    for label, a, b in (("Total", t.total, k.total), ("Trainable", t.trainable, k.trainable),
                        ("Non-trainable", t.non_trainable, k.non_trainable)):
        out.append(f"{label} params: PyTorch {a:,} | Keras {b:,}" + ("" if a == b else "  <- DIFFERENT"))
    if k.extra_layers:
        out.append(f"Keras only (explicit padding, 0 params): {len(k.extra_layers)} ZeroPadding2D layer(s)")
    out.append(f"Rows identical in both frameworks: {'yes' if same else 'NO'} ({len(t.rows)} layers)")
    return "\n".join(out)


def _nchw_to_nhwc(shape: tuple) -> tuple:
    if len(shape) == 4:
        return (shape[0], shape[2], shape[3], shape[1])
    return shape


def identical(t: Summary, k: Summary) -> bool:
    return len(t.rows) == len(k.rows) and all(
        a.name == b.name and a.trainable == b.trainable and a.non_trainable == b.non_trainable
        and _nchw_to_nhwc(a.shape) == b.shape for a, b in zip(t.rows, k.rows))
