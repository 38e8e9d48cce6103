"""AlexNet (Krizhevsky et al., 2012), single tower as in torchvision, in Keras 3."""
from __future__ import annotations

import keras
from keras import layers

from cnnbench.models_tf._common import act, adaptive_avgpool, conv, maxpool, model_input, resolve, tag

__all__ = ["alexnet"]


def alexnet(*, num_classes: int | None = None, input_size: int | None = None, **options) -> keras.Model:
    """AlexNet (Krizhevsky et al., 2012), torchvision's single-tower variant; 224x224 input."""
    spec, cfg, size, num_classes = resolve("alexnet", num_classes, input_size, options)
    inputs = x = model_input(spec, size)
    for i, (filters, kernel, stride, padding, pool) in enumerate(cfg["stages"], start=1):
        x = conv(x, f"stage{i}.conv", filters, kernel, stride, padding)
        x = act(x, f"stage{i}.relu")
        if pool:
            x = maxpool(x, f"stage{i}.pool", cfg["pool_size"], cfg["pool_stride"])
    x = adaptive_avgpool(x, "head.pool", cfg["head_pool"])
    x = layers.Flatten(name="head.flatten")(x)  # N x 9216
    for i, units in enumerate(cfg["fc"], start=1):
        x = layers.Dropout(cfg["dropout"], name=f"head.drop{i}")(x)
        x = layers.Dense(units, name=f"head.fc{i}")(x)
        x = act(x, f"head.relu{i}")
    x = layers.Dense(num_classes, name="head.fc")(x)
    return tag(keras.Model(inputs, x, name="alexnet"), spec, num_classes, size, options)
