"""transfer_weights fails loudly, before writing anything, on any mismatch."""
from __future__ import annotations

import numpy as np
import pytest

import cnnbench


def _snapshot(keras_model):
    return [w.numpy() for w in keras_model.weights]


def _unchanged(before, keras_model) -> bool:
    return all(np.array_equal(a, w.numpy()) for a, w in zip(before, keras_model.weights))


def test_different_architectures_are_refused_by_name(torch_mod, keras_mod):
    tm, km = cnnbench.get_model("resnet18", "torch"), cnnbench.get_model("resnet34", "tf")
    before = _snapshot(km)
    with pytest.raises(cnnbench.TransferError, match=r"only in Keras: \['stage1.block3"):
        cnnbench.transfer_weights(tm, km)
    assert _unchanged(before, km)


def test_shape_mismatch_is_refused(torch_mod, keras_mod):
    tm = cnnbench.get_model("lenet5", "torch", num_classes=10)
    km = cnnbench.get_model("lenet5", "tf", num_classes=7)
    before = _snapshot(km)
    with pytest.raises(cnnbench.TransferError, match=r"head.fc: array 0 has shape \(10, 84\) in PyTorch but \(7, 84\)"):
        cnnbench.transfer_weights(tm, km)
    assert _unchanged(before, km)


def test_flatten_size_mismatch_is_refused(torch_mod, keras_mod):
    tm = cnnbench.get_model("lenet5", "torch", input_size=32)
    km = cnnbench.get_model("lenet5", "tf")
    with pytest.raises(cnnbench.TransferError, match="head.fc1"):
        cnnbench.transfer_weights(tm, km)


def test_batchnorm_epsilon_mismatch_is_refused(torch_mod, keras_mod):
    tm = cnnbench.get_model("resnet18", "torch")
    km = cnnbench.get_model("resnet18", "tf", bn_eps=1e-3)
    with pytest.raises(cnnbench.TransferError, match="BatchNorm epsilon 1e-05 in PyTorch but 0.001 in Keras"):
        cnnbench.transfer_weights(tm, km)


def test_same_framework_or_non_models_are_refused(torch_mod):
    tm = cnnbench.get_model("lenet5", "torch")
    with pytest.raises(cnnbench.TransferError, match="between a torch.nn.Module and a keras.Model"):
        cnnbench.transfer_weights(tm, tm)
    with pytest.raises(cnnbench.TransferError):
        cnnbench.transfer_weights({"w": 1}, tm)


def test_transfer_counts_every_scalar(torch_mod, keras_mod):
    tm, km = cnnbench.get_model("resnet18", "torch"), cnnbench.get_model("resnet18", "tf")
    copied = cnnbench.transfer_weights(tm, km)
    assert copied == 11_689_512 + 9_600  # torchvision count + BN running mean/var (2 x 4,800 channels)


def test_flatten_permutation_is_needed_and_applied(torch_mod, keras_mod):
    """A naive transpose of AlexNet's first dense layer would not match: the permutation matters."""
    from conftest import keras_forward, relative_error, torch_forward

    tm = cnnbench.get_model("lenet5", "torch").eval()
    km = cnnbench.get_model("lenet5", "tf")
    cnnbench.transfer_weights(tm, km)
    x = np.random.default_rng(0).random((4, 1, 28, 28), dtype="float32")
    assert relative_error(keras_forward(km, x), torch_forward(tm, x)) < 1e-5
    layer = km.get_layer("head.fc1")
    layer.set_weights([tm.head.fc1.weight.detach().numpy().T, tm.head.fc1.bias.detach().numpy()])
    assert relative_error(keras_forward(km, x), torch_forward(tm, x)) > 1e-3


def test_depthwise_kernels_change_layout_both_ways(torch_mod, keras_mod):
    """A depthwise conv with two outputs per channel (groups = C, 2C outputs): PyTorch's kernel is
    (2C, 1, kh, kw), output c * 2 + m; Keras' DepthwiseConv2D's (kh, kw, C, 2). The generic conv
    transpose would not even give Keras' shape; the copy gives the same outputs both ways."""
    from collections import OrderedDict

    from conftest import keras_forward, relative_error, torch_forward

    tm = torch_mod.nn.Sequential(OrderedDict(dw=torch_mod.nn.Conv2d(3, 6, 3, groups=3))).eval()
    km = keras_mod.Sequential([keras_mod.Input((9, 9, 3)),
                               keras_mod.layers.DepthwiseConv2D(3, depth_multiplier=2, name="dw")])
    x = np.random.default_rng(0).random((2, 3, 9, 9), dtype="float32")
    keras_nchw = lambda: keras_forward(km, x).transpose(0, 3, 1, 2)  # noqa: E731  (the maps, not logits)
    assert cnnbench.transfer_weights(tm, km) == 6 * 9 + 6
    assert tuple(km.get_layer("dw").kernel.shape) == (3, 3, 3, 2)
    assert relative_error(keras_nchw(), torch_forward(tm, x)) < 1e-6
    with torch_mod.no_grad():
        tm.dw.weight.zero_()
    assert relative_error(torch_forward(tm, x), keras_nchw()) > 0.1
    cnnbench.transfer_weights(km, tm)
    assert relative_error(torch_forward(tm, x), keras_nchw()) < 1e-6


def test_a_grouped_conv_is_the_same_in_the_graph_keras_and_pytorch(torch_mod, keras_mod):
    """groups=2, neither 1 nor depthwise (RegNet's 3x3 convs are such): Keras' grouped Conv2D with
    PyTorch's padding, the analytic counts by hand, the same outputs after a copy either way."""
    from collections import OrderedDict

    from cnnbench.core.analytic import Graph
    from cnnbench.models_tf.ops import KerasOps
    from conftest import keras_forward, relative_error, torch_forward

    g = Graph("grouped", 4, 9)
    g.output(g.conv("c", g.input, 6, 3, 2, 1, bias=True, groups=2))
    # 6 filters x (4 / 2) inputs x 3 x 3 + 6 biases; 6 x 5 x 5 outputs x 18 MACs each
    assert (g.params, g.macs, g.layer("c").out_shape) == (6 * 2 * 9 + 6, 6 * 5 * 5 * 18, (6, 5, 5))
    with pytest.raises(ValueError, match="groups=3, which must divide its 4 input and 6 output channels"):
        g.conv("bad", g.input, 6, 3, groups=3)
    ops = KerasOps("grouped", 4, 9)
    km = ops.output(ops.conv("c", ops.input, 6, 3, 2, 1, bias=True, groups=2))
    tm = torch_mod.nn.Sequential(OrderedDict(c=torch_mod.nn.Conv2d(4, 6, 3, 2, 1, groups=2))).eval()
    x = np.random.default_rng(0).random((2, 4, 9, 9), dtype="float32")
    keras_nchw = lambda: keras_forward(km, x).transpose(0, 3, 1, 2)  # noqa: E731
    assert cnnbench.transfer_weights(tm, km) == g.params
    assert relative_error(keras_nchw(), torch_forward(tm, x)) < 1e-6
    with torch_mod.no_grad():
        tm.c.weight.zero_()
    cnnbench.transfer_weights(km, tm)
    assert relative_error(torch_forward(tm, x), keras_nchw()) < 1e-6


def test_layer_norm_pointwise_dense_and_layer_scale_copy_both_ways(torch_mod, keras_mod):
    """ConvNeXt's new kinds on a 5 x 5 map: LayerNorm over channels, a dense layer on each position and layer
    scale, built by KerasOps and by the PyTorch modules; the same outputs after a copy either way, and a
    LayerNorm epsilon that differs refused before anything is written."""
    from collections import OrderedDict

    from cnnbench.models_tf.ops import KerasOps
    from cnnbench.models_torch._common import LayerNorm2d, LayerScale, PointwiseLinear
    from conftest import keras_forward, relative_error, torch_forward

    def keras_model(eps: float):
        ops = KerasOps("ln", 4, 5)
        y = ops.linear("fc", ops.layer_norm("norm", ops.input, eps=eps), 6)
        return ops.output(ops.layer_scale("layer_scale", y, 0.5))

    tm = torch_mod.nn.Sequential(OrderedDict(norm=LayerNorm2d(4, eps=1e-6), fc=PointwiseLinear(4, 6),
                                             layer_scale=LayerScale(6, 0.5))).eval()
    g = torch_mod.Generator().manual_seed(0)
    with torch_mod.no_grad():
        for p in tm.parameters():
            p.copy_(torch_mod.rand(p.shape, generator=g) + 0.5)
    km = keras_model(1e-6)
    x = np.random.default_rng(0).random((2, 4, 5, 5), dtype="float32")
    keras_nchw = lambda: keras_forward(km, x).transpose(0, 3, 1, 2)  # noqa: E731
    # LayerNorm divides by each position's standard deviation over only 4 channels: float32 rounding reached
    # 1.5e-6 over 30 seeds of these weights (2026-12-05), so 1e-5; a wrong layout gives errors near 1
    assert cnnbench.transfer_weights(tm, km) == 2 * 4 + 4 * 6 + 6 + 6
    assert relative_error(keras_nchw(), torch_forward(tm, x)) < 1e-5
    with torch_mod.no_grad():
        tm.layer_scale.weight.zero_()
    assert relative_error(torch_forward(tm, x), keras_nchw()) > 0.1
    cnnbench.transfer_weights(km, tm)
    assert relative_error(torch_forward(tm, x), keras_nchw()) < 1e-5
    with pytest.raises(cnnbench.TransferError, match="LayerNorm epsilon 1e-06 in PyTorch but 1e-05 in Keras"):
        cnnbench.transfer_weights(tm, keras_model(1e-5))
