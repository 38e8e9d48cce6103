"""MNASNet (Tan et al., 2018; the B1 model of the search): MobileNetV2's inverted residual blocks with 3x3 and
5x5 depthwise convs and expansion 3 or 6, found by a platform-aware architecture search; its specs and topology.

As torchvision's ``mnasnet0_5`` and ``mnasnet1_0`` (its version 2, torchvision/models/mnasnet.py): every width
of the stem and the stages times the depth multiplier ``alpha`` (here ``width_mult``), rounded to a multiple of 8
with torchvision's bias 0.9 (``_round_to_multiple_of``, MobileNet's ``_make_divisible``); the stem's 3x3/2 conv,
then a depthwise-separable block (3x3 depthwise, linear 1x1 to 16: an inverted residual block of expansion 1, no
skip), six stages of inverted residual blocks (the input added back where the shape stays), a 1x1 conv to 1280
(never scaled), global average, dropout 0.2 and the classifier. ReLU throughout (not ReLU6), BatchNorm eps 1e-5 and
momentum 1 - 0.9997 (the paper's TensorFlow decay 0.9997 in PyTorch's convention). torchvision's module names
(``layers.0`` ... ``layers.16``, ``classifier.1``) are a flat list; here the blocks are named by stage, as the
MobileNets' are, and have the same weights in the same order.
"""
from __future__ import annotations

from typing import Iterator, Mapping

from cnnbench.core.families.mobilenet import Block, inverted_residual, make_divisible, stem_channels
from cnnbench.core.ops import Ops, batchnorm
from cnnbench.core.options import BN_EPS, DROPOUT, Number
from cnnbench.core.specs import ModelSpec, frozen, register


def blocks(cfg: Mapping) -> Iterator[Block]:
    """The stages' rows (expansion t, output channels c, blocks n, first block's stride s, depthwise kernel k)
    expanded: t x the block's input channels wide, the stride on each stage's first block only."""
    cin = stem_channels(cfg)
    for s, (t, c, n, stride, kernel) in enumerate(cfg["stages"], start=1):
        out = make_divisible(c * cfg["width_mult"], cfg["round_to"])
        for b in range(1, n + 1):
            yield Block(f"stage{s}.block{b}.", cin, cin * t, out, kernel, stride if b == 1 else 1, cfg["activation"], 0)
            cin = out


def mnasnet(ops: Ops, cfg: Mapping, num_classes: int):
    """stem (3x3/2 conv), stage1 (depthwise separable) .. stage7 of inverted residual blocks, head (1x1 conv,
    pool, dropout, fc)."""
    bn, act = batchnorm(cfg), cfg["activation"]
    _, kernel, stride, padding = cfg["stem"]
    x = ops.conv_bn("stem.", ops.input, stem_channels(cfg), kernel, stride, padding, act=act, **bn)  # 32 x 112 x 112
    for block in blocks(cfg):
        x = inverted_residual(ops, x, block, cfg)  # 320 x 7 x 7 after stage7 (alpha 1)
    x = ops.conv_bn("head.", x, cfg["head_channels"], 1, act=act, **bn)  # 1280 x 7 x 7
    x = ops.adaptive_avgpool("head.pool", x, 1)
    x = ops.dropout("head.drop", ops.flatten("head.flatten", x), cfg["dropout"])
    return ops.output(ops.linear("head.fc", x, num_classes))


def _mnasnet(name: str, alpha: float, params: int, weights: str) -> ModelSpec:
    return ModelSpec(
        name=name,
        paper=f"Tan et al., MnasNet: Platform-Aware Neural Architecture Search for Mobile, 2018 (B1, depth x{alpha})",
        published="2018-07-31",  # arXiv:1807.11626 v1
        topology=mnasnet,
        input_size=224,
        in_channels=3,
        config=frozen(
            stem=(32, 3, 2, 1),  # filters (before width_mult), kernel, stride, padding
            # t, c, n, s, k: torchvision's _stack calls, after the separable block (stage1, expansion 1)
            stages=((1, 16, 1, 1, 3), (3, 24, 3, 2, 3), (3, 40, 3, 2, 5), (6, 80, 3, 2, 5), (6, 96, 2, 1, 3),
                    (6, 192, 4, 2, 5), (6, 320, 1, 1, 3)),
            head_channels=1280,
            width_mult=alpha,
            round_to=8,
            activation="relu",
            dropout=0.2,
            bn_eps=1e-5,
            bn_momentum=1 - 0.9997,
        ),
        options=frozen(width_mult=Number(0, lo_open=True), dropout=DROPOUT, bn_eps=BN_EPS),
        reference_params=params,
        reference_source=(f"torchvision.models.{name} published num_params ({weights}.IMAGENET1K_V1 meta; "
                          "torchvision/models/mnasnet.py @ 8c118f16, pytorch/vision)"),
    )


register(
    _mnasnet("mnasnet0_5", 0.5, 2_218_512, "MNASNet0_5_Weights"),
    _mnasnet("mnasnet1_0", 1.0, 4_383_312, "MNASNet1_0_Weights"),
)
