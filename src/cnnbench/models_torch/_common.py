"""Small pieces shared by the PyTorch builders (timm's ``layers/`` idea, kept tiny), and their registry."""
from __future__ import annotations

from collections import OrderedDict
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from cnnbench.core.build_args import check_build_args
from cnnbench.core.specs import get_spec

ACTIVATIONS = {"relu": nn.ReLU, "relu6": nn.ReLU6, "hardswish": nn.Hardswish, "hardsigmoid": nn.Hardsigmoid,
               "silu": nn.SiLU, "gelu": nn.GELU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid}  # core.ops.ACTIVATIONS

BUILDERS: dict[str, Callable[..., nn.Module]] = {}


def register_builder(builder: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
    """Decorator: ``builder`` builds, in PyTorch, the registered model its name names. A builder
    of an unknown model, or a second builder of one model, is refused."""
    name = builder.__name__
    get_spec(name)  # UnknownModelError: no spec of that name
    if name in BUILDERS:
        raise ValueError(f"a PyTorch builder of {name!r} is already registered")
    BUILDERS[name] = builder
    return builder


def resolve(name: str, num_classes: int | None, input_size: int | None, options: dict):
    """Validate the arguments; return (spec, resolved config, input size, number of classes)."""
    spec = check_build_args(name, num_classes, input_size, options)
    n = spec.num_classes if num_classes is None else num_classes
    return spec, spec.resolve(**options), input_size or spec.input_size, n


def tag(model: nn.Module, spec, num_classes: int, input_size: int, options: dict) -> nn.Module:
    """Record what was built, so tools can rebuild the twin in the other framework."""
    model.cnnbench_name = spec.name
    model.cnnbench_num_classes = num_classes
    model.cnnbench_input_size = input_size
    model.cnnbench_options = spec.check_options(**options)  # canonical: pool="MAX" is recorded as "max"
    return model


def register_family(name: str, network: Callable[[dict, int, int], nn.Module], doc: str) -> Callable[..., nn.Module]:
    """Register the builder of ``name``, one depth of a family whose depths share one network class
    built from the spec's config (ResNet-18..152, VGG-11..19, DenseNet-121..201)."""
    def build(*, num_classes: int | None = None, input_size: int | None = None, **options) -> nn.Module:
        spec, cfg, size, n = resolve(name, num_classes, input_size, options)
        return tag(network(cfg, spec.in_channels, n), spec, n, size, options)

    build.__name__ = build.__qualname__ = name
    build.__module__, build.__doc__ = network.__module__, doc
    return register_builder(build)


def seq(*named: tuple[str, nn.Module]) -> nn.Sequential:
    return nn.Sequential(OrderedDict(named))


def bn(channels: int, cfg: dict) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, eps=cfg["bn_eps"], momentum=cfg["bn_momentum"])


def activation(fn: str) -> nn.Module:
    """The activation module ``fn``, in place where PyTorch offers it (torchvision's choice)."""
    return ACTIVATIONS[fn](inplace=True) if fn in ("relu", "relu6", "hardswish", "silu") else ACTIVATIONS[fn]()


def conv_bn(cin: int, cout: int, kernel, stride=1, padding=0, *, cfg: dict, bias=False, relu=True, groups=1,
            act="relu") -> nn.Sequential:
    """conv -> BatchNorm (-> activation ``act`` unless ``relu=False``) as children ``conv``, ``bn``, ``{act}``
    (``relu`` by default), as ``Ops.conv_bn`` names them."""
    layers = [
        ("conv", nn.Conv2d(cin, cout, kernel, stride, padding, bias=bias, groups=groups)),
        ("bn", bn(cout, cfg)),
    ]
    if relu:
        layers.append((act, activation(act)))
    return seq(*layers)


def classifier_head(in_features: int, num_classes: int, pool: int | None, dropout: float | None) -> nn.Sequential:
    """Global average pool -> flatten (-> dropout) -> fc, children named as in the spec graphs."""
    layers = [("pool", nn.AdaptiveAvgPool2d(pool or 1)), ("flatten", nn.Flatten(1))]
    if dropout is not None:
        layers.append(("drop", nn.Dropout(dropout)))
    layers.append(("fc", nn.Linear(in_features, num_classes)))
    return seq(*layers)


class Add(nn.Module):
    """Residual addition as a module, so it has a name in per-layer tables."""

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return a + b


class Mul(nn.Module):
    """A map times a per-channel scale (N x C x 1 x 1) as a module, so it has a name in per-layer tables."""

    def forward(self, x: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
        return scale * x  # torchvision's SqueezeExcitation order


class DropPath(nn.Module):
    """torchvision.ops.StochasticDepth(rate, "row"): in training mode each sample's whole residual branch is
    zeroed with probability ``rate`` and the survivors scaled by 1 / (1 - rate); in eval mode the input itself."""

    def __init__(self, rate: float):
        super().__init__()
        self.rate = rate

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.rate == 0.0:
            return x
        keep = 1.0 - self.rate
        mask = torch.empty((x.shape[0],) + (1,) * (x.dim() - 1), dtype=x.dtype, device=x.device).bernoulli_(keep)
        return x * mask.div_(keep)

    def extra_repr(self) -> str:
        return f"rate={self.rate}"


class LayerNorm2d(nn.LayerNorm):
    """torchvision's LayerNorm2d: LayerNorm over the channels of an N x C x H x W map (at each position)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.permute(0, 2, 3, 1)
        return F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps).permute(0, 3, 1, 2)


class PointwiseLinear(nn.Linear):
    """nn.Linear over the channels of each position of an N x C x H x W map (ConvNeXt's, channels-last inside)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)


class LayerScale(nn.Module):
    """ConvNeXt's layer scale: a learned per-channel factor (torchvision's ``layer_scale``, a C x 1 x 1 parameter
    of its block; here a module of its own, so that it has a name in per-layer tables)."""

    def __init__(self, channels: int, init: float):
        super().__init__()
        self.weight = nn.Parameter(torch.full((channels,), float(init)))
        self.bias = None  # no shift (the weight transfer reads weight and bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.weight.view(-1, 1, 1) * x


class Concat(nn.Module):
    """Channel concatenation as a module, so it has a name in per-layer tables."""

    def forward(self, xs: list[torch.Tensor]) -> torch.Tensor:
        return torch.cat(xs, 1)


def flat_features(name: str, input_size: int, options: dict) -> int:
    """Width of ``head.flatten`` at this input size, from the analytic graph."""
    from cnnbench.core.analytic import build_graph

    return build_graph(name, input_size=input_size, **options).layer("head.flatten").out_shape[0]
