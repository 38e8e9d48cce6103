"""Run by tests/test_keras_backends.py in a process whose KERAS_BACKEND is jax or torch (the backend is
fixed per process): every family's Keras model against its PyTorch twin on that backend. Prints one
JSON object: per model, parameter counts and the largest output difference (relative to the output's
scale) after copying weights torch -> Keras (eager and compiled) and Keras -> torch; then one training
step of LeNet-5 from the same weights on the same batch in both."""
from __future__ import annotations

import json
import os
import sys

import numpy as np

def small_input(name: str) -> int:
    """Each model at a small input: its smallest valid one, at least 32 px, but never above its default (LeNet-5's
    28 px, where its parameters are the published count: its classifier reads the flattened map)."""
    import cnnbench
    from cnnbench.core.analytic import min_input_size

    return min(cnnbench.get_spec(name).input_size, max(min_input_size(name), 32))


def rel(a, b) -> float:
    return float(np.abs(np.asarray(a) - np.asarray(b)).max() / max(float(np.abs(b).max()), 1e-12))


def numpy_initializers(backend: str) -> None:
    """Keras draws each initial weight with the backend's RNG: on JAX a jax.random kernel that XLA compiles anew
    for every weight shape (57 compilations for MobileNetV3-Small, 60% of this script's time on JAX), on torch
    about 50 ms a weight in Keras' seeding (6 of DenseNet-121's 27 s of build and forward under load; cProfile,
    2026-12-06). Every weight drawn here is then overwritten: transfer_weights copies all of them from the
    PyTorch twin (a weight it missed would keep a random value and fail the parity, whichever RNG drew it), so
    NumPy draws them, from the same distributions. The forward passes, eager and compiled, and the training
    step stay the backend's own."""
    import importlib

    br = importlib.import_module(f"keras.src.backend.{backend}.random")
    rng = np.random.default_rng(0)

    def cast(sample, dtype):
        return np.asarray(sample, dtype=dtype or "float32")

    def truncated(shape, mean=0.0, stddev=1.0, dtype=None, seed=None):  # as Keras' own: within 2 stddev
        out = rng.standard_normal(shape)
        while (bad := np.abs(out) > 2).any():
            out[bad] = rng.standard_normal(int(bad.sum()))
        return cast(out * stddev + mean, dtype)

    br.uniform = lambda shape, minval=0.0, maxval=1.0, dtype=None, seed=None: cast(
        rng.uniform(minval, maxval, shape), dtype)
    br.normal = lambda shape, mean=0.0, stddev=1.0, dtype=None, seed=None: cast(
        rng.normal(mean, stddev, shape), dtype)
    br.truncated_normal = truncated


def main() -> int:
    from cnnbench.worker.lean_imports import leaving_out, left_out

    # Keras imported as a worker of this backend imports it: without the optional packages it never uses there
    # (scikit-learn, pandas, matplotlib; JAX on torch), 2 s of this process's start-up
    with leaving_out(left_out(f"keras-{os.environ.get('KERAS_BACKEND', 'tensorflow')}")):
        import keras
        import torch

    numpy_initializers(keras.backend.backend())

    sys.path.insert(0, os.path.dirname(__file__))
    import cnnbench
    from cnnbench.models_tf import backend as kb
    from conftest import per_family, randomize_keras_bn, randomize_torch_bn

    out = {"backend": keras.backend.backend(), "models": {}}
    chosen = sys.argv[1].split(",") if len(sys.argv) > 1 else per_family()
    for name, size in [(m, small_input(m)) for m in chosen]:
        spec = cnnbench.get_spec(name)
        tm = cnnbench.get_model(name, "torch", input_size=size).eval()
        km = cnnbench.get_model(name, "tf", input_size=size)
        randomize_torch_bn(tm)
        x = np.random.default_rng(1).random((2, spec.in_channels, size, size), dtype="float32")
        cnnbench.transfer_weights(tm, km)
        with torch.no_grad():
            yt = tm(torch.from_numpy(x)).numpy()
        x_nhwc = np.ascontiguousarray(x.transpose(0, 2, 3, 1))
        eager = keras.ops.convert_to_numpy(km(keras.ops.convert_to_tensor(x_nhwc), training=False))
        compiled = keras.ops.convert_to_numpy(kb.make_inference_step(km)(keras.ops.convert_to_tensor(x_nhwc)))
        # the other way: Keras weights (new BN statistics) into a fresh PyTorch model
        randomize_keras_bn(km, seed=3)
        tm2 = cnnbench.get_model(name, "torch", input_size=size).eval()
        cnnbench.transfer_weights(km, tm2)
        yk = keras.ops.convert_to_numpy(km(keras.ops.convert_to_tensor(x_nhwc), training=False))
        with torch.no_grad():
            yt2 = tm2(torch.from_numpy(x)).numpy()
        count = lambda ws: sum(int(np.prod(w.shape)) for w in ws)  # noqa: E731
        out["models"][name] = {
            "torch_params": sum(p.numel() for p in tm.parameters()), "keras_params": count(km.trainable_weights),
            "torch_to_keras_eager": rel(eager, yt), "torch_to_keras_compiled": rel(compiled, yt),
            "keras_to_torch": rel(yt2, yk),
        }
    # one SGD-momentum step of LeNet-5 from the same weights on the same batch, in both frameworks
    from cnnbench.core.training import BENCH_SGD
    from cnnbench.models_torch import backend as tb

    tm = cnnbench.get_model("lenet5", "torch")
    km = cnnbench.get_model("lenet5", "tf")
    cnnbench.transfer_weights(tm, km)
    rng = np.random.default_rng(7)
    x = rng.random((8, 1, 28, 28), dtype="float32")
    y = rng.integers(0, 10, 8)
    t_loss, _ = tb.make_train_step(tm, **BENCH_SGD)(torch.from_numpy(x), torch.from_numpy(y))
    k_step = kb.make_train_step(km, **BENCH_SGD)
    k_loss, _ = k_step(keras.ops.convert_to_tensor(np.ascontiguousarray(x.transpose(0, 2, 3, 1))),
                       keras.ops.convert_to_tensor(y.astype("int32")))
    if hasattr(k_step, "write_back"):
        k_step.write_back()
    moved = cnnbench.get_model("lenet5", "torch")
    cnnbench.transfer_weights(km, moved)  # Keras' weights after its step, in PyTorch's layout
    after_t = torch.cat([p.detach().flatten() for p in tm.parameters()]).numpy()
    after_k = torch.cat([p.detach().flatten() for p in moved.parameters()]).numpy()
    out["train_step"] = {"torch_loss": float(t_loss), "keras_loss": float(keras.ops.convert_to_numpy(k_loss)),
                         "weights_after": rel(after_k, after_t)}
    # the Keras builders and the Keras runtime import only keras: no TensorFlow on the other backends
    out["tensorflow_imported"] = "tensorflow" in sys.modules
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
