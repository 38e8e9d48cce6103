"""ResNet (He et al., 2015) in Keras 3: basic and bottleneck blocks, v1.5 stride by default."""
from __future__ import annotations

import keras
from keras import layers

from cnnbench.models_tf._common import act, classifier_head, conv_bn, maxpool, model_input, resolve, tag

__all__ = ["resnet18", "resnet34", "resnet50", "resnet101", "resnet152"]


def basic_block(x, p: str, width: int, stride: int, cfg: dict):
    bias = cfg["conv_bias"]
    y = conv_bn(x, p, width, 3, stride, 1, cfg=cfg, bias=bias, suffix="1")
    y = conv_bn(y, p, width, 3, 1, 1, cfg=cfg, bias=bias, relu=False, suffix="2")
    if stride != 1 or x.shape[-1] != width:
        x = conv_bn(x, p + "downsample.", width, 1, stride, cfg=cfg, bias=bias, relu=False)
    return act(layers.Add(name=p + "add")([y, x]), p + "relu")


def bottleneck(x, p: str, width: int, stride: int, cfg: dict):
    bias, out = cfg["conv_bias"], width * cfg["expansion"]
    s1, s3 = (stride, 1) if cfg["stride_in_1x1"] else (1, stride)
    y = conv_bn(x, p, width, 1, s1, cfg=cfg, bias=bias, suffix="1")
    y = conv_bn(y, p, width, 3, s3, 1, cfg=cfg, bias=bias, suffix="2")
    y = conv_bn(y, p, out, 1, 1, cfg=cfg, bias=bias, relu=False, suffix="3")
    if stride != 1 or x.shape[-1] != out:
        x = conv_bn(x, p + "downsample.", out, 1, stride, cfg=cfg, bias=bias, relu=False)
    return act(layers.Add(name=p + "add")([y, x]), p + "relu")


def _resnet(name: str, num_classes, input_size, options) -> keras.Model:
    spec, cfg, size, num_classes = resolve(name, num_classes, input_size, options)
    block = basic_block if cfg["block"] == "basic" else bottleneck
    inputs = model_input(spec, size)
    x = conv_bn(inputs, "stem.", *cfg["stem"], cfg=cfg, bias=cfg["conv_bias"])
    x = maxpool(x, "stem.pool", *cfg["stem_pool"])  # N x 56 x 56 x 64
    for s, (width, blocks, first_stride) in enumerate(zip(cfg["widths"], cfg["layers"], cfg["strides"]), start=1):
        for b in range(1, blocks + 1):
            x = block(x, f"stage{s}.block{b}.", width, first_stride if b == 1 else 1, cfg)
    x = classifier_head(x, num_classes, None)
    return tag(keras.Model(inputs, x, name=name), spec, num_classes, size, options)


def _builder(name: str):
    def build(*, num_classes: int | None = None, input_size: int | None = None, **options) -> keras.Model:
        return _resnet(name, num_classes, input_size, options)

    build.__name__ = build.__qualname__ = name
    build.__doc__ = f"{name} (He et al., 2015, v1.5); options stride_in_1x1/conv_bias give the seeds' v1."
    return build


resnet18, resnet34, resnet50, resnet101, resnet152 = (
    _builder(f"resnet{d}") for d in (18, 34, 50, 101, 152)
)
