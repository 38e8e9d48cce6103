"""ResNet, analytically (see models_torch/resnet.py for the network)."""
from __future__ import annotations

from cnnbench.core.analytic.graph import Graph


def resnet(g: Graph, cfg: dict, num_classes: int) -> None:
    bias = cfg["conv_bias"]
    x = g.conv_bn("stem.", g.input, *cfg["stem"], bias=bias)
    x = g.maxpool("stem.pool", x, *cfg["stem_pool"])
    for s, (width, blocks, first_stride) in enumerate(zip(cfg["widths"], cfg["layers"], cfg["strides"]), start=1):
        for b in range(1, blocks + 1):
            stride = first_stride if b == 1 else 1
            p = f"stage{s}.block{b}."
            out = width * cfg["expansion"]
            if cfg["block"] == "basic":
                y = g.conv_bn(p, x, width, 3, stride, 1, bias, suffix="1")
                y = g.conv_bn(p, y, width, 3, 1, 1, bias, relu=False, suffix="2")
            else:
                s1, s3 = (stride, 1) if cfg["stride_in_1x1"] else (1, stride)
                y = g.conv_bn(p, x, width, 1, s1, 0, bias, suffix="1")
                y = g.conv_bn(p, y, width, 3, s3, 1, bias, suffix="2")
                y = g.conv_bn(p, y, out, 1, 1, 0, bias, relu=False, suffix="3")
            if stride != 1 or x.shape[0] != out:
                x = g.conv_bn(p + "downsample.", x, out, 1, stride, 0, bias, relu=False)
            x = g.relu(p + "relu", g.add(p + "add", [y, x]))
    x = g.adaptive_avgpool("head.pool", x, 1)
    x = g.flatten("head.flatten", x)
    g.output(g.linear("head.fc", x, num_classes))
