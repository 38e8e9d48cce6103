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
"""
from __future__ import annotations

import contextlib
import importlib
import math
import os
import time

import keras
import numpy as np

from cnnbench.core.case import Case
from cnnbench.core.settings import Settings
from cnnbench.core.specs import get_spec
from cnnbench.core.step import NonFiniteLoss, Prepared
from cnnbench.core.training import BENCH_SGD

KERAS_BACKEND = keras.backend.backend()
RUNTIME = {"tensorflow": "keras-tf", "jax": "keras-jax", "torch": "keras-torch"}[KERAS_BACKEND]
_POLICY = {"fp32": "float32", "bf16": "mixed_bfloat16", "fp16": "mixed_float16"}
_DTYPE = {"fp32": "float32", "tf32": "float32", "bf16": "bfloat16", "fp16": "float16"}


def _allow_dotted_layer_names_on_torch() -> None:
    """Keras' torch backend registers each variable as a torch parameter named by its path
    (``stage1.conv/kernel``), and torch refuses a "." in a parameter name, while Keras allows it in a
    layer name and our layers carry PyTorch's dotted module paths. Register them under the same path
    with "." replaced by U+2024 (one dot leader); Keras itself keeps the real names."""
    import torch
    from keras.src.backend.torch.layer import TorchLayer

    def key(variable) -> str:
        return variable.path.replace(".", "\u2024")

    def _track_variables(self):
        self._torch_params = torch.nn.ParameterDict({key(v): v.value for v in self.variables})

    def _post_track_variable(self, variable):
        if hasattr(self, "_torch_params") and key(variable) not in self.torch_params:
            self.torch_params[key(variable)] = variable.value

    def _post_untrack_variable(self, variable):
        if hasattr(self, "_torch_params") and key(variable) in self.torch_params:
            self.torch_params.pop(key(variable))

    TorchLayer._track_variables = _track_variables
    TorchLayer._post_track_variable = _post_track_variable
    TorchLayer._post_untrack_variable = _post_untrack_variable


if KERAS_BACKEND == "torch":
    _allow_dotted_layer_names_on_torch()


# ------------------------------------------------------------------ settings and versions
def configure(settings: Settings, device: str) -> None:
    """Apply the run's settings before any model is built (environment variables came first)."""
    s = settings.resolved()
    tf32 = s.math == "tf32"
    if KERAS_BACKEND == "tensorflow":
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(s.threads)
        tf.config.threading.set_inter_op_parallelism_threads(s.interop_threads)
        tf.config.experimental.enable_tensor_float_32_execution(tf32)
        if os.environ.get("CNNBENCH_DISTRIBUTED") == "1":
            _start_multi_worker(device)
    elif KERAS_BACKEND == "jax":
        import jax

        jax.config.update("jax_default_matmul_precision", "tensorfloat32" if tf32 else "highest")
    else:
        import torch

        torch.set_num_threads(s.threads)
        with contextlib.suppress(RuntimeError):
            torch.set_num_interop_threads(s.interop_threads)
        torch.backends.cuda.matmul.allow_tf32 = tf32
        torch.backends.cudnn.allow_tf32 = tf32
        torch.backends.cudnn.benchmark = s.autotune
        torch.set_float32_matmul_precision("high" if tf32 else "highest")


_STRATEGY = None  # the tf.distribute strategy of a data-parallel worker (created before any other op)


def _start_multi_worker(device: str) -> None:
    """Join the TF_CONFIG cluster with MultiWorkerMirroredStrategy: collective all-reduce over ring
    (gRPC) on CPUs, NCCL on GPUs. TensorFlow requires the strategy before any other operation."""
    import tensorflow as tf

    global _STRATEGY
    impl = tf.distribute.experimental.CommunicationImplementation
    options = tf.distribute.experimental.CommunicationOptions(
        implementation=impl.NCCL if device == "cuda" else impl.RING,
        timeout_seconds=float(os.environ.get("CNNBENCH_RENDEZVOUS_TIMEOUT", "120")))
    _STRATEGY = tf.distribute.MultiWorkerMirroredStrategy(communication_options=options)


def distributed_info() -> dict | None:
    """Rank, world size and collective backend of a data-parallel worker, or None."""
    if _STRATEGY is None:
        return None
    import json

    cfg = json.loads(os.environ["TF_CONFIG"])
    return {"rank": cfg["task"]["index"], "world_size": _STRATEGY.num_replicas_in_sync // max(
        1, len(_STRATEGY.extended.worker_devices)), "replicas": _STRATEGY.num_replicas_in_sync,
        "dist_backend": f"tf.distribute MultiWorkerMirroredStrategy, collective ops over "
                        f"{'NCCL' if 'GPU' in str(_STRATEGY.extended.worker_devices) else 'RING (gRPC)'}"}


def gather(value) -> list:
    """Every worker's ``value`` (JSON-able), in rank order, through the strategy's collective all-gather."""
    import json

    import tensorflow as tf

    def all_gather(t):
        return tf.distribute.get_replica_context().all_gather(t, axis=0)

    def run(t):
        return _STRATEGY.experimental_local_results(tf.function(lambda u: _STRATEGY.run(all_gather, (u,)))(t))[0]

    data = np.frombuffer(json.dumps(value).encode(), np.uint8)
    lengths = run(tf.constant([len(data)], tf.int32)).numpy()
    padded = np.zeros((1, int(lengths.max())), np.uint8)
    padded[0, :len(data)] = data
    rows = run(tf.constant(padded)).numpy()
    return [json.loads(bytes(row[:n]).decode()) for row, n in zip(rows, lengths)]


def effective_settings(device: str) -> dict:
    """What is in force, read back from the backend where it can be read (the ``setting_*`` fields)."""
    cuda = device == "cuda"
    if KERAS_BACKEND == "tensorflow":
        import tensorflow as tf
        from tensorflow.python.util import _pywrap_util_port

        tf32 = bool(tf.config.experimental.tensor_float_32_execution_enabled())
        onednn = bool(_pywrap_util_port.IsMklEnabled())
        intra = tf.config.threading.get_intra_op_parallelism_threads()
        inter = tf.config.threading.get_inter_op_parallelism_threads()
        return {
            "setting_math_matmul": "tf32" if cuda and tf32 else "fp32",
            "setting_math_conv": "tf32" if cuda and tf32 else "fp32",
            "setting_autotune": os.environ.get("TF_CUDNN_USE_AUTOTUNE", "1") != "0" if cuda else None,
            "setting_intra_op_threads": intra, "setting_inter_op_threads": inter,
            "setting_onednn": onednn if not cuda else None,
            # the framework's own names, as earlier runs recorded them
            "tf_intra_op_threads": intra, "tf_inter_op_threads": inter, "tf32_execution": tf32,
            "tf_onednn_opts": "on" if onednn else "off",
        }
    if KERAS_BACKEND == "jax":
        import jax

        precision = jax.config.jax_default_matmul_precision
        math_mode = "tf32" if cuda and precision == "tensorfloat32" else "fp32"
        threads = int(os.environ.get("OMP_NUM_THREADS", "0")) or None  # XLA's CPU pool cannot be read back
        return {
            "setting_math_matmul": math_mode, "setting_math_conv": math_mode,
            "setting_autotune": "--xla_gpu_autotune_level=0" not in os.environ.get("XLA_FLAGS", "") if cuda else None,
            "setting_intra_op_threads": threads, "setting_inter_op_threads": threads,
            "setting_onednn": None, "jax_default_matmul_precision": precision,
        }
    from cnnbench.models_torch.backend import setting_fields  # Keras on torch: PyTorch's settings are in force

    return setting_fields(device)


def versions(device: str) -> dict:
    module = importlib.import_module(KERAS_BACKEND)
    out = {"keras_version": keras.__version__, "keras_backend": KERAS_BACKEND,
           "backend_version": f"{KERAS_BACKEND} {module.__version__}"}
    if KERAS_BACKEND == "tensorflow":
        import tensorflow as tf

        out["tf_version"] = tf.__version__
        if device == "cuda":
            build = tf.sysconfig.get_build_info()
            out["cuda_version"], out["cudnn_version"] = build.get("cuda_version"), build.get("cudnn_version")
    elif KERAS_BACKEND == "jax":
        out["jax_version"] = module.__version__
    else:
        out["torch_version"] = module.__version__
        if device == "cuda":
            out["cuda_version"], out["cudnn_version"] = module.version.cuda, module.backends.cudnn.version()
    return out


def device_available(device: str) -> bool:
    if device == "cpu":
        return True
    if KERAS_BACKEND == "tensorflow":
        import tensorflow as tf

        return bool(tf.config.list_physical_devices("GPU"))
    if KERAS_BACKEND == "jax":
        import jax

        return any(d.platform == "gpu" for d in jax.devices())
    import torch

    return torch.cuda.is_available()


def sync(device: str, result=None) -> None:
    """Wait until the step is done: TensorFlow's sync_devices on a GPU and a read back to the host on
    the CPU; JAX's block_until_ready (its dispatch is asynchronous on every device); CUDA
    synchronization for the torch backend."""
    if KERAS_BACKEND == "tensorflow":
        import tensorflow as tf

        if device == "cuda":
            tf.test.experimental.sync_devices()
        elif result is not None:
            result.numpy()
    elif KERAS_BACKEND == "jax":
        import jax

        if result is not None:
            jax.block_until_ready(result)
    elif device == "cuda":
        import torch

        torch.cuda.synchronize()


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


def set_seed(seed: int) -> None:
    """keras.utils.set_random_seed without its side effect of importing TensorFlow into a JAX or torch
    process (400 MB of resident memory that would count as the case's): the same global Keras seed and
    SeedGenerator reset, Python's and NumPy's seeds, and the backend's own."""
    if KERAS_BACKEND == "tensorflow":
        keras.utils.set_random_seed(seed)
        return
    import random

    from keras.src.backend.common import global_state
    from keras.src.random import seed_generator
    from keras.src.utils import rng_utils

    global_state.set_global_attribute(rng_utils.GLOBAL_RANDOM_SEED, seed)
    global_state.set_global_attribute(seed_generator.GLOBAL_SEED_GENERATOR, None)
    random.seed(seed)
    np.random.seed(seed)
    if KERAS_BACKEND == "torch":
        import torch

        torch.manual_seed(seed)


def _device_scope(device: str):
    if KERAS_BACKEND == "tensorflow":
        import tensorflow as tf

        return tf.device("/GPU:0" if device == "cuda" else "/CPU:0")
    return contextlib.nullcontext()  # JAX and torch place on the visible device (the worker hides GPUs for CPU cases)


# ------------------------------------------------------------------ models and steps
def build(name: str, *, num_classes: int | None = None, input_size: int | None = None, **options):
    return getattr(importlib.import_module("cnnbench.models_tf"), name)(
        num_classes=num_classes, input_size=input_size, **options)


def classification_loss(out, y, aux_weight: float = 0.0):
    """Cross-entropy of the logits in float32 (mixed-precision logits are cast), with keras.ops, so the
    same loss runs inside tf.function, jax.jit and torch. Networks with auxiliary heads return
    ``[logits, *aux_logits]`` in training mode; each auxiliary loss is added with ``aux_weight``."""
    def ce(logits):
        logits = keras.ops.cast(logits, "float32")
        return keras.ops.mean(keras.losses.sparse_categorical_crossentropy(y, logits, from_logits=True))

    if isinstance(out, (list, tuple)):
        return ce(out[0]) + aux_weight * sum(ce(a) for a in out[1:])
    return ce(out)


def _optimizer(lr: float, momentum: float, precision: str):
    opt = keras.optimizers.SGD(learning_rate=lr, momentum=momentum)
    return keras.optimizers.LossScaleOptimizer(opt) if precision == "fp16" else opt


def make_train_step(model, *, lr: float, momentum: float, device: str = "cpu", precision: str = "fp32",
                    compile: bool = False, strategy=None):
    """THE training step on this process's Keras backend: forward, loss (aux heads weighted), backward,
    SGD with momentum (loss scaling for fp16). Returns ``step(x, y) -> (loss, logits)``; the caller
    synchronizes. ``compile``: XLA on TensorFlow, torch.compile on the torch backend; a JAX step is
    always jit-compiled. On JAX the weights live in the step (``step.write_back()`` copies them into
    the model).

    ``strategy`` (TensorFlow): a tf.distribute strategy whose scope built the model; the same step then
    runs on every replica through ``strategy.run``: each replica's loss is divided by the number of
    replicas, and the Keras optimizer all-reduces (sums) the gradients across replicas, so every worker
    applies the gradient of the mean loss over the global batch (as DistributedDataParallel does)."""
    aux_weight = getattr(model, "aux_weight", 0.0)
    with strategy.scope() if strategy is not None else contextlib.nullcontext():
        opt = _optimizer(lr, momentum, precision)
        opt.build(model.trainable_variables)
    if KERAS_BACKEND == "tensorflow":
        import tensorflow as tf

        replicas = strategy.num_replicas_in_sync if strategy is not None else 1

        def body(x, y):
            with tf.GradientTape() as tape:
                out = model(x, training=True)
                loss = classification_loss(out, y, aux_weight)
                share = loss / replicas if replicas > 1 else loss
                scaled = opt.scale_loss(share) if precision == "fp16" else share
            grads = tape.gradient(scaled, model.trainable_variables)
            opt.apply_gradients(zip(grads, model.trainable_variables))
            return loss, out[0] if isinstance(out, (list, tuple)) else out

        if strategy is None:
            return tf.function(body, jit_compile=compile, reduce_retracing=True)

        @tf.function(jit_compile=compile)
        def distributed_step(x, y):
            loss, logits = strategy.run(body, args=(x, y))
            return strategy.experimental_local_results(loss)[0], strategy.experimental_local_results(logits)[0]

        return distributed_step
    if KERAS_BACKEND == "jax":
        import jax

        if precision == "fp16":
            raise NotImplementedError("fp16 training (dynamic loss scaling) is not implemented for Keras on JAX; "
                                      "use --precision bf16")

        def loss_fn(tv, ntv, x, y):
            out, ntv = model.stateless_call(tv, ntv, x, training=True)
            logits = out[0] if isinstance(out, (list, tuple)) else out
            return classification_loss(out, y, aux_weight), (ntv, logits)

        grad_fn = jax.value_and_grad(loss_fn, has_aux=True)

        @jax.jit
        def jitted(tv, ntv, ov, x, y):
            (loss, (ntv, logits)), grads = grad_fn(tv, ntv, x, y)
            tv, ov = opt.stateless_apply(ov, grads, tv)
            return loss, logits, tv, ntv, ov

        state = [[v.value for v in model.trainable_variables], [v.value for v in model.non_trainable_variables],
                 [v.value for v in opt.variables]]

        def step(x, y):
            loss, logits, *state[:] = jitted(*state, x, y)
            return loss, logits

        def write_back():
            for group, values in zip((model.trainable_variables, model.non_trainable_variables, opt.variables), state):
                for v, value in zip(group, values):
                    v.assign(value)

        step.write_back = write_back
        step.state = state
        return step
    import torch

    net = torch.compile(model) if compile else model

    def torch_step(x, y):
        model.zero_grad()
        out = net(x, training=True)
        loss = classification_loss(out, y, aux_weight)
        (opt.scale_loss(loss) if precision == "fp16" else loss).backward()
        with torch.no_grad():
            opt.apply([v.value.grad for v in model.trainable_variables], model.trainable_variables)
        logits = out[0] if isinstance(out, (list, tuple)) else out
        return loss.detach(), logits.detach()

    return torch_step


def make_inference_step(model, *, device: str = "cpu", compile: bool = False):
    """Returns ``infer(x) -> logits`` (unsynchronized), the backend's compiled inference step."""
    if KERAS_BACKEND == "tensorflow":
        import tensorflow as tf

        return tf.function(lambda x: model(x, training=False), jit_compile=compile, reduce_retracing=True)
    if KERAS_BACKEND == "jax":
        import jax

        jitted = jax.jit(lambda tv, ntv, x: model.stateless_call(tv, ntv, x, training=False)[0])
        tv = [v.value for v in model.trainable_variables]
        ntv = [v.value for v in model.non_trainable_variables]
        return lambda x: jitted(tv, ntv, x)
    import torch

    net = torch.compile(model) if compile else model

    def infer(x):
        with torch.no_grad():
            return net(x, training=False)

    return infer


def _timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def _count(weights) -> int:
    return sum(int(np.prod(w.shape)) for w in weights)


def prepare(case: Case, seed: int = 0) -> Prepared:
    """Build the case's Keras model on this backend, make its inputs, run the first (untimed) step."""
    if case.layout != "nhwc":
        raise RuntimeError("the Keras models are built channels-last (NHWC); --layout applies to PyTorch")
    if case.device == "cuda" and not device_available("cuda"):
        raise RuntimeError(f"--device cuda was asked for, but Keras' {KERAS_BACKEND} backend sees no GPU")
    spec = get_spec(case.model)
    strategy = _STRATEGY if case.world_size > 1 or _STRATEGY is not None else None
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
    scope = strategy.scope() if strategy is not None else _device_scope(case.device)
    try:
        with scope:
            model, build_s = _timed(lambda: build(case.model, input_size=case.input_size, **dict(case.options)))
            x, y = keras.ops.convert_to_tensor(x_np), keras.ops.convert_to_tensor(y_np)
    finally:
        keras.mixed_precision.set_global_policy(previous)
    trainable = _count(model.trainable_weights)
    params = trainable + _count(model.non_trainable_weights)
    compile_ = case.tf_jit if KERAS_BACKEND == "tensorflow" else case.torch_compile

    if case.mode == "inference":
        infer = make_inference_step(model, device=case.device, compile=compile_)

        def step():
            with _device_scope(case.device):
                out = infer(x)
            sync(case.device, out)
            return out
    else:
        train = make_train_step(model, device=case.device, precision=case.precision, compile=compile_,
                                strategy=strategy, **BENCH_SGD)
        run_scope = (lambda: contextlib.nullcontext()) if strategy is not None else (lambda: _device_scope(case.device))

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

    return Prepared(step, check, build_s, first_step_s, params, trainable, cleanup)


def parity_step(case: Case, seed: int = 0, with_weights: bool = True) -> dict:
    """One training step on this worker's slice of a fixed global batch (rank r takes images
    r*batch ... (r+1)*batch - 1), for the data-parallel parity tests: the loss, a checksum of the
    all-reduced gradient of every variable (what the optimizer applies), and the weights afterwards."""
    import tensorflow as tf

    spec = get_spec(case.model)
    strategy = _STRATEGY
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


# ------------------------------------------------------------------ machine measurements
def gemm_peak_flops(device: str = "cpu", math_mode: str = "fp32", *, n: int | None = None, trials: int = 5) -> float:
    """Best FLOP/s of ``trials`` synchronized n x n matrix products (2 n^3 FLOPs each) on this backend,
    in ``math_mode`` (fp32 strict, tf32, bf16, fp16); the run's settings are restored afterwards."""
    if n is None:
        n = 8192 if device == "cuda" else (2048 if math_mode in ("fp32", "tf32") else 1024)
    dtype = _DTYPE[math_mode]
    rng = np.random.default_rng(0)
    a_np, b_np = rng.random((n, n), "float32"), rng.random((n, n), "float32")
    if KERAS_BACKEND == "tensorflow":
        import tensorflow as tf

        saved = tf.config.experimental.tensor_float_32_execution_enabled()
        tf.config.experimental.enable_tensor_float_32_execution(math_mode == "tf32")
        try:
            with _device_scope(device):
                a, b = tf.cast(tf.constant(a_np), dtype), tf.cast(tf.constant(b_np), dtype)
                matmul = tf.function(lambda p, q: tf.linalg.matmul(p, q))
                run = lambda: matmul(a, b)[0, 0].numpy()  # noqa: E731  (reading one element waits)
                return _best(run, n, trials)
        finally:
            tf.config.experimental.enable_tensor_float_32_execution(saved)
    if KERAS_BACKEND == "jax":
        import jax
        import jax.numpy as jnp

        precision = {"fp32": "highest", "tf32": "tensorfloat32"}.get(math_mode, "default")
        a, b = jnp.asarray(a_np, dtype), jnp.asarray(b_np, dtype)
        matmul = jax.jit(lambda p, q: jnp.matmul(p, q, precision=precision))
        return _best(lambda: matmul(a, b).block_until_ready(), n, trials)
    import torch

    a = torch.from_numpy(a_np).to(device).to(getattr(torch, dtype))
    b = torch.from_numpy(b_np).to(device).to(getattr(torch, dtype))
    saved = torch.backends.cuda.matmul.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = math_mode == "tf32"
    try:
        return _best(lambda: (a @ b, sync(device)), n, trials)
    finally:
        torch.backends.cuda.matmul.allow_tf32 = saved


def _best(run, n: int, trials: int) -> float:
    run()  # compile / warm up
    best = math.inf
    for _ in range(trials):
        start = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - start)
    return 2 * n**3 / best


def reset_allocator_peak(device: str) -> None:
    if device != "cuda":
        return
    if KERAS_BACKEND == "tensorflow":
        import tensorflow as tf

        tf.config.experimental.reset_memory_stats("GPU:0")
    elif KERAS_BACKEND == "torch":
        import torch

        torch.cuda.reset_peak_memory_stats()
    # JAX has no reset: its peak counts from the start of this (fresh) worker process


def allocator_peak_bytes(device: str) -> int | None:
    """The GPU allocator's peak since the last reset; None on the CPU (no such statistic on every backend)."""
    if device != "cuda":
        return None
    if KERAS_BACKEND == "tensorflow":
        import tensorflow as tf

        return int(tf.config.experimental.get_memory_info("GPU:0")["peak"])
    if KERAS_BACKEND == "jax":
        import jax

        stats = jax.devices()[0].memory_stats() or {}
        return int(stats["peak_bytes_in_use"]) if "peak_bytes_in_use" in stats else None
    import torch

    return int(torch.cuda.max_memory_allocated())


ALLOCATOR_PEAK_KIND = {
    "tensorflow": "tf.config.experimental.get_memory_info('GPU:0')['peak'] (allocator peak during one steady step)",
    "jax": "jax device memory_stats()['peak_bytes_in_use'] (allocator peak since the worker started: JAX has no reset)",
    "torch": "torch.cuda.max_memory_allocated (allocator peak during one steady step)",
}[KERAS_BACKEND]


# ------------------------------------------------------------------ cnnbench train
class Trainer:
    """Trains one Keras model on in-memory arrays (NHWC) with the one training step."""

    framework = "tf"

    def __init__(self, model, lr: float, momentum: float):
        self.model = model
        self._step = make_train_step(model, lr=lr, momentum=momentum)
        self._predict = make_inference_step(model)

    def train_epoch(self, x, y, order, batch: int, on_step=None) -> tuple:
        start = time.perf_counter()
        total_loss, correct = 0.0, 0
        for i in range(0, len(order), batch):
            idx = order[i:i + batch]
            yb = y[idx]
            loss, logits = self._step(keras.ops.convert_to_tensor(x[idx]), keras.ops.convert_to_tensor(yb))
            logits = np.asarray(keras.ops.convert_to_numpy(logits))  # waits for the step
            total_loss += float(np.asarray(keras.ops.convert_to_numpy(loss))) * len(idx)
            correct += int((logits.argmax(1) == yb).sum())
            if on_step:
                on_step(i // batch + 1, total_loss / (i + len(idx)), correct / (i + len(idx)))
        if hasattr(self._step, "write_back"):
            self._step.write_back()
            self._predict = make_inference_step(self.model)
        return total_loss / len(order), correct / len(order), time.perf_counter() - start

    def predict(self, x, batch: int = 256):
        return np.concatenate([np.asarray(keras.ops.convert_to_numpy(self._predict(keras.ops.convert_to_tensor(
            x[i:i + batch])))) for i in range(0, len(x), batch)])

    def save(self, path: str) -> None:
        self.model.save_weights(path)

    def load(self, path: str) -> None:
        self.model.load_weights(path)
