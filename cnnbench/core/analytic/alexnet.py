"""AlexNet, analytically (see models_torch/alexnet.py for the network)."""
from __future__ import annotations

from cnnbench.core.analytic.graph import Graph


def alexnet(g: Graph, cfg: dict, num_classes: int) -> None:
    x = g.input
    for i, (filters, kernel, stride, padding, pool) in enumerate(cfg["stages"], start=1):
        x = g.conv(f"stage{i}.conv", x, filters, kernel, stride, padding)
        x = g.relu(f"stage{i}.relu", x)
        if pool:
            x = g.maxpool(f"stage{i}.pool", x, cfg["pool_size"], cfg["pool_stride"])
    x = g.adaptive_avgpool("head.pool", x, cfg["head_pool"])
    x = g.flatten("head.flatten", x)
    for i, units in enumerate(cfg["fc"], start=1):
        x = g.dropout(f"head.drop{i}", x, cfg["dropout"])
        x = g.linear(f"head.fc{i}", x, units)
        x = g.relu(f"head.relu{i}", x)
    g.output(g.linear("head.fc", x, num_classes))
