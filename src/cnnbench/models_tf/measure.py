"""Machine measurements on the Keras backend of this process: the GEMM peak that % of peak is
against, and the GPU allocator's peak memory."""
from __future__ import annotations

import math
import time

import numpy as np

from cnnbench.models_tf.runtime import KERAS_BACKEND, device_scope, sync

_DTYPE = {"fp32": "float32", "tf32": "float32", "bf16": "bfloat16", "fp16": "float16"}


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
            with device_scope(device):
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
