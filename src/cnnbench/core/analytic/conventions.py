"""What each FLOP counter counts, predicted layer by layer from the analytic graph.

Three counters are reconciled exactly, to the unit:

``analytic`` (ours)
    MACs of conv and dense layers; FLOPs = 2 x MACs. A grouped or depthwise convolution has
    ``out_elements * (in_channels / groups) * kh * kw`` MACs: each output reads only its group's
    input channels (a 3x3 depthwise conv: 9 per output element); a dense layer on a map
    (ConvNeXt's pointwise layers) H x W x in x out MACs and a bias add per output element.
    Elementwise work is kept apart: BatchNorm 1 op per element (inference: a folded
    scale-and-shift), activations 1 per element, pooling 1 per window element read, residual
    adds 1 per element per extra input, bias adds 1 per output element; concat 0.
    Squeeze-and-excitation's channel scaling (``mul``) and layer scale are 1 per element, and
    LayerNorm over channels 1 per element (its scale and shift, as BatchNorm's; the statistics
    are not counted), all three reported under ``other``. Drop path (stochastic depth) counts 0
    in every counter: at inference it is the identity, and neither framework runs an operation
    for it (the Keras inference graph holds none); in training it is one multiply per element
    by a per-sample mask, which no counter here sees, as none counts a training step.

``fvcore`` (``fvcore.nn.FlopCountAnalysis`` on the PyTorch model)
    counts one "flop" per multiply-accumulate of conv and linear layers (bias
    ignored; for a grouped conv ``prod(weight shape) * Hout * Wout``, the weight being
    ``(out, in / groups, kh, kw)``: the same MACs as ours; a linear layer on a channels-last
    map ``prod(input shape) * out``), 2 per element for an affine BatchNorm in eval mode, 5 per
    element of ``layer_norm`` (its handle's estimate with affine weights), 1 per input element
    of ``adaptive_avg_pool2d``; it skips ReLU, ReLU6 (``aten::hardtanh``), hard-swish,
    hard-sigmoid, SiLU (``aten::silu_``), sigmoid, GELU (``aten::gelu``), max/avg pooling, adds,
    the elementwise ``mul`` of squeeze-and-excitation and of layer scale, concatenation and
    dropout (it has no handle for them: reported as unsupported/skipped ops).

``tf_profiler`` (TensorFlow's ``float_operation`` profile of the frozen graph)
    counts 2 per MAC for Conv2D (grouped too: its statistic reads ``in / groups`` from
    the kernel's shape; Keras runs a grouped conv on TensorFlow inside a nested XLA call that
    the profiler does not count, so ``models_tf.profile`` traces it as the plain Conv2D), DepthwiseConv2dNative (2 x kh x kw per output element, i.e. 2 per
    MAC) and MatMul (a dense layer on a map too: Keras runs it as a Tensordot's MatMul),
    1 per output element for BiasAdd,
    kernel-area per output element for MaxPool/AvgPool, 1 per input element for
    Mean (global average pooling), 0 for Einsum (adaptive pooling into uneven bins,
    which it does not count), 1 per element for AddV2 (residual adds), and
    Keras' inference BatchNorm as the elementwise ops it is built from:
    ``x * scale + shift`` (2 per element) plus 6 per channel to form ``scale``
    and ``shift`` (add epsilon, rsqrt (counted 2), two multiplies, a subtract).
    Keras builds hard-sigmoid as ``relu6(x + 3) / 6`` (AddV2 and RealDiv: 2 per element)
    and hard-swish as ``x * hard_sigmoid(x)`` (3 per element), SiLU as
    ``x * sigmoid(beta * x)`` with beta = 1 (two Muls: 2 per element; Sigmoid counts 0),
    exact GELU as ``0.5 * x * erfc(-x / sqrt(2))`` (three Muls and a Neg: 4 per element;
    Erfc counts 0), the channel scaling and layer scale as a broadcast Mul (1 per output
    element), and LayerNormalization as 9 per element plus 4 per normalized position (per
    element 2 Means, a SquaredDifference counted 2, 3 Muls and 2 AddV2s; per position the
    epsilon's AddV2, Rsqrt counted 2 and a Neg). Relu, Relu6, Tanh, Sigmoid, Erfc, Pad, Reshape
    and ConcatV2 count 0 (TensorFlow registers no ``flops`` statistics for them).
"""
from __future__ import annotations

import math

from cnnbench.core.analytic.graph import Graph, Layer

CATEGORIES = ("conv", "dense", "batchnorm", "activation", "pooling", "add", "concat", "other")

_CATEGORY = {
    "conv": "conv", "linear": "dense", "batchnorm": "batchnorm", "activation": "activation",
    "maxpool": "pooling", "avgpool": "pooling", "add": "add", "concat": "concat",
    "flatten": "other", "dropout": "other", "mul": "other", "droppath": "other",
    "layernorm": "other", "scale": "other",
}

# TF ops per element of Keras' activations (see tf_profiler above); the others count 0
_TF_ACTIVATION_OPS = {"hardsigmoid": 2, "hardswish": 3, "silu": 2, "gelu": 4}


def category(layer: Layer) -> str:
    return _CATEGORY[layer.kind]


def _numel(shape) -> int:
    return math.prod(shape)


def analytic_flops(layer: Layer) -> int:
    """Our convention: 2 x MACs for conv/dense plus bias adds; elementwise ops as counted."""
    return 2 * layer.macs + layer.bias_adds + layer.elementwise


def fvcore_flops(layer: Layer) -> int:
    if layer.kind in ("conv", "linear"):
        return layer.macs
    if layer.kind == "batchnorm":
        return 2 * _numel(layer.out_shape)
    if layer.kind == "avgpool" and "adaptive" in layer.attrs:
        return _numel(layer.in_shapes[0])
    if layer.kind == "layernorm":
        return 5 * _numel(layer.out_shape)  # fvcore's layer_norm handle: 5 per element with affine weights
    return 0


def tf_profiler_flops(layer: Layer) -> int:
    if layer.kind in ("conv", "linear"):
        return 2 * layer.macs + layer.bias_adds
    if layer.kind == "batchnorm":
        return 2 * _numel(layer.out_shape) + 6 * layer.out_shape[0]
    if layer.kind in ("maxpool", "avgpool"):
        if "adaptive" in layer.attrs:
            # global pool -> Mean over the input; even bins -> AvgPool whose windows read every input once;
            # uneven bins (a map smaller than the bins, or not divisible by them: VGG or AlexNet below
            # their default input) -> two Einsums with averaging matrices (models_tf/ops.py), and TF's
            # profiler registers no float_operation statistics for Einsum: 0
            c, h, w = layer.in_shapes[0]
            size = layer.attrs["adaptive"]
            if size == 1 or (h % size == 0 and w % size == 0):
                return _numel(layer.in_shapes[0])
            return 0
        return layer.elementwise  # kernel area x output elements
    if layer.kind in ("add", "mul", "scale"):
        return layer.elementwise
    if layer.kind == "layernorm":
        # Keras' LayerNormalization: per element 2 Means, a SquaredDifference (2), 3 Muls, 2 AddV2s; per
        # position (one normalized vector) the epsilon's AddV2, Rsqrt (2) and a Neg
        elements = _numel(layer.out_shape)
        return 9 * elements + 4 * (elements // layer.out_shape[0])
    if layer.kind == "activation":
        return _TF_ACTIVATION_OPS.get(layer.attrs["fn"], 0) * _numel(layer.out_shape)
    return 0  # Relu, Relu6, Tanh/Sigmoid, ConcatV2, Reshape, Pad, Identity


def macs_of(layer: Layer) -> int:
    return layer.macs


def by_category(graph: Graph, counter) -> dict[str, int]:
    totals = dict.fromkeys(CATEGORIES, 0)
    for layer in graph.layers:
        totals[category(layer)] += counter(layer)
    return totals


COUNTERS = {"analytic": analytic_flops, "fvcore": fvcore_flops, "tf_profiler": tf_profiler_flops}
