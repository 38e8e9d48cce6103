"""ResNet (He et al., 2015) in PyTorch: basic and bottleneck blocks, v1.5 stride by default."""
from __future__ import annotations

from torch import nn

from cnnbench.models_torch._common import Add, bn, classifier_head, conv_bn, register_family, seq

__all__ = ["resnet18", "resnet34", "resnet50", "resnet101", "resnet152"]


class BasicBlock(nn.Module):
    def __init__(self, cin: int, width: int, stride: int, cfg: dict):
        super().__init__()
        bias = cfg["conv_bias"]
        self.conv1 = nn.Conv2d(cin, width, 3, stride, 1, bias=bias)
        self.bn1 = bn(width, cfg)
        self.relu1 = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(width, width, 3, 1, 1, bias=bias)
        self.bn2 = bn(width, cfg)
        self.downsample = (
            conv_bn(cin, width, 1, stride, cfg=cfg, bias=bias, relu=False) if stride != 1 or cin != width else None
        )
        self.add = Add()
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x):
        y = self.relu1(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return self.relu(self.add(y, x if self.downsample is None else self.downsample(x)))


class Bottleneck(nn.Module):
    def __init__(self, cin: int, width: int, stride: int, cfg: dict):
        super().__init__()
        bias, out = cfg["conv_bias"], width * cfg["expansion"]
        s1, s3 = (stride, 1) if cfg["stride_in_1x1"] else (1, stride)
        self.conv1 = nn.Conv2d(cin, width, 1, s1, bias=bias)
        self.bn1 = bn(width, cfg)
        self.relu1 = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(width, width, 3, s3, 1, bias=bias)
        self.bn2 = bn(width, cfg)
        self.relu2 = nn.ReLU(inplace=True)
        self.conv3 = nn.Conv2d(width, out, 1, bias=bias)
        self.bn3 = bn(out, cfg)
        self.downsample = (
            conv_bn(cin, out, 1, stride, cfg=cfg, bias=bias, relu=False) if stride != 1 or cin != out else None
        )
        self.add = Add()
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x):
        y = self.relu1(self.bn1(self.conv1(x)))
        y = self.relu2(self.bn2(self.conv2(y)))
        y = self.bn3(self.conv3(y))
        return self.relu(self.add(y, x if self.downsample is None else self.downsample(x)))


class ResNet(nn.Sequential):
    """stem (7x7/2 conv, BN, ReLU, 3x3/2 max pool), stage1..stage4 of blocks, head."""

    def __init__(self, cfg: dict, in_channels: int, num_classes: int):
        super().__init__()
        block = BasicBlock if cfg["block"] == "basic" else Bottleneck
        filters, kernel, stride, padding = cfg["stem"]
        stem = conv_bn(in_channels, filters, kernel, stride, padding, cfg=cfg, bias=cfg["conv_bias"])
        stem.add_module("pool", nn.MaxPool2d(*cfg["stem_pool"]))
        self.add_module("stem", stem)  # N x 64 x 56 x 56
        c = filters
        for s, (width, blocks, first_stride) in enumerate(zip(cfg["widths"], cfg["layers"], cfg["strides"]), start=1):
            stage = []
            for b in range(1, blocks + 1):
                stage.append((f"block{b}", block(c, width, first_stride if b == 1 else 1, cfg)))
                c = width * cfg["expansion"]
            self.add_module(f"stage{s}", seq(*stage))  # N x c x 56/2^(s-1) x 56/2^(s-1)
        self.add_module("head", classifier_head(c, num_classes, 1, None))


def _register(name: str):
    return register_family(name, ResNet,
                           f"{name} (He et al., 2015, v1.5); options stride_in_1x1/conv_bias give the seeds' v1.")


resnet18, resnet34, resnet50, resnet101, resnet152 = (_register(f"resnet{d}") for d in (18, 34, 50, 101, 152))
