"""Inception v3, analytically (see models_torch/inception.py for the network)."""
from __future__ import annotations

from cnnbench.core.analytic.graph import Graph, Tensor


def _avgpool(g: Graph, name: str, x: Tensor, cfg: dict) -> Tensor:
    return g.avgpool(name, x, *cfg["branch_pool"], count_include_pad=cfg["avgpool_count_include_pad"])


def _block_a(g, p, x, w, cfg):
    c1, (r5, c5), (rd, d1, d2), proj = w
    b1 = g.conv_bn(p + "branch1x1.", x, c1, 1)
    b5 = g.conv_bn(p + "branch5x5_1.", x, r5, 1)
    b5 = g.conv_bn(p + "branch5x5_2.", b5, c5, 5, padding=2)
    bd = g.conv_bn(p + "branch3x3dbl_1.", x, rd, 1)
    bd = g.conv_bn(p + "branch3x3dbl_2.", bd, d1, 3, padding=1)
    bd = g.conv_bn(p + "branch3x3dbl_3.", bd, d2, 3, padding=1)
    bp = g.conv_bn(p + "branch_pool.", _avgpool(g, p + "pool", x, cfg), proj, 1)
    return g.concat(p + "concat", [b1, b5, bd, bp])


def _block_b(g, p, x, w, cfg):
    c3, (rd, d1, d2) = w
    b3 = g.conv_bn(p + "branch3x3.", x, c3, 3, 2)
    bd = g.conv_bn(p + "branch3x3dbl_1.", x, rd, 1)
    bd = g.conv_bn(p + "branch3x3dbl_2.", bd, d1, 3, padding=1)
    bd = g.conv_bn(p + "branch3x3dbl_3.", bd, d2, 3, 2)
    bp = g.maxpool(p + "pool", x, cfg["pool_size"], cfg["pool_stride"])
    return g.concat(p + "concat", [b3, bd, bp])


def _block_c(g, p, x, w, cfg):
    c1, c7, out, proj = w
    n = cfg["factor_kernel"]
    row, col = ((1, n), (0, n // 2)), ((n, 1), (n // 2, 0))  # (kernel, padding)
    b1 = g.conv_bn(p + "branch1x1.", x, c1, 1)
    b7 = g.conv_bn(p + "branch7x7_1.", x, c7, 1)
    b7 = g.conv_bn(p + "branch7x7_2.", b7, c7, row[0], padding=row[1])
    b7 = g.conv_bn(p + "branch7x7_3.", b7, out, col[0], padding=col[1])
    bd = g.conv_bn(p + "branch7x7dbl_1.", x, c7, 1)
    for i, (kp, f) in enumerate(((col, c7), (row, c7), (col, c7), (row, out)), start=2):
        bd = g.conv_bn(p + f"branch7x7dbl_{i}.", bd, f, kp[0], padding=kp[1])
    bp = g.conv_bn(p + "branch_pool.", _avgpool(g, p + "pool", x, cfg), proj, 1)
    return g.concat(p + "concat", [b1, b7, bd, bp])


def _block_d(g, p, x, w, cfg):
    (r3, c3), (r7, a, b, c) = w
    n = cfg["factor_kernel"]
    b3 = g.conv_bn(p + "branch3x3_1.", x, r3, 1)
    b3 = g.conv_bn(p + "branch3x3_2.", b3, c3, 3, 2)
    b7 = g.conv_bn(p + "branch7x7x3_1.", x, r7, 1)
    b7 = g.conv_bn(p + "branch7x7x3_2.", b7, a, (1, n), padding=(0, n // 2))
    b7 = g.conv_bn(p + "branch7x7x3_3.", b7, b, (n, 1), padding=(n // 2, 0))
    b7 = g.conv_bn(p + "branch7x7x3_4.", b7, c, 3, 2)
    bp = g.maxpool(p + "pool", x, cfg["pool_size"], cfg["pool_stride"])
    return g.concat(p + "concat", [b3, b7, bp])


def _block_e(g, p, x, w, cfg):
    c1, (r3, c3), (rd, d1, d2), proj = w
    b1 = g.conv_bn(p + "branch1x1.", x, c1, 1)
    b3 = g.conv_bn(p + "branch3x3_1.", x, r3, 1)
    b3 = g.concat(p + "branch3x3_cat", [
        g.conv_bn(p + "branch3x3_2a.", b3, c3, (1, 3), padding=(0, 1)),
        g.conv_bn(p + "branch3x3_2b.", b3, c3, (3, 1), padding=(1, 0)),
    ])
    bd = g.conv_bn(p + "branch3x3dbl_1.", x, rd, 1)
    bd = g.conv_bn(p + "branch3x3dbl_2.", bd, d1, 3, padding=1)
    bd = g.concat(p + "branch3x3dbl_cat", [
        g.conv_bn(p + "branch3x3dbl_3a.", bd, d2, (1, 3), padding=(0, 1)),
        g.conv_bn(p + "branch3x3dbl_3b.", bd, d2, (3, 1), padding=(1, 0)),
    ])
    bp = g.conv_bn(p + "branch_pool.", _avgpool(g, p + "pool", x, cfg), proj, 1)
    return g.concat(p + "concat", [b1, b3, bd, bp])


_BLOCKS = {"A": _block_a, "B": _block_b, "C": _block_c, "D": _block_d, "E": _block_e}


def inception(g: Graph, cfg: dict, num_classes: int) -> None:
    x = g.input
    for name, *args in cfg["stem"]:
        if args == ["maxpool"]:
            x = g.maxpool(f"stem.{name}", x, cfg["pool_size"], cfg["pool_stride"])
        else:
            x = g.conv_bn(f"stem.{name}.", x, *args)
    aux = None
    for name, kind, widths in cfg["blocks"]:
        x = _BLOCKS[kind](g, name + ".", x, widths, cfg)
        if cfg["aux_logits"] and name == cfg["aux_after"]:
            (k, s), (c0, c1) = cfg["aux_pool"], cfg["aux_widths"]
            a = g.avgpool("aux.pool", x, k, s)
            a = g.conv_bn("aux.conv0.", a, c0, 1)
            a = g.conv_bn("aux.conv1.", a, c1, k)
            a = g.adaptive_avgpool("aux.gap", a, 1)
            aux = g.linear("aux.fc", g.flatten("aux.flatten", a), num_classes)
    x = g.adaptive_avgpool("head.pool", x, 1)
    x = g.flatten("head.flatten", x)
    x = g.dropout("head.drop", x, cfg["dropout"])
    g.output(g.linear("head.fc", x, num_classes), *([aux] if aux is not None else []))
