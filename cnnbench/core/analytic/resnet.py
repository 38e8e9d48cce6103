"""ResNet (He et al., 2015), basic and bottleneck blocks, v1.5 stride by default: its topology, for
every implementation of the ops."""
from __future__ import annotations

from typing import Mapping

from cnnbench.core.ops import Ops, Tensor, batchnorm


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
