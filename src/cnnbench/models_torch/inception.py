"""Inception v3 (Szegedy et al., 2015) in PyTorch, laid out as torchvision's."""
from __future__ import annotations

import torch
from torch import nn

from cnnbench.models_torch._common import Concat, classifier_head, conv_bn, register_builder, resolve, seq, tag

__all__ = ["inception_v3"]


def _avgpool(cfg: dict) -> nn.AvgPool2d:
    return nn.AvgPool2d(*cfg["branch_pool"], count_include_pad=cfg["avgpool_count_include_pad"])


class InceptionA(nn.Module):
    def __init__(self, cin, w, cfg):
        super().__init__()
        c1, (r5, c5), (rd, d1, d2), proj = w
        self.branch1x1 = conv_bn(cin, c1, 1, cfg=cfg)
        self.branch5x5_1 = conv_bn(cin, r5, 1, cfg=cfg)
        self.branch5x5_2 = conv_bn(r5, c5, 5, 1, 2, cfg=cfg)
        self.branch3x3dbl_1 = conv_bn(cin, rd, 1, cfg=cfg)
        self.branch3x3dbl_2 = conv_bn(rd, d1, 3, 1, 1, cfg=cfg)
        self.branch3x3dbl_3 = conv_bn(d1, d2, 3, 1, 1, cfg=cfg)
        self.pool = _avgpool(cfg)
        self.branch_pool = conv_bn(cin, proj, 1, cfg=cfg)
        self.concat = Concat()

    def forward(self, x):
        b5 = self.branch5x5_2(self.branch5x5_1(x))
        bd = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        return self.concat([self.branch1x1(x), b5, bd, self.branch_pool(self.pool(x))])


class InceptionB(nn.Module):
    def __init__(self, cin, w, cfg):
        super().__init__()
        c3, (rd, d1, d2) = w
        self.branch3x3 = conv_bn(cin, c3, 3, 2, cfg=cfg)
        self.branch3x3dbl_1 = conv_bn(cin, rd, 1, cfg=cfg)
        self.branch3x3dbl_2 = conv_bn(rd, d1, 3, 1, 1, cfg=cfg)
        self.branch3x3dbl_3 = conv_bn(d1, d2, 3, 2, cfg=cfg)
        self.pool = nn.MaxPool2d(cfg["pool_size"], cfg["pool_stride"])
        self.concat = Concat()

    def forward(self, x):
        bd = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        return self.concat([self.branch3x3(x), bd, self.pool(x)])


class InceptionC(nn.Module):
    def __init__(self, cin, w, cfg):
        super().__init__()
        c1, c7, out, proj = w
        n = cfg["factor_kernel"]
        row, col = ((1, n), (0, n // 2)), ((n, 1), (n // 2, 0))  # (kernel, padding)
        self.branch1x1 = conv_bn(cin, c1, 1, cfg=cfg)
        self.branch7x7_1 = conv_bn(cin, c7, 1, cfg=cfg)
        self.branch7x7_2 = conv_bn(c7, c7, row[0], 1, row[1], cfg=cfg)
        self.branch7x7_3 = conv_bn(c7, out, col[0], 1, col[1], cfg=cfg)
        self.branch7x7dbl_1 = conv_bn(cin, c7, 1, cfg=cfg)
        for i, (kp, f) in enumerate(((col, c7), (row, c7), (col, c7), (row, out)), start=2):
            self.add_module(f"branch7x7dbl_{i}", conv_bn(c7, f, kp[0], 1, kp[1], cfg=cfg))
        self.pool = _avgpool(cfg)
        self.branch_pool = conv_bn(cin, proj, 1, cfg=cfg)
        self.concat = Concat()

    def forward(self, x):
        b7 = self.branch7x7_3(self.branch7x7_2(self.branch7x7_1(x)))
        bd = x
        for i in range(1, 6):
            bd = getattr(self, f"branch7x7dbl_{i}")(bd)
        return self.concat([self.branch1x1(x), b7, bd, self.branch_pool(self.pool(x))])


class InceptionD(nn.Module):
    def __init__(self, cin, w, cfg):
        super().__init__()
        (r3, c3), (r7, a, b, c) = w
        n = cfg["factor_kernel"]
        self.branch3x3_1 = conv_bn(cin, r3, 1, cfg=cfg)
        self.branch3x3_2 = conv_bn(r3, c3, 3, 2, cfg=cfg)
        self.branch7x7x3_1 = conv_bn(cin, r7, 1, cfg=cfg)
        self.branch7x7x3_2 = conv_bn(r7, a, (1, n), 1, (0, n // 2), cfg=cfg)
        self.branch7x7x3_3 = conv_bn(a, b, (n, 1), 1, (n // 2, 0), cfg=cfg)
        self.branch7x7x3_4 = conv_bn(b, c, 3, 2, cfg=cfg)
        self.pool = nn.MaxPool2d(cfg["pool_size"], cfg["pool_stride"])
        self.concat = Concat()

    def forward(self, x):
        b3 = self.branch3x3_2(self.branch3x3_1(x))
        b7 = self.branch7x7x3_4(self.branch7x7x3_3(self.branch7x7x3_2(self.branch7x7x3_1(x))))
        return self.concat([b3, b7, self.pool(x)])


class InceptionE(nn.Module):
    def __init__(self, cin, w, cfg):
        super().__init__()
        c1, (r3, c3), (rd, d1, d2), proj = w
        self.branch1x1 = conv_bn(cin, c1, 1, cfg=cfg)
        self.branch3x3_1 = conv_bn(cin, r3, 1, cfg=cfg)
        self.branch3x3_2a = conv_bn(r3, c3, (1, 3), 1, (0, 1), cfg=cfg)
        self.branch3x3_2b = conv_bn(r3, c3, (3, 1), 1, (1, 0), cfg=cfg)
        self.branch3x3_cat = Concat()
        self.branch3x3dbl_1 = conv_bn(cin, rd, 1, cfg=cfg)
        self.branch3x3dbl_2 = conv_bn(rd, d1, 3, 1, 1, cfg=cfg)
        self.branch3x3dbl_3a = conv_bn(d1, d2, (1, 3), 1, (0, 1), cfg=cfg)
        self.branch3x3dbl_3b = conv_bn(d1, d2, (3, 1), 1, (1, 0), cfg=cfg)
        self.branch3x3dbl_cat = Concat()
        self.pool = _avgpool(cfg)
        self.branch_pool = conv_bn(cin, proj, 1, cfg=cfg)
        self.concat = Concat()

    def forward(self, x):
        b3 = self.branch3x3_1(x)
        b3 = self.branch3x3_cat([self.branch3x3_2a(b3), self.branch3x3_2b(b3)])
        bd = self.branch3x3dbl_2(self.branch3x3dbl_1(x))
        bd = self.branch3x3dbl_cat([self.branch3x3dbl_3a(bd), self.branch3x3dbl_3b(bd)])
        return self.concat([self.branch1x1(x), b3, bd, self.branch_pool(self.pool(x))])


BLOCKS = {"A": InceptionA, "B": InceptionB, "C": InceptionC, "D": InceptionD, "E": InceptionE}


def _out_channels(kind: str, w, cin: int) -> int:
    if kind == "A":
        return w[0] + w[1][1] + w[2][2] + w[3]
    if kind == "B":
        return w[0] + w[1][2] + cin
    if kind == "C":
        return w[0] + 2 * w[2] + w[3]
    if kind == "D":
        return w[0][1] + w[1][3] + cin
    return w[0] + 2 * w[1][1] + 2 * w[2][2] + w[3]


class InceptionAux(nn.Sequential):
    """5x5/3 average pool -> 1x1 conv (128) -> 5x5 conv (768) -> global pool -> fc."""

    def __init__(self, cin: int, num_classes: int, cfg: dict):
        (k, s), (c0, c1) = cfg["aux_pool"], cfg["aux_widths"]
        super().__init__()
        self.add_module("pool", nn.AvgPool2d(k, s))
        self.add_module("conv0", conv_bn(cin, c0, 1, cfg=cfg))
        self.add_module("conv1", conv_bn(c0, c1, k, cfg=cfg))
        self.add_module("gap", nn.AdaptiveAvgPool2d(1))
        self.add_module("flatten", nn.Flatten(1))
        self.add_module("fc", nn.Linear(c1, num_classes))


class InceptionV3(nn.Module):
    """stem, mixed5b..mixed7c, head; an aux head after mixed6e in training only."""

    def __init__(self, cfg: dict, in_channels: int, num_classes: int):
        super().__init__()
        stem, c = [], in_channels
        for name, *args in cfg["stem"]:
            if args == ["maxpool"]:
                stem.append((name, nn.MaxPool2d(cfg["pool_size"], cfg["pool_stride"])))
            else:
                stem.append((name, conv_bn(c, *args, cfg=cfg)))
                c = args[0]
        self.stem = seq(*stem)  # N x 192 x 35 x 35
        self.blocks: list[str] = []
        self.aux_after = cfg["aux_after"] if cfg["aux_logits"] else None
        self.aux_weight = cfg["aux_weight"]
        for name, kind, w in cfg["blocks"]:
            self.add_module(name, BLOCKS[kind](c, w, cfg))
            self.blocks.append(name)
            c = _out_channels(kind, w, c)
            if name == self.aux_after:
                self.aux = InceptionAux(c, num_classes, cfg)
        self.head = classifier_head(c, num_classes, 1, cfg["dropout"])  # N x 2048 -> N x classes

    def forward(self, x: torch.Tensor):
        x = self.stem(x)
        aux = None
        for name in self.blocks:
            x = getattr(self, name)(x)
            if self.training and name == self.aux_after:
                aux = self.aux(x)
        logits = self.head(x)
        return (logits, aux) if aux is not None else logits


@register_builder
def inception_v3(*, num_classes: int | None = None, input_size: int | None = None, **options) -> nn.Module:
    """Inception v3 (Szegedy et al., 2015); 299x299 input; ``aux_logits=True`` adds the aux head
    (training mode returns ``(logits, aux)``)."""
    spec, cfg, size, num_classes = resolve("inception_v3", num_classes, input_size, options)
    return tag(InceptionV3(cfg, spec.in_channels, num_classes), spec, num_classes, size, options)
