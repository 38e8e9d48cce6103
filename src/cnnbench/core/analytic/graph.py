"""A framework-free recorder of a network's layers: shapes, parameters, MACs.

``Graph`` implements the ops protocol (``cnnbench.core.ops``): a family's topology, run on it,
records every layer with the hierarchical name the PyTorch and Keras builders use. Shapes are per
sample, in channels-first order ``(C, H, W)``; nothing here imports a framework.

Counting conventions (per sample):

* ``macs`` — multiply-accumulates of conv and linear layers only:
  ``Cout * Hout * Wout * (Cin / groups) * kh * kw`` and ``in * out``.
  Bias additions are not MACs; they are reported separately as ``bias_adds``.
* ``elementwise`` — one operation per output element for BatchNorm (inference,
  folded scale+shift counted as one), activations, residual adds (one per
  output element per extra input), squeeze-and-excitation's channel scaling
  (one per output element) and pooling (one per window element read per output
  element). These never enter ``macs``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Sequence

from cnnbench.core.arith import adaptive_bins, out_len
from cnnbench.core.errors import InputTooSmallError
from cnnbench.core.ops import ACTIVATIONS, Ops

Shape = tuple[int, ...]


@dataclass(frozen=True)
class Tensor:
    shape: Shape  # (C, H, W) or (features,)
    producer: str = ""


@dataclass
class Layer:
    name: str
    kind: str  # conv | linear | batchnorm | activation | maxpool | avgpool | add | mul | concat | flatten | dropout
    #   | droppath | layernorm | scale
    inputs: tuple[str, ...]
    in_shapes: tuple[Shape, ...]
    out_shape: Shape
    params: int = 0
    buffers: int = 0  # non-trainable state (BatchNorm running mean and variance)
    macs: int = 0
    bias_adds: int = 0
    elementwise: int = 0
    attrs: dict = field(default_factory=dict)


class Graph(Ops):
    """Records layers in call order; raises InputTooSmallError on an empty map."""

    def __init__(self, model: str, in_channels: int, input_size: int):
        self.model = model
        self.input_size = input_size
        self.layers: list[Layer] = []
        self._names: set[str] = set()
        self.input = Tensor((in_channels, input_size, input_size), "input")
        self.outputs: list[Tensor] = []

    # ------------------------------------------------------------------ plumbing
    def _add(self, layer: Layer) -> Tensor:
        if layer.name in self._names:
            raise ValueError(f"{self.model}: layer name {layer.name!r} used twice")
        if any(d < 1 for d in layer.out_shape):
            raise InputTooSmallError(
                f"{self.model}: input {self.input_size}x{self.input_size} is too small; "
                f"layer {layer.name} would output {layer.out_shape}"
            )
        self._names.add(layer.name)
        self.layers.append(layer)
        return Tensor(layer.out_shape, layer.name)

    @staticmethod
    def _numel(shape: Shape) -> int:
        return math.prod(shape)

    # ------------------------------------------------------------------ layers
    def conv(
        self,
        name: str,
        x: Tensor,
        filters: int,
        kernel: int | tuple[int, int],
        stride: int = 1,
        padding: int | tuple[int, int] = 0,
        bias: bool = True,
        groups: int = 1,
    ) -> Tensor:
        """Each output element reads ``in_channels / groups`` channels of a kh x kw window, so a grouped or
        depthwise convolution has ``out_elements * (in_channels / groups) * kh * kw`` MACs (fvcore's and
        TF's count, and torchvision's) and ``filters * (in_channels / groups) * kh * kw`` weights."""
        kh, kw = (kernel, kernel) if isinstance(kernel, int) else kernel
        ph, pw = (padding, padding) if isinstance(padding, int) else padding
        c, h, w = x.shape
        if groups < 1 or c % groups or filters % groups:
            raise ValueError(f"{self.model}: {name} has groups={groups}, which must divide its {c} input and "
                             f"{filters} output channels")
        out = (filters, out_len(h, kh, stride, ph), out_len(w, kw, stride, pw))
        n_out = self._numel(out)
        per_output = (c // groups) * kh * kw
        return self._add(
            Layer(
                name, "conv", (x.producer,), (x.shape,), out,
                params=filters * per_output + (filters if bias else 0),
                macs=n_out * per_output,
                bias_adds=n_out if bias else 0,
                attrs=dict(kernel=(kh, kw), stride=stride, padding=(ph, pw), bias=bias, groups=groups),
            )
        )

    def drop_path(self, name: str, x: Tensor, rate: float) -> Tensor:
        """No parameters and, per sample at inference (the identity), no work: 0 in every counter."""
        if not 0 <= rate < 1:
            raise ValueError(f"{self.model}: {name} has drop rate {rate}, which must be in [0, 1)")
        return self._add(Layer(name, "droppath", (x.producer,), (x.shape,), x.shape, attrs=dict(rate=rate)))

    def linear(self, name: str, x: Tensor, units: int, bias: bool = True) -> Tensor:
        """On a map (C, H, W): the same dense layer at each of the H x W positions, H x W x C x units MACs."""
        n_in, positions = x.shape[0], self._numel(x.shape[1:])
        return self._add(
            Layer(
                name, "linear", (x.producer,), (x.shape,), (units, *x.shape[1:]),
                params=n_in * units + (units if bias else 0),
                macs=positions * n_in * units,
                bias_adds=positions * units if bias else 0,
            )
        )

    def layer_norm(self, name: str, x: Tensor, *, eps: float) -> Tensor:
        """A scale and a shift per channel; 1 op per element, as BatchNorm's (the normalization; the per-position
        statistics are left out of our count: each framework's counter counts them its own way)."""
        c = x.shape[0]
        return self._add(Layer(name, "layernorm", (x.producer,), (x.shape,), x.shape, params=2 * c,
                               elementwise=self._numel(x.shape)))

    def layer_scale(self, name: str, x: Tensor, init: float) -> Tensor:
        return self._add(Layer(name, "scale", (x.producer,), (x.shape,), x.shape, params=x.shape[0],
                               elementwise=self._numel(x.shape), attrs=dict(init=init)))

    def bn(self, name: str, x: Tensor, *, eps: float, momentum: float) -> Tensor:
        c = x.shape[0]  # eps and momentum change no shape or count
        return self._add(
            Layer(name, "batchnorm", (x.producer,), (x.shape,), x.shape,
                  params=2 * c, buffers=2 * c, elementwise=self._numel(x.shape))
        )

    def act(self, name: str, x: Tensor, fn: str = "relu") -> Tensor:
        if fn not in ACTIVATIONS:
            raise ValueError(f"{self.model}: {name}: unknown activation {fn!r}; one of {', '.join(ACTIVATIONS)}")
        return self._add(
            Layer(name, "activation", (x.producer,), (x.shape,), x.shape,
                  elementwise=self._numel(x.shape), attrs=dict(fn=fn))
        )

    def _pool(self, kind, name, x, kernel, stride, padding=0, ceil_mode=False, **attrs) -> Tensor:
        kh, kw = (kernel, kernel) if isinstance(kernel, int) else kernel
        c, h, w = x.shape
        out = (c, out_len(h, kh, stride, padding, ceil_mode), out_len(w, kw, stride, padding, ceil_mode))
        return self._add(
            Layer(name, kind, (x.producer,), (x.shape,), out,
                  elementwise=self._numel(out) * kh * kw,
                  attrs=dict(kernel=(kh, kw), stride=stride, padding=padding, ceil_mode=ceil_mode, **attrs))
        )

    def maxpool(self, name, x, kernel, stride, padding=0, ceil_mode=False) -> Tensor:
        return self._pool("maxpool", name, x, kernel, stride, padding, ceil_mode)

    def avgpool(self, name, x, kernel, stride, padding=0, count_include_pad=True) -> Tensor:
        return self._pool("avgpool", name, x, kernel, stride, padding, count_include_pad=count_include_pad)

    def adaptive_avgpool(self, name: str, x: Tensor, size: int) -> Tensor:
        c, h, w = x.shape
        def reads(n: int) -> int:  # every element each bin reads; bins may overlap
            return sum(hi - lo for lo, hi in adaptive_bins(n, size))

        return self._add(
            Layer(name, "avgpool", (x.producer,), (x.shape,), (c, size, size),
                  elementwise=c * reads(h) * reads(w), attrs=dict(adaptive=size))
        )

    def flatten(self, name: str, x: Tensor) -> Tensor:
        return self._add(Layer(name, "flatten", (x.producer,), (x.shape,), (self._numel(x.shape),)))

    def dropout(self, name: str, x: Tensor, rate: float) -> Tensor:
        return self._add(Layer(name, "dropout", (x.producer,), (x.shape,), x.shape, attrs=dict(rate=rate)))

    def add(self, name: str, xs: Sequence[Tensor]) -> Tensor:
        shapes = {t.shape for t in xs}
        if len(shapes) != 1:
            raise ValueError(f"{self.model}: {name} adds tensors of shapes {sorted(shapes)}")
        shape = xs[0].shape
        return self._add(
            Layer(name, "add", tuple(t.producer for t in xs), tuple(t.shape for t in xs), shape,
                  elementwise=self._numel(shape) * (len(xs) - 1))
        )

    def mul(self, name: str, x: Tensor, scale: Tensor) -> Tensor:
        if scale.shape != (x.shape[0], 1, 1):
            raise ValueError(f"{self.model}: {name} scales a map of shape {x.shape} by one of shape {scale.shape}")
        return self._add(
            Layer(name, "mul", (x.producer, scale.producer), (x.shape, scale.shape), x.shape,
                  elementwise=self._numel(x.shape))
        )

    def concat(self, name: str, xs: Sequence[Tensor]) -> Tensor:
        spatial = {t.shape[1:] for t in xs}
        if len(spatial) != 1:
            raise ValueError(f"{self.model}: {name} concatenates maps of sizes {sorted(spatial)}")
        shape = (sum(t.shape[0] for t in xs), *xs[0].shape[1:])
        return self._add(Layer(name, "concat", tuple(t.producer for t in xs), tuple(t.shape for t in xs), shape))

    def channels(self, x: Tensor) -> int:
        return x.shape[0]

    # ------------------------------------------------------------------ results
    def output(self, main: Tensor, *aux: Tensor, aux_weight: float | None = None) -> Graph:
        self.outputs = [main, *aux]
        return self

    @property
    def params(self) -> int:
        return sum(layer.params for layer in self.layers)

    @property
    def buffers(self) -> int:
        return sum(layer.buffers for layer in self.layers)

    @property
    def macs(self) -> int:
        return sum(layer.macs for layer in self.layers)

    def layer(self, name: str) -> Layer:
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise KeyError(name)
