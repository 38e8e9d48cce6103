"""LeNet-5 (LeCun et al., 1998) as the seeds define it: its topology, for every implementation of the ops."""
from __future__ import annotations

from typing import Mapping

from cnnbench.core.ops import Ops


def lenet(ops: Ops, cfg: Mapping, num_classes: int):
    """stage1, stage2 (conv -> activation -> pool), head (flatten -> fc1 -> fc2 -> fc)."""
    x = ops.input
    pool = ops.maxpool if cfg["pool"] == "max" else ops.avgpool
    k = cfg["pool_size"]
    for i, (filters, kernel, padding) in enumerate(cfg["convs"], start=1):
        x = ops.conv(f"stage{i}.conv", x, filters, kernel, padding=padding)
        x = ops.act(f"stage{i}.act", x, cfg["activation"])
        x = pool(f"stage{i}.pool", x, k, k)  # 6 x 14 x 14, then 16 x 5 x 5 at 28 x 28
    x = ops.flatten("head.flatten", x)  # 400
    for i, units in enumerate(cfg["fc"], start=1):
        x = ops.linear(f"head.fc{i}", x, units)
        x = ops.act(f"head.act{i}", x, cfg["activation"])
    return ops.output(ops.linear("head.fc", x, num_classes))
