"""MobileNetV2 (Sandler et al., 2018) and MobileNetV3 (Howard et al., 2019): inverted residual blocks of
depthwise convolutions (V3: with squeeze-and-excitation and hard-swish); their specs and their topologies.

As torchvision's ``mobilenet_v2``: BatchNorm eps 1e-5 and momentum 0.1, ReLU6, symmetric padding of 1
for every 3x3 conv (strided ones too), dropout 0.2 before the classifier. keras.applications.MobileNetV2
defines the same layers and the same 3,504,872 trainable weights (3,538,984 with its 34,112 BatchNorm
statistics) but differs in three ways, so its weights do not carry over exactly: BatchNorm eps 1e-3 and
momentum 0.999 (PyTorch's 0.001); its strided 3x3 convs pad only the bottom and right of an even map
(``correct_pad``, "same"), where PyTorch pads 1 on every side, so every window after the first stride
sits one pixel off; and no dropout before its classifier (which ends in a softmax; ours returns logits).
keras.applications also refuses inputs below 32 px, where PyTorch's padded convs work down to 1 px.

As torchvision's ``mobilenet_v3_large`` and ``mobilenet_v3_small``: BatchNorm eps 1e-3 and momentum 0.01,
SE squeezing to expanded / 4 rounded to a multiple of 8 with a hard-sigmoid gate, a dense 960 -> 1280 (large)
or 576 -> 1024 (small) layer with hard-swish and dropout 0.2 before the classifier. keras.applications'
MobileNetV3Large/Small have the same weights (5,483,032 / 2,542,856 trainable, 24,400 / 12,112 BatchNorm
statistics) and eps, but BatchNorm momentum 0.999 (PyTorch's 0.001, not torchvision's 0.01), "same"
(bottom/right) padding of strided convs, 1x1 convs on the pooled map where torchvision has the two dense
layers (the same weights in another layout), and an input rescaling layer inside the model.
"""
from __future__ import annotations

from typing import Iterator, Mapping, NamedTuple

from cnnbench.core.ops import Ops, Tensor, batchnorm
from cnnbench.core.options import BN_EPS, DROPOUT, Number
from cnnbench.core.specs import ModelSpec, frozen, register


def make_divisible(v: float, divisor: int) -> int:
    """torchvision's ``_make_divisible`` (from the TensorFlow reference): the nearest multiple of
    ``divisor``, at least ``divisor`` and not more than 10% below ``v``."""
    rounded = max(divisor, int(v + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * v else rounded


class Block(NamedTuple):
    """One inverted residual block, every number resolved: what the topology and the PyTorch module build."""

    prefix: str  # stageN.blockM.
    cin: int
    expanded: int  # the depthwise conv's channels; no 1x1 expansion when equal to cin
    out: int
    kernel: int
    stride: int
    act: str
    se: int  # squeeze-and-excitation's squeezed channels; 0: none
    drop: float | None = None  # stochastic depth's rate on the residual branch (EfficientNet); None: no drop path
    fused: bool = False  # EfficientNetV2's Fused-MBConv: one kxk conv in place of the 1x1 expansion and the depthwise


def stem_channels(cfg: Mapping) -> int:
    return make_divisible(cfg["stem"][0] * cfg["width_mult"], cfg["round_to"])


def blocks_v2(cfg: Mapping) -> Iterator[Block]:
    """MobileNetV2's blocks: the paper's table 2 rows (t, c, n, s) expanded, t x the block's input channels
    wide, the stride on each stage's first block only."""
    cin = stem_channels(cfg)
    for s, (t, c, n, stride) in enumerate(cfg["blocks"], start=1):
        out = make_divisible(c * cfg["width_mult"], cfg["round_to"])
        for b in range(1, n + 1):
            yield Block(f"stage{s}.block{b}.", cin, round(cin * t), out, cfg["dw_kernel"], stride if b == 1 else 1,
                        cfg["activation"], 0)
            cin = out


def blocks_v3(cfg: Mapping) -> Iterator[Block]:
    """MobileNetV3's blocks: the paper's tables 1 and 2 row by row (kernel, expanded and output channels,
    SE, activation, stride), grouped in stages that start where the map shrinks (torchvision's C1..C5)."""
    cin, w, r = stem_channels(cfg), cfg["width_mult"], cfg["round_to"]
    for s, rows in enumerate(cfg["stages"], start=1):
        for b, (kernel, expanded, out, se, act, stride) in enumerate(rows, start=1):
            expanded, out = make_divisible(expanded * w, r), make_divisible(out * w, r)
            squeeze = make_divisible(expanded // cfg["se_reduction"], r) if se else 0
            yield Block(f"stage{s}.block{b}.", cin, expanded, out, kernel, stride, act, squeeze)
            cin = out


def squeeze_excitation(ops: Ops, p: str, x: Tensor, squeeze: int, cfg: Mapping) -> Tensor:
    """Global average -> 1x1 conv to ``squeeze`` -> ReLU (EfficientNet: its ``se_activation``, SiLU) -> 1x1 conv
    back -> gate; the map times the gate."""
    act = cfg.get("se_activation", "relu")
    s = ops.adaptive_avgpool(p + "pool", x, 1)
    s = ops.act(p + act, ops.conv(p + "fc1", s, squeeze, 1), act)
    s = ops.act(p + cfg["se_gate"], ops.conv(p + "fc2", s, ops.channels(x), 1), cfg["se_gate"])
    return ops.mul(p + "mul", x, s)


def inverted_residual(ops: Ops, x: Tensor, block: Block, cfg: Mapping) -> Tensor:
    """1x1 expansion (none when the width stays), kxk depthwise conv, squeeze-and-excitation (V3), linear
    1x1 projection; the input is added back when the block keeps its shape (EfficientNet: through drop path)."""
    p, bn, act = block.prefix, batchnorm(cfg), block.act
    y = x if block.expanded == block.cin else ops.conv_bn(p + "expand.", x, block.expanded, 1, act=act, **bn)
    y = ops.conv_bn(p + "dw.", y, block.expanded, block.kernel, block.stride, block.kernel // 2,
                    groups=block.expanded, act=act, **bn)
    if block.se:
        y = squeeze_excitation(ops, p + "se.", y, block.se, cfg)
    y = ops.conv_bn(p + "project.", y, block.out, 1, relu=False, **bn)  # linear bottleneck: no activation
    return residual(ops, x, y, block)


def residual(ops: Ops, x: Tensor, y: Tensor, block: Block) -> Tensor:
    """A block's output ``y`` plus its input ``x`` where the block keeps the shape (EfficientNet: ``y`` through drop
    path first); else ``y`` alone."""
    if not (block.stride == 1 and block.cin == block.out):
        return y
    if block.drop is not None:
        y = ops.drop_path(block.prefix + "drop_path", y, block.drop)
    return ops.add(block.prefix + "add", [x, y])


def v2_head_channels(cfg: Mapping) -> int:
    """The last 1x1 conv's width: never narrower than at width 1 (torchvision: max(1.0, width_mult))."""
    return make_divisible(cfg["head_channels"] * max(1.0, cfg["width_mult"]), cfg["round_to"])


def mobilenet_v2(ops: Ops, cfg: Mapping, num_classes: int):
    """stem (3x3/2 conv), stage1..stage7 of inverted residual blocks, head (1x1 conv, pool, dropout, fc)."""
    bn, act = batchnorm(cfg), cfg["activation"]
    _, kernel, stride, padding = cfg["stem"]
    x = ops.conv_bn("stem.", ops.input, stem_channels(cfg), kernel, stride, padding, act=act, **bn)  # 32 x 112 x 112
    for block in blocks_v2(cfg):
        x = inverted_residual(ops, x, block, cfg)  # 320 x 7 x 7 after stage7
    x = ops.conv_bn("head.", x, v2_head_channels(cfg), 1, act=act, **bn)  # 1280 x 7 x 7
    x = ops.adaptive_avgpool("head.pool", x, 1)
    x = ops.dropout("head.drop", ops.flatten("head.flatten", x), cfg["dropout"])
    return ops.output(ops.linear("head.fc", x, num_classes))


def v3_classifier_width(cfg: Mapping) -> int:
    return make_divisible(cfg["classifier_width"] * cfg["width_mult"], cfg["round_to"])


def mobilenet_v3(ops: Ops, cfg: Mapping, num_classes: int):
    """stem (3x3/2 conv, hard-swish), stage1..stageN of inverted residual blocks (some with SE), head (1x1
    conv to 6x, pool, fc1, hard-swish, dropout, fc)."""
    bn, act = batchnorm(cfg), cfg["activation"]
    _, kernel, stride, padding = cfg["stem"]
    x = ops.conv_bn("stem.", ops.input, stem_channels(cfg), kernel, stride, padding, act=act, **bn)  # 16 x 112 x 112
    for block in blocks_v3(cfg):
        x = inverted_residual(ops, x, block, cfg)  # 160 (large) or 96 (small) x 7 x 7 after the last stage
    x = ops.conv_bn("head.", x, cfg["head_expansion"] * ops.channels(x), 1, act=act, **bn)  # 960 or 576 x 7 x 7
    x = ops.flatten("head.flatten", ops.adaptive_avgpool("head.pool", x, 1))
    x = ops.act(f"head.{act}1", ops.linear("head.fc1", x, v3_classifier_width(cfg)), act)
    x = ops.dropout("head.drop", x, cfg["dropout"])
    return ops.output(ops.linear("head.fc", x, num_classes))


OPTIONS = frozen(width_mult=Number(0, lo_open=True), dropout=DROPOUT, bn_eps=BN_EPS)  # every MobileNet's

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
    options=OPTIONS,
    reference_params=3_504_872,
    reference_source=("torchvision.models.mobilenet_v2 published num_params (MobileNet_V2_Weights.IMAGENET1K_V1); "
                      "keras.applications.MobileNetV2 trainable params agree (tests/test_keras_applications.py)"),
))


# MobileNetV3's rows: kernel, expanded channels, output channels, squeeze-and-excitation, activation, stride
def _v3(name: str, stages: tuple, classifier_width: int, params: int, paper_table: str) -> ModelSpec:
    return ModelSpec(
        name=name,
        paper=f"Howard et al., Searching for MobileNetV3, 2019 ({paper_table})",
        published="2019-05-06",  # arXiv:1905.02244 v1
        topology=mobilenet_v3,
        input_size=224,
        in_channels=3,
        config=frozen(
            stem=(16, 3, 2, 1),  # filters (before width_mult), kernel, stride, padding
            stages=stages,
            se_reduction=4,  # squeezed channels: expanded / 4, rounded to a multiple of round_to
            se_gate="hardsigmoid",
            head_expansion=6,  # the last 1x1 conv: 6 x the last block's channels
            classifier_width=classifier_width,  # the hidden dense layer (before width_mult)
            width_mult=1.0,
            round_to=8,
            activation="hardswish",  # of the stem, the head and the classifier; each block names its own
            dropout=0.2,
            bn_eps=1e-3,  # torchvision's MobileNetV3 (the TensorFlow reference's), not PyTorch's default
            bn_momentum=0.01,
        ),
        options=OPTIONS,
        reference_params=params,
        reference_source=(f"torchvision.models.{name} published num_params (IMAGENET1K_V1 weights); "
                          "keras.applications' MobileNetV3 of that size: trainable params agree"),
    )


register(
    _v3("mobilenet_v3_large", (
        ((3, 16, 16, False, "relu", 1),),
        ((3, 64, 24, False, "relu", 2), (3, 72, 24, False, "relu", 1)),
        ((5, 72, 40, True, "relu", 2), (5, 120, 40, True, "relu", 1), (5, 120, 40, True, "relu", 1)),
        ((3, 240, 80, False, "hardswish", 2), (3, 200, 80, False, "hardswish", 1),
         (3, 184, 80, False, "hardswish", 1), (3, 184, 80, False, "hardswish", 1),
         (3, 480, 112, True, "hardswish", 1), (3, 672, 112, True, "hardswish", 1)),
        ((5, 672, 160, True, "hardswish", 2), (5, 960, 160, True, "hardswish", 1),
         (5, 960, 160, True, "hardswish", 1)),
    ), 1280, 5_483_032, "table 1"),
    _v3("mobilenet_v3_small", (
        ((3, 16, 16, True, "relu", 2),),
        ((3, 72, 24, False, "relu", 2), (3, 88, 24, False, "relu", 1)),
        ((5, 96, 40, True, "hardswish", 2), (5, 240, 40, True, "hardswish", 1), (5, 240, 40, True, "hardswish", 1),
         (5, 120, 48, True, "hardswish", 1), (5, 144, 48, True, "hardswish", 1)),
        ((5, 288, 96, True, "hardswish", 2), (5, 576, 96, True, "hardswish", 1), (5, 576, 96, True, "hardswish", 1)),
    ), 1024, 2_542_856, "table 2"),
)
