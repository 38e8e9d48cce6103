"""LeNet-5 (LeCun et al., 1998) in Keras 3, as the seeds define it."""
from __future__ import annotations

import keras
from keras import layers

from cnnbench.models_tf._common import act, avgpool, conv, maxpool, model_input, resolve, tag

__all__ = ["lenet5"]


def lenet5(*, num_classes: int | None = None, input_size: int | None = None, **options) -> keras.Model:
    """LeNet-5 (LeCun et al., 1998): two 5x5 conv/pool stages, dense 120-84-N; 28x28x1 input."""
    spec, cfg, size, num_classes = resolve("lenet5", num_classes, input_size, options)
    pool = maxpool if cfg["pool"] == "max" else avgpool
    k = cfg["pool_size"]
    inputs = x = model_input(spec, size)
    for i, (filters, kernel, padding) in enumerate(cfg["convs"], start=1):
        x = conv(x, f"stage{i}.conv", filters, kernel, padding=padding)  # N x H x W x filters
        x = act(x, f"stage{i}.act", cfg["activation"])
        x = pool(x, f"stage{i}.pool", k, k)
    x = layers.Flatten(name="head.flatten")(x)  # N x 400 at 28x28
    for i, units in enumerate(cfg["fc"], start=1):
        x = layers.Dense(units, name=f"head.fc{i}")(x)
        x = act(x, f"head.act{i}", cfg["activation"])
    x = layers.Dense(num_classes, name="head.fc")(x)
    return tag(keras.Model(inputs, x, name="lenet5"), spec, num_classes, size, options)
