"""GoogLeNet (Inception v1, Szegedy et al., 2014) with BatchNorm, in Keras 3."""
from __future__ import annotations

import keras
from keras import layers

from cnnbench.models_tf._common import (
    act, adaptive_avgpool, classifier_head, conv_bn, functional, maxpool, model_input, resolve, tag,
)

__all__ = ["googlenet"]


def inception(x, p: str, widths, cfg: dict):
    """Four branches: 1x1 | 1x1 -> 3x3 | 1x1 -> kxk (5x5 in the paper) | 3x3 max pool -> 1x1."""
    c1, r3, c3, r5, c5, proj = widths
    k = cfg["branch3_kernel"]
    b1 = conv_bn(x, p + "branch1.", c1, 1, cfg=cfg)
    b2 = conv_bn(conv_bn(x, p + "branch2.reduce.", r3, 1, cfg=cfg), p + "branch2.", c3, 3, 1, 1, cfg=cfg)
    b3 = conv_bn(conv_bn(x, p + "branch3.reduce.", r5, 1, cfg=cfg), p + "branch3.", c5, k, 1, k // 2, cfg=cfg)
    b4 = maxpool(x, p + "branch4.pool", *cfg["branch4_pool"], ceil_mode=cfg["ceil_mode"])
    b4 = conv_bn(b4, p + "branch4.", proj, 1, cfg=cfg)
    return layers.Concatenate(name=p + "concat")([b1, b2, b3, b4])


def inception_aux(x, p: str, num_classes: int, cfg: dict):
    """Adaptive 4x4 average pool -> 1x1 conv (128) -> fc 1024 -> dropout 0.7 -> fc."""
    x = adaptive_avgpool(x, p + "pool", cfg["aux_pool"])
    x = conv_bn(x, p + "proj.", cfg["aux_proj"], 1, cfg=cfg)
    x = layers.Flatten(name=p + "flatten")(x)
    x = act(layers.Dense(cfg["aux_fc"], name=p + "fc1")(x), p + "relu")
    x = layers.Dropout(cfg["aux_dropout"], name=p + "drop")(x)
    return layers.Dense(num_classes, name=p + "fc")(x)


def googlenet(*, num_classes: int | None = None, input_size: int | None = None, **options) -> keras.Model:
    """GoogLeNet (Szegedy et al., 2014) with BN; ``aux_logits=True`` adds the two aux heads
    (``model(x, training=True)`` returns ``[logits, aux1, aux2]``), ``branch3_kernel=3`` gives
    torchvision's variant."""
    spec, cfg, size, num_classes = resolve("googlenet", num_classes, input_size, options)
    k, s, stem = cfg["pool_size"], cfg["pool_stride"], cfg["stem"]
    inputs = model_input(spec, size)
    x = conv_bn(inputs, "stem.conv1.", *stem["conv1"], cfg=cfg)  # N x 112 x 112 x 64
    x = maxpool(x, "stem.pool1", k, s, ceil_mode=cfg["ceil_mode"])  # N x 56 x 56 x 64
    x = conv_bn(x, "stem.conv2.", *stem["conv2"], cfg=cfg)
    x = conv_bn(x, "stem.conv3.", *stem["conv3"], cfg=cfg)  # N x 56 x 56 x 192
    x = maxpool(x, "stem.pool2", k, s, ceil_mode=cfg["ceil_mode"])  # N x 28 x 28 x 192
    aux = []
    for name, widths in cfg["modules"]:
        x = inception(x, name + ".", widths, cfg)
        if name in cfg["pools_after"]:
            pool_name, pool_k = cfg["pools_after"][name]
            x = maxpool(x, pool_name, pool_k, s, ceil_mode=cfg["ceil_mode"])
        if cfg["aux_logits"] and name in cfg["aux_after"]:
            aux.append(inception_aux(x, f"aux{len(aux) + 1}.", num_classes, cfg))
    logits = classifier_head(x, num_classes, cfg["dropout"])  # N x 1024 -> N x classes
    model = functional(inputs, logits, aux, "googlenet", cfg["aux_weight"])
    return tag(model, spec, num_classes, size, options)
