"""The Keras backend: the Keras 3 models on TensorFlow, JAX or PyTorch, each with its own compiled step.

Keras fixes its backend per process (``KERAS_BACKEND``), so this module serves whichever backend the
process started with; the harness runs every case in its own worker process with the backend set.

* TensorFlow (runtime ``keras-tf``): ``tf.function`` steps, XLA with ``--tf-jit``.
* JAX (``keras-jax``): ``jax.jit`` over ``model.stateless_call`` and ``optimizer.stateless_apply``.
* PyTorch (``keras-torch``): Keras' torch backend, eager or under ``torch.compile``.

The loss, the optimizer and its settings are the same on every backend (``classification_loss``,
``cnnbench.core.training.BENCH_SGD``); so are the layer names, which ``cnnbench.transfer_weights``
pairs with the PyTorch twin's on any backend. It keeps the backend contract,
``cnnbench.core.backend.Backend`` (tests/test_backend_contract.py).

This module is the contract and what it prepares (a case's model, inputs and step); the parts live
beside it, one job each: ``runtime`` (which backend, device scope, sync, seeding), ``settings``
(applied and read back), ``distribute`` (the tf.distribute strategy of a data-parallel rank),
``steps`` (the training and inference step on each engine), ``measure`` (GEMM peak, allocator peak),
``trainer`` (``cnnbench train``) and ``zoo`` (seed, layout, inference, per-layer hooks, FLOP counter).
"""
from __future__ import annotations

import contextlib
import importlib
import math
import time

import keras
import numpy as np

from cnnbench.core.case import Case
from cnnbench.core.specs import get_spec
from cnnbench.core.step import NonFiniteLoss, Prepared
from cnnbench.core.training import BENCH_SGD
from cnnbench.models_tf import distribute
from cnnbench.models_tf.distribute import distributed_info, gather
from cnnbench.models_tf.measure import ALLOCATOR_PEAK_KIND, allocator_peak_bytes, gemm_peak_flops, reset_allocator_peak
from cnnbench.models_tf.runtime import KERAS_BACKEND, RUNTIME, device_available, device_scope, set_seed, sync
from cnnbench.models_tf.settings import configure, effective_settings, versions
from cnnbench.models_tf.steps import classification_loss, make_inference_step, make_train_step
from cnnbench.models_tf.trainer import Trainer
from cnnbench.models_tf.zoo import (FRAMEWORK, INITIAL_WEIGHTS_FROM, INPUT_LAYOUT, NAME, OP_COUNTER, framework_version,
                                    layer_output_shapes, layer_params, op_counter_version, op_counts,
                                    release_models, run_inference)

__all__ = ["ALLOCATOR_PEAK_KIND", "KERAS_BACKEND", "RUNTIME", "Trainer", "allocator_peak_bytes", "build",
           "classification_loss", "configure", "device_available", "distributed_info", "effective_settings",
           "gather", "gemm_peak_flops", "make_inference_step", "make_train_step", "parity_step", "prepare",
           "preload", "reset_allocator_peak", "set_seed", "sync", "versions", "warm_runtime",
           # the zoo's side (cnnbench.core.backend.Zoo)
           "FRAMEWORK", "INITIAL_WEIGHTS_FROM", "INPUT_LAYOUT", "NAME", "OP_COUNTER", "framework_version",
           "layer_output_shapes", "layer_params", "op_counter_version", "op_counts", "param_counts",
           "release_models", "run_inference"]
_POLICY = {"fp32": "float32", "bf16": "mixed_bfloat16", "fp16": "mixed_float16"}


def preload() -> None:
    """Nothing to add: importing the backend imports Keras and its framework, and the start-up left after
    that (about 0.4 s a worker) is tracing the warm-up step, which a fork server must not run (it would
    start the framework's thread pools before the fork)."""


def warm_runtime() -> None:
    """Start the backend's runtime without building the case's model: one compiled training and
    inference step of a tiny conv net (see models_torch.backend.warm_runtime)."""
    layers = keras.layers
    inputs = keras.Input((8, 8, 3))
    x = layers.MaxPooling2D(2)(layers.ReLU()(layers.BatchNormalization()(layers.Conv2D(4, 3)(inputs))))
    net = keras.Model(inputs, layers.Dense(2)(layers.Flatten()(x)))
    x, y = keras.ops.ones((2, 8, 8, 3)), keras.ops.convert_to_tensor(np.array([0, 1], "int32"))
    loss, _ = make_train_step(net, **BENCH_SGD)(x, y)
    keras.ops.convert_to_numpy(loss)
    keras.ops.convert_to_numpy(make_inference_step(net)(x))


def build(name: str, *, num_classes: int | None = None, input_size: int | None = None, **options):
    return getattr(importlib.import_module("cnnbench.models_tf"), name)(
        num_classes=num_classes, input_size=input_size, **options)


def xla_grouped_convs(model) -> int:
    """The model's grouped convolutions (``Conv2D(groups=g)``, g > 1; depthwise ones are another layer)
    that Keras 3 compiles with XLA on TensorFlow whatever the case's ``tf_jit``: its ``conv`` sends every
    grouped convolution to an XLA-compiled function on every device, because TensorFlow's own CPU kernels
    have no gradient for one with oneDNN off (keras/src/backend/tensorflow/nn.py). On the 2-core VM that
    made RegNetY-400MF's training step 1,396 ms against 65 ms with TensorFlow's own (oneDNN) kernels
    (results/keras-grouped-conv-xla-2026-12-06). 0 on the other Keras backends."""
    if KERAS_BACKEND != "tensorflow":
        return 0
    return sum(1 for layer in model._flatten_layers(include_self=False)
               if isinstance(layer, keras.layers.Conv2D) and getattr(layer, "groups", 1) > 1)


def _timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def param_counts(model) -> tuple[int, int]:
    """(parameters with the BatchNorm statistics, trainable parameters), as every row counts them."""
    trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    return trainable + sum(int(np.prod(w.shape)) for w in model.non_trainable_weights), trainable


def prepare(case: Case, seed: int = 0) -> Prepared:
    """Build the case's Keras model on this backend, make its inputs, run the first (untimed) step."""
    if case.layout != "nhwc":
        raise RuntimeError("the Keras models are built channels-last (NHWC); --layout applies to PyTorch")
    if case.device == "cuda" and not device_available("cuda"):
        raise RuntimeError(f"--device cuda was asked for, but Keras' {KERAS_BACKEND} backend sees no GPU")
    spec = get_spec(case.model)
    strategy = distribute.STRATEGY if case.world_size > 1 or distribute.STRATEGY is not None else None
    if case.world_size > 1 and strategy is None:
        raise RuntimeError(f"{case.id}: a data-parallel case needs a worker started with TF_CONFIG "
                           "(cnnbench.harness.distributed launches them)")
    rank = distributed_info()["rank"] if strategy is not None else 0
    set_seed(seed)
    previous = keras.mixed_precision.global_policy().name
    keras.mixed_precision.set_global_policy(_POLICY[case.precision])
    rng = np.random.default_rng(seed + rank)  # each data-parallel worker its own batch
    x_np = rng.random((case.batch, case.input_size, case.input_size, spec.in_channels), "float32")
    y_np = rng.integers(0, spec.num_classes, case.batch).astype("int32")
    scope = strategy.scope() if strategy is not None else device_scope(case.device)
    try:
        with scope:
            model, build_s = _timed(lambda: build(case.model, input_size=case.input_size, **dict(case.options)))
            x, y = keras.ops.convert_to_tensor(x_np), keras.ops.convert_to_tensor(y_np)
    finally:
        keras.mixed_precision.set_global_policy(previous)
    params, trainable = param_counts(model)
    compile_ = case.tf_jit if KERAS_BACKEND == "tensorflow" else case.torch_compile
    xla_grouped = xla_grouped_convs(model)

    if case.mode == "inference":
        infer = make_inference_step(model, device=case.device, compile=compile_)

        inputs = [x]  # feed() replaces the step's input tensor (Keras tensors are immutable)

        def step():
            with device_scope(case.device):
                out = infer(inputs[0])
            sync(case.device, out)
            return out

        def feed(samples) -> None:
            with device_scope(case.device):
                inputs[0] = keras.ops.convert_to_tensor(samples)
    else:
        train = make_train_step(model, device=case.device, precision=case.precision, compile=compile_,
                                strategy=strategy, **BENCH_SGD)
        run_scope = (lambda: contextlib.nullcontext()) if strategy is not None else (lambda: device_scope(case.device))

        def step():
            with run_scope():
                loss, _ = train(x, y)
            sync(case.device, loss)
            return loss

    def check(result) -> None:
        if case.mode == "train":
            value = float(np.asarray(keras.ops.convert_to_numpy(result)))
            if not math.isfinite(value):
                raise NonFiniteLoss(f"{case.id}: training loss is {value} (NaN/inf)")

    first, first_step_s = _timed(step)
    check(first)

    def cleanup():
        nonlocal model
        model = None
        keras.backend.clear_session()

    def layer_times(steps: int) -> dict:
        from cnnbench.models_tf.layer_times import profile_steps

        return profile_steps(step, model, steps)

    return Prepared(step, check, build_s, first_step_s, params, trainable, cleanup,
                    layer_times=layer_times if KERAS_BACKEND == "tensorflow" else None,
                    feed=feed if case.mode == "inference" else None,
                    extra={"keras_xla_grouped_convs": xla_grouped} if xla_grouped else {})


def parity_step(case: Case, seed: int = 0, with_weights: bool = True) -> dict:
    """One training step on this worker's slice of a fixed global batch (rank r takes images
    r*batch ... (r+1)*batch - 1), for the data-parallel parity tests: the loss, a checksum of the
    all-reduced gradient of every variable (what the optimizer applies), and the weights afterwards."""
    import tensorflow as tf

    spec = get_spec(case.model)
    strategy = distribute.STRATEGY
    info = distributed_info() or {"rank": 0, "world_size": 1}
    rng = np.random.default_rng(seed)
    total = case.batch * info["world_size"]
    xs = rng.random((total, case.input_size, case.input_size, spec.in_channels), "float32")
    ys = rng.integers(0, spec.num_classes, total).astype("int32")
    part = slice(info["rank"] * case.batch, (info["rank"] + 1) * case.batch)
    x, y = tf.constant(xs[part]), tf.constant(ys[part])
    set_seed(seed)
    with strategy.scope() if strategy is not None else contextlib.nullcontext():
        model = build(case.model, input_size=case.input_size, **dict(case.options))
    aux_weight = getattr(model, "aux_weight", 0.0)
    replicas = strategy.num_replicas_in_sync if strategy is not None else 1

    def grads_body(x, y):
        with tf.GradientTape() as tape:
            loss = classification_loss(model(x, training=True), y, aux_weight) / replicas
        grads = tape.gradient(loss, model.trainable_variables)
        ctx = tf.distribute.get_replica_context()
        return ctx.all_reduce(tf.distribute.ReduceOp.SUM, grads) if strategy is not None else grads

    if strategy is not None:
        grads = tf.function(lambda x, y: strategy.run(grads_body, args=(x, y)))(x, y)
        grads = [strategy.experimental_local_results(g)[0] for g in grads]
    else:
        grads = tf.function(grads_body)(x, y)
    train = make_train_step(model, strategy=strategy, **BENCH_SGD)
    loss, _ = train(x, y)
    out = {"rank": info["rank"], "loss": float(loss.numpy()),
           "grads": [[float(tf.reduce_sum(g)), float(tf.reduce_sum(g * g))] for g in grads]}
    if with_weights:
        out["weights"] = np.concatenate([np.ravel(keras.ops.convert_to_numpy(v)) for v in
                                         model.trainable_variables]).tolist()
    return out
