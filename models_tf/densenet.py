"""DenseNet-BC (Huang et al., 2017) in Keras 3."""
from __future__ import annotations

import keras
from keras import layers

from cnnbench.models_tf._common import act, avgpool, bn, classifier_head, conv, maxpool, model_input, resolve, tag

__all__ = ["densenet121", "densenet169", "densenet201"]


def dense_layer(x, p: str, cfg: dict):
    """BN -> ReLU -> 1x1 conv (bn_size*k) -> BN -> ReLU -> 3x3 conv (k), concatenated to its input."""
    k, width = cfg["growth_rate"], cfg["bn_size"] * cfg["growth_rate"]
    y = conv(act(bn(x, p + "bn1", cfg), p + "relu1"), p + "conv1", width, 1, bias=False)
    y = conv(act(bn(y, p + "bn2", cfg), p + "relu2"), p + "conv2", k, 3, padding=1, bias=False)
    return layers.Concatenate(name=p + "concat")([x, y])


def _densenet(name: str, num_classes, input_size, options) -> keras.Model:
    spec, cfg, size, num_classes = resolve(name, num_classes, input_size, options)
    inputs = model_input(spec, size)
    x = conv(inputs, "stem.conv", *cfg["stem"], bias=False)
    x = act(bn(x, "stem.bn", cfg), "stem.relu")
    x = maxpool(x, "stem.pool", *cfg["stem_pool"])  # N x 56 x 56 x 64
    for b, n_layers in enumerate(cfg["blocks"], start=1):
        for i in range(1, n_layers + 1):
            x = dense_layer(x, f"block{b}.layer{i}.", cfg)
        if b < len(cfg["blocks"]):
            p = f"transition{b}."
            out = int(x.shape[-1] * cfg["compression"])
            x = conv(act(bn(x, p + "bn", cfg), p + "relu"), p + "conv", out, 1, bias=False)
            x = avgpool(x, p + "pool", *cfg["transition_pool"])
    x = act(bn(x, "head.bn", cfg), "head.relu")
    x = classifier_head(x, num_classes, None)
    return tag(keras.Model(inputs, x, name=name), spec, num_classes, size, options)


def _builder(name: str):
    def build(*, num_classes: int | None = None, input_size: int | None = None, **options) -> keras.Model:
        return _densenet(name, num_classes, input_size, options)

    build.__name__ = build.__qualname__ = name
    build.__doc__ = f"{name} (Huang et al., 2017), DenseNet-BC with growth 32; 224x224 input."
    return build


densenet121, densenet169, densenet201 = (_builder(f"densenet{d}") for d in (121, 169, 201))
