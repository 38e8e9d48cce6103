"""TensorFlow side of ``cnnbench profile`` and ``summary``: per-layer params and shapes, TF profiler counts."""
from __future__ import annotations

import re
from collections import defaultdict
from contextlib import contextmanager

import keras
import numpy as np
import tensorflow as tf

from cnnbench.models_tf.walk import keras_layers

# TF op types -> our categories (the layer a node belongs to decides where it is reported)
TF_MAC_OPS = ("Conv2D", "DepthwiseConv2dNative", "MatMul")  # each counted 2 per MAC


def layer_params(model: keras.Model) -> dict[str, dict[str, int]]:
    """Per layer: trainable and non-trainable weights (BN moving statistics), bytes."""
    out = {}
    for name, layer in keras_layers(model).items():
        if isinstance(layer, keras.layers.InputLayer):
            continue
        trainable = sum(int(np.prod(w.shape)) for w in layer.trainable_weights)
        frozen = sum(int(np.prod(w.shape)) for w in layer.non_trainable_weights)
        out[name] = {
            "trainable": trainable,
            "frozen": 0,
            "buffers": frozen,  # Keras' non-trainable weights are PyTorch's buffers here
            "bytes": sum(int(np.prod(w.shape)) * np.dtype(w.dtype).itemsize for w in layer.weights),
            "type": type(layer).__name__,
        }
    return out


@contextmanager
def _grouped_convs_as_plain_ops():
    """Keras' TensorFlow backend builds a grouped convolution (neither 1 group nor depthwise: RegNet's) as a
    call of a nested XLA-compiled function around one Conv2D, because TensorFlow's CPU kernel lacks grouped
    convs. The profiler does not count inside that call, and a frozen graph loses the shape of its output and
    so of every later op. A profiled graph is never run: while it is traced, such a conv is the Conv2D op
    itself (Keras' own non-XLA branch: the op XLA compiles), which TF counts at 2 per MAC of its
    ``(kh, kw, in / groups, out)`` kernel."""
    from keras.src.backend.tensorflow import nn as tf_nn

    xla_conv = tf_nn.conv

    def conv(inputs, kernel, strides=1, padding="valid", data_format=None, dilation_rate=1):
        if len(inputs.shape) != 4 or inputs.shape[-1] == kernel.shape[-2] or data_format == "channels_first":
            return xla_conv(inputs, kernel, strides, padding, data_format, dilation_rate)
        return tf.nn.convolution(inputs, kernel, strides, padding.upper(), data_format="NHWC",
                                 dilations=dilation_rate)

    tf_nn.conv = conv
    try:
        yield
    finally:
        tf_nn.conv = xla_conv


def inference_graph(model: keras.Model, batch: int, frozen: bool = True):
    """The traced inference graph; ``frozen`` turns variables into constants. Float-op counts do not
    depend on it: they come from shapes (tests/test_profile.py checks that they are the same)."""
    spec = tf.TensorSpec([batch, *model.input_shape[1:]], tf.float32)
    with _grouped_convs_as_plain_ops():
        concrete = tf.function(lambda x: model(x, training=False)).get_concrete_function(spec)
    if not frozen:
        return concrete.graph
    # convert_variables_to_constants_v2's own steps, less its last: it wraps the frozen GraphDef in a new
    # ConcreteFunction (wrap_function, prune, lift_to_graph), which copies every constant several times and
    # which a profile, never run, does not need (19 of its 22 s for AlexNet's 61 M parameters under cProfile).
    # The GraphDef imported as it is, under its own node names, profiles to the same counts, per op type and
    # per layer (measured on 2026-12-06 on the loaded 2-core VM, whole frozen profile: AlexNet 13-15 s -> 5-6 s,
    # VGG-11 21-34 s -> 12 s; tests/test_profile.py compares it with the unfrozen graph for every family).
    from tensorflow.python.framework.convert_to_constants import (_FunctionConverterDataInEager,
                                                                  _replace_variables_by_constants)

    graph_def, _ = _replace_variables_by_constants(converter_data=_FunctionConverterDataInEager(
        func=concrete, lower_control_flow=True, aggressive_inlining=False))
    graph = tf.Graph()
    with graph.as_default():
        tf.graph_util.import_graph_def(graph_def, name="")
    return graph


def layer_of_node(node: str, names: set[str]) -> str | None:
    """The layer a graph node or traced op belongs to: nodes are ``<model scope>/<layer name>[_N]/<op>...``
    (Keras may suffix a scope with _N; gradient ops add a ``gradient_tape/`` prefix), or None."""
    for part in node.split("/")[1:-1]:
        if part in names:
            return part
        base = re.sub(r"_\d+$", "", part)
        if base in names:
            return base
    return None


def tf_profiler_counts(model: keras.Model, batch: int = 1, frozen: bool = True) -> dict:
    """``float_operation`` profile of the (frozen) inference graph, per layer and per op type."""
    graph = inference_graph(model, batch, frozen)
    opts = (tf.compat.v1.profiler.ProfileOptionBuilder(tf.compat.v1.profiler.ProfileOptionBuilder.float_operation())
            .with_empty_output().build())
    logger = tf.get_logger()
    level = logger.level
    logger.setLevel("ERROR")  # the v1 profiler API logs a deprecation notice on every call
    try:
        prof = tf.compat.v1.profiler.profile(graph, options=opts)
    finally:
        logger.setLevel(level)
    op_type = {op.name: op.type for op in graph.get_operations()}
    names = set(keras_layers(model))
    per_layer: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    by_op: dict[str, int] = defaultdict(int)
    unattributed: dict[str, int] = defaultdict(int)

    stack = list(prof.children)
    while stack:
        node = stack.pop()
        stack.extend(node.children)
        if not node.float_ops or node.name not in op_type:
            continue
        kind = op_type[node.name]
        by_op[kind] += node.float_ops
        layer = layer_of_node(node.name, names)
        if layer is None:
            unattributed[f"{kind}:{node.name}"] += node.float_ops
        else:
            per_layer[layer][kind] += node.float_ops
    return {
        "total": int(prof.total_float_ops),
        "by_op_type": dict(by_op),
        "per_layer": {k: dict(v) for k, v in per_layer.items()},
        "unattributed": dict(unattributed),
    }


def layer_output_shapes(model: keras.Model) -> dict[str, tuple]:
    """Per layer: its symbolic output shape (batch axis dropped), NHWC as Keras builds it."""
    out = {}
    for name, layer in keras_layers(model).items():
        if isinstance(layer, keras.layers.InputLayer):
            continue
        shape = getattr(layer.output, "shape", None)
        if shape is not None:
            out[name] = tuple(shape[1:])
    return out
