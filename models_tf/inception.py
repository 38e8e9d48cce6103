"""Inception v3 (Szegedy et al., 2015) in Keras 3, laid out as torchvision's."""
from __future__ import annotations

import keras
from keras import layers

from cnnbench.models_tf._common import (
    adaptive_avgpool, avgpool, classifier_head, conv_bn, functional, maxpool, model_input, resolve, tag,
)

__all__ = ["inception_v3"]


def _pool_branch(x, p: str, proj: int, cfg: dict):
    x = avgpool(x, p + "pool", *cfg["branch_pool"], count_include_pad=cfg["avgpool_count_include_pad"])
    return conv_bn(x, p + "branch_pool.", proj, 1, cfg=cfg)


def block_a(x, p, w, cfg):
    c1, (r5, c5), (rd, d1, d2), proj = w
    b1 = conv_bn(x, p + "branch1x1.", c1, 1, cfg=cfg)
    b5 = conv_bn(x, p + "branch5x5_1.", r5, 1, cfg=cfg)
    b5 = conv_bn(b5, p + "branch5x5_2.", c5, 5, 1, 2, cfg=cfg)
    bd = conv_bn(x, p + "branch3x3dbl_1.", rd, 1, cfg=cfg)
    bd = conv_bn(bd, p + "branch3x3dbl_2.", d1, 3, 1, 1, cfg=cfg)
    bd = conv_bn(bd, p + "branch3x3dbl_3.", d2, 3, 1, 1, cfg=cfg)
    return layers.Concatenate(name=p + "concat")([b1, b5, bd, _pool_branch(x, p, proj, cfg)])


def block_b(x, p, w, cfg):
    c3, (rd, d1, d2) = w
    b3 = conv_bn(x, p + "branch3x3.", c3, 3, 2, cfg=cfg)
    bd = conv_bn(x, p + "branch3x3dbl_1.", rd, 1, cfg=cfg)
    bd = conv_bn(bd, p + "branch3x3dbl_2.", d1, 3, 1, 1, cfg=cfg)
    bd = conv_bn(bd, p + "branch3x3dbl_3.", d2, 3, 2, cfg=cfg)
    bp = maxpool(x, p + "pool", cfg["pool_size"], cfg["pool_stride"])
    return layers.Concatenate(name=p + "concat")([b3, bd, bp])


def block_c(x, p, w, cfg):
    c1, c7, out, proj = w
    n = cfg["factor_kernel"]
    row, col = ((1, n), (0, n // 2)), ((n, 1), (n // 2, 0))  # (kernel, padding)
    b1 = conv_bn(x, p + "branch1x1.", c1, 1, cfg=cfg)
    b7 = conv_bn(x, p + "branch7x7_1.", c7, 1, cfg=cfg)
    b7 = conv_bn(b7, p + "branch7x7_2.", c7, row[0], 1, row[1], cfg=cfg)
    b7 = conv_bn(b7, p + "branch7x7_3.", out, col[0], 1, col[1], cfg=cfg)
    bd = conv_bn(x, p + "branch7x7dbl_1.", c7, 1, cfg=cfg)
    for i, (kp, f) in enumerate(((col, c7), (row, c7), (col, c7), (row, out)), start=2):
        bd = conv_bn(bd, p + f"branch7x7dbl_{i}.", f, kp[0], 1, kp[1], cfg=cfg)
    return layers.Concatenate(name=p + "concat")([b1, b7, bd, _pool_branch(x, p, proj, cfg)])


def block_d(x, p, w, cfg):
    (r3, c3), (r7, a, b, c) = w
    n = cfg["factor_kernel"]
    b3 = conv_bn(x, p + "branch3x3_1.", r3, 1, cfg=cfg)
    b3 = conv_bn(b3, p + "branch3x3_2.", c3, 3, 2, cfg=cfg)
    b7 = conv_bn(x, p + "branch7x7x3_1.", r7, 1, cfg=cfg)
    b7 = conv_bn(b7, p + "branch7x7x3_2.", a, (1, n), 1, (0, n // 2), cfg=cfg)
    b7 = conv_bn(b7, p + "branch7x7x3_3.", b, (n, 1), 1, (n // 2, 0), cfg=cfg)
    b7 = conv_bn(b7, p + "branch7x7x3_4.", c, 3, 2, cfg=cfg)
    bp = maxpool(x, p + "pool", cfg["pool_size"], cfg["pool_stride"])
    return layers.Concatenate(name=p + "concat")([b3, b7, bp])


def block_e(x, p, w, cfg):
    c1, (r3, c3), (rd, d1, d2), proj = w
    b1 = conv_bn(x, p + "branch1x1.", c1, 1, cfg=cfg)
    b3 = conv_bn(x, p + "branch3x3_1.", r3, 1, cfg=cfg)
    b3 = layers.Concatenate(name=p + "branch3x3_cat")([
        conv_bn(b3, p + "branch3x3_2a.", c3, (1, 3), 1, (0, 1), cfg=cfg),
        conv_bn(b3, p + "branch3x3_2b.", c3, (3, 1), 1, (1, 0), cfg=cfg),
    ])
    bd = conv_bn(x, p + "branch3x3dbl_1.", rd, 1, cfg=cfg)
    bd = conv_bn(bd, p + "branch3x3dbl_2.", d1, 3, 1, 1, cfg=cfg)
    bd = layers.Concatenate(name=p + "branch3x3dbl_cat")([
        conv_bn(bd, p + "branch3x3dbl_3a.", d2, (1, 3), 1, (0, 1), cfg=cfg),
        conv_bn(bd, p + "branch3x3dbl_3b.", d2, (3, 1), 1, (1, 0), cfg=cfg),
    ])
    return layers.Concatenate(name=p + "concat")([b1, b3, bd, _pool_branch(x, p, proj, cfg)])


BLOCKS = {"A": block_a, "B": block_b, "C": block_c, "D": block_d, "E": block_e}


def inception_aux(x, num_classes: int, cfg: dict):
    """5x5/3 average pool -> 1x1 conv (128) -> 5x5 conv (768) -> global pool -> fc."""
    (k, s), (c0, c1) = cfg["aux_pool"], cfg["aux_widths"]
    x = avgpool(x, "aux.pool", k, s)
    x = conv_bn(x, "aux.conv0.", c0, 1, cfg=cfg)
    x = conv_bn(x, "aux.conv1.", c1, k, cfg=cfg)
    x = adaptive_avgpool(x, "aux.gap", 1)
    x = layers.Flatten(name="aux.flatten")(x)
    return layers.Dense(num_classes, name="aux.fc")(x)


def inception_v3(*, num_classes: int | None = None, input_size: int | None = None, **options) -> keras.Model:
    """Inception v3 (Szegedy et al., 2015); 299x299 input; ``aux_logits=True`` adds the aux head
    (``model(x, training=True)`` returns ``[logits, aux]``)."""
    spec, cfg, size, num_classes = resolve("inception_v3", num_classes, input_size, options)
    inputs = x = model_input(spec, size)
    for name, *args in cfg["stem"]:
        if args == ["maxpool"]:
            x = maxpool(x, f"stem.{name}", cfg["pool_size"], cfg["pool_stride"])
        else:
            x = conv_bn(x, f"stem.{name}.", *args, cfg=cfg)  # ends N x 35 x 35 x 192
    aux = []
    for name, kind, w in cfg["blocks"]:
        x = BLOCKS[kind](x, name + ".", w, cfg)
        if cfg["aux_logits"] and name == cfg["aux_after"]:
            aux.append(inception_aux(x, num_classes, cfg))
    logits = classifier_head(x, num_classes, cfg["dropout"])  # N x 2048 -> N x classes
    model = functional(inputs, logits, aux, "inception_v3", cfg["aux_weight"])
    return tag(model, spec, num_classes, size, options)
