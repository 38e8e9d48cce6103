"""DenseNet-BC, analytically (see models_torch/densenet.py for the network)."""
from __future__ import annotations

from cnnbench.core.analytic.graph import Graph


def densenet(g: Graph, cfg: dict, num_classes: int) -> None:
    growth, width = cfg["growth_rate"], cfg["bn_size"] * cfg["growth_rate"]
    filters, kernel, stride, padding = cfg["stem"]
    x = g.conv("stem.conv", g.input, filters, kernel, stride, padding, bias=False)
    x = g.relu("stem.relu", g.bn("stem.bn", x))
    x = g.maxpool("stem.pool", x, *cfg["stem_pool"])
    for b, n_layers in enumerate(cfg["blocks"], start=1):
        for i in range(1, n_layers + 1):
            p = f"block{b}.layer{i}."
            y = g.relu(p + "relu1", g.bn(p + "bn1", x))
            y = g.conv(p + "conv1", y, width, 1, bias=False)
            y = g.relu(p + "relu2", g.bn(p + "bn2", y))
            y = g.conv(p + "conv2", y, growth, 3, padding=1, bias=False)
            x = g.concat(p + "concat", [x, y])
        if b < len(cfg["blocks"]):
            p = f"transition{b}."
            y = g.relu(p + "relu", g.bn(p + "bn", x))
            y = g.conv(p + "conv", y, int(x.shape[0] * cfg["compression"]), 1, bias=False)
            x = g.avgpool(p + "pool", y, *cfg["transition_pool"])
    x = g.relu("head.relu", g.bn("head.bn", x))
    x = g.adaptive_avgpool("head.pool", x, 1)
    x = g.flatten("head.flatten", x)
    g.output(g.linear("head.fc", x, num_classes))
