"""Stored expected outputs and gradients for every model, in both frameworks, at a small input.

The parity tests compare the two frameworks with each other; the stored outputs (written by
tests/model_outputs.py from deterministic, generator-free weights) catch a change that moves both at
once. Every parameter must receive a gradient in a training step: a layer left out of the loss would
be trained by nothing and timed for nothing."""
from __future__ import annotations

import json

import numpy as np
import pytest

import cnnbench
from conftest import check_gradients, gradient_batch, relative_error
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


# one model per family and block type (the depth variants are the same code): a structural property
GRADIENT_MODELS = ["lenet5", "alexnet", "vgg11_bn", "googlenet", "inception_v3", "resnet18", "resnet50", "densenet121",
                   "mobilenet_v2", "mobilenet_v3_small", "regnet_y_400mf"]


@pytest.mark.parametrize("small_pair", GRADIENT_MODELS, indirect=True)
def test_every_parameter_receives_a_gradient_in_both_frameworks(small_pair, torch_mod):
    """On the shared pair: a training-mode step changes only BatchNorm's running statistics (no
    optimizer runs), which are put back afterwards, with the mode and the gradients."""
    name, tm, km = small_pair
    buffers = {n: b.clone() for n, b in tm.named_buffers()}
    moving = [v.numpy() for v in km.non_trainable_variables]
    try:
        check_gradients(name, tm, km, *gradient_batch(name, km.input_shape[1], CLASSES))
    finally:
        with torch_mod.no_grad():
            for n, b in tm.named_buffers():
                b.copy_(buffers[n])
        for v, value in zip(km.non_trainable_variables, moving):
            v.assign(value)
        tm.zero_grad(set_to_none=True)
        tm.eval()


def test_googlenets_auxiliary_heads_receive_gradients_too(torch_mod, keras_mod):
    """GoogLeNet built with its auxiliary classifiers (they run in training only), at a small input;
    Inception v3's head needs 299 px and is checked on the model tests/test_models.py builds with it."""
    size = small_size("googlenet", aux_logits=True)
    tm = cnnbench.get_model("googlenet", "torch", num_classes=CLASSES, input_size=size, aux_logits=True)
    km = cnnbench.get_model("googlenet", "tf", num_classes=CLASSES, input_size=size, aux_logits=True)
    check_gradients("googlenet", tm, km, *gradient_batch("googlenet", size, CLASSES))
