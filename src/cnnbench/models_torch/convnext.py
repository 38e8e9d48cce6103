"""ConvNeXt-Tiny (Liu et al., 2022) in PyTorch, as torchvision's ``convnext_tiny``.

The block runs channels-last between its LayerNorm and its second dense layer, as torchvision's does; here
each of those modules takes and returns an N x C x H x W view (``LayerNorm2d`` and ``PointwiseLinear``
permute in their forward), so every module's output has the layout the summaries and per-layer tables
expect. The permutes are views: the dense layers read contiguous channels-last memory, as torchvision's."""
from __future__ import annotations

from torch import nn

from cnnbench.core.families.convnext import drop_rates
from cnnbench.models_torch._common import (Add, DropPath, LayerNorm2d, LayerScale, PointwiseLinear, register_family,
                                           seq)

__all__ = ["convnext_tiny"]


class CNBlock(nn.Module):
    """7x7 depthwise conv -> LayerNorm -> dense 4x -> GELU -> dense back -> layer scale -> drop path, + the input."""

    def __init__(self, dim: int, rate: float, cfg: dict):
        super().__init__()
        k, hidden = cfg["dw_kernel"], cfg["mlp_ratio"] * dim
        self.dwconv = nn.Conv2d(dim, dim, k, padding=k // 2, groups=dim, bias=True)
        self.norm = LayerNorm2d(dim, eps=cfg["ln_eps"])
        self.fc1 = PointwiseLinear(dim, hidden)
        self.gelu = nn.GELU()  # exact (erf), torchvision's
        self.fc2 = PointwiseLinear(hidden, dim)
        self.layer_scale = LayerScale(dim, cfg["layer_scale"])
        self.drop_path = DropPath(rate)
        self.add = Add()

    def forward(self, x):
        y = self.fc2(self.gelu(self.fc1(self.norm(self.dwconv(x)))))
        return self.add(x, self.drop_path(self.layer_scale(y)))


class ConvNeXt(nn.Sequential):
    """stem (4x4/4 conv, LayerNorm), stage1..stage4 (LayerNorm and 2x2/2 conv before stages 2-4), head (pool,
    LayerNorm, flatten, fc)."""

    def __init__(self, cfg: dict, in_channels: int, num_classes: int):
        super().__init__()
        widths, eps, rates = cfg["widths"], cfg["ln_eps"], iter(drop_rates(cfg))
        self.add_module("stem", seq(("conv", nn.Conv2d(in_channels, widths[0], cfg["patch"], cfg["patch"])),
                                    ("norm", LayerNorm2d(widths[0], eps=eps))))  # N x 96 x 56 x 56
        for s, (width, depth) in enumerate(zip(widths, cfg["depths"]), start=1):
            members = []
            if s > 1:  # N x 192 x 28 x 28, 384 x 14 x 14, 768 x 7 x 7
                members.append(("downsample", seq(("norm", LayerNorm2d(widths[s - 2], eps=eps)),
                                                  ("conv", nn.Conv2d(widths[s - 2], width, 2, 2)))))
            members += [(f"block{b}", CNBlock(width, next(rates), cfg)) for b in range(1, depth + 1)]
            self.add_module(f"stage{s}", seq(*members))
        self.add_module("head", seq(("pool", nn.AdaptiveAvgPool2d(1)), ("norm", LayerNorm2d(widths[-1], eps=eps)),
                                    ("flatten", nn.Flatten(1)), ("fc", nn.Linear(widths[-1], num_classes))))


convnext_tiny = register_family("convnext_tiny", ConvNeXt,
                                "ConvNeXt-Tiny (Liu et al., 2022), torchvision's; 224x224 input; option "
                                "stochastic_depth_prob.")
