"""AlexNet (Krizhevsky et al., 2012), torchvision's single tower: its spec and its topology."""
from __future__ import annotations

from typing import Mapping

from cnnbench.core.ops import Ops
from cnnbench.core.options import DROPOUT
from cnnbench.core.specs import ModelSpec, frozen, register


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


# ------------------------------------------------------------------ the specs
register(ModelSpec(
    name="alexnet",
    paper="Krizhevsky et al., ImageNet Classification with Deep CNNs, 2012 (single tower, as torchvision)",
    published="2012-12",  # NIPS 2012
    topology=alexnet,
    input_size=224,
    in_channels=3,
    config=frozen(
        # (filters, kernel, stride, padding, max-pool after)
        stages=(
            (64, 11, 4, 2, True),
            (192, 5, 1, 2, True),
            (384, 3, 1, 1, False),
            (256, 3, 1, 1, False),
            (256, 3, 1, 1, True),
        ),
        pool_size=3,
        pool_stride=2,
        head_pool=6,  # adaptive average pool to 6x6 before the classifier
        fc=(4096, 4096),
        dropout=0.5,
    ),
    options=frozen(dropout=DROPOUT),
    reference_params=61_100_840,
    reference_source="torchvision.models.alexnet, published num_params 61,100,840",
))
