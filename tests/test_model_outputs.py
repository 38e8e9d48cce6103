"""Stored expected outputs and gradients for every model, in both frameworks, at a small input.

The parity tests compare the two frameworks with each other; the stored outputs (written by
tests/model_outputs.py from deterministic, generator-free weights) catch a change that moves both at
once. Every parameter must receive a gradient in a training step: a layer left out of the loss would
be trained by nothing and timed for nothing."""
from __future__ import annotations

import gc
import json

import numpy as np
import pytest

import cnnbench
from conftest import relative_error
from model_outputs import CLASSES, STORE, input_for, small_size

EXPECTED = json.loads(STORE.read_text())["logits"]
TOLERANCE = 1e-4  # relative to the output scale, as the parity tests
ALL = cnnbench.list_models()


def test_every_model_has_stored_outputs():
    assert set(EXPECTED) == set(ALL)


def test_outputs_equal_the_stored_ones_in_both_frameworks(small_pair, torch_mod):
    name, tm, km = small_pair
    x = input_for(name)
    with torch_mod.no_grad():
        yt = tm(torch_mod.from_numpy(x)).numpy()[0]
    yk = np.asarray(km(x.transpose(0, 2, 3, 1), training=False))[0]
    expected = np.asarray(EXPECTED[name])
    assert relative_error(yt, expected) <= TOLERANCE, name
    assert relative_error(yk, expected) <= TOLERANCE, name


def _check_gradients(name: str, tm, km, x: np.ndarray, y: np.ndarray) -> None:
    """One training-mode forward and backward in each framework: every parameter gets a gradient."""
    import tensorflow as tf
    import torch

    from cnnbench.models_tf.backend import classification_loss as keras_loss
    from cnnbench.models_torch.backend import classification_loss as torch_loss

    tm.train()
    torch_loss(tm(torch.from_numpy(x)), torch.from_numpy(y), getattr(tm, "aux_weight", 0.0)).backward()
    missing = [n for n, p in tm.named_parameters() if p.grad is None or not bool(p.grad.abs().sum() > 0)]
    assert not missing, f"PyTorch {name}: no gradient for {missing[:5]}"
    with tf.GradientTape() as tape:
        loss = keras_loss(km(x.transpose(0, 2, 3, 1), training=True), y.astype("int32"), getattr(km, "aux_weight", 0.0))
    grads = tape.gradient(loss, km.trainable_variables)
    missing = [v.path for v, g in zip(km.trainable_variables, grads) if g is None or not float(tf.reduce_sum(tf.abs(g))) > 0]
    assert not missing, f"Keras {name}: no gradient for {missing[:5]}"
    assert len(grads) == len(list(tm.parameters()))  # the same trainable tensors in both


def _batch(name: str, size: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.random((2, cnnbench.get_spec(name).in_channels, size, size), dtype="float32")
    return x, rng.integers(0, CLASSES, 2)


# one model per family and block type (the depth variants are the same code): a structural property
GRADIENT_MODELS = ["lenet5", "alexnet", "vgg11_bn", "googlenet", "inception_v3", "resnet18", "resnet50", "densenet121"]


@pytest.mark.parametrize("small_pair", GRADIENT_MODELS, indirect=True)
def test_every_parameter_receives_a_gradient_in_both_frameworks(small_pair, torch_mod):
    """On the shared pair: a training-mode step changes only BatchNorm's running statistics (no
    optimizer runs), which are put back afterwards, with the mode and the gradients."""
    name, tm, km = small_pair
    buffers = {n: b.clone() for n, b in tm.named_buffers()}
    moving = [v.numpy() for v in km.non_trainable_variables]
    try:
        _check_gradients(name, tm, km, *_batch(name, km.input_shape[1]))
    finally:
        with torch_mod.no_grad():
            for n, b in tm.named_buffers():
                b.copy_(buffers[n])
        for v, value in zip(km.non_trainable_variables, moving):
            v.assign(value)
        tm.zero_grad(set_to_none=True)
        tm.eval()


@pytest.mark.parametrize("name", ["googlenet", "inception_v3"])
def test_the_auxiliary_heads_receive_gradients_too(name, torch_mod, keras_mod):
    """The models with auxiliary classifiers, built with them (they run in training only)."""
    size = small_size(name, aux_logits=True)
    tm = cnnbench.get_model(name, "torch", num_classes=CLASSES, input_size=size, aux_logits=True)
    km = cnnbench.get_model(name, "tf", num_classes=CLASSES, input_size=size, aux_logits=True)
    _check_gradients(name, tm, km, *_batch(name, size))
    del tm, km
    keras_mod.backend.clear_session()
    gc.collect()
