"""RegNet-Y (Radosavovic et al., 2020): residual bottleneck blocks of grouped 3x3 convolutions with
squeeze-and-excitation, their widths and depths generated from six numbers; its specs and its topology.

As torchvision's ``regnet_y_400mf`` and ``regnet_y_1_6gf``: a 3x3/2 stem of 32 filters, four stages whose
widths, depths and group widths come from ``BlockParams.from_init_params`` (``stage_plan`` below, the same
arithmetic), each block 1x1 conv -> 3x3 grouped conv (the stage's stride in the first block) -> SE (squeeze to
round(0.25 x the block's input width), ReLU, sigmoid gate) -> linear 1x1 conv, plus the input (through a 1x1
projection with BatchNorm where the shape changes), then ReLU; average pool and fc. BatchNorm eps 1e-5 and
momentum 0.1; no dropout, no stochastic depth.

keras.applications defined RegNetY004 / RegNetY016 in Keras 2 (keras/applications/regnet.py, removed from
Keras 3, so the tests cannot build them): the same stage widths, depths and group widths (its MODEL_CONFIGS
"y004" and "y016", which the tests check ``stage_plan`` against), the same SE width (int(0.25 x input width),
equal to the rounded one for these widths) and BatchNorm (momentum 0.9, i.e. PyTorch's 0.1; eps 1e-5), so the
same trainable weights; but "same" padding of the strided convs (bottom/right only where PyTorch pads 1 on
every side, so every window after a stride sits one pixel off), an input rescaling layer and a softmax.
"""
from __future__ import annotations

import math
from typing import Iterator, Mapping, NamedTuple

from cnnbench.core.families.mobilenet import make_divisible, squeeze_excitation
from cnnbench.core.ops import Ops, Tensor, batchnorm
from cnnbench.core.options import BN_EPS
from cnnbench.core.specs import ModelSpec, frozen, register


class Stage(NamedTuple):
    width: int
    depth: int
    group_width: int


def stage_plan(cfg: Mapping) -> tuple[Stage, ...]:
    """torchvision's ``BlockParams.from_init_params``: block i's width w_0 + i * w_a, snapped in log space
    to w_0 * w_m^k and quantized to a multiple of ``quant``; a stage is a run of equal widths; then each
    stage's bottleneck width is made divisible by its group width (at most the bottleneck width itself),
    which can move the stage's width (RegNetY-1.6GF: 128 -> 120, 896 -> 888)."""
    depth, w_0, w_a, w_m, group_width = cfg["depth"], cfg["w_0"], cfg["w_a"], cfg["w_m"], cfg["group_width"]
    q, b = cfg["quant"], cfg["bottleneck_multiplier"]
    widths = [int(round(w_0 * w_m ** round(math.log((i * w_a + w_0) / w_0) / math.log(w_m)) / q) * q)
              for i in range(depth)]
    runs: list[list[int]] = []  # [width, depth] of each run of equal widths
    for w in widths:
        if runs and runs[-1][0] == w:
            runs[-1][1] += 1
        else:
            runs.append([w, 1])
    stages = []
    for w, d in runs:
        g = min(group_width, int(w * b))
        stages.append(Stage(int(make_divisible(int(w * b), g) / b), d, g))
    return tuple(stages)


class Block(NamedTuple):
    """One residual bottleneck block, every number resolved: what the topology and the PyTorch module build."""

    prefix: str  # stageN.blockM.
    cin: int
    out: int
    stride: int
    bottleneck: int  # the grouped 3x3 conv's channels
    groups: int
    se: int  # squeeze-and-excitation's squeezed channels (of the block's input width)


def blocks(cfg: Mapping) -> Iterator[Block]:
    cin = cfg["stem"][0]
    for s, stage in enumerate(stage_plan(cfg), start=1):
        w_b = int(round(stage.width * cfg["bottleneck_multiplier"]))
        for b in range(1, stage.depth + 1):
            yield Block(f"stage{s}.block{b}.", cin, stage.width, cfg["stage_stride"] if b == 1 else 1, w_b,
                        w_b // stage.group_width, int(round(cfg["se_ratio"] * cin)))
            cin = stage.width


def res_bottleneck(ops: Ops, x: Tensor, block: Block, cfg: Mapping) -> Tensor:
    """1x1 conv -> 3x3 grouped conv (the stride) -> SE -> linear 1x1 conv, plus the input (projected by a 1x1
    conv and BatchNorm where the width or the size changes), then ReLU."""
    p, bn = block.prefix, batchnorm(cfg)
    y = ops.conv_bn(p + "a.", x, block.bottleneck, 1, **bn)
    y = ops.conv_bn(p + "b.", y, block.bottleneck, 3, block.stride, 1, groups=block.groups, **bn)
    y = squeeze_excitation(ops, p + "se.", y, block.se, cfg)
    y = ops.conv_bn(p + "c.", y, block.out, 1, relu=False, **bn)
    if block.stride != 1 or block.cin != block.out:
        x = ops.conv_bn(p + "proj.", x, block.out, 1, block.stride, relu=False, **bn)
    return ops.relu(p + "relu", ops.add(p + "add", [y, x]))


def regnet(ops: Ops, cfg: Mapping, num_classes: int):
    """stem (3x3/2 conv, BN, ReLU), stage1..stage4 of residual bottleneck blocks, head (pool, fc)."""
    x = ops.conv_bn("stem.", ops.input, *cfg["stem"], **batchnorm(cfg))  # 32 x 112 x 112
    for block in blocks(cfg):
        x = res_bottleneck(ops, x, block, cfg)  # 440 (400MF) or 888 (1.6GF) x 7 x 7 after stage4
    x = ops.flatten("head.flatten", ops.adaptive_avgpool("head.pool", x, 1))
    return ops.output(ops.linear("head.fc", x, num_classes))


def _regnet_y(name: str, title: str, depth: int, w_0: int, w_a: float, w_m: float, group_width: int,
              params: int) -> ModelSpec:
    return ModelSpec(
        name=name,
        paper=f"Radosavovic et al., Designing Network Design Spaces, 2020 ({title})",
        published="2020-03-30",  # arXiv:2003.13678 v1
        topology=regnet,
        input_size=224,
        in_channels=3,
        config=frozen(
            stem=(32, 3, 2, 1),  # filters, kernel, stride, padding
            # torchvision's regnet_y_* builders: BlockParams.from_init_params(depth, w_0, w_a, w_m, group_width,
            # se_ratio=0.25); bottleneck_multiplier 1.0, widths quantized to 8 (QUANT), every stage strides 2
            depth=depth, w_0=w_0, w_a=w_a, w_m=w_m, group_width=group_width,
            bottleneck_multiplier=1.0,
            quant=8,
            stage_stride=2,
            se_ratio=0.25,  # squeezed channels: round(se_ratio x the block's input width)
            se_gate="sigmoid",
            bn_eps=1e-5,
            bn_momentum=0.1,
        ),
        options=frozen(bn_eps=BN_EPS),
        reference_params=params,
        reference_source=(f"torchvision.models.{name} published num_params (IMAGENET1K_V1/V2 weights; "
                          "torchvision/models/regnet.py, pytorch/vision)"),
    )


register(
    _regnet_y("regnet_y_400mf", "RegNetY-400MF", 16, 48, 27.89, 2.09, 8, 4_344_144),
    _regnet_y("regnet_y_1_6gf", "RegNetY-1.6GF", 27, 48, 20.71, 2.65, 24, 11_202_430),
)
