"""MobileNetV2 (Sandler et al., 2018): inverted residual blocks of depthwise convolutions; its specs and
its topology.

As torchvision's ``mobilenet_v2``: BatchNorm eps 1e-5 and momentum 0.1, ReLU6, symmetric padding of 1
for every 3x3 conv (strided ones too), dropout 0.2 before the classifier. keras.applications.MobileNetV2
defines the same layers and the same 3,504,872 trainable weights (3,538,984 with its 34,112 BatchNorm
statistics) but differs in three ways, so its weights do not carry over exactly: BatchNorm eps 1e-3 and
momentum 0.999 (PyTorch's 0.001); its strided 3x3 convs pad only the bottom and right of an even map
(``correct_pad``, "same"), where PyTorch pads 1 on every side, so every window after the first stride
sits one pixel off; and no dropout before its classifier (which ends in a softmax; ours returns logits).
keras.applications also refuses inputs below 32 px, where PyTorch's padded convs work down to 1 px.
"""
from __future__ import annotations

from typing import Iterator, Mapping

from cnnbench.core.ops import Ops, Tensor, batchnorm
from cnnbench.core.options import BN_EPS, DROPOUT, Number
from cnnbench.core.specs import ModelSpec, frozen, register


def make_divisible(v: float, divisor: int) -> int:
    """torchvision's ``_make_divisible`` (from the TensorFlow reference): the nearest multiple of
    ``divisor``, at least ``divisor`` and not more than 10% below ``v``."""
    rounded = max(divisor, int(v + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * v else rounded


def stem_channels(cfg: Mapping) -> int:
    return make_divisible(cfg["stem"][0] * cfg["width_mult"], cfg["round_to"])


def head_channels(cfg: Mapping) -> int:
    """The last 1x1 conv's width: never narrower than at width 1 (torchvision: max(1.0, width_mult))."""
    return make_divisible(cfg["head_channels"] * max(1.0, cfg["width_mult"]), cfg["round_to"])


def blocks(cfg: Mapping) -> Iterator[tuple[str, int, int, int]]:
    """(name, expansion t, output channels, stride) of every inverted residual block, in order: the
    paper's table 2 rows (t, c, n, s) expanded, the stride on each stage's first block only."""
    for s, (t, c, n, stride) in enumerate(cfg["blocks"], start=1):
        out = make_divisible(c * cfg["width_mult"], cfg["round_to"])
        for b in range(1, n + 1):
            yield f"stage{s}.block{b}.", t, out, stride if b == 1 else 1


def inverted_residual(ops: Ops, p: str, x: Tensor, t: int, out: int, stride: int, cfg: Mapping) -> Tensor:
    """1x1 expansion to t x the input channels (none when t = 1), 3x3 depthwise conv, linear 1x1
    projection; the input is added back when the block keeps its shape."""
    bn, act, k = batchnorm(cfg), cfg["activation"], cfg["dw_kernel"]
    cin = ops.channels(x)
    hidden = round(cin * t)
    y = ops.conv_bn(p + "expand.", x, hidden, 1, act=act, **bn) if t != 1 else x
    y = ops.conv_bn(p + "dw.", y, hidden, k, stride, k // 2, groups=hidden, act=act, **bn)
    y = ops.conv_bn(p + "project.", y, out, 1, relu=False, **bn)  # linear bottleneck: no activation
    return ops.add(p + "add", [x, y]) if stride == 1 and cin == out else y


def mobilenet_v2(ops: Ops, cfg: Mapping, num_classes: int):
    """stem (3x3/2 conv), stage1..stage7 of inverted residual blocks, head (1x1 conv, pool, dropout, fc)."""
    bn, act = batchnorm(cfg), cfg["activation"]
    _, kernel, stride, padding = cfg["stem"]
    x = ops.conv_bn("stem.", ops.input, stem_channels(cfg), kernel, stride, padding, act=act, **bn)  # 32 x 112 x 112
    for p, t, out, s in blocks(cfg):
        x = inverted_residual(ops, p, x, t, out, s, cfg)  # 320 x 7 x 7 after stage7
    x = ops.conv_bn("head.", x, head_channels(cfg), 1, act=act, **bn)  # 1280 x 7 x 7
    x = ops.adaptive_avgpool("head.pool", x, 1)
    x = ops.dropout("head.drop", ops.flatten("head.flatten", x), cfg["dropout"])
    return ops.output(ops.linear("head.fc", x, num_classes))


register(ModelSpec(
    name="mobilenet_v2",
    paper="Sandler et al., MobileNetV2: Inverted Residuals and Linear Bottlenecks, 2018",
    published="2018-01-13",  # arXiv:1801.04381 v1
    topology=mobilenet_v2,
    input_size=224,
    in_channels=3,
    config=frozen(
        stem=(32, 3, 2, 1),  # filters (before width_mult), kernel, stride, padding
        # the paper's table 2: expansion t, output channels c, blocks n, first block's stride s
        blocks=((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2),
                (6, 320, 1, 1)),
        dw_kernel=3,
        head_channels=1280,
        width_mult=1.0,  # every width x this, rounded to a multiple of round_to
        round_to=8,
        activation="relu6",
        dropout=0.2,
        bn_eps=1e-5,
        bn_momentum=0.1,
    ),
    options=frozen(width_mult=Number(0, lo_open=True), dropout=DROPOUT, bn_eps=BN_EPS),
    reference_params=3_504_872,
    reference_source="torchvision.models.mobilenet_v2 published num_params (MobileNet_V2_Weights.IMAGENET1K_V1)",
))
