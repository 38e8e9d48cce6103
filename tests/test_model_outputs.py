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
from conftest import BLOCK_TYPES, check_gradients, gradient_batch, relative_error
from model_outputs import CLASSES, STORE, input_for, small_size

EXPECTED = json.loads(STORE.read_text())["logits"]
TOLERANCE = 1e-4  # relative to the output scale, as the parity tests
ALL = cnnbench.list_models()


def test_every_model_has_stored_outputs():
    missing, stale = sorted(set(ALL) - set(EXPECTED)), sorted(set(EXPECTED) - set(ALL))
    assert not missing, f"no stored outputs for {', '.join(missing)}: python tests/model_outputs.py {' '.join(missing)}"
    assert not stale, f"stored outputs of models no longer registered: {', '.join(stale)} (python tests/model_outputs.py)"


def test_outputs_equal_the_stored_ones_in_both_frameworks(small_pair, torch_mod):
    name, tm, km = small_pair
    x = input_for(name)
    with torch_mod.no_grad():
        yt = tm(torch_mod.from_numpy(x)).numpy()[0]
    yk = np.asarray(km(x.transpose(0, 2, 3, 1), training=False))[0]
    expected = np.asarray(EXPECTED[name])
    assert relative_error(yt, expected) <= TOLERANCE, name
    assert relative_error(yk, expected) <= TOLERANCE, name


# one model per family and block type (the depth variants are the same code): a structural property; a new
# family is in it once registered (conftest.per_family)
GRADIENT_MODELS = BLOCK_TYPES


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


def test_drop_path_is_the_identity_in_inference_and_drops_whole_samples_in_training(torch_mod, keras_mod):
    """Stochastic depth (torchvision's StochasticDepth(0.2, "row")) in both frameworks: the input itself in
    eval mode / ``training=False``; in training each sample is either zeroed whole or scaled by 1 / 0.8.
    Survivors of n = 4000 samples are Binomial(4000, 0.8): mean 3200, standard deviation sqrt(4000 x 0.8 x
    0.2) = 25.3, so |survivors - 3200| <= 152 (6 standard deviations) fails by chance with probability
    below 2e-9 (and the generators are seeded besides)."""
    from cnnbench.models_tf.ops import DropPath as KerasDropPath
    from cnnbench.models_torch._common import DropPath as TorchDropPath

    n, rate = 4000, 0.2
    x = np.random.default_rng(0).random((n, 3, 2, 2), dtype="float32") + 0.5  # no zeros: 0 out means dropped
    tm, km = TorchDropPath(rate), KerasDropPath(rate, seed=0)
    tx, kx = torch_mod.from_numpy(x), x.transpose(0, 2, 3, 1)
    assert torch_mod.equal(tm.eval()(tx), tx)
    assert np.array_equal(np.asarray(km(kx)), kx) and np.array_equal(np.asarray(km(kx, training=False)), kx)
    with torch_mod.random.fork_rng():
        torch_mod.manual_seed(0)
        trained = {"torch": tm.train()(tx).numpy(), "keras": np.asarray(km(kx, training=True)).transpose(0, 3, 1, 2)}
    for framework, y in trained.items():
        factor = (y / x).reshape(n, -1)  # per element: 0 (dropped) or 1 / (1 - rate) = 1.25
        assert np.allclose(factor, factor[:, :1], atol=1e-6), framework  # the whole sample, every element
        assert np.allclose(factor[:, 0] * (factor[:, 0] - 1.25), 0, atol=1e-5), framework
        assert abs(int((factor[:, 0] > 0).sum()) - 3200) <= 152, framework


def test_drop_path_leaves_no_op_in_the_inference_graph(keras_mod):
    """What TF's profiler counts (and the benchmark's inference step runs): the traced ``training=False``
    graph holds no op of a drop-path layer, the ``training=True`` graph its random mask; all three counters
    give it 0 (cnnbench/core/analytic/conventions.py)."""
    import tensorflow as tf

    from cnnbench.core.analytic import Graph
    from cnnbench.core.analytic.conventions import COUNTERS
    from cnnbench.models_tf.ops import KerasOps

    ops = KerasOps("dp", 3, 5)
    model = ops.output(ops.drop_path("branch.drop_path", ops.conv("branch.conv", ops.input, 4, 1), 0.2))
    spec = tf.TensorSpec([2, 5, 5, 3], tf.float32)

    def ops_of_layer(training: bool) -> list[str]:
        graph = tf.function(lambda x: model(x, training=training)).get_concrete_function(spec).graph
        return [op.type for op in graph.get_operations() if "branch.drop_path" in op.name]

    assert ops_of_layer(False) == []
    assert "StatelessRandomUniformV2" in ops_of_layer(True) and "Floor" in ops_of_layer(True)
    g = Graph("dp", 3, 5)
    g.output(g.drop_path("branch.drop_path", g.conv("branch.conv", g.input, 4, 1), 0.2))
    layer = g.layer("branch.drop_path")
    assert (layer.params, layer.macs) == (0, 0) and all(count(layer) == 0 for count in COUNTERS.values())
