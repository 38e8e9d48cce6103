"""EfficientNet-B0..B3 (Tan and Le, 2019): MobileNetV2's inverted residual blocks with squeeze-and-excitation,
SiLU and stochastic depth, scaled in width and depth; and EfficientNetV2-S (Tan and Le, 2021), whose first stages
fuse each block's 1x1 expansion and depthwise conv into one 3x3 conv; their specs and their one topology.

As torchvision's ``efficientnet_b0`` .. ``efficientnet_b3`` (torchvision/models/efficientnet.py): the paper's
table 1 rows, every width times ``width_mult`` rounded by ``make_divisible`` (to a multiple of 8, not 10%
below), every stage's depth times ``depth_mult`` rounded up (``ceil``); expansion to
``make_divisible(in x t)``; SE squeezing to max(1, in / 4) of the block's *input* channels, with SiLU and a
sigmoid gate; a residual branch only where a block keeps its shape, through stochastic depth at rate
0.2 x (block index) / (number of blocks), counting from 0 over the whole network; a 1x1 head conv to 4 x the
last stage's width, global average pool, dropout and the classifier.

BatchNorm eps 1e-3 and momentum 0.01 (PyTorch's convention; TensorFlow's 0.99): the paper's TensorFlow
reference (and torchvision's B5..B7, timm's ``tf_efficientnet_*``). torchvision's B0..B4 builders leave
``nn.BatchNorm2d``'s defaults (1e-5, 0.1); neither changes a shape, count or inference output beyond the
epsilon's effect, and ``bn_eps`` is an option.

keras.applications.EfficientNetB0..B3 have the same trainable weights (5,288,548 / 7,794,184 / 9,109,994 /
12,233,232) and BatchNorm statistics (42,016 / 62,048 / 67,568 / 87,296), the same eps 1e-3 and momentum
(its 0.99 is PyTorch's 0.01), the same drop path (a per-sample ``Dropout`` with ``noise_shape=(None, 1, 1,
1)`` at the same linearly rising rates) and dropout before the classifier, but not the same network: a
``Rescaling`` and a ``Normalization`` layer at the input (the normalization's mean, variance and count are
7 more non-trainable weights), strided convs padded at the bottom and right only (3x3: (0, 1); 5x5:
(1, 2)) where PyTorch pads k // 2 on every side, so every window after the first stride sits one pixel
off, and a softmax after the classifier (ours returns logits).

As torchvision's ``efficientnet_v2_s``: the paper's table 4, unscaled. A 3x3/2 stem to 24 channels; three stages
of Fused-MBConv blocks, each a 3x3 conv (with the stage's stride) to ``make_divisible(in x t)`` channels, BatchNorm
and SiLU, then a linear 1x1 projection with BatchNorm, or, at expansion 1 (stage 1), the 3x3 conv straight to the
output width with its BatchNorm and SiLU and no projection; no squeeze-and-excitation. Then three stages of MBConv
blocks as B0's (SE to max(1, in / 4) of the block's input channels). A residual branch, through stochastic depth,
wherever a block of either kind keeps its shape, the rate rising as B0's over all 40 blocks; a 1x1 head conv to
1280 (``last_channel``, not 4 x 256), pool, dropout 0.2 and the classifier. BatchNorm eps 1e-3 and momentum 0.1:
torchvision's V2 builders pass ``BatchNorm2d(eps=1e-3)`` and leave PyTorch's momentum. Default input 384 px, the
crop of torchvision's weights (the paper evaluates V2-S at 384 after training at up to 300).

keras.applications.EfficientNetV2S has the same trainable weights (21,458,488), BatchNorm statistics (153,872),
eps 1e-3 and momentum (its 0.9 is PyTorch's 0.1), the same Fused-MBConv and MBConv blocks, drop path rates and
dropout, but its strided convs pad "same" (bottom and right only) like EfficientNetB0..B3, its input passes a
``Rescaling`` to [-1, 1] (no weights, so no extra non-trainable count, unlike B0..B3's ``Normalization``), and it
ends in a softmax.
"""
from __future__ import annotations

import math
from typing import Iterator, Mapping

from cnnbench.core.families.mobilenet import Block, inverted_residual, make_divisible, residual, stem_channels
from cnnbench.core.ops import Ops, Tensor, batchnorm
from cnnbench.core.options import BN_EPS, DROPOUT
from cnnbench.core.specs import ModelSpec, frozen, register


def stages(cfg: Mapping) -> list[tuple[bool, int, int, int, int, int]]:
    """The stages' rows scaled: (fused, expansion t, kernel, first stride, output channels, blocks); V2's
    Fused-MBConv stages (``fused_stages``; B0..B3 have none) before the MBConv stages (``stages``)."""
    rows = [(True, *row) for row in cfg.get("fused_stages", ())] + [(False, *row) for row in cfg["stages"]]
    return [(fused, t, kernel, stride, make_divisible(c * cfg["width_mult"], cfg["round_to"]),
             int(math.ceil(n * cfg["depth_mult"]))) for fused, t, kernel, stride, c, n in rows]


def blocks(cfg: Mapping) -> Iterator[Block]:
    """Every block, with its stochastic depth rate: ``stochastic_depth_prob`` x i / (number of blocks)
    for the i-th block, counted from 0 (torchvision's order of operations, so the floats are the same).
    Fused-MBConv blocks have no SE (``se`` 0)."""
    rows = stages(cfg)
    total = sum(n for *_, n in rows)
    cin, i = stem_channels(cfg), 0
    for s, (fused, t, kernel, stride, out, n) in enumerate(rows, start=1):
        for b in range(1, n + 1):
            yield Block(f"stage{s}.block{b}.", cin, make_divisible(cin * t, cfg["round_to"]), out, kernel,
                        stride if b == 1 else 1, cfg["activation"], 0 if fused else max(1, cin // cfg["se_reduction"]),
                        cfg["stochastic_depth_prob"] * float(i) / total, fused)
            cin, i = out, i + 1


def head_channels(cfg: Mapping) -> int:
    """The 1x1 head conv's width: ``head_channels`` where given (V2-S: 1280), else ``head_expansion`` x the last
    stage's (1280 for B0)."""
    return cfg["head_channels"] if "head_channels" in cfg else cfg["head_expansion"] * stages(cfg)[-1][4]


def fused_mbconv(ops: Ops, x: Tensor, block: Block, cfg: Mapping) -> Tensor:
    """EfficientNetV2's Fused-MBConv: a kxk conv with the block's stride to the expanded width (SiLU), then a
    linear 1x1 projection; at expansion 1 the kxk conv alone, to the output width and with its SiLU. No SE; the
    input added back (through drop path) where the block keeps its shape."""
    p, bn, pad = block.prefix, batchnorm(cfg), block.kernel // 2
    expands = block.expanded != block.cin
    y = ops.conv_bn(p + "fused.", x, block.expanded if expands else block.out, block.kernel, block.stride, pad,
                    act=block.act, **bn)
    if expands:
        y = ops.conv_bn(p + "project.", y, block.out, 1, relu=False, **bn)  # linear bottleneck: no activation
    return residual(ops, x, y, block)


def efficientnet(ops: Ops, cfg: Mapping, num_classes: int):
    """stem (3x3/2 conv, SiLU), stage1..stage7 of MBConv blocks (V2-S: stage1..stage3 of Fused-MBConv blocks,
    stage4..stage6 of MBConv blocks), head (1x1 conv, SiLU, pool, dropout, fc)."""
    bn, act = batchnorm(cfg), cfg["activation"]
    _, kernel, stride, padding = cfg["stem"]
    x = ops.conv_bn("stem.", ops.input, stem_channels(cfg), kernel, stride, padding, act=act, **bn)  # 32 x 112 x 112
    for block in blocks(cfg):
        x = (fused_mbconv if block.fused else inverted_residual)(ops, x, block, cfg)  # B0: 320 x 7 x 7 at the end
    x = ops.conv_bn("head.", x, head_channels(cfg), 1, act=act, **bn)  # B0: 1280 x 7 x 7; V2-S: 1280 x 12 x 12
    x = ops.adaptive_avgpool("head.pool", x, 1)
    x = ops.dropout("head.drop", ops.flatten("head.flatten", x), cfg["dropout"])
    return ops.output(ops.linear("head.fc", x, num_classes))


def _b(n: int, width: float, depth: float, size: int, dropout: float, params: int) -> ModelSpec:
    return ModelSpec(
        name=f"efficientnet_b{n}",
        paper=f"Tan and Le, EfficientNet: Rethinking Model Scaling for Convolutional Neural Networks, 2019 (B{n})",
        published="2019-05-28",  # arXiv:1905.11946 v1
        topology=efficientnet,
        input_size=size,
        in_channels=3,
        config=frozen(
            stem=(32, 3, 2, 1),  # filters (before width_mult), kernel, stride, padding
            # the paper's table 1 (B0): expansion t, kernel, first block's stride, output channels, blocks
            stages=((1, 3, 1, 16, 1), (6, 3, 2, 24, 2), (6, 5, 2, 40, 2), (6, 3, 2, 80, 3), (6, 5, 1, 112, 3),
                    (6, 5, 2, 192, 4), (6, 3, 1, 320, 1)),
            width_mult=width,  # channels x this, rounded to a multiple of round_to
            depth_mult=depth,  # blocks per stage x this, rounded up
            round_to=8,
            se_reduction=4,  # squeezed channels: a block's input channels / 4
            se_activation="silu",
            se_gate="sigmoid",
            head_expansion=4,
            activation="silu",
            stochastic_depth_prob=0.2,
            dropout=dropout,
            bn_eps=1e-3,
            bn_momentum=0.01,
        ),
        options=frozen(dropout=DROPOUT, stochastic_depth_prob=DROPOUT, bn_eps=BN_EPS),
        reference_params=params,
        reference_source=(f"torchvision.models.efficientnet_b{n} published num_params (IMAGENET1K_V1 weights); "
                          f"keras.applications.EfficientNetB{n} trainable params agree (tests/test_keras_applications.py)"),
    )


# width, depth, the paper's resolution, dropout (torchvision's): B0 1.0, 1.0, 224, 0.2 ... B3 1.2, 1.4, 300, 0.3
register(
    _b(0, 1.0, 1.0, 224, 0.2, 5_288_548),
    _b(1, 1.0, 1.1, 240, 0.2, 7_794_184),
    _b(2, 1.1, 1.2, 260, 0.3, 9_109_994),
    _b(3, 1.2, 1.4, 300, 0.3, 12_233_232),
)


register(ModelSpec(
    name="efficientnet_v2_s",
    paper="Tan and Le, EfficientNetV2: Smaller Models and Faster Training, 2021 (V2-S)",
    published="2021-04-01",  # arXiv:2104.00298 v1
    topology=efficientnet,
    input_size=384,  # torchvision's weights: crop 384 (the paper's V2-S evaluation size)
    in_channels=3,
    config=frozen(
        stem=(24, 3, 2, 1),  # filters, kernel, stride, padding
        # the paper's table 4, stages 1-3 (Fused-MBConv, no SE) and 4-6 (MBConv, SE 0.25): expansion t, kernel,
        # first block's stride, output channels, blocks
        fused_stages=((1, 3, 1, 24, 2), (4, 3, 2, 48, 4), (4, 3, 2, 64, 4)),
        stages=((4, 3, 2, 128, 6), (6, 3, 1, 160, 9), (6, 3, 2, 256, 15)),
        width_mult=1.0,  # V2-S is not scaled; its widths are multiples of round_to as they stand
        depth_mult=1.0,
        round_to=8,
        se_reduction=4,  # squeezed channels: an MBConv block's input channels / 4
        se_activation="silu",
        se_gate="sigmoid",
        head_channels=1280,  # torchvision's last_channel (table 4's last row), not 4 x 256
        activation="silu",
        stochastic_depth_prob=0.2,
        dropout=0.2,
        bn_eps=1e-3,  # torchvision's V2: BatchNorm2d(eps=1e-3), PyTorch's momentum
        bn_momentum=0.1,
    ),
    options=frozen(dropout=DROPOUT, stochastic_depth_prob=DROPOUT, bn_eps=BN_EPS),
    reference_params=21_458_488,
    reference_source=("torchvision.models.efficientnet_v2_s published num_params (EfficientNet_V2_S_Weights."
                      "IMAGENET1K_V1); keras.applications.EfficientNetV2S trainable params agree "
                      "(tests/test_keras_applications.py)"),
))
