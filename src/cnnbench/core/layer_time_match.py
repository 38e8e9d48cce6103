"""Per-layer step times of two frameworks, matched by layer name and grouped by kind (framework-free).

Each framework's worker reports what its real step spent per layer name (``models_torch.layer_times``,
``models_tf.layer_times``: self time of the ops under the layer's scope, forward and backward) and per
row outside any layer. ``combine`` lines them up on the analytic graph's layers (the names every
framework shares), adds each layer's kind, each framework's share of its step and their ratio, sums
per kind, and checks the bookkeeping: the rows of a framework add up to ``accounted`` of the step's
wall time measured around the same profiled steps (ops running concurrently on two inter-op threads
can make it exceed 1; Python time the profiler does not see makes it fall short).
"""
from __future__ import annotations

from cnnbench.core.analytic.graph import Layer

# the kinds, in the order the summary lists them
KINDS = ("conv", "depthwise conv", "grouped conv", "BN", "LayerNorm", "activation", "SE", "pooling", "linear",
         "other")
_BY_KIND = {"conv": "conv", "batchnorm": "BN", "activation": "activation", "maxpool": "pooling", "avgpool": "pooling",
            "linear": "linear"}
OUTSIDE = "outside any layer"  # the kind of the rows that belong to no layer
UNTRACED = "not in any profiled event (Python, profiler)"
# TensorFlow's executor's own events between ops (cnnbench.models_tf.layer_times); a function compiled with XLA
# also runs under them, unseen by the profiler
EXECUTOR = "executor between ops (TensorFlow's scheduling)"


def per_step(steps: int, wall_s: float, layers: dict, outside: dict, method: str, **extra) -> dict:
    """A worker's ``layer_times`` reply: the totals over ``steps`` profiled steps, per step."""
    each = lambda s: s / steps  # noqa: E731
    return {"steps": steps, "wall_s": each(wall_s),
            "layers": {k: {"forward_s": each(v["forward_s"]), "backward_s": each(v["backward_s"]),
                           "ops": {op: each(s) for op, s in v["ops"].items()}} for k, v in layers.items()},
            "outside": {k: each(v) for k, v in outside.items()}, "method": method, **extra}


def layer_kind(layer: Layer) -> str:
    """The kind the summary groups a layer under: every layer of a squeeze-and-excitation block (a path
    component ``se``) is SE; a convolution with one group per input channel is a depthwise conv, with
    fewer groups a grouped conv; a layer norm is LayerNorm; the rest by the analytic graph's kind."""
    if "se" in layer.name.split("."):
        return "SE"
    if layer.kind == "conv":
        groups = layer.attrs.get("groups", 1)
        if groups > 1:
            return "depthwise conv" if groups == layer.in_shapes[0][0] else "grouped conv"
        return "conv"
    if "layernorm" in layer.kind.replace("_", "").lower():
        return "LayerNorm"
    return _BY_KIND.get(layer.kind, "other")


def _owner(name: str, known: set[str]) -> str | None:
    """The graph layer a measured name belongs to: itself, or the nearest dotted prefix (Keras' explicit
    ``X.pad`` layer, which PyTorch folds into the convolution ``X``, is counted in ``X``)."""
    while name:
        if name in known:
            return name
        name = name.rpartition(".")[0]
    return None


def combine(layers: list[Layer], measured: dict[str, dict]) -> dict:
    """The table: ``measured`` is {framework: a worker's ``layer_times`` reply with ``step_s`` added (the
    median untraced step)}; returns rows (one per graph layer, in graph order), kinds, outside rows and
    per-framework totals, all in seconds per step."""
    known = {layer.name for layer in layers}
    fws = list(measured)
    rows = {layer.name: {"name": layer.name, "kind": layer_kind(layer), "layer": layer.kind} for layer in layers}
    totals = {}
    for fw, m in measured.items():
        for row in rows.values():
            row[fw] = {"forward_s": 0.0, "backward_s": 0.0, "ops": {}}
        folded, unknown = {}, {}
        for name, t in m["layers"].items():
            owner = _owner(name, known)
            if owner is None:
                unknown[name] = t["forward_s"] + t["backward_s"]
                continue
            if owner != name:
                folded[name] = owner
            cell = rows[owner][fw]
            cell["forward_s"] += t["forward_s"]
            cell["backward_s"] += t["backward_s"]
            for op, s in t["ops"].items():
                cell["ops"][op] = cell["ops"].get(op, 0.0) + s
        outside = dict(m["outside"])
        if unknown:
            outside["layers of no shared name"] = sum(unknown.values())
        in_layers = sum(r[fw]["forward_s"] + r[fw]["backward_s"] for r in rows.values())
        profiled = in_layers + sum(outside.values())
        wall = m["wall_s"]
        outside[UNTRACED] = wall - profiled
        totals[fw] = {"wall_s": wall, "thread_cpu_s": m.get("thread_cpu_s"), "step_s": m.get("step_s"),
                      "layers_s": in_layers, "profiled_s": profiled,
                      "accounted": profiled / wall if wall else None, "outside": outside, "folded": folded,
                      "unknown": unknown, "moved": m.get("moved", {}), "method": m.get("method", "")}
        for r in rows.values():
            c = r[fw]
            c["time_s"] = c["forward_s"] + c["backward_s"]
            c["share"] = c["time_s"] / wall if wall else None
    for r in rows.values():
        if len(fws) == 2:
            a, b = (r[fw]["time_s"] for fw in fws)
            r["ratio"] = b / a if a > 0 else None
    kinds = {}
    for kind in (*KINDS, OUTSIDE):
        entry = {"layers": sum(1 for r in rows.values() if r["kind"] == kind)}
        for fw in fws:
            if kind == OUTSIDE:
                s = sum(totals[fw]["outside"].values())
            else:
                s = sum(r[fw]["time_s"] for r in rows.values() if r["kind"] == kind)
            entry[fw] = {"time_s": s, "share": s / totals[fw]["wall_s"] if totals[fw]["wall_s"] else None}
        if len(fws) == 2:
            a, b = (entry[fw]["time_s"] for fw in fws)
            entry["ratio"] = b / a if a > 0 else None
        if entry["layers"] or kind == OUTSIDE:
            kinds[kind] = entry
    return {"frameworks": fws, "rows": list(rows.values()), "kinds": kinds, "totals": totals}
