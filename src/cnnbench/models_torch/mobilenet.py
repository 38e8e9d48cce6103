"""MobileNetV2 (Sandler et al., 2018) and MobileNetV3 (Howard et al., 2019) in PyTorch, as torchvision's
``mobilenet_v2``, ``mobilenet_v3_large`` and ``mobilenet_v3_small``."""
from __future__ import annotations

from typing import Callable, Iterable

from torch import nn

from cnnbench.core.families.mobilenet import (Block, blocks_v2, blocks_v3, stem_channels, v2_head_channels,
                                              v3_classifier_width)
from cnnbench.models_torch._common import Add, DropPath, Mul, activation, classifier_head, conv_bn, register_family, seq

__all__ = ["mobilenet_v2", "mobilenet_v3_large", "mobilenet_v3_small"]


class SqueezeExcitation(nn.Module):
    """torchvision.ops.SqueezeExcitation: global average -> 1x1 conv -> ReLU -> 1x1 conv -> gate, times the map."""

    def __init__(self, channels: int, squeeze: int, gate: str, act: str = "relu"):
        super().__init__()
        self.gate, self.act = gate, act
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Conv2d(channels, squeeze, 1)
        self.add_module(act, activation(act))
        self.fc2 = nn.Conv2d(squeeze, channels, 1)
        self.add_module(gate, activation(gate))
        self.mul = Mul()

    def forward(self, x):
        scale = getattr(self, self.gate)(self.fc2(getattr(self, self.act)(self.fc1(self.pool(x)))))
        return self.mul(x, scale)


class ResidualBlock(nn.Module):
    """A block whose output gets its input added back where it keeps the shape, through drop path where the block
    has a rate (EfficientNet): PyTorch's side of ``cnnbench.core.families.mobilenet.residual``."""

    def _residual(self, block: Block) -> None:
        """The drop path and add modules (registered last, after the block's convs), or None."""
        residual = block.stride == 1 and block.cin == block.out
        self.drop_path = DropPath(block.drop) if residual and block.drop is not None else None
        self.add = Add() if residual else None

    def _plus_input(self, x, y):
        if self.drop_path is not None:
            y = self.drop_path(y)
        return y if self.add is None else self.add(x, y)


class InvertedResidual(ResidualBlock):
    """1x1 expansion (none when the width stays) -> kxk depthwise -> SE (V3, EfficientNet) -> linear 1x1 projection
    (-> drop path (EfficientNet)) (+ the input)."""

    def __init__(self, block: Block, cfg: dict):
        super().__init__()
        e, act = block.expanded, block.act
        self.expand = conv_bn(block.cin, e, 1, cfg=cfg, act=act) if e != block.cin else None
        self.dw = conv_bn(e, e, block.kernel, block.stride, block.kernel // 2, cfg=cfg, groups=e, act=act)
        self.se = SqueezeExcitation(e, block.se, cfg["se_gate"], cfg.get("se_activation", "relu")) if block.se else None
        self.project = conv_bn(e, block.out, 1, cfg=cfg, relu=False)
        self._residual(block)

    def forward(self, x):
        y = self.dw(x if self.expand is None else self.expand(x))
        return self._plus_input(x, self.project(y if self.se is None else self.se(y)))


class _MobileNet(nn.Sequential):
    def _body(self, cfg: dict, in_channels: int, blocks: Iterable[Block],
              module: Callable[[Block, dict], nn.Module] = InvertedResidual) -> int:
        """The stem and the stages of blocks, each built by ``module`` (EfficientNetV2: its Fused-MBConv blocks
        too); returns the channels they end with."""
        _, kernel, stride, padding = cfg["stem"]
        self.add_module("stem", conv_bn(in_channels, stem_channels(cfg), kernel, stride, padding, cfg=cfg,
                                        act=cfg["activation"]))
        stages: dict[str, list] = {}
        for block in blocks:
            stage, name, _ = block.prefix.split(".")
            stages.setdefault(stage, []).append((name, module(block, cfg)))
        for stage, members in stages.items():
            self.add_module(stage, seq(*members))
        return block.out


class MobileNetV2(_MobileNet):
    """stem (3x3/2 conv), stage1..stage7 of inverted residual blocks, head (1x1 conv, pool, dropout, fc)."""

    def __init__(self, cfg: dict, in_channels: int, num_classes: int):
        super().__init__()
        c = self._body(cfg, in_channels, blocks_v2(cfg))  # N x 320 x 7 x 7
        head = conv_bn(c, v2_head_channels(cfg), 1, cfg=cfg, act=cfg["activation"])  # N x 1280 x 7 x 7
        for name, module in classifier_head(v2_head_channels(cfg), num_classes, 1, cfg["dropout"]).named_children():
            head.add_module(name, module)
        self.add_module("head", head)


class MobileNetV3(_MobileNet):
    """stem (3x3/2 conv), stages of inverted residual blocks, head (1x1 conv to 6x, pool, fc1, hard-swish,
    dropout, fc)."""

    def __init__(self, cfg: dict, in_channels: int, num_classes: int):
        super().__init__()
        act = cfg["activation"]
        c = self._body(cfg, in_channels, blocks_v3(cfg))  # N x 160 (large) or 96 (small) x 7 x 7
        wide, hidden = cfg["head_expansion"] * c, v3_classifier_width(cfg)
        head = conv_bn(c, wide, 1, cfg=cfg, act=act)  # N x 960 or 576 x 7 x 7
        for name, module in (("pool", nn.AdaptiveAvgPool2d(1)), ("flatten", nn.Flatten(1)),
                             ("fc1", nn.Linear(wide, hidden)), (f"{act}1", activation(act)),
                             ("drop", nn.Dropout(cfg["dropout"])), ("fc", nn.Linear(hidden, num_classes))):
            head.add_module(name, module)
        self.add_module("head", head)


_OPTIONS = "224x224 input; options width_mult, dropout, bn_eps."
mobilenet_v2 = register_family("mobilenet_v2", MobileNetV2, f"MobileNetV2 (Sandler et al., 2018), torchvision's; {_OPTIONS}")
mobilenet_v3_large = register_family("mobilenet_v3_large", MobileNetV3,
                                     f"MobileNetV3-Large (Howard et al., 2019); {_OPTIONS}")
mobilenet_v3_small = register_family("mobilenet_v3_small", MobileNetV3,
                                     f"MobileNetV3-Small (Howard et al., 2019); {_OPTIONS}")
