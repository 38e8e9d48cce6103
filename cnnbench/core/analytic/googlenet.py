"""GoogLeNet (Inception v1 with BatchNorm), analytically (see models_torch/googlenet.py)."""
from __future__ import annotations

from cnnbench.core.analytic.graph import Graph, Tensor


def _inception(g: Graph, p: str, x: Tensor, widths, cfg: dict) -> Tensor:
    c1, r3, c3, r5, c5, proj = widths
    k3 = cfg["branch3_kernel"]
    b1 = g.conv_bn(p + "branch1.", x, c1, 1)
    b2 = g.conv_bn(p + "branch2.reduce.", x, r3, 1)
    b2 = g.conv_bn(p + "branch2.", b2, c3, 3, padding=1)
    b3 = g.conv_bn(p + "branch3.reduce.", x, r5, 1)
    b3 = g.conv_bn(p + "branch3.", b3, c5, k3, padding=k3 // 2)
    b4 = g.maxpool(p + "branch4.pool", x, *cfg["branch4_pool"], ceil_mode=cfg["ceil_mode"])
    b4 = g.conv_bn(p + "branch4.", b4, proj, 1)
    return g.concat(p + "concat", [b1, b2, b3, b4])


def _aux(g: Graph, p: str, x: Tensor, cfg: dict, num_classes: int) -> Tensor:
    x = g.adaptive_avgpool(p + "pool", x, cfg["aux_pool"])
    x = g.conv_bn(p + "proj.", x, cfg["aux_proj"], 1)
    x = g.flatten(p + "flatten", x)
    x = g.relu(p + "relu", g.linear(p + "fc1", x, cfg["aux_fc"]))
    x = g.dropout(p + "drop", x, cfg["aux_dropout"])
    return g.linear(p + "fc", x, num_classes)


def googlenet(g: Graph, cfg: dict, num_classes: int) -> None:
    k, s = cfg["pool_size"], cfg["pool_stride"]
    stem = cfg["stem"]
    x = g.conv_bn("stem.conv1.", g.input, *stem["conv1"])
    x = g.maxpool("stem.pool1", x, k, s, ceil_mode=cfg["ceil_mode"])
    x = g.conv_bn("stem.conv2.", x, *stem["conv2"])
    x = g.conv_bn("stem.conv3.", x, *stem["conv3"])
    x = g.maxpool("stem.pool2", x, k, s, ceil_mode=cfg["ceil_mode"])
    aux = []
    for name, widths in cfg["modules"]:
        x = _inception(g, name + ".", x, widths, cfg)
        if name in cfg["pools_after"]:
            pool_name, pool_k = cfg["pools_after"][name]
            x = g.maxpool(pool_name, x, pool_k, s, ceil_mode=cfg["ceil_mode"])
        if cfg["aux_logits"] and name in cfg["aux_after"]:
            aux.append(_aux(g, f"aux{len(aux) + 1}.", x, cfg, num_classes))
    x = g.adaptive_avgpool("head.pool", x, 1)
    x = g.flatten("head.flatten", x)
    x = g.dropout("head.drop", x, cfg["dropout"])
    g.output(g.linear("head.fc", x, num_classes), *aux)
