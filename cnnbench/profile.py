"""Params, FLOPs and memory of a model, three ways, reconciled exactly.

``profile_model`` returns one row per layer (names shared by the analytic graph,
PyTorch and Keras) and per-category totals for each counter:

* ``analytic`` — from the spec table and shapes (``cnnbench.core.analytic``);
* ``fvcore`` — ``FlopCountAnalysis`` on the PyTorch model;
* ``tf_profiler`` — TensorFlow's ``float_operation`` profile of the frozen Keras graph.

For every counter, the per-layer prediction of ``cnnbench.core.analytic.conventions``
must equal what the counter reports, to the unit: that is the reconciliation.
Framework results are cached on disk (freezing VGG-16 takes over 30 s), keyed by
model, spec hash, input shape, batch and framework version.
"""
from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

from cnnbench.core.analytic import build_graph
from cnnbench.core.analytic.conventions import CATEGORIES, COUNTERS, category
from cnnbench.core.flops import FLOPS_RULE, TRAIN_FACTOR
from cnnbench.core.validate import positive_int
from cnnbench.registry import check_build_args, check_framework, framework_module, get_spec

CONVENTION = (
    "MACs = multiply-accumulates of conv and dense layers; FLOPs = 2 x MACs for conv/dense. "
    "Elementwise work is reported per category and never folded into MACs: analytic counts BatchNorm 1/element, "
    "activations 1/element, pooling 1 per window element read, adds 1/element, bias adds 1/output, concat 0. "
    "fvcore counts 1 per MAC (conv, linear), 2/element for eval BatchNorm, 1/input element for adaptive average "
    "pooling and skips the rest. The TF profiler counts 2 per MAC (Conv2D, MatMul), 1/output for BiasAdd, "
    "2/element + 6/channel for Keras BatchNorm, kernel area/output for pools, 1/input for Mean, 1/element for AddV2. "
    f"Training step: {FLOPS_RULE}."
)


def cache_dir() -> Path:
    return Path(os.environ.get("CNNBENCH_CACHE", Path.home() / ".cache" / "cnnbench"))


def _cached(kind: str, key: dict, compute, use_cache: bool = True) -> dict:
    """JSON cache keyed by everything that changes the result; written atomically."""
    name = "-".join(str(key[k]) for k in sorted(key)).replace("/", "_")
    path = cache_dir() / kind / f"{name}.json"
    if use_cache and path.exists():
        try:
            return json.loads(path.read_text())
        except (OSError, ValueError):
            pass  # a damaged entry is recomputed
    value = compute()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".tmp{os.getpid()}")
        tmp.write_text(json.dumps(value))
        tmp.replace(path)
    except OSError:
        pass  # an unwritable cache only costs time
    return value


def _import(framework: str):
    framework_module(framework)  # clear error if the framework is missing
    if framework == "torch":
        import cnnbench.models_torch.profile as prof
    else:
        import cnnbench.models_tf.profile as prof
    return prof


def _version(framework: str) -> str:
    if framework == "torch":
        import torch

        return torch.__version__
    import tensorflow as tf

    return tf.__version__


def frameworks_for(framework: str) -> list[str]:
    if framework == "both":
        return ["torch", "tf"]
    return [check_framework(framework)]


def profile_model(
    name: str,
    framework: str = "both",
    *,
    input_size: int | None = None,
    batch: int = 1,
    memory: bool = False,
    use_cache: bool = True,
    tf_frozen: bool = True,
    **options: Any,
) -> dict:
    """Per-layer and per-category params and FLOPs (analytic + each framework's counter).

    ``tf_frozen=False`` profiles the traced graph without freezing its variables: the
    same float-op counts (they depend on shapes only), without the cost of freezing."""
    positive_int("batch", batch)
    spec = check_build_args(name, None, input_size, options)
    size = input_size or spec.input_size
    fws = frameworks_for(framework)
    for fw in fws:
        framework_module(fw)  # FrameworkUnavailableError with install advice
    # inference graph: aux heads do not run
    opts_inf = {**options, **({"aux_logits": False} if options.get("aux_logits") else {})}
    graph = build_graph(name, input_size=size, **opts_inf)
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
    key = {"model": name, "spec": result["spec_fingerprint"], "size": size, "batch": batch}

    if "torch" in fws:
        tp = _import("torch")
        import cnnbench

        model = cnnbench.get_model(name, "torch", input_size=size, **options)
        for lname, p in tp.layer_params(model).items():
            by_name.get(lname, {}).update(torch_params=p["trainable"], torch_buffers=p["buffers"],
                                          torch_type=p["type"])
        fv = _cached("fvcore", {**key, "torch": _version("torch")},
                     lambda: tp.fvcore_counts(model, size, batch, spec.in_channels), use_cache)
        for lname, ops in fv["per_layer"].items():
            if lname in by_name:
                by_name[lname]["fvcore"] = sum(ops.values())
                by_name[lname]["fvcore_macs"] = sum(v for op, v in ops.items() if tp.FVCORE_CATEGORY.get(op) in ("conv", "dense"))
        result["fvcore"] = {k: fv[k] for k in ("total", "by_operator", "skipped_ops", "ignored_ops")}
        if memory:
            result["torch_memory"] = {m: tp.measured_memory(model, m, batch, size, spec.in_channels, spec.num_classes)
                                      for m in ("inference", "train")}
    if "tf" in fws:
        kp = _import("tf")
        import cnnbench

        kmodel = cnnbench.get_model(name, "tf", input_size=size, **options)
        for lname, p in kp.layer_params(kmodel).items():
            if lname in by_name:
                by_name[lname].update(tf_params=p["trainable"], tf_buffers=p["buffers"], tf_type=p["type"])
        main = getattr(kmodel, "main", kmodel)  # inference graph of an aux-logits model
        tfp = _cached("tf_profiler", {**key, "tf": _version("tf"), "frozen": tf_frozen},
                      lambda: kp.tf_profiler_counts(main, batch, tf_frozen), use_cache)
        for lname, ops in tfp["per_layer"].items():
            if lname in by_name:
                by_name[lname]["tf_profiler"] = sum(ops.values())
                by_name[lname]["tf_macs"] = sum(v for op, v in ops.items() if op in kp.TF_MAC_OPS) // 2
        result["tf_profiler"] = {k: tfp[k] for k in ("total", "by_op_type", "unattributed")}
        if memory:
            result["tf_memory"] = {m: kp.measured_memory(kmodel, m, batch, spec.num_classes)
                                   for m in ("inference", "train")}
    if memory:
        from cnnbench.memprobe import run_in_subprocess

        for fw in fws:
            result[f"{fw}_process_rss"] = {m: run_in_subprocess(name, fw, m, batch, size)["process_peak_rss_bytes"]
                                           for m in ("inference", "train")}
    result["totals"] = _totals(rows, fws)
    return result


def _totals(rows: list[dict], fws: list[str]) -> dict:
    counters = ["analytic"] + (["fvcore"] if "torch" in fws else []) + (["tf_profiler"] if "tf" in fws else [])
    out = {}
    for c in counters:
        predicted = dict.fromkeys(CATEGORIES, 0)
        measured = dict.fromkeys(CATEGORIES, 0)
        for r in rows:
            predicted[r["category"]] += r[f"predicted_{c}"]
            measured[r["category"]] += r.get(c, r[f"predicted_{c}"] if c == "analytic" else 0)
        out[c] = {"predicted": predicted, "measured": measured,
                  "predicted_total": sum(predicted.values()), "measured_total": sum(measured.values())}
    return out


_NEW_OUTPUT = {"conv", "linear", "maxpool", "avgpool", "concat"}


def analytic_memory(name: str, batch: int = 1, *, input_size: int | None = None, bytes_per_value: int = 4,
                    **options: Any) -> dict:
    """Bytes a training step needs, from the spec alone.

    Parameters and BN statistics; gradients (one per trainable value); optimizer
    state (SGD with momentum: one buffer; Adam: two); activations a training step
    keeps for the backward pass, taken as every layer's output except views
    (flatten) and dropout in inference, per sample, times the batch.
    """
    positive_int("batch", batch)
    g = build_graph(name, input_size=input_size, **options)
    per_layer = {l.name: bytes_per_value * math.prod(l.out_shape) for l in g.layers if l.kind != "flatten"}
    act = sum(per_layer.values())
    params = bytes_per_value * g.params
    # No step can need less than the weights plus one layer's inputs and new output held at once.
    # Only layers that must write a new tensor count their output (activations and adds may run in
    # place, BN may be fused into the conv under a compiler), so this is a lower bound in any framework.
    def held(layer) -> int:
        values = sum(math.prod(s) for s in layer.in_shapes)
        if layer.kind in _NEW_OUTPUT:
            values += math.prod(layer.out_shape)
        return values

    widest = max(g.layers, key=held)
    return {
        "param_bytes": params,
        "buffer_bytes": bytes_per_value * g.buffers,
        "grad_bytes": params,
        "optimizer_bytes": {"sgd": 0, "sgd_momentum": params, "adam": 2 * params},
        "activation_bytes_per_sample": act,
        "activation_bytes": act * batch,
        "activation_bytes_by_layer": per_layer,
        "train_total_bytes_sgd_momentum": 3 * params + bytes_per_value * g.buffers + act * batch,
        "min_step_bytes": params + bytes_per_value * (g.buffers + held(widest) * batch),
        "min_step_layer": widest.name,
        "rule": "activations: every layer output except flatten views, per sample; float32",
    }


def achieved_rate(step_seconds: float, step_flops: int, peak_flops: float | None = None) -> dict:
    """FLOP/s achieved by a step, and the share of a measured peak (GEMM) if given."""
    if step_seconds <= 0:
        raise ValueError(f"step time must be positive, got {step_seconds}")
    rate = step_flops / step_seconds
    return {"flops_per_s": rate, "pct_of_peak": None if not peak_flops else 100.0 * rate / peak_flops}
