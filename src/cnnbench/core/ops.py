"""The ops protocol: what a family's topology may call, with PyTorch's semantics.

A topology is written once, as ``topology(ops, cfg, num_classes)``: it starts from ``ops.input``,
calls the layers below with hierarchical names (``stage2.block1.conv1``) and returns
``ops.output(logits, *aux_logits)``. Two implementations run it:

* ``cnnbench.core.analytic.Graph`` records shapes ``(C, H, W)``, parameters, MACs and elementwise
  work, without a framework;
* ``cnnbench.models_tf.ops.KerasOps`` builds Keras 3 layers with the same names.

(The PyTorch builders are plain ``nn.Module`` classes; the parity tests hold them to the same
networks.) Every operation follows PyTorch: symmetric padding ``p`` on every side, ceil-mode pools
(``cnnbench.core.arith``), average pools that count padded zeros unless told otherwise, adaptive
pools with PyTorch's bins, BatchNorm ``momentum`` as the weight of the new batch statistic.
A topology sees tensors only through ``channels(x)``.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, Mapping, Sequence

Tensor = Any  # whatever the implementation passes between layers

# what ``act`` takes, named as PyTorch's modules are: relu6 = min(max(x, 0), 6); hardsigmoid = relu6(x + 3) / 6;
# hardswish = x * hardsigmoid(x) (Howard et al., 2019); silu = x * sigmoid(x) (EfficientNet's "swish");
# gelu = x * Phi(x), Phi the standard normal CDF, computed with erf (PyTorch's default, not the tanh approximation)
ACTIVATIONS = ("relu", "relu6", "hardswish", "hardsigmoid", "silu", "gelu", "tanh", "sigmoid")


class Ops(ABC):
    input: Tensor  # the model's input

    @abstractmethod
    def conv(self, name: str, x: Tensor, filters: int, kernel: int | tuple[int, int], stride: int = 1,
             padding: int | tuple[int, int] = 0, bias: bool = True, groups: int = 1) -> Tensor:
        """2-D convolution; ``kernel`` and ``padding`` are one int or (height, width). ``groups`` splits
        the input and output channels into that many independent convolutions (PyTorch's ``groups``);
        ``groups`` equal to the input channels is a depthwise convolution."""

    @abstractmethod
    def bn(self, name: str, x: Tensor, *, eps: float, momentum: float) -> Tensor:
        """BatchNorm over channels; ``momentum`` weighs the new batch statistic (PyTorch's)."""

    @abstractmethod
    def act(self, name: str, x: Tensor, fn: str = "relu") -> Tensor:
        """An activation, one of ``ACTIVATIONS``."""

    @abstractmethod
    def maxpool(self, name: str, x: Tensor, kernel: int, stride: int, padding: int = 0,
                ceil_mode: bool = False) -> Tensor:
        """Max pool; ``ceil_mode`` rounds the output size up (extra windows at the bottom/right)."""

    @abstractmethod
    def avgpool(self, name: str, x: Tensor, kernel: int, stride: int, padding: int = 0,
                count_include_pad: bool = True) -> Tensor:
        """Average pool; padded zeros count in the mean unless ``count_include_pad=False``."""

    @abstractmethod
    def adaptive_avgpool(self, name: str, x: Tensor, size: int) -> Tensor:
        """Average pool to ``size`` x ``size`` outputs with PyTorch's bins (1: global average)."""

    @abstractmethod
    def flatten(self, name: str, x: Tensor) -> Tensor:
        """A map to a vector."""

    @abstractmethod
    def dropout(self, name: str, x: Tensor, rate: float) -> Tensor:
        """Dropout (training only)."""

    @abstractmethod
    def drop_path(self, name: str, x: Tensor, rate: float) -> Tensor:
        """Stochastic depth on a residual branch (Huang et al., 2016; torchvision's ``StochasticDepth(rate,
        "row")``): in training, each sample's whole branch is zeroed with probability ``rate`` and the
        survivors are scaled by 1 / (1 - rate); in inference it is the identity, and no operation at all."""

    @abstractmethod
    def layer_norm(self, name: str, x: Tensor, *, eps: float) -> Tensor:
        """LayerNorm over the channels of each position (a vector: over its features), with a learned scale
        and shift per channel: torchvision's LayerNorm2d, Keras' LayerNormalization on the last (NHWC) axis."""

    @abstractmethod
    def layer_scale(self, name: str, x: Tensor, init: float) -> Tensor:
        """``x`` times a learned per-channel factor initialised to ``init`` (ConvNeXt's layer scale)."""

    @abstractmethod
    def linear(self, name: str, x: Tensor, units: int, bias: bool = True) -> Tensor:
        """A fully connected layer; on a map, over the channels of each position (a pointwise layer: ConvNeXt's
        ``nn.Linear`` on channels-last, the same weights and MACs as a 1x1 conv)."""

    @abstractmethod
    def add(self, name: str, xs: Sequence[Tensor]) -> Tensor:
        """Elementwise sum of same-shaped tensors (a residual connection)."""

    @abstractmethod
    def mul(self, name: str, x: Tensor, scale: Tensor) -> Tensor:
        """``x`` times a per-channel ``scale`` (C x 1 x 1, broadcast over the map): squeeze-and-excitation."""

    @abstractmethod
    def concat(self, name: str, xs: Sequence[Tensor]) -> Tensor:
        """Concatenation along channels of maps of one spatial size."""

    @abstractmethod
    def channels(self, x: Tensor) -> int:
        """The number of channels (features) of ``x``."""

    @abstractmethod
    def output(self, main: Tensor, *aux: Tensor, aux_weight: float | None = None) -> Any:
        """The model's logits, and auxiliary logits computed in training only (each weighted
        ``aux_weight`` in the training loss); returns what the implementation built."""

    # ------------------------------------------------------------------ built from the above
    def relu(self, name: str, x: Tensor) -> Tensor:
        return self.act(name, x, "relu")

    def conv_bn(self, prefix: str, x: Tensor, filters: int, kernel: int | tuple[int, int], stride: int = 1,
                padding: int | tuple[int, int] = 0, *, eps: float, momentum: float, bias: bool = False,
                relu: bool = True, suffix: str = "", groups: int = 1, act: str = "relu") -> Tensor:
        """conv -> BatchNorm (-> activation ``act`` unless ``relu=False``), named ``{prefix}conv{suffix}``,
        ``{prefix}bn{suffix}``, ``{prefix}{act}{suffix}`` (``{prefix}relu{suffix}`` by default)."""
        x = self.conv(f"{prefix}conv{suffix}", x, filters, kernel, stride, padding, bias=bias, groups=groups)
        x = self.bn(f"{prefix}bn{suffix}", x, eps=eps, momentum=momentum)
        return self.act(f"{prefix}{act}{suffix}", x, act) if relu else x


def batchnorm(cfg: Mapping[str, Any]) -> dict[str, float]:
    """The spec's BatchNorm settings as keywords of ``bn`` and ``conv_bn``."""
    return {"eps": cfg["bn_eps"], "momentum": cfg["bn_momentum"]}
