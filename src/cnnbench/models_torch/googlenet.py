"""GoogLeNet (Inception v1, Szegedy et al., 2014) with BatchNorm, in PyTorch."""
from __future__ import annotations

import torch
from torch import nn

from cnnbench.models_torch._common import Concat, classifier_head, conv_bn, register_builder, resolve, seq, tag

__all__ = ["googlenet"]


class Inception(nn.Module):
    """Four branches: 1x1 | 1x1 -> 3x3 | 1x1 -> kxk (5x5 in the paper) | 3x3 max pool -> 1x1."""

    def __init__(self, cin: int, widths, cfg: dict):
        super().__init__()
        c1, r3, c3, r5, c5, proj = widths
        k = cfg["branch3_kernel"]
        self.branch1 = conv_bn(cin, c1, 1, cfg=cfg)
        self.branch2 = seq(("reduce", conv_bn(cin, r3, 1, cfg=cfg)), *conv_bn(r3, c3, 3, 1, 1, cfg=cfg).named_children())
        self.branch3 = seq(("reduce", conv_bn(cin, r5, 1, cfg=cfg)), *conv_bn(r5, c5, k, 1, k // 2, cfg=cfg).named_children())
        self.branch4 = seq(("pool", nn.MaxPool2d(*cfg["branch4_pool"], ceil_mode=cfg["ceil_mode"])),
                           *conv_bn(cin, proj, 1, cfg=cfg).named_children())
        self.concat = Concat()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.concat([self.branch1(x), self.branch2(x), self.branch3(x), self.branch4(x)])


class InceptionAux(nn.Sequential):
    """Adaptive 4x4 average pool -> 1x1 conv (128) -> fc 1024 -> dropout 0.7 -> fc."""

    def __init__(self, cin: int, num_classes: int, cfg: dict):
        p = cfg["aux_pool"]
        super().__init__()
        self.add_module("pool", nn.AdaptiveAvgPool2d(p))
        self.add_module("proj", conv_bn(cin, cfg["aux_proj"], 1, cfg=cfg))
        self.add_module("flatten", nn.Flatten(1))
        self.add_module("fc1", nn.Linear(cfg["aux_proj"] * p * p, cfg["aux_fc"]))
        self.add_module("relu", nn.ReLU(inplace=True))
        self.add_module("drop", nn.Dropout(cfg["aux_dropout"]))
        self.add_module("fc", nn.Linear(cfg["aux_fc"], num_classes))


class GoogLeNet(nn.Module):
    """stem, inception3a..5b with max pools between stages, head; aux heads in training only."""

    def __init__(self, cfg: dict, in_channels: int, num_classes: int):
        super().__init__()
        k, s, stem = cfg["pool_size"], cfg["pool_stride"], cfg["stem"]
        c1, c2, c3 = stem["conv1"][0], stem["conv2"][0], stem["conv3"][0]
        self.stem = seq(
            ("conv1", conv_bn(in_channels, *stem["conv1"], cfg=cfg)),  # N x 64 x 112 x 112
            ("pool1", nn.MaxPool2d(k, s, ceil_mode=cfg["ceil_mode"])),  # N x 64 x 56 x 56
            ("conv2", conv_bn(c1, *stem["conv2"], cfg=cfg)),
            ("conv3", conv_bn(c2, *stem["conv3"], cfg=cfg)),  # N x 192 x 56 x 56
            ("pool2", nn.MaxPool2d(k, s, ceil_mode=cfg["ceil_mode"])),  # N x 192 x 28 x 28
        )
        self.order: list[str] = []  # modules and pools in call order
        self.aux_names: list[str] = []
        self.aux_after = tuple(cfg["aux_after"]) if cfg["aux_logits"] else ()
        self.aux_weight = cfg["aux_weight"]  # weight of each aux loss in a training step
        c = c3
        for name, widths in cfg["modules"]:
            self.add_module(name, Inception(c, widths, cfg))
            self.order.append(name)
            c = widths[0] + widths[2] + widths[4] + widths[5]
            if name in cfg["pools_after"]:
                pool_name, pool_k = cfg["pools_after"][name]
                self.add_module(pool_name, nn.MaxPool2d(pool_k, s, ceil_mode=cfg["ceil_mode"]))
                self.order.append(pool_name)
            if cfg["aux_logits"] and name in cfg["aux_after"]:
                aux = f"aux{len(self.aux_names) + 1}"
                self.add_module(aux, InceptionAux(c, num_classes, cfg))
                self.aux_names.append(aux)
        self.head = classifier_head(c, num_classes, 1, cfg["dropout"])  # N x 1024 -> N x classes

    def forward(self, x: torch.Tensor):
        x = self.stem(x)
        aux = []
        for name in self.order:
            x = getattr(self, name)(x)
            if self.training and name in self.aux_after:
                aux.append(getattr(self, self.aux_names[len(aux)])(x))
        logits = self.head(x)
        return (logits, *aux) if aux else logits


@register_builder
def googlenet(*, num_classes: int | None = None, input_size: int | None = None, **options) -> nn.Module:
    """GoogLeNet (Szegedy et al., 2014) with BN; ``aux_logits=True`` adds the two aux heads
    (training mode returns ``(logits, aux1, aux2)``), ``branch3_kernel=3`` gives torchvision's variant."""
    spec, cfg, size, num_classes = resolve("googlenet", num_classes, input_size, options)
    return tag(GoogLeNet(cfg, spec.in_channels, num_classes), spec, num_classes, size, options)
