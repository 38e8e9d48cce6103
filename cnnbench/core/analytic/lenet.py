"""LeNet-5, analytically (see models_torch/lenet.py for the network)."""
from __future__ import annotations

from cnnbench.core.analytic.graph import Graph


def lenet(g: Graph, cfg: dict, num_classes: int) -> None:
    x = g.input
    pool = g.maxpool if cfg["pool"] == "max" else g.avgpool
    for i, (filters, kernel, padding) in enumerate(cfg["convs"], start=1):
        x = g.conv(f"stage{i}.conv", x, filters, kernel, padding=padding)
        x = g.act(f"stage{i}.act", x, cfg["activation"])
        x = pool(f"stage{i}.pool", x, cfg["pool_size"], cfg["pool_size"])
    x = g.flatten("head.flatten", x)
    for i, units in enumerate(cfg["fc"], start=1):
        x = g.linear(f"head.fc{i}", x, units)
        x = g.act(f"head.act{i}", x, cfg["activation"])
    g.output(g.linear("head.fc", x, num_classes))
