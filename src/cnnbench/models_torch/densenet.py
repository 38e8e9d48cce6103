"""DenseNet-BC (Huang et al., 2017) in PyTorch."""
from __future__ import annotations

import torch
from torch import nn

from cnnbench.models_torch._common import Concat, bn, classifier_head, register_family, seq

__all__ = ["densenet121", "densenet169", "densenet201"]


class DenseLayer(nn.Module):
    """BN -> ReLU -> 1x1 conv (bn_size*k) -> BN -> ReLU -> 3x3 conv (k), concatenated to its input."""

    def __init__(self, cin: int, cfg: dict):
        super().__init__()
        k, width = cfg["growth_rate"], cfg["bn_size"] * cfg["growth_rate"]
        self.bn1 = bn(cin, cfg)
        self.relu1 = nn.ReLU(inplace=True)
        self.conv1 = nn.Conv2d(cin, width, 1, bias=False)
        self.bn2 = bn(width, cfg)
        self.relu2 = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(width, k, 3, padding=1, bias=False)
        self.concat = Concat()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv1(self.relu1(self.bn1(x)))
        y = self.conv2(self.relu2(self.bn2(y)))
        return self.concat([x, y])


class DenseNet(nn.Sequential):
    """stem, block1 transition1 ... block4, head (BN, ReLU, global pool, fc)."""

    def __init__(self, cfg: dict, in_channels: int, num_classes: int):
        super().__init__()
        filters, kernel, stride, padding = cfg["stem"]
        self.add_module("stem", seq(
            ("conv", nn.Conv2d(in_channels, filters, kernel, stride, padding, bias=False)),
            ("bn", bn(filters, cfg)),
            ("relu", nn.ReLU(inplace=True)),
            ("pool", nn.MaxPool2d(*cfg["stem_pool"])),
        ))  # N x 64 x 56 x 56
        c = filters
        for b, n_layers in enumerate(cfg["blocks"], start=1):
            layers = []
            for i in range(1, n_layers + 1):
                layers.append((f"layer{i}", DenseLayer(c, cfg)))
                c += cfg["growth_rate"]
            self.add_module(f"block{b}", seq(*layers))
            if b < len(cfg["blocks"]):
                out = int(c * cfg["compression"])
                self.add_module(f"transition{b}", seq(
                    ("bn", bn(c, cfg)),
                    ("relu", nn.ReLU(inplace=True)),
                    ("conv", nn.Conv2d(c, out, 1, bias=False)),
                    ("pool", nn.AvgPool2d(*cfg["transition_pool"])),
                ))
                c = out
        head = classifier_head(c, num_classes, 1, None)
        self.add_module("head", seq(("bn", bn(c, cfg)), ("relu", nn.ReLU(inplace=True)), *head.named_children()))


def _register(name: str):
    return register_family(name, DenseNet, f"{name} (Huang et al., 2017), DenseNet-BC with growth 32; 224x224 input.")


densenet121, densenet169, densenet201 = (_register(f"densenet{d}") for d in (121, 169, 201))
