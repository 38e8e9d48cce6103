"""VGG, analytically (see models_torch/vgg.py for the network)."""
from __future__ import annotations

from cnnbench.core.analytic.graph import Graph


def vgg(g: Graph, cfg: dict, num_classes: int) -> None:
    x = g.input
    for s, widths in enumerate(cfg["stages"], start=1):
        for i, filters in enumerate(widths, start=1):
            x = g.conv(f"stage{s}.conv{i}", x, filters, cfg["kernel"], padding=cfg["padding"])
            if cfg["batch_norm"]:
                x = g.bn(f"stage{s}.bn{i}", x)
            x = g.relu(f"stage{s}.relu{i}", x)
        x = g.maxpool(f"stage{s}.pool", x, cfg["pool_size"], cfg["pool_size"])
    x = g.adaptive_avgpool("head.pool", x, cfg["head_pool"])
    x = g.flatten("head.flatten", x)
    for i, units in enumerate(cfg["fc"], start=1):
        x = g.linear(f"head.fc{i}", x, units)
        x = g.relu(f"head.relu{i}", x)
        x = g.dropout(f"head.drop{i}", x, cfg["dropout"])
    g.output(g.linear("head.fc", x, num_classes))
