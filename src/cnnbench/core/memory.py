"""Memory arithmetic from the spec alone: parameters, gradients, optimizer state, activations, and the
lower bound no step can go below (used to refuse a CPU case that cannot fit before building it)."""
from __future__ import annotations

import math
from typing import Any

from cnnbench.core.analytic import build_graph
from cnnbench.core.user_values import positive_int

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
