"""Inception v3 (Szegedy et al., 2015), laid out as torchvision's: its spec and its topology.
Kernel sizes that a layer's name spells (``branch5x5_2``, ``1x3``) stay in the code; the widths,
pools and factorization are the spec's."""
from __future__ import annotations

from typing import Mapping

from cnnbench.core.ops import Ops, Tensor, batchnorm
from cnnbench.core.options import DROPOUT, Flag
from cnnbench.core.specs import ModelSpec, Variant, frozen, register


def _pool_branch(ops: Ops, p: str, x: Tensor, proj: int, cfg: Mapping) -> Tensor:
    x = ops.avgpool(p + "pool", x, *cfg["branch_pool"], count_include_pad=cfg["avgpool_count_include_pad"])
    return ops.conv_bn(p + "branch_pool.", x, proj, 1, **batchnorm(cfg))


def block_a(ops: Ops, p: str, x: Tensor, w, cfg: Mapping) -> Tensor:
    c1, (r5, c5), (rd, d1, d2), proj = w
    bn = batchnorm(cfg)
    b1 = ops.conv_bn(p + "branch1x1.", x, c1, 1, **bn)
    b5 = ops.conv_bn(p + "branch5x5_1.", x, r5, 1, **bn)
    b5 = ops.conv_bn(p + "branch5x5_2.", b5, c5, 5, padding=2, **bn)
    bd = ops.conv_bn(p + "branch3x3dbl_1.", x, rd, 1, **bn)
    bd = ops.conv_bn(p + "branch3x3dbl_2.", bd, d1, 3, padding=1, **bn)
    bd = ops.conv_bn(p + "branch3x3dbl_3.", bd, d2, 3, padding=1, **bn)
    return ops.concat(p + "concat", [b1, b5, bd, _pool_branch(ops, p, x, proj, cfg)])


def block_b(ops: Ops, p: str, x: Tensor, w, cfg: Mapping) -> Tensor:
    """Grid reduction: the 3x3 convs and the max pool stride 2."""
    c3, (rd, d1, d2) = w
    bn = batchnorm(cfg)
    b3 = ops.conv_bn(p + "branch3x3.", x, c3, 3, 2, **bn)
    bd = ops.conv_bn(p + "branch3x3dbl_1.", x, rd, 1, **bn)
    bd = ops.conv_bn(p + "branch3x3dbl_2.", bd, d1, 3, padding=1, **bn)
    bd = ops.conv_bn(p + "branch3x3dbl_3.", bd, d2, 3, 2, **bn)
    bp = ops.maxpool(p + "pool", x, cfg["pool_size"], cfg["pool_stride"])
    return ops.concat(p + "concat", [b3, bd, bp])


def block_c(ops: Ops, p: str, x: Tensor, w, cfg: Mapping) -> Tensor:
    c1, c7, out, proj = w
    n, bn = cfg["factor_kernel"], batchnorm(cfg)
    row, col = ((1, n), (0, n // 2)), ((n, 1), (n // 2, 0))  # (kernel, padding)
    b1 = ops.conv_bn(p + "branch1x1.", x, c1, 1, **bn)
    b7 = ops.conv_bn(p + "branch7x7_1.", x, c7, 1, **bn)
    b7 = ops.conv_bn(p + "branch7x7_2.", b7, c7, row[0], padding=row[1], **bn)
    b7 = ops.conv_bn(p + "branch7x7_3.", b7, out, col[0], padding=col[1], **bn)
    bd = ops.conv_bn(p + "branch7x7dbl_1.", x, c7, 1, **bn)
    for i, (kp, f) in enumerate(((col, c7), (row, c7), (col, c7), (row, out)), start=2):
        bd = ops.conv_bn(p + f"branch7x7dbl_{i}.", bd, f, kp[0], padding=kp[1], **bn)
    return ops.concat(p + "concat", [b1, b7, bd, _pool_branch(ops, p, x, proj, cfg)])


def block_d(ops: Ops, p: str, x: Tensor, w, cfg: Mapping) -> Tensor:
    """Grid reduction: the last 3x3 convs and the max pool stride 2."""
    (r3, c3), (r7, a, b, c) = w
    n, bn = cfg["factor_kernel"], batchnorm(cfg)
    b3 = ops.conv_bn(p + "branch3x3_1.", x, r3, 1, **bn)
    b3 = ops.conv_bn(p + "branch3x3_2.", b3, c3, 3, 2, **bn)
    b7 = ops.conv_bn(p + "branch7x7x3_1.", x, r7, 1, **bn)
    b7 = ops.conv_bn(p + "branch7x7x3_2.", b7, a, (1, n), padding=(0, n // 2), **bn)
    b7 = ops.conv_bn(p + "branch7x7x3_3.", b7, b, (n, 1), padding=(n // 2, 0), **bn)
    b7 = ops.conv_bn(p + "branch7x7x3_4.", b7, c, 3, 2, **bn)
    bp = ops.maxpool(p + "pool", x, cfg["pool_size"], cfg["pool_stride"])
    return ops.concat(p + "concat", [b3, b7, bp])


def block_e(ops: Ops, p: str, x: Tensor, w, cfg: Mapping) -> Tensor:
    c1, (r3, c3), (rd, d1, d2), proj = w
    bn = batchnorm(cfg)
    b1 = ops.conv_bn(p + "branch1x1.", x, c1, 1, **bn)
    b3 = ops.conv_bn(p + "branch3x3_1.", x, r3, 1, **bn)
    b3 = ops.concat(p + "branch3x3_cat", [
        ops.conv_bn(p + "branch3x3_2a.", b3, c3, (1, 3), padding=(0, 1), **bn),
        ops.conv_bn(p + "branch3x3_2b.", b3, c3, (3, 1), padding=(1, 0), **bn),
    ])
    bd = ops.conv_bn(p + "branch3x3dbl_1.", x, rd, 1, **bn)
    bd = ops.conv_bn(p + "branch3x3dbl_2.", bd, d1, 3, padding=1, **bn)
    bd = ops.concat(p + "branch3x3dbl_cat", [
        ops.conv_bn(p + "branch3x3dbl_3a.", bd, d2, (1, 3), padding=(0, 1), **bn),
        ops.conv_bn(p + "branch3x3dbl_3b.", bd, d2, (3, 1), padding=(1, 0), **bn),
    ])
    return ops.concat(p + "concat", [b1, b3, bd, _pool_branch(ops, p, x, proj, cfg)])


BLOCKS = {"A": block_a, "B": block_b, "C": block_c, "D": block_d, "E": block_e}


def inception_aux(ops: Ops, x: Tensor, cfg: Mapping, num_classes: int) -> Tensor:
    """5x5/3 average pool -> 1x1 conv (128) -> 5x5 conv (768) -> global pool -> fc."""
    (k, s), (c0, c1) = cfg["aux_pool"], cfg["aux_widths"]
    x = ops.avgpool("aux.pool", x, k, s)
    x = ops.conv_bn("aux.conv0.", x, c0, 1, **batchnorm(cfg))
    x = ops.conv_bn("aux.conv1.", x, c1, k, **batchnorm(cfg))
    x = ops.adaptive_avgpool("aux.gap", x, 1)
    return ops.linear("aux.fc", ops.flatten("aux.flatten", x), num_classes)


def inception_v3(ops: Ops, cfg: Mapping, num_classes: int):
    """stem, mixed5b..mixed7c, head; an aux head after mixed6e (training only) with ``aux_logits``."""
    x = ops.input
    for name, *args in cfg["stem"]:
        if args == ["maxpool"]:
            x = ops.maxpool(f"stem.{name}", x, cfg["pool_size"], cfg["pool_stride"])
        else:
            x = ops.conv_bn(f"stem.{name}.", x, *args, **batchnorm(cfg))  # ends 192 x 35 x 35
    aux = []
    for name, kind, widths in cfg["blocks"]:
        x = BLOCKS[kind](ops, name + ".", x, widths, cfg)
        if cfg["aux_logits"] and name == cfg["aux_after"]:
            aux.append(inception_aux(ops, x, cfg, num_classes))
    x = ops.adaptive_avgpool("head.pool", x, 1)  # 2048 x 1 x 1
    x = ops.flatten("head.flatten", x)
    x = ops.dropout("head.drop", x, cfg["dropout"])
    return ops.output(ops.linear("head.fc", x, num_classes), *aux, aux_weight=cfg["aux_weight"])


# ------------------------------------------------------------------ the specs
register(ModelSpec(
    name="inception_v3",
    paper="Szegedy et al., Rethinking the Inception Architecture for Computer Vision, 2015",
    published="2015-12-02",  # arXiv:1512.00567 v1
    topology=inception_v3,
    input_size=299,
    in_channels=3,
    config=frozen(
        # (name, filters, kernel, stride, padding) or (name, "maxpool")
        stem=(
            ("conv1a", 32, 3, 2, 0),
            ("conv2a", 32, 3, 1, 0),
            ("conv2b", 64, 3, 1, 1),
            ("pool1", "maxpool"),
            ("conv3b", 80, 1, 1, 0),
            ("conv4a", 192, 3, 1, 0),
            ("pool2", "maxpool"),
        ),
        pool_size=3,
        pool_stride=2,
        # (name, module type, widths); widths per type:
        # A: 1x1, (5x5 reduce, 5x5), (dbl reduce, dbl 3x3, dbl 3x3), pool proj
        # B: 3x3/2, (dbl reduce, dbl 3x3, dbl 3x3/2)
        # C: 1x1, c7, 7x7 out, pool proj  (c7 = channels inside the 1x7/7x1 towers)
        # D: (3x3 reduce, 3x3/2), (7x7x3 reduce, 1x7, 7x1, 3x3/2)
        # E: 1x1, (3x3 reduce, 1x3/3x1), (dbl reduce, dbl 3x3, 1x3/3x1), pool proj
        blocks=(
            ("mixed5b", "A", (64, (48, 64), (64, 96, 96), 32)),
            ("mixed5c", "A", (64, (48, 64), (64, 96, 96), 64)),
            ("mixed5d", "A", (64, (48, 64), (64, 96, 96), 64)),
            ("mixed6a", "B", (384, (64, 96, 96))),
            ("mixed6b", "C", (192, 128, 192, 192)),
            ("mixed6c", "C", (192, 160, 192, 192)),
            ("mixed6d", "C", (192, 160, 192, 192)),
            ("mixed6e", "C", (192, 192, 192, 192)),
            ("mixed7a", "D", ((192, 320), (192, 192, 192, 192))),
            ("mixed7b", "E", (320, (384, 384), (448, 384, 384), 192)),
            ("mixed7c", "E", (320, (384, 384), (448, 384, 384), 192)),
        ),
        factor_kernel=7,  # the 1xn / nx1 factorization in C and D modules
        branch_pool=(3, 1, 1),  # the average pool of the pool branch (A, C, E): kernel, stride, padding
        avgpool_count_include_pad=True,  # torchvision's F.avg_pool2d default
        bn_eps=1e-3,
        bn_momentum=0.1,
        dropout=0.5,
        aux_logits=False,
        aux_after="mixed6e",
        aux_pool=(5, 3),  # average pool 5x5 stride 3
        aux_widths=(128, 768),  # 1x1 projection, then a 5x5 conv
        aux_weight=0.4,
    ),
    options=frozen(aux_logits=Flag(), avgpool_count_include_pad=Flag(), dropout=DROPOUT),
    reference_params=23_834_568,
    reference_source=("torchvision.models.inception_v3 without the aux head: its published num_params 27,161,264 "
                      "less the AuxLogits module's 3,326,696"),
    variants=(
        Variant({"aux_logits": True}, 27_161_264, "torchvision.models.inception_v3 published num_params"),
    ),
))
