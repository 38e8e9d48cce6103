"""LeNet-5 (LeCun et al., 1998) as the seeds define it: its spec and its topology."""
from __future__ import annotations

from typing import Mapping

from cnnbench.core.ops import Ops
from cnnbench.core.options import OneOf
from cnnbench.core.specs import ModelSpec, frozen, register


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


# ------------------------------------------------------------------ the specs
register(ModelSpec(
    name="lenet5",
    paper="LeCun et al., Gradient-Based Learning Applied to Document Recognition, 1998",
    published="1998-11",  # Proc. IEEE 86(11), November 1998
    topology=lenet,
    input_size=28,
    in_channels=1,
    num_classes=10,
    config=frozen(
        # (filters, kernel, padding): C1 is padded to keep 28x28 as in the seeds.
        convs=((6, 5, 2), (16, 5, 0)),
        pool_size=2,
        pool="max",  # seed 000 uses max, seed 001 average
        activation="relu",
        fc=(120, 84),
    ),
    options=frozen(activation=OneOf("relu", "tanh", "sigmoid"), pool=OneOf("max", "avg")),
    reference_params=61_706,
    reference_source="seed 000_637ea46590fc4101.txt, Keras summary 'Total params: 61,706'",
))
