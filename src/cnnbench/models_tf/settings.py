"""The run's settings applied to, and read back from, the Keras backend of this process (the
``setting_*`` and ``*_version`` fields of a row)."""
from __future__ import annotations

import contextlib
import importlib
import os

import keras

from cnnbench.core.callgrind import TF_THREAD_SPINNING_ENV
from cnnbench.core.settings import Settings
from cnnbench.models_tf import distribute
from cnnbench.models_tf.runtime import KERAS_BACKEND


def configure(settings: Settings, device: str) -> None:
    """Apply the run's settings before any model is built (environment variables came first)."""
    s = settings.resolved()
    tf32 = s.math == "tf32"
    if KERAS_BACKEND == "tensorflow":
        import tensorflow as tf

        if os.environ.get(TF_THREAD_SPINNING_ENV) == "0":
            _no_thread_spinning()
        tf.config.threading.set_intra_op_parallelism_threads(s.threads)
        tf.config.threading.set_inter_op_parallelism_threads(s.interop_threads)
        tf.config.experimental.enable_tensor_float_32_execution(tf32)
        if os.environ.get("CNNBENCH_DISTRIBUTED") == "1":
            distribute.start_multi_worker(device)
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


def _no_thread_spinning() -> None:
    """TensorFlow's thread pools (Eigen's, inter-op and intra-op) let a thread that runs out of work poll for more a
    while before it sleeps, unless ``ConfigProto.experimental.disable_thread_spinning``. Under Callgrind, which runs
    one thread at a time, how many polls a step makes depends on when the OS hands the other threads their turn, and
    they are counted: LeNet-5's inference step on Keras/TF counted on levels about 1.5% apart from step to step,
    and the medians of two processes of the same code 0.83% apart; without the polls, about 4% fewer instructions
    and no levels (results/instructions-tf-spinning-2026-12-07.json). TensorFlow 2 has no public setter: the eager
    context reads the ConfigProto it was created with (``_config``) when it initializes, after this."""
    from tensorflow.core.protobuf import config_pb2
    from tensorflow.python.eager import context

    ctx = context.context()
    if ctx._context_handle is not None:  # TensorFlow's own state (private): started already
        raise RuntimeError(f"{TF_THREAD_SPINNING_ENV}=0: TensorFlow's runtime started before its thread pools could be "
                           "set; it must be set before the first op runs")
    config = config_pb2.ConfigProto()
    if ctx._config is not None:
        config.CopyFrom(ctx._config)
    config.experimental.disable_thread_spinning = True
    ctx._config = config


def thread_spinning() -> bool | None:
    """Whether TensorFlow's thread pools poll for work before they sleep (their default), read back from the runtime's
    configuration; None on another Keras backend."""
    if KERAS_BACKEND != "tensorflow":
        return None
    from tensorflow.python.eager import context

    return not context.context().config.experimental.disable_thread_spinning


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
    from cnnbench.models_torch.settings import setting_fields  # Keras on torch: PyTorch's settings are in force

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
