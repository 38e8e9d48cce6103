"""VGG (Simonyan & Zisserman, 2014): one table expanded by one topology, for every implementation of the ops."""
from __future__ import annotations

from typing import Mapping

from cnnbench.core.ops import Ops, batchnorm


def vgg(ops: Ops, cfg: Mapping, num_classes: int):
    """stage1..stage5 (3x3 convs [-> BN] -> relu, then a 2x2 max pool), head (pool 7x7 -> 3 dense)."""
    x = ops.input
    for s, widths in enumerate(cfg["stages"], start=1):
        for i, filters in enumerate(widths, start=1):
            x = ops.conv(f"stage{s}.conv{i}", x, filters, cfg["kernel"], padding=cfg["padding"])
            if cfg["batch_norm"]:
                x = ops.bn(f"stage{s}.bn{i}", x, **batchnorm(cfg))
            x = ops.relu(f"stage{s}.relu{i}", x)
        x = ops.maxpool(f"stage{s}.pool", x, cfg["pool_size"], cfg["pool_size"])
    x = ops.adaptive_avgpool("head.pool", x, cfg["head_pool"])  # 512 x 7 x 7
    x = ops.flatten("head.flatten", x)  # 25088
    for i, units in enumerate(cfg["fc"], start=1):
        x = ops.linear(f"head.fc{i}", x, units)
        x = ops.relu(f"head.relu{i}", x)
        x = ops.dropout(f"head.drop{i}", x, cfg["dropout"])
    return ops.output(ops.linear("head.fc", x, num_classes))
