"""The Keras twins on Keras' JAX and torch backends: the same parameters, the same outputs as the
PyTorch twin with copied weights (both directions, eager and compiled), the same training step.

Keras fixes its backend per process, so each backend runs tests/keras_backend_parity.py in a
subprocess with KERAS_BACKEND set."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import XDIST_ONE_THREAD, per_family, reference_params

TOLERANCE = 1e-4  # max |delta| relative to the output scale, as tests/test_models.py
HERE = Path(__file__).parent
# JAX runs op by op when eager, which is slow for the deep models (GoogLeNet alone took about a minute
# on the 2-core reference machine): plain, adaptive-pooled and residual/BatchNorm models there, and
# MobileNetV3-Small for the depthwise convs, squeeze-and-excitation and hard activations (it adds 17 s;
# MobileNetV2, whose only other layer is ReLU6, would add 15 s more; EfficientNet-B0 26 s of CPU time, measured
# 2026-12-05, so it runs on torch only), and ConvNeXt-Tiny for LayerNorm, GELU and layer scale (13 s of
# CPU time, measured the same day); every family runs on the torch backend (RegNetY-400MF for grouped convs:
# 5 s more; EfficientNet-B0 and ConvNeXt-Tiny: 1 s of CPU time more each). These costs were measured before
# keras_backend_parity.py drew the throw-away initial weights with NumPy, which cut the whole JAX run from 99 s to 33 s.
_ALL = {"jax": ["lenet5", "alexnet", "resnet18", "mobilenet_v3_small", "convnext_tiny"],
        "torch": per_family("vgg11_bn", "mobilenet_v2", "mobilenet_v3_small")}
# the quick tier (`make test`): LeNet-5 on both backends and, on torch, ResNet-18 (BatchNorm, residual adds) and
# MobileNetV3-Small (depthwise convs, SE, hard activations); the slow tier the rest of each list. On JAX, whose
# eager ops XLA compiles one by one, LeNet-5 alone is 15 s of CPU time and ResNet-18 adds 5 s, on torch 0.7 s
# (2-core Zen 3 VM, 2026-12-07)
_QUICK = {"jax": ["lenet5"], "torch": ["lenet5", "resnet18", "mobilenet_v3_small"]}
MODELS = {**_QUICK, **{f"{b}-rest": [m for m in _ALL[b] if m not in _QUICK[b]] for b in _ALL}}


@pytest.fixture(scope="module", params=["jax", "torch", pytest.param("jax-rest", marks=pytest.mark.slow),
                                        pytest.param("torch-rest", marks=pytest.mark.slow)])
def backend_result(request, torch_mod):
    backend = request.param.removesuffix("-rest")
    if backend == "jax":
        pytest.importorskip("jax", reason="JAX is not installed (pip install -e '.[jax]')")
    pytest.importorskip("keras", reason="Keras is not installed")
    env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3", "JAX_PLATFORMS": "cpu"}
    if XDIST_ONE_THREAD:  # beside another xdist worker: one OpenMP thread (PyTorch's pool), as in the workers
        env["OMP_NUM_THREADS"] = "1"
    proc = subprocess.run([sys.executable, str(HERE / "keras_backend_parity.py"), ",".join(MODELS[request.param])],
                          capture_output=True, text=True, env=env, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["backend"] == backend
    assert sorted(result["models"]) == sorted(MODELS[request.param])
    return result


def test_no_tensorflow_on_the_other_backends(backend_result):
    assert backend_result["tensorflow_imported"] is False


def test_parameter_counts_on_every_backend(backend_result):
    for name, r in backend_result["models"].items():
        assert r["torch_params"] == r["keras_params"] == reference_params(name), name


def test_outputs_match_the_pytorch_twin_both_ways_eager_and_compiled(backend_result):
    for name, r in backend_result["models"].items():
        for direction in ("torch_to_keras_eager", "torch_to_keras_compiled", "keras_to_torch"):
            assert r[direction] <= TOLERANCE, (backend_result["backend"], name, direction, r[direction])


def test_the_same_training_step(backend_result):
    """LeNet-5, same weights, same batch: the same cross-entropy and the same weights after one SGD
    step with momentum (float32 summation order apart)."""
    step = backend_result["train_step"]
    assert step["keras_loss"] == pytest.approx(step["torch_loss"], rel=1e-5)
    assert step["weights_after"] <= 1e-5
