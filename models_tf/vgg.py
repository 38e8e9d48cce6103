"""VGG (Simonyan & Zisserman, 2014) in Keras 3: one table expanded by one builder."""
from __future__ import annotations

import keras
from keras import layers

from cnnbench.models_tf._common import act, adaptive_avgpool, bn, conv, maxpool, model_input, resolve, tag

__all__ = ["vgg11", "vgg13", "vgg16", "vgg19", "vgg11_bn", "vgg13_bn", "vgg16_bn", "vgg19_bn"]


def _vgg(name: str, num_classes, input_size, options) -> keras.Model:
    spec, cfg, size, num_classes = resolve(name, num_classes, input_size, options)
    inputs = x = model_input(spec, size)
    for s, widths in enumerate(cfg["stages"], start=1):
        for i, filters in enumerate(widths, start=1):
            x = conv(x, f"stage{s}.conv{i}", filters, cfg["kernel"], padding=cfg["padding"])
            if cfg["batch_norm"]:
                x = bn(x, f"stage{s}.bn{i}", cfg)
            x = act(x, f"stage{s}.relu{i}")
        x = maxpool(x, f"stage{s}.pool", cfg["pool_size"], cfg["pool_size"])
    x = adaptive_avgpool(x, "head.pool", cfg["head_pool"])
    x = layers.Flatten(name="head.flatten")(x)  # N x 25088
    for i, units in enumerate(cfg["fc"], start=1):
        x = layers.Dense(units, name=f"head.fc{i}")(x)
        x = act(x, f"head.relu{i}")
        x = layers.Dropout(cfg["dropout"], name=f"head.drop{i}")(x)
    x = layers.Dense(num_classes, name="head.fc")(x)
    return tag(keras.Model(inputs, x, name=name), spec, num_classes, size, options)


def _builder(name: str):
    def build(*, num_classes: int | None = None, input_size: int | None = None, **options) -> keras.Model:
        return _vgg(name, num_classes, input_size, options)

    build.__name__ = build.__qualname__ = name
    build.__doc__ = f"{name.upper()} (Simonyan & Zisserman, 2014); 224x224 input."
    return build


vgg11, vgg13, vgg16, vgg19 = (_builder(n) for n in ("vgg11", "vgg13", "vgg16", "vgg19"))
vgg11_bn, vgg13_bn, vgg16_bn, vgg19_bn = (_builder(n) for n in ("vgg11_bn", "vgg13_bn", "vgg16_bn", "vgg19_bn"))
