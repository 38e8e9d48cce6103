"""One table-driven test over the registry: a model is covered the moment it is registered.

For every model, in both frameworks: exact parameter counts, trainable counts equal
across frameworks, Keras non-trainable weights = PyTorch BatchNorm running
statistics, output shapes, and numerical parity with copied weights both ways.
"""
from __future__ import annotations

import numpy as np
import pytest

import cnnbench
from conftest import (VARIANTS, check_gradients, gradient_batch, keras_forward, randomize_torch_bn, reference_params,
                      relative_error, torch_forward)
from model_outputs import CLASSES
from references import BN_STATISTICS

TOLERANCE = 1e-4  # max |delta| relative to the output scale (issue #2)


def torch_counts(model) -> tuple[int, int, int]:
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    frozen = sum(p.numel() for p in model.parameters() if not p.requires_grad)
    # running_mean / running_var; num_batches_tracked is a step counter, not a weight
    stats = sum(b.numel() for n, b in model.named_buffers() if not n.endswith("num_batches_tracked"))
    return trainable, frozen, stats


def keras_counts(model) -> tuple[int, int]:
    count = lambda ws: sum(int(np.prod(w.shape)) for w in ws)  # noqa: E731
    return count(model.trainable_weights), count(model.non_trainable_weights)


def test_parameter_counts(default_pair):
    name, tm, km = default_pair
    t_trainable, t_frozen, t_stats = torch_counts(tm)
    k_trainable, k_frozen = keras_counts(km)
    assert t_trainable == reference_params(name) and t_frozen == 0
    assert k_trainable == t_trainable
    assert k_frozen == t_stats  # Keras' moving mean/variance are PyTorch's buffers
    if name in BN_STATISTICS:
        assert t_stats == BN_STATISTICS[name]


def test_layer_names_line_up(default_pair):
    from cnnbench.zoo.transfer import keras_layers

    name, tm, km = default_pair
    torch_leaves = {n for n, m in tm.named_modules() if n and not list(m.children())}
    keras_names = {n for n in keras_layers(km) if not n.endswith(".pad") and n != "input"}
    assert torch_leaves == keras_names


def test_the_grouped_convolutions_keras_sends_to_xla_are_pytorchs_grouped_ones(default_pair):
    """Keras 3 on TensorFlow compiles every grouped convolution with XLA (cnnbench.models_tf.backend's
    ``xla_grouped_convs``; rows record the count): the count is PyTorch's Conv2d modules with
    1 < groups < in_channels (depthwise convolutions are Keras' DepthwiseConv2D, not compiled so).
    RegNetY-400MF by hand: one grouped 3x3 convolution a block, depths 1, 3, 6, 6 (torchvision's
    regnet.py), 16."""
    import torch

    from cnnbench.models_tf.backend import xla_grouped_convs

    name, tm, km = default_pair
    grouped = sum(1 for m in tm.modules()
                  if isinstance(m, torch.nn.Conv2d) and 1 < m.groups < m.in_channels)
    assert xla_grouped_convs(km) == grouped
    if name == "regnet_y_400mf":
        assert grouped == 1 + 3 + 6 + 6


def test_parity_torch_to_tf_at_the_default_size(default_pair):
    """The benchmarked size: the same logits in Keras, traced as the benchmark runs it, as in PyTorch
    after copying PyTorch's weights and non-trivial BatchNorm statistics. One image, traced only: the
    eager path and a batch of three are checked at the small size below, which costs far less."""
    name, tm, km = default_pair
    spec = cnnbench.get_spec(name)
    assert tuple(km.input_shape) == (None, spec.input_size, spec.input_size, spec.in_channels)
    randomize_torch_bn(tm)
    cnnbench.transfer_weights(tm, km)
    x = np.random.default_rng(1).random((1, spec.in_channels, spec.input_size, spec.input_size), dtype="float32")
    yt = torch_forward(tm, x)
    assert yt.shape == (1, spec.num_classes)
    assert relative_error(keras_forward(km, x, traced=True), yt) <= TOLERANCE


def test_parity_both_ways_at_a_small_size_and_class_count(small_pair, torch_mod):
    """Output shapes and parity both ways (torch -> TF, TF -> torch) at another input size and class
    count (the fixture copied PyTorch's deterministic weights into Keras)."""
    name, tm, km = small_pair
    spec = cnnbench.get_spec(name)
    size = km.input_shape[1]
    assert size != spec.input_size and CLASSES != spec.num_classes
    x = np.random.default_rng(5).random((3, spec.in_channels, size, size), dtype="float32")
    # eagerly (traced is compared at the default size above)
    yt, yk = torch_forward(tm, x), keras_forward(km, x)
    assert yt.shape == yk.shape == (3, CLASSES)
    assert relative_error(yk, yt) <= TOLERANCE
    # and the other way: PyTorch's weights changed in place (halved kernels, new BN statistics), then
    # Keras' copied back into it: PyTorch must compute Keras' outputs again, which it can only do if
    # every weight was written in the right layout (the copy also restores the fixture's weights)
    with torch_mod.no_grad():
        for p in tm.parameters():
            p.mul_(0.5)
    randomize_torch_bn(tm, seed=3)
    assert relative_error(torch_forward(tm, x), yk) > 100 * TOLERANCE  # the change is visible ...
    cnnbench.transfer_weights(km, tm)
    assert relative_error(torch_forward(tm, x), yk) <= TOLERANCE  # ... and undone by the copy


# a family's other options, each built at its default size: the slow tier (docs/testing.md, "Two tiers"); the quick
# tier builds GoogLeNet's auxiliary heads at a small input (tests/test_model_outputs.py)
@pytest.mark.slow
@pytest.mark.parametrize("name,options,params,source", VARIANTS, ids=lambda v: str(v) if not isinstance(v, dict) else "-".join(f"{k}={x}" for k, x in v.items()))
def test_variants(name, options, params, source, torch_mod, keras_mod):
    tm = cnnbench.get_model(name, "torch", **options).eval()
    km = cnnbench.get_model(name, "tf", **options)
    assert torch_counts(tm)[0] == params, source
    assert keras_counts(km)[0] == params, source
    randomize_torch_bn(tm)
    cnnbench.transfer_weights(tm, km)
    spec = cnnbench.get_spec(name)
    x = np.random.default_rng(6).random((2, spec.in_channels, spec.input_size, spec.input_size), dtype="float32")
    assert relative_error(keras_forward(km, x), torch_forward(tm, x)) <= TOLERANCE
    if options.get("aux_logits"):
        n_aux = len(cnnbench.get_spec(name).config["aux_after"]) if name == "googlenet" else 1
        if name == "inception_v3":
            # every parameter, the auxiliary head's too, receives a gradient: its head needs the full 299 px,
            # so it is checked on this model rather than built again (GoogLeNet's heads, which work at a
            # small input: tests/test_model_outputs.py); the outputs below are that step's (one training
            # forward of Inception v3 at 299 px is about 1 s of CPU time in each framework)
            out_t, out_k = check_gradients(name, tm, km, *gradient_batch(name, spec.input_size, spec.num_classes))
        else:
            tm.train()
            out_t, out_k = tm(torch_mod.from_numpy(x)), km(x.transpose(0, 2, 3, 1), training=True)
        assert len(out_t) == len(out_k) == 1 + n_aux  # logits + aux logits, in training only
        assert all(tuple(o.shape) == (2, spec.num_classes) for o in (*out_t, *out_k))


def test_graph_and_keras_ops_take_the_protocols_arguments(keras_mod):
    """A topology runs on either implementation of the ops: same methods, same parameters."""
    import inspect

    from cnnbench.core.analytic import Graph
    from cnnbench.core.ops import Ops
    from cnnbench.models_tf.ops import KerasOps

    def params(fn):
        return [(p.name, p.kind, p.default) for p in inspect.signature(fn).parameters.values()]

    for name in Ops.__abstractmethods__:
        for impl in (Graph, KerasOps):
            assert params(getattr(impl, name)) == params(getattr(Ops, name)), f"{impl.__name__}.{name}"
