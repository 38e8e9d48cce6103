"""Small pieces shared by the Keras builders; each reproduces PyTorch's semantics exactly.

Layer names are the PyTorch module paths (``stage1.block1.conv1``), so per-layer
tables and ``cnnbench.transfer_weights`` line the two frameworks up by name.
Padding helpers add a ``<name>.pad`` layer where Keras' own "same" would differ.
"""
from __future__ import annotations

import keras
import numpy as np
from keras import layers, ops

from cnnbench.core.arith import adaptive_bins, ceil_mode_extra_padding
from cnnbench.core.specs import check_build_args


def resolve(name: str, num_classes: int | None, input_size: int | None, options: dict):
    """Validate the arguments; return (spec, resolved config, input size, number of classes)."""
    spec = check_build_args(name, num_classes, input_size, options)
    n = spec.num_classes if num_classes is None else num_classes
    return spec, spec.resolve(**options), input_size or spec.input_size, n


def model_input(spec, size: int):
    return keras.Input((size, size, spec.in_channels), name="input")


def tag(model: keras.Model, spec, num_classes: int, input_size: int, options: dict) -> keras.Model:
    """Record what was built, so tools can rebuild the twin in the other framework."""
    model.cnnbench_name = spec.name
    model.cnnbench_num_classes = num_classes
    model.cnnbench_input_size = input_size
    model.cnnbench_options = dict(options)
    return model


def _pair(v) -> tuple[int, int]:
    return (v, v) if isinstance(v, int) else tuple(v)


def _is_same(kernel, stride, padding) -> bool:
    """Keras' "same" equals symmetric padding only at stride 1 with p = k // 2 and odd k."""
    return stride == 1 and all(k % 2 == 1 and p == k // 2 for k, p in zip(kernel, padding))


def pad(x, name: str, padding: tuple[tuple[int, int], tuple[int, int]]):
    if padding == ((0, 0), (0, 0)):
        return x
    return layers.ZeroPadding2D(padding, name=f"{name}.pad")(x)


def conv(x, name: str, filters: int, kernel, stride: int = 1, padding=0, bias: bool = True, activation=None):
    kernel, padding = _pair(kernel), _pair(padding)
    if _is_same(kernel, stride, padding) and padding != (0, 0):
        mode = "same"
    else:
        x = pad(x, name, ((padding[0], padding[0]), (padding[1], padding[1])))
        mode = "valid"
    return layers.Conv2D(filters, kernel, stride, mode, use_bias=bias, activation=activation, name=name)(x)


def bn(x, name: str, cfg: dict):
    # PyTorch's momentum weighs the new batch; Keras' weighs the running value.
    return layers.BatchNormalization(epsilon=cfg["bn_eps"], momentum=1.0 - cfg["bn_momentum"], name=name)(x)


def act(x, name: str, fn: str = "relu"):
    if fn == "relu":
        return layers.ReLU(name=name)(x)
    return layers.Activation(fn, name=name)(x)


def conv_bn(x, prefix: str, filters, kernel, stride=1, padding=0, *, cfg: dict, bias=False, relu=True, suffix=""):
    """conv -> BatchNorm (-> ReLU) named ``{prefix}conv{suffix}``, ``bn``, ``relu`` (PyTorch's paths)."""
    x = conv(x, f"{prefix}conv{suffix}", filters, kernel, stride, padding, bias)
    x = bn(x, f"{prefix}bn{suffix}", cfg)
    return act(x, f"{prefix}relu{suffix}") if relu else x


def maxpool(x, name: str, kernel: int, stride: int, padding: int = 0, ceil_mode: bool = False):
    """PyTorch's MaxPool2d. Padding is zero padding: exact because every padded
    pool in the zoo follows a ReLU (inputs >= 0, each window holds a real value)."""
    k = _pair(kernel)
    if _is_same(k, stride, (padding, padding)) and padding:
        return layers.MaxPooling2D(k, stride, "same", name=name)(x)
    h, w = x.shape[1], x.shape[2]
    eh = ceil_mode_extra_padding(h, k[0], stride, padding) if ceil_mode else 0
    ew = ceil_mode_extra_padding(w, k[1], stride, padding) if ceil_mode else 0
    x = pad(x, name, ((padding, padding + eh), (padding, padding + ew)))
    return layers.MaxPooling2D(k, stride, "valid", name=name)(x)


def avgpool(x, name: str, kernel: int, stride: int, padding: int = 0, count_include_pad: bool = True):
    """PyTorch's AvgPool2d: padded zeros count (default) or not ("same" at stride 1)."""
    k = _pair(kernel)
    if padding and not count_include_pad:
        if not _is_same(k, stride, (padding, padding)):
            raise ValueError(f"{name}: count_include_pad=False is only supported for 'same' pooling")
        return layers.AveragePooling2D(k, stride, "same", name=name)(x)
    x = pad(x, name, ((padding, padding), (padding, padding)))
    return layers.AveragePooling2D(k, stride, "valid", name=name)(x)


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
        ph = ops.convert_to_tensor(self._ph, dtype=x.dtype)
        pw = ops.convert_to_tensor(self._pw, dtype=x.dtype)
        return ops.einsum("jw,niwc->nijc", pw, ops.einsum("ih,nhwc->niwc", ph, x))

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.size, self.size, input_shape[3])

    def get_config(self):
        return {**super().get_config(), "size": self.size}


def adaptive_avgpool(x, name: str, size: int):
    """PyTorch's AdaptiveAvgPool2d(size): a global mean, an even average pool, or explicit bins."""
    h, w = x.shape[1], x.shape[2]
    if size == 1:
        return layers.GlobalAveragePooling2D(keepdims=True, name=name)(x)
    if h % size == 0 and w % size == 0:  # even bins: a plain average pool is the same operation
        return layers.AveragePooling2D((h // size, w // size), name=name)(x)
    return AdaptiveAveragePooling(size, name=name)(x)


def classifier_head(x, num_classes: int, dropout: float | None, prefix: str = "head."):
    """Global average pool -> flatten (-> dropout) -> fc, names as PyTorch's classifier_head."""
    x = adaptive_avgpool(x, prefix + "pool", 1)
    x = layers.Flatten(name=prefix + "flatten")(x)
    if dropout is not None:
        x = layers.Dropout(dropout, name=prefix + "drop")(x)
    return layers.Dense(num_classes, name=prefix + "fc")(x)


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


def functional(inputs, logits, aux: list, name: str, aux_weight: float | None = None) -> keras.Model:
    main = keras.Model(inputs, logits, name=name)
    if not aux:
        return main
    full = keras.Model(inputs, [logits, *aux], name=f"{name}_with_aux")
    model = AuxLogitsModel(main, full, aux_weight)
    model.build((None, *inputs.shape[1:]))
    return model
