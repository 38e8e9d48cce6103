"""Shared fixtures. Framework imports happen lazily, inside the fixtures that need them."""
from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # keep TensorFlow's C++ start-up chatter out of test logs
# `make test` runs two pytest-xdist workers, which name themselves in PYTEST_XDIST_*; the benchmark runs
# the tests start in subprocesses would inherit that, and pytest-benchmark would then believe it runs
# under xdist and refuse --benchmark-only
for _key in [k for k in os.environ if k.startswith("PYTEST_XDIST_")]:
    del os.environ[_key]

import numpy as np
import pytest


@pytest.fixture(scope="session")
def torch_mod():
    return pytest.importorskip("torch", reason="PyTorch is not installed (pip install -e '.[torch]')")


@pytest.fixture(scope="session")
def keras_mod():
    pytest.importorskip("tensorflow", reason="TensorFlow is not installed (pip install -e '.[tf-cpu]')")
    import keras

    return keras


def relative_error(actual: np.ndarray, reference: np.ndarray) -> float:
    """max |actual - reference| relative to the reference's output scale (max |reference|)."""
    scale = float(np.abs(reference).max())
    return float(np.abs(actual - reference).max()) / max(scale, 1e-12)


def randomize_torch_bn(model, seed: int = 0) -> None:
    """Give every BatchNorm non-trivial statistics, so a parity test can see them."""
    import torch

    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                n = m.num_features
                m.running_mean.copy_(torch.rand(n, generator=g) - 0.5)
                m.running_var.copy_(torch.rand(n, generator=g) + 0.5)
                m.weight.copy_(torch.rand(n, generator=g) + 0.5)
                m.bias.copy_(torch.rand(n, generator=g) - 0.5)


def randomize_keras_bn(model, seed: int = 0) -> None:
    import keras

    from cnnbench.transfer import keras_layers

    rng = np.random.default_rng(seed)
    for layer in keras_layers(model).values():
        if isinstance(layer, keras.layers.BatchNormalization):
            n = layer.gamma.shape[0]
            layer.set_weights([
                rng.random(n, dtype="float32") + 0.5,  # gamma
                rng.random(n, dtype="float32") - 0.5,  # beta
                rng.random(n, dtype="float32") - 0.5,  # moving mean
                rng.random(n, dtype="float32") + 0.5,  # moving variance
            ])


def torch_forward(model, x_nchw: np.ndarray) -> np.ndarray:
    import torch

    with torch.no_grad():
        return model(torch.from_numpy(x_nchw)).numpy()


def keras_forward(model, x_nchw: np.ndarray, traced: bool = False) -> np.ndarray:
    """Keras inference on NCHW data (transposed to NHWC); ``traced`` runs it inside tf.function,
    as the benchmark does, instead of eagerly."""
    x = x_nchw.transpose(0, 2, 3, 1)
    if traced:
        import tensorflow as tf

        return tf.function(lambda inp: model(inp, training=False))(x).numpy()
    return np.asarray(model(x, training=False))
