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
from model_outputs import CLASSES, STORE, input_for, set_deterministic, small_size

EXPECTED = json.loads(STORE.read_text())["logits"]
TOLERANCE = 1e-4  # relative to the output scale, as the parity tests
ALL = cnnbench.list_models()


def test_every_model_has_stored_outputs():
    assert set(EXPECTED) == set(ALL)


@pytest.fixture(scope="module", params=ALL)
def small_pair(request, torch_mod, keras_mod):
    name = request.param
    size = small_size(name)
    tm = cnnbench.get_model(name, "torch", num_classes=CLASSES, input_size=size).eval()
    set_deterministic(tm)
    km = cnnbench.get_model(name, "tf", num_classes=CLASSES, input_size=size)
    cnnbench.transfer_weights(tm, km)
    yield name, tm, km
    del tm, km
    keras_mod.backend.clear_session()
    gc.collect()


def test_outputs_equal_the_stored_ones_in_both_frameworks(small_pair, torch_mod):
    name, tm, km = small_pair
    x = input_for(name)
    with torch_mod.no_grad():
        yt = tm(torch_mod.from_numpy(x)).numpy()[0]
    yk = np.asarray(km(x.transpose(0, 2, 3, 1), training=False))[0]
    expected = np.asarray(EXPECTED[name])
    assert relative_error(yt, expected) <= TOLERANCE, name
    assert relative_error(yk, expected) <= TOLERANCE, name


# one model per family and block type (the depth variants are the same code): a structural property
GRADIENT_MODELS = [("lenet5", {}), ("alexnet", {}), ("vgg11_bn", {}), ("googlenet", {"aux_logits": True}),
                   ("inception_v3", {"aux_logits": True}), ("resnet18", {}), ("resnet50", {}), ("densenet121", {})]


@pytest.mark.parametrize("name,options", GRADIENT_MODELS,
                         ids=lambda v: v if isinstance(v, str) else ",".join(f"{k}={x}" for k, x in v.items()) or "-")
def test_every_parameter_receives_a_gradient_in_both_frameworks(name, options, torch_mod, keras_mod):
    import tensorflow as tf

    from cnnbench.models_tf.backend import classification_loss as keras_loss
    from cnnbench.models_torch.backend import classification_loss as torch_loss

    size = small_size(name, **options)
    spec = cnnbench.get_spec(name)
    rng = np.random.default_rng(0)
    x = rng.random((2, spec.in_channels, size, size), dtype="float32")
    y = rng.integers(0, CLASSES, 2)
    tm = cnnbench.get_model(name, "torch", num_classes=CLASSES, input_size=size, **options).train()
    torch_loss(tm(torch_mod.from_numpy(x)), torch_mod.from_numpy(y), getattr(tm, "aux_weight", 0.0)).backward()
    missing = [n for n, p in tm.named_parameters() if p.grad is None or not bool(p.grad.abs().sum() > 0)]
    assert not missing, f"PyTorch {name}: no gradient for {missing[:5]}"
    km = cnnbench.get_model(name, "tf", num_classes=CLASSES, input_size=size, **options)
    with tf.GradientTape() as tape:
        loss = keras_loss(km(x.transpose(0, 2, 3, 1), training=True), y.astype("int32"), getattr(km, "aux_weight", 0.0))
    grads = tape.gradient(loss, km.trainable_variables)
    missing = [v.path for v, g in zip(km.trainable_variables, grads) if g is None or not float(tf.reduce_sum(tf.abs(g))) > 0]
    assert not missing, f"Keras {name}: no gradient for {missing[:5]}"
    assert len(grads) == len(list(tm.parameters()))  # the same trainable tensors in both
    del tm, km
    keras_mod.backend.clear_session()
    gc.collect()
