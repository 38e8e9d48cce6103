"""Prepare a TensorFlow/Keras case: build, trace (and XLA-compile) outside the timed region."""
from __future__ import annotations

import math
import os

import numpy as np

from cnnbench.bench.cases import Case
from cnnbench.bench.common import NonFiniteLoss, Prepared, timed

_POLICY = {"fp32": "float32", "bf16": "mixed_bfloat16", "fp16": "mixed_float16"}


def _device(case: Case) -> str:
    return "/GPU:0" if case.device == "cuda" else "/CPU:0"


def sync(device: str, result=None) -> None:
    """Wait for the device. On GPU, sync_devices() waits for every queued kernel; on the CPU
    reading the (small) result back to the host guarantees the step has finished."""
    import tensorflow as tf

    if device == "cuda":
        tf.test.experimental.sync_devices()
    elif result is not None:
        result.numpy()


def settings(device: str) -> dict:
    import keras
    import tensorflow as tf

    build = tf.sysconfig.get_build_info()
    out = {
        "tf_version": tf.__version__,
        "keras_version": keras.__version__,
        # 0 means TensorFlow's default: one thread per core
        "tf_intra_op_threads": tf.config.threading.get_intra_op_parallelism_threads(),
        "tf_inter_op_threads": tf.config.threading.get_inter_op_parallelism_threads(),
        "tf32_execution": bool(tf.config.experimental.tensor_float_32_execution_enabled()),
        "tf_onednn_opts": os.environ.get("TF_ENABLE_ONEDNN_OPTS", "default (on in x86 CPU builds)"),
    }
    if device == "cuda":
        out["cuda_version"] = build.get("cuda_version")
        out["cudnn_version"] = build.get("cudnn_version")
    return out


def prepare(case: Case, seed: int = 0, builder=None) -> Prepared:
    """Everything outside the timed region happens here.
    ``builder`` (a callable returning a model) replaces the registry build (README's reference builds)."""
    import keras
    import tensorflow as tf

    import cnnbench

    if case.device == "cuda" and not tf.config.list_physical_devices("GPU"):
        raise RuntimeError("--device cuda was asked for, but TensorFlow sees no GPU")
    if case.layout != "nhwc":
        raise RuntimeError("the Keras models are built channels-last (NHWC); --layout applies to PyTorch")
    spec = cnnbench.get_spec(case.model)
    keras.utils.set_random_seed(seed)
    previous = keras.mixed_precision.global_policy().name
    keras.mixed_precision.set_global_policy(_POLICY[case.precision])
    try:
        with tf.device(_device(case)):
            model, build_s = timed(builder or (lambda: cnnbench.get_model(
                case.model, "tf", input_size=case.input_size, **dict(case.options))))
            rng = np.random.default_rng(seed)
            x = tf.constant(rng.random((case.batch, case.input_size, case.input_size, spec.in_channels), "float32"))
            y = tf.constant(rng.integers(0, spec.num_classes, case.batch), tf.int32)
    finally:
        keras.mixed_precision.set_global_policy(previous)
    trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    params = trainable + sum(int(np.prod(w.shape)) for w in model.non_trainable_weights)

    if case.mode == "inference":
        fn = tf.function(lambda inp: model(inp, training=False), jit_compile=case.tf_jit)

        def step():
            with tf.device(_device(case)):
                out = fn(x)
            sync(case.device, out)
            return out

    else:
        from cnnbench.models_tf.train import classification_loss

        opt = keras.optimizers.SGD(learning_rate=0.01, momentum=0.9)  # as in the seeds
        if case.precision == "fp16":
            opt = keras.optimizers.LossScaleOptimizer(opt)
        opt.build(model.trainable_variables)  # create slots outside the traced function
        aux_weight = getattr(model, "aux_weight", 0.0)

        @tf.function(jit_compile=case.tf_jit)
        def train_step(inp):
            with tf.GradientTape() as tape:
                loss = classification_loss(model(inp, training=True), y, aux_weight)
                scaled = opt.scale_loss(loss) if case.precision == "fp16" else loss
            grads = tape.gradient(scaled, model.trainable_variables)
            opt.apply_gradients(zip(grads, model.trainable_variables))
            return loss

        def step():
            with tf.device(_device(case)):
                loss = train_step(x)
            sync(case.device, loss)
            return loss

    def check(result) -> None:
        if case.mode == "train":
            value = float(result.numpy())
            if not math.isfinite(value):
                raise NonFiniteLoss(f"{case.id}: training loss is {value} (NaN/inf) after the timed rounds")

    def measure_peak_memory() -> dict:
        dev = "GPU:0" if case.device == "cuda" else "CPU:0"
        try:
            tf.config.experimental.reset_memory_stats(dev)
            step()
            peak = tf.config.experimental.get_memory_info(dev)["peak"]
        except (ValueError, tf.errors.OpError) as exc:
            return {"peak_memory_bytes": None, "peak_memory_kind": f"unavailable: {exc}"}
        kind = f"tf.config.experimental.get_memory_info('{dev}')['peak'] (allocator peak, this step)"
        if peak == 0:  # TF's CPU allocator statistics leave out small allocations (LeNet-5 at batch 1)
            return {"peak_memory_bytes": None, "peak_memory_kind": kind + ": reported 0, small allocations untracked"}
        return {"peak_memory_bytes": int(peak), "peak_memory_kind": kind}

    first, first_step_s = timed(step)  # out of memory here is the harness's to record (is_out_of_memory)
    check(first)

    def cleanup():
        nonlocal model
        model = None
        keras.backend.clear_session()

    return Prepared(step, check, measure_peak_memory, build_s, first_step_s, params, trainable,
                    settings(case.device), cleanup)



def gemm_peak_flops(device: str = "cpu") -> float:
    """The framework's measured float32 GEMM peak (see cnnbench.models_tf.profile)."""
    from cnnbench.models_tf.profile import gemm_peak_flops as measure

    return measure(device)


def gemm_math_mode(device: str = "cpu") -> str:
    """TensorFlow runs float32 matmuls and convolutions in TF32 on a GPU unless told not to."""
    import tensorflow as tf

    return "tf32" if device == "cuda" and tf.config.experimental.is_tensor_float_32_execution_enabled() else "fp32"
