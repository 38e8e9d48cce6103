"""ResNet (He et al., 2015), basic and bottleneck blocks, v1.5 stride by default: its specs and its topology."""
from __future__ import annotations

from typing import Mapping

from cnnbench.core.ops import Ops, Tensor, batchnorm
from cnnbench.core.options import BN_EPS, Flag
from cnnbench.core.specs import ModelSpec, Variant, frozen, register


def basic_block(ops: Ops, p: str, x: Tensor, width: int, stride: int, cfg: Mapping) -> Tensor:
    bias, bn = cfg["conv_bias"], batchnorm(cfg)
    y = ops.conv_bn(p, x, width, 3, stride, 1, bias=bias, suffix="1", **bn)
    y = ops.conv_bn(p, y, width, 3, 1, 1, bias=bias, relu=False, suffix="2", **bn)
    if stride != 1 or ops.channels(x) != width:
        x = ops.conv_bn(p + "downsample.", x, width, 1, stride, bias=bias, relu=False, **bn)
    return ops.relu(p + "relu", ops.add(p + "add", [y, x]))


def bottleneck(ops: Ops, p: str, x: Tensor, width: int, stride: int, cfg: Mapping) -> Tensor:
    """1x1 -> 3x3 -> 1x1 (x expansion); the stride sits in the 3x3 (v1.5) or the first 1x1 (v1)."""
    bias, bn, out = cfg["conv_bias"], batchnorm(cfg), width * cfg["expansion"]
    s1, s3 = (stride, 1) if cfg["stride_in_1x1"] else (1, stride)
    y = ops.conv_bn(p, x, width, 1, s1, bias=bias, suffix="1", **bn)
    y = ops.conv_bn(p, y, width, 3, s3, 1, bias=bias, suffix="2", **bn)
    y = ops.conv_bn(p, y, out, 1, 1, bias=bias, relu=False, suffix="3", **bn)
    if stride != 1 or ops.channels(x) != out:
        x = ops.conv_bn(p + "downsample.", x, out, 1, stride, bias=bias, relu=False, **bn)
    return ops.relu(p + "relu", ops.add(p + "add", [y, x]))


def resnet(ops: Ops, cfg: Mapping, num_classes: int):
    """stem (7x7/2 conv, BN, ReLU, 3x3/2 max pool), stage1..stage4 of blocks, head."""
    block = basic_block if cfg["block"] == "basic" else bottleneck
    x = ops.conv_bn("stem.", ops.input, *cfg["stem"], bias=cfg["conv_bias"], **batchnorm(cfg))
    x = ops.maxpool("stem.pool", x, *cfg["stem_pool"])  # 64 x 56 x 56
    for s, (width, blocks, first_stride) in enumerate(zip(cfg["widths"], cfg["layers"], cfg["strides"]), start=1):
        for b in range(1, blocks + 1):
            x = block(ops, f"stage{s}.block{b}.", x, width, first_stride if b == 1 else 1, cfg)
    x = ops.adaptive_avgpool("head.pool", x, 1)  # 512 (basic) or 2048 (bottleneck) x 1 x 1
    x = ops.flatten("head.flatten", x)
    return ops.output(ops.linear("head.fc", x, num_classes))


# ------------------------------------------------------------------ the specs
def _resnet(depth: int, block: str, layers: tuple[int, ...], params: int, variants=()) -> ModelSpec:
    return ModelSpec(
        name=f"resnet{depth}",
        paper="He et al., Deep Residual Learning for Image Recognition, 2015 (v1.5: stride in the 3x3)",
        published="2015-12-10",  # arXiv:1512.03385 v1
        topology=resnet,
        input_size=224,
        in_channels=3,
        config=frozen(
            block=block,  # "basic" | "bottleneck"
            layers=layers,
            stem=(64, 7, 2, 3),  # filters, kernel, stride, padding
            stem_pool=(3, 2, 1),  # kernel, stride, padding
            widths=(64, 128, 256, 512),
            strides=(1, 2, 2, 2),  # of each stage's first block (and its downsample); the others stride 1
            expansion=4 if block == "bottleneck" else 1,
            stride_in_1x1=False,  # True = "v1": stride in the first 1x1 (seeds, keras.applications)
            conv_bias=False,  # True = convs carry a bias (seeds, keras.applications)
            bn_eps=1e-5,
            bn_momentum=0.1,
        ),
        options=frozen(stride_in_1x1=Flag(), conv_bias=Flag(), bn_eps=BN_EPS),
        reference_params=params,
        reference_source=f"torchvision.models.resnet{depth} published num_params",
        variants=variants,
    )


register(
    _resnet(18, "basic", (2, 2, 2, 2), 11_689_512),
    _resnet(34, "basic", (3, 4, 6, 3), 21_797_672),
    _resnet(
        50,
        "bottleneck",
        (3, 4, 6, 3),
        25_557_032,
        variants=(
            # keras.applications.ResNet50 counts 25,636,712 *including* 53,120 BN moving
            # statistics; trainable 25,583,592. Its BN epsilon is 1.001e-5.
            Variant(
                {"stride_in_1x1": True, "conv_bias": True, "bn_eps": 1.001e-5},
                25_583_592,
                "keras.applications.ResNet50 trainable params (total 25,636,712 incl. BN statistics)",
            ),
        ),
    ),
    _resnet(101, "bottleneck", (3, 4, 23, 3), 44_549_160),
    _resnet(152, "bottleneck", (3, 8, 36, 3), 60_192_808),
)
