"""Params, FLOPs and memory of a model, three ways, reconciled exactly.

``profile_model`` returns one row per layer (names shared by the analytic graph,
PyTorch and Keras) and per-category totals for each counter:

* ``analytic`` — from the spec table and shapes (``cnnbench.core.analytic``);
* ``fvcore`` — ``FlopCountAnalysis`` on the PyTorch model;
* ``tf_profiler`` — TensorFlow's ``float_operation`` profile of the frozen Keras graph.

For every counter, the per-layer prediction of ``cnnbench.core.analytic.conventions``
must equal what the counter reports, to the unit: that is the reconciliation.
Framework results are cached on disk (freezing VGG-16 takes seconds), keyed by
model, spec hash, input shape, batch and framework version.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from cnnbench.core.analytic import build_graph
from cnnbench.core.analytic.conventions import CATEGORIES, COUNTERS, category
from cnnbench.core.flops import FLOPS_RULE, TRAIN_FACTOR
from cnnbench.core.memory import analytic_memory, achieved_rate  # noqa: F401  (re-exported: the profile API)
from cnnbench.core.user_values import positive_int
from cnnbench.registry import check_build_args, check_framework, framework_module
from cnnbench.zoo.dispatch import framework_backend

CONVENTION = (
    "MACs = multiply-accumulates of conv and dense layers (a grouped or depthwise conv: out elements x "
    "in channels / groups x kernel area; a dense layer on a map: positions x in x out); FLOPs = 2 x MACs for "
    "conv/dense. Elementwise work is reported per category and never folded into MACs: analytic counts BatchNorm "
    "1/element, activations 1/element, pooling 1 per window element read, adds 1/element, SE's channel scaling, "
    "layer scale and LayerNorm (other) 1/element, bias adds 1/output, concat 0, drop path 0 (the identity at "
    "inference, in every counter). "
    "fvcore counts 1 per MAC (conv, linear), 2/element for eval BatchNorm, 5/element for LayerNorm, 1/input element "
    "for adaptive average pooling and skips the rest. The TF profiler counts 2 per MAC (Conv2D, "
    "DepthwiseConv2dNative, MatMul), 1/output for BiasAdd, "
    "2/element + 6/channel for Keras BatchNorm, kernel area/output for pools, 1/input for Mean, 1/element for AddV2 "
    "and Mul, 2/element for hard-sigmoid and SiLU, 3/element for hard-swish, 4/element for GELU (the ops Keras "
    "builds them of), 9/element + 4/position for LayerNormalization. "
    f"Training step: {FLOPS_RULE}."
)


def cache_dir() -> Path:
    return Path(os.environ.get("CNNBENCH_CACHE", Path.home() / ".cache" / "cnnbench"))


def _cached(kind: str, key: dict, compute, use_cache: bool = True, required: tuple[str, ...] = ()) -> dict:
    """JSON cache keyed by everything that changes the result; written atomically. An entry that is not
    JSON or lacks the ``required`` keys is never trusted: it is recomputed and replaced, and stderr says so."""
    import sys

    name = "-".join(str(key[k]) for k in sorted(key)).replace("/", "_")
    path = cache_dir() / kind / f"{name}.json"
    if use_cache and path.exists():
        try:
            value = json.loads(path.read_text())
            if isinstance(value, dict) and all(k in value for k in required):
                return value
            problem = f"not a {kind} result (missing {', '.join(k for k in required if not isinstance(value, dict) or k not in value)})"
        except (OSError, ValueError) as exc:
            problem = f"unreadable ({type(exc).__name__})"
        print(f"cnnbench: the cache entry {path} is {problem}: recomputing it", file=sys.stderr)
    value = compute()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".tmp{os.getpid()}")
        tmp.write_text(json.dumps(value))
        tmp.replace(path)
    except OSError:
        pass  # an unwritable cache only costs time
    return value


def frameworks_for(framework: str) -> list[str]:
    if framework == "both":
        return ["torch", "tf"]
    return [check_framework(framework)]


def profile_model(
    name: str,
    framework: str = "both",
    *,
    input_size: int | None = None,
    num_classes: int | None = None,
    batch: int = 1,
    memory: bool = False,
    use_cache: bool = True,
    tf_frozen: bool = True,
    models: dict | None = None,
    **options: Any,
) -> dict:
    """Per-layer and per-category params and FLOPs (analytic + each framework's counter).

    ``tf_frozen=False`` profiles the traced graph without freezing its variables: the
    same float-op counts (they depend on shapes only), without the cost of freezing.
    ``models`` ({"torch": module, "tf": Keras model}) profiles models already built with these
    arguments instead of building them; their counts are not cached (the cache knows names)."""
    positive_int("batch", batch)
    spec = check_build_args(name, num_classes, input_size, options)
    if memory and num_classes not in (None, spec.num_classes):
        raise ValueError(f"{name}: memory is measured at the model's own {spec.num_classes} classes; "
                         f"leave num_classes out (got {num_classes})")
    models = models or {}
    use_cache = use_cache and not models
    size = input_size or spec.input_size
    fws = frameworks_for(framework)
    for fw in fws:
        framework_module(fw)  # FrameworkUnavailableError with install advice
    # inference graph: aux heads do not run
    opts_inf = {**options, **({"aux_logits": False} if options.get("aux_logits") else {})}
    graph = build_graph(name, input_size=size, num_classes=num_classes, **opts_inf)
    rows = []
    for layer in graph.layers:
        rows.append({
            "name": layer.name, "kind": layer.kind, "category": category(layer),
            "shape_chw": list(layer.out_shape), "params": layer.params, "buffers": layer.buffers,
            "macs": layer.macs * batch,
            **{f"predicted_{c}": fn(layer) * batch for c, fn in COUNTERS.items()},
        })
    result: dict[str, Any] = {
        "model": name, "input_size": size, "batch": batch, "options": options,
        "spec_fingerprint": spec.fingerprint(**options), "convention": CONVENTION,
        "params": graph.params, "buffers": graph.buffers, "macs": graph.macs * batch,
        "flops": 2 * graph.macs * batch, "train_step_flops": TRAIN_FACTOR * 2 * graph.macs * batch,
        "frameworks": fws, "layers": rows,
    }
    by_name = {r["name"]: r for r in rows}
    key = {"model": name, "spec": result["spec_fingerprint"], "size": size, "batch": batch,
           **({"classes": num_classes} if num_classes is not None else {})}

    import cnnbench

    for fw in fws:  # each framework's own counts: its layers' parameters and its FLOP counter (fvcore, TF profiler)
        backend = framework_backend(fw)
        model = models.get(fw)
        if model is None:
            model = cnnbench.get_model(name, fw, input_size=size, num_classes=num_classes, **options)
        for lname, p in backend.layer_params(model).items():
            if lname in by_name:
                by_name[lname].update({f"{fw}_params": p["trainable"], f"{fw}_buffers": p["buffers"],
                                       f"{fw}_type": p["type"]})
        counter = backend.OP_COUNTER
        counts = _cached(counter["name"], {**key, fw: backend.op_counter_version(), "frozen": tf_frozen},
                         lambda: backend.op_counts(model, input_size=size, batch=batch,
                                                   in_channels=spec.in_channels, frozen=tf_frozen),
                         use_cache, required=(*counter["report"], "per_layer", "layers", "layer_macs"))
        for lname, flops in counts["layers"].items():
            if lname in by_name:
                by_name[lname][counter["name"]] = flops
                by_name[lname][counter["macs_field"]] = counts["layer_macs"][lname]
        result[counter["name"]] = {k: counts[k] for k in counter["report"]}
    if memory:
        for fw in fws:
            result[f"{fw}_memory"] = {m: measured_memory(name, fw, m, batch, size, options) for m in ("inference", "train")}
    result["totals"] = _totals(rows, fws)
    return result


def measured_memory(name: str, framework: str, mode: str, batch: int, input_size: int, options: dict,
                    device: str = "cpu") -> dict:
    """Peak memory of one steady step, measured exactly as the benchmark measures it: in a fresh worker
    process, process peak RSS during the step minus the framework runtime's own RSS (CPU), or the
    allocator's peak (CUDA)."""
    from cnnbench.core.case import NATIVE_LAYOUT, Case
    from cnnbench.core.settings import Settings
    from cnnbench.worker.client import Worker

    case = Case(name, framework, mode, batch, device, input_size, layout=NATIVE_LAYOUT[framework],
                options=tuple(sorted(options.items())))
    with Worker(case.runtime, device, Settings()) as w:
        w.call("prepare", case=case.to_dict())
        w.call("warmup", rounds=2)
        return w.call("memory")


def _totals(rows: list[dict], fws: list[str]) -> dict:
    """Per counter and category: what the analytic graph predicts it reports, and what it reported.
    The analytic counter is the prediction itself (our convention): it has no "measured" side; the
    frameworks' counters are what reconcile with it."""
    counters = ["analytic"] + [framework_backend(fw).OP_COUNTER["name"] for fw in fws]
    out = {}
    for c in counters:
        predicted = dict.fromkeys(CATEGORIES, 0)
        measured = None if c == "analytic" else dict.fromkeys(CATEGORIES, 0)
        for r in rows:
            predicted[r["category"]] += r[f"predicted_{c}"]
            if measured is not None:
                measured[r["category"]] += r.get(c, 0)
        out[c] = {"predicted": predicted, "measured": measured, "predicted_total": sum(predicted.values()),
                  "measured_total": None if measured is None else sum(measured.values())}
    return out
