"""The ops protocol on Keras 3 layers, with PyTorch's semantics exactly (``KerasOps``).

A family's topology (``cnnbench/core/families/<family>.py``) run on ``KerasOps`` builds the Keras
model. Layer names are the PyTorch module paths (``stage1.block1.conv1``), so per-layer tables and
``cnnbench.transfer_weights`` line the two frameworks up by name. Where Keras' own padding would
differ from PyTorch's symmetric padding, an explicit ``<name>.pad`` (``ZeroPadding2D``) layer comes
first. Only ``keras`` is imported: the models run on the TensorFlow, JAX and torch Keras backends.
"""
from __future__ import annotations

from typing import Sequence

import keras
import numpy as np
from keras import layers

from cnnbench.core.arith import adaptive_bins, ceil_mode_extra_padding
from cnnbench.core.ops import Ops


_KERAS_ACTIVATION = {"hardswish": "hard_silu", "hardsigmoid": "hard_sigmoid"}  # PyTorch's names -> Keras'


def _pair(v) -> tuple[int, int]:
    return (v, v) if isinstance(v, int) else tuple(v)


def _is_same(kernel, stride, padding) -> bool:
    """Keras' "same" equals symmetric padding only at stride 1 with p = k // 2 and odd k."""
    return stride == 1 and all(k % 2 == 1 and p == k // 2 for k, p in zip(kernel, padding))


def _bins(n: int, size: int) -> np.ndarray:
    """PyTorch's adaptive pooling bins as a (size, n) averaging matrix."""
    m = np.zeros((size, n), "float32")
    for i, (lo, hi) in enumerate(adaptive_bins(n, size)):
        m[i, lo:hi] = 1.0 / (hi - lo)
    return m


@keras.saving.register_keras_serializable(package="cnnbench")
class AdaptiveAveragePooling(layers.Layer):
    """PyTorch's AdaptiveAvgPool2d for maps whose size does not divide evenly.

    keras.layers.AdaptiveAveragePooling2D matches eagerly but fails inside
    tf.function when the map is smaller than the output (Keras 3.15), so the
    bins are applied as two small averaging matrices over H and W.
    """

    def __init__(self, size: int, **kwargs):
        super().__init__(**kwargs)
        self.size = size

    def build(self, input_shape):
        self._ph = _bins(input_shape[1], self.size)
        self._pw = _bins(input_shape[2], self.size)

    def call(self, x):
        ph = keras.ops.convert_to_tensor(self._ph, dtype=x.dtype)
        pw = keras.ops.convert_to_tensor(self._pw, dtype=x.dtype)
        return keras.ops.einsum("jw,niwc->nijc", pw, keras.ops.einsum("ih,nhwc->niwc", ph, x))

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.size, self.size, input_shape[3])

    def get_config(self):
        return {**super().get_config(), "size": self.size}


@keras.saving.register_keras_serializable(package="cnnbench")
class DropPath(layers.Layer):
    """torchvision's ``StochasticDepth(rate, "row")``: with ``training=True``, each sample of the batch is
    kept with probability 1 - rate (then scaled by 1 / (1 - rate)) or zeroed whole; otherwise the input
    itself, so an inference graph holds no operation of it (TF's profiler sees none)."""

    def __init__(self, rate: float, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.rate = rate
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, x, training=False):
        if not training or self.rate == 0:
            return x
        keep = 1.0 - self.rate
        shape = (keras.ops.shape(x)[0],) + (1,) * (len(x.shape) - 1)
        # floor(keep + u), u uniform in [0, 1): 1 with probability keep, else 0 (timm's drop_path)
        mask = keras.ops.floor(keep + keras.random.uniform(shape, dtype=x.dtype, seed=self.seed_generator))
        return x * (mask / keep)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "rate": self.rate, "seed": self.seed}


@keras.saving.register_keras_serializable(package="cnnbench")
class LayerScale(layers.Layer):
    """ConvNeXt's layer scale: the input times a learned per-channel (last axis) factor, initialised to ``init``."""

    def __init__(self, init: float, **kwargs):
        super().__init__(**kwargs)
        self.init = init

    def build(self, input_shape):
        self.weight = self.add_weight(shape=(input_shape[-1],), initializer=keras.initializers.Constant(self.init),
                                      name="weight")

    def call(self, x):
        return x * self.weight

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "init": self.init}


class AuxLogitsModel(keras.Model):
    """A functional network with auxiliary heads that run in training mode only.

    ``main`` (logits only) and ``full`` (logits and aux logits) share every layer;
    ``model(x, training=True)`` returns ``[logits, *aux]`` as PyTorch's twin does.
    """

    def __init__(self, main: keras.Model, full: keras.Model, aux_weight: float, **kwargs):
        super().__init__(name=main.name, **kwargs)
        self.main = main
        self.full = full
        self.aux_weight = aux_weight

    def call(self, x, training=False):
        return self.full(x, training=True) if training else self.main(x, training=False)


class KerasOps(Ops):
    """Builds one Keras model, NHWC, named ``model``, from a topology's calls."""

    def __init__(self, model: str, in_channels: int, input_size: int):
        self.model = model
        self.input = keras.Input((input_size, input_size, in_channels), name="input")

    @staticmethod
    def _pad(x, name: str, padding: tuple[tuple[int, int], tuple[int, int]]):
        if padding == ((0, 0), (0, 0)):
            return x
        return layers.ZeroPadding2D(padding, name=f"{name}.pad")(x)

    def conv(self, name, x, filters, kernel, stride=1, padding=0, bias=True, groups=1):
        """``groups`` equal to the input channels is Keras' ``DepthwiseConv2D`` (``filters / groups``
        outputs per input channel, in PyTorch's channel order), any other ``groups`` a grouped ``Conv2D``."""
        kernel, padding = _pair(kernel), _pair(padding)
        if _is_same(kernel, stride, padding) and padding != (0, 0):
            mode = "same"
        else:
            x = self._pad(x, name, ((padding[0], padding[0]), (padding[1], padding[1])))
            mode = "valid"
        if groups > 1 and groups == x.shape[-1]:
            return layers.DepthwiseConv2D(kernel, stride, mode, depth_multiplier=filters // groups, use_bias=bias,
                                          name=name)(x)
        return layers.Conv2D(filters, kernel, stride, mode, groups=groups, use_bias=bias, name=name)(x)

    def bn(self, name, x, *, eps, momentum):
        # PyTorch's momentum weighs the new batch; Keras' weighs the running value.
        return layers.BatchNormalization(epsilon=eps, momentum=1.0 - momentum, name=name)(x)

    def act(self, name, x, fn="relu"):
        """ReLU as its layer; the others by Keras' names for them (``relu6``: ``tf.nn.relu6`` on TensorFlow;
        ``silu``: ``x * sigmoid(x)``; ``gelu``: exact, with erf, Keras' default as PyTorch's;
        ``hard_sigmoid``: ``relu6(x + 3) / 6`` and ``hard_silu``: ``x * hard_sigmoid(x)``, PyTorch's formulas)."""
        if fn == "relu":
            return layers.ReLU(name=name)(x)
        return layers.Activation(_KERAS_ACTIVATION.get(fn, fn), name=name)(x)

    def maxpool(self, name, x, kernel, stride, padding=0, ceil_mode=False):
        """Zero padding is exact here because every padded max pool in the zoo follows a ReLU
        (inputs >= 0, and each window holds a real value)."""
        k = _pair(kernel)
        if _is_same(k, stride, (padding, padding)) and padding:
            return layers.MaxPooling2D(k, stride, "same", name=name)(x)
        h, w = x.shape[1], x.shape[2]
        eh = ceil_mode_extra_padding(h, k[0], stride, padding) if ceil_mode else 0
        ew = ceil_mode_extra_padding(w, k[1], stride, padding) if ceil_mode else 0
        x = self._pad(x, name, ((padding, padding + eh), (padding, padding + ew)))
        return layers.MaxPooling2D(k, stride, "valid", name=name)(x)

    def avgpool(self, name, x, kernel, stride, padding=0, count_include_pad=True):
        """Padded zeros count through explicit padding; not counting them is Keras' "same" (stride 1)."""
        k = _pair(kernel)
        if padding and not count_include_pad:
            if not _is_same(k, stride, (padding, padding)):
                raise ValueError(f"{name}: count_include_pad=False is only supported for 'same' pooling")
            return layers.AveragePooling2D(k, stride, "same", name=name)(x)
        x = self._pad(x, name, ((padding, padding), (padding, padding)))
        return layers.AveragePooling2D(k, stride, "valid", name=name)(x)

    def adaptive_avgpool(self, name, x, size):
        """A global mean, an even average pool, or explicit bins."""
        h, w = x.shape[1], x.shape[2]
        if size == 1:
            return layers.GlobalAveragePooling2D(keepdims=True, name=name)(x)
        if h % size == 0 and w % size == 0:  # even bins: a plain average pool is the same operation
            return layers.AveragePooling2D((h // size, w // size), name=name)(x)
        return AdaptiveAveragePooling(size, name=name)(x)

    def flatten(self, name, x):
        return layers.Flatten(name=name)(x)

    def dropout(self, name, x, rate):
        return layers.Dropout(rate, name=name)(x)

    def drop_path(self, name, x, rate):
        return DropPath(rate, name=name)(x)

    def linear(self, name, x, units, bias=True):
        """On an NHWC map Keras' Dense acts on the last axis: the channels of each position, as PyTorch's."""
        return layers.Dense(units, use_bias=bias, name=name)(x)

    def layer_norm(self, name, x, *, eps):
        return layers.LayerNormalization(axis=-1, epsilon=eps, name=name)(x)

    def layer_scale(self, name, x, init):
        return LayerScale(init, name=name)(x)

    def add(self, name, xs: Sequence):
        return layers.Add(name=name)(list(xs))

    def mul(self, name, x, scale):
        return layers.Multiply(name=name)([x, scale])  # (N, 1, 1, C) broadcast over (N, H, W, C)

    def concat(self, name, xs: Sequence):
        return layers.Concatenate(name=name)(list(xs))

    def channels(self, x) -> int:
        return x.shape[-1]

    def output(self, main, *aux, aux_weight=None) -> keras.Model:
        """A functional model; with aux heads, an ``AuxLogitsModel`` around it."""
        model = keras.Model(self.input, main, name=self.model)
        if not aux:
            return model
        full = keras.Model(self.input, [main, *aux], name=f"{self.model}_with_aux")
        wrapped = AuxLogitsModel(model, full, aux_weight)
        wrapped.build((None, *self.input.shape[1:]))
        return wrapped
