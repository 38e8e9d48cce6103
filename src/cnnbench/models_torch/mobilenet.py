"""MobileNetV2 (Sandler et al., 2018) in PyTorch, as torchvision's ``mobilenet_v2``."""
from __future__ import annotations

from torch import nn

from cnnbench.core.families.mobilenet import blocks, head_channels, stem_channels
from cnnbench.models_torch._common import Add, classifier_head, conv_bn, register_builder, resolve, seq, tag

__all__ = ["mobilenet_v2"]


class InvertedResidual(nn.Module):
    """1x1 expansion (none when t = 1) -> 3x3 depthwise -> linear 1x1 projection (+ the input)."""

    def __init__(self, cin: int, t: int, out: int, stride: int, cfg: dict):
        super().__init__()
        act, k, hidden = cfg["activation"], cfg["dw_kernel"], round(cin * t)
        self.expand = conv_bn(cin, hidden, 1, cfg=cfg, act=act) if t != 1 else None
        self.dw = conv_bn(hidden, hidden, k, stride, k // 2, cfg=cfg, groups=hidden, act=act)
        self.project = conv_bn(hidden, out, 1, cfg=cfg, relu=False)
        self.add = Add() if stride == 1 and cin == out else None

    def forward(self, x):
        y = self.project(self.dw(x if self.expand is None else self.expand(x)))
        return y if self.add is None else self.add(x, y)


class MobileNetV2(nn.Sequential):
    """stem (3x3/2 conv), stage1..stage7 of inverted residual blocks, head (1x1 conv, pool, dropout, fc)."""

    def __init__(self, cfg: dict, in_channels: int, num_classes: int):
        super().__init__()
        act, c = cfg["activation"], stem_channels(cfg)
        _, kernel, stride, padding = cfg["stem"]
        stem = conv_bn(in_channels, c, kernel, stride, padding, cfg=cfg, act=act)
        self.add_module("stem", stem)  # N x 32 x 112 x 112
        stages: dict[str, list] = {}
        for prefix, t, out, s in blocks(cfg):
            stage, block, _ = prefix.split(".")
            stages.setdefault(stage, []).append((block, InvertedResidual(c, t, out, s, cfg)))
            c = out
        for stage, members in stages.items():
            self.add_module(stage, seq(*members))  # N x 320 x 7 x 7 after stage7
        head = conv_bn(c, head_channels(cfg), 1, cfg=cfg, act=act)  # N x 1280 x 7 x 7
        for name, module in classifier_head(head_channels(cfg), num_classes, 1, cfg["dropout"]).named_children():
            head.add_module(name, module)
        self.add_module("head", head)


@register_builder
def mobilenet_v2(*, num_classes: int | None = None, input_size: int | None = None, **options) -> nn.Module:
    """MobileNetV2 (Sandler et al., 2018), torchvision's; 224x224 input; options width_mult, dropout, bn_eps."""
    spec, cfg, size, num_classes = resolve("mobilenet_v2", num_classes, input_size, options)
    return tag(MobileNetV2(cfg, spec.in_channels, num_classes), spec, num_classes, size, options)
