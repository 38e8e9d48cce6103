"""AlexNet (Krizhevsky et al., 2012), torchvision's single tower: its topology, for every implementation of the ops."""
from __future__ import annotations

from typing import Mapping

from cnnbench.core.ops import Ops


def alexnet(ops: Ops, cfg: Mapping, num_classes: int):
    """stage1..stage5 (conv -> relu [-> max pool]), head (pool 6x6 -> flatten -> 3 dense)."""
    x = ops.input
    for i, (filters, kernel, stride, padding, pool) in enumerate(cfg["stages"], start=1):
        x = ops.conv(f"stage{i}.conv", x, filters, kernel, stride, padding)
        x = ops.relu(f"stage{i}.relu", x)
        if pool:
            x = ops.maxpool(f"stage{i}.pool", x, cfg["pool_size"], cfg["pool_stride"])
    x = ops.adaptive_avgpool("head.pool", x, cfg["head_pool"])  # 256 x 6 x 6
    x = ops.flatten("head.flatten", x)  # 9216
    for i, units in enumerate(cfg["fc"], start=1):
        x = ops.dropout(f"head.drop{i}", x, cfg["dropout"])
        x = ops.linear(f"head.fc{i}", x, units)
        x = ops.relu(f"head.relu{i}", x)
    return ops.output(ops.linear("head.fc", x, num_classes))
