"""TensorFlow side of ``cnnbench profile``: per-layer params, TF profiler counts, memory, GEMM peak."""
from __future__ import annotations

import math
import re
import time
from collections import defaultdict

import keras
import numpy as np
import tensorflow as tf

from cnnbench.models_tf.walk import keras_layers
from cnnbench.models_tf.train import classification_loss

# TF op types -> our categories (the layer a node belongs to decides where it is reported)
TF_MAC_OPS = ("Conv2D", "MatMul")


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


def inference_graph(model: keras.Model, batch: int, frozen: bool = True):
    """The traced inference graph; ``frozen`` turns variables into constants (slow for big models:
    about 30 s for VGG-11). Float-op counts do not depend on it: they come from shapes."""
    spec = tf.TensorSpec([batch, *model.input_shape[1:]], tf.float32)
    concrete = tf.function(lambda x: model(x, training=False)).get_concrete_function(spec)
    if not frozen:
        return concrete.graph
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    return convert_variables_to_constants_v2(concrete).graph


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

    def layer_of(node: str) -> str | None:
        # nodes are "<model scope>/<layer name>[_N]/<op>..."; Keras may suffix the scope with _N
        for part in node.split("/")[1:-1]:
            if part in names:
                return part
            base = re.sub(r"_\d+$", "", part)
            if base in names:
                return base
        return None

    stack = list(prof.children)
    while stack:
        node = stack.pop()
        stack.extend(node.children)
        if not node.float_ops or node.name not in op_type:
            continue
        kind = op_type[node.name]
        by_op[kind] += node.float_ops
        layer = layer_of(node.name)
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


def measured_memory(model: keras.Model, mode: str, batch: int, num_classes: int, device: str = "cpu") -> dict:
    """TensorFlow allocator peak of one traced step (after a warm-up step), via get_memory_info."""
    dev = "GPU:0" if device == "cuda" else "CPU:0"
    x = tf.random.uniform((batch, *model.input_shape[1:]))
    if mode == "inference":
        fn = tf.function(lambda inp: model(inp, training=False))

        def step():
            return fn(x)
    else:
        y = tf.random.uniform((batch,), maxval=num_classes, dtype=tf.int32)
        opt = keras.optimizers.SGD(learning_rate=0.01, momentum=0.9)
        opt.build(model.trainable_variables)
        aux_weight = getattr(model, "aux_weight", 0.0)

        @tf.function
        def step():
            with tf.GradientTape() as tape:
                loss = classification_loss(model(x, training=True), y, aux_weight)
            grads = tape.gradient(loss, model.trainable_variables)
            opt.apply_gradients(zip(grads, model.trainable_variables))
            return loss

    with tf.device("/" + dev):
        step().numpy()
        tf.config.experimental.reset_memory_stats(dev)
        step().numpy()
        info = tf.config.experimental.get_memory_info(dev)
    kind = f"tf.config.experimental.get_memory_info('{dev}')['peak'] (allocator peak, incl. resident weights)"
    if info["peak"] == 0:
        # seen with LeNet-5 at batch 1: TF's CPU allocator statistics leave out small allocations
        return {"peak_bytes": None, "current_bytes": int(info["current"]),
                "kind": kind + ": reported 0, TensorFlow's CPU allocator statistics omit small allocations"}
    return {"peak_bytes": int(info["peak"]), "current_bytes": int(info["current"]), "kind": kind}


def gemm_peak_flops(device: str = "cpu", n: int | None = None, repeats: int = 10) -> float:
    """Best observed FLOP/s of an n x n float32 matrix product (2 n^3 FLOPs), synchronized."""
    n = n or (2048 if device == "cpu" else 8192)
    with tf.device("/GPU:0" if device == "cuda" else "/CPU:0"):
        a = tf.random.uniform((n, n))
        b = tf.random.uniform((n, n))
        matmul = tf.function(lambda p, q: tf.linalg.matmul(p, q))
        matmul(a, b).numpy()
        best = math.inf
        for _ in range(repeats):
            t = time.perf_counter()
            matmul(a, b)[0, 0].numpy()  # reading one element waits for the product
            best = min(best, time.perf_counter() - t)
    return 2 * n**3 / best


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
