"""RegNet-Y (Radosavovic et al., 2020) in PyTorch, as torchvision's ``regnet_y_400mf`` and ``regnet_y_1_6gf``."""
from __future__ import annotations

from torch import nn

from cnnbench.core.families.regnet import Block, blocks
from cnnbench.models_torch._common import Add, classifier_head, conv_bn, register_family, seq
from cnnbench.models_torch.mobilenet import SqueezeExcitation

__all__ = ["regnet_y_400mf", "regnet_y_1_6gf"]


class ResBottleneckBlock(nn.Module):
    """1x1 conv -> 3x3 grouped conv -> SE -> linear 1x1 conv (``a``, ``b``, ``se``, ``c``: torchvision's names),
    plus the input (``proj``: 1x1 conv + BN where the shape changes), then ReLU."""

    def __init__(self, block: Block, cfg: dict):
        super().__init__()
        w_b = block.bottleneck
        self.a = conv_bn(block.cin, w_b, 1, cfg=cfg)
        self.b = conv_bn(w_b, w_b, 3, block.stride, 1, cfg=cfg, groups=block.groups)
        self.se = SqueezeExcitation(w_b, block.se, cfg["se_gate"])
        self.c = conv_bn(w_b, block.out, 1, cfg=cfg, relu=False)
        shape_changes = block.stride != 1 or block.cin != block.out
        self.proj = conv_bn(block.cin, block.out, 1, block.stride, cfg=cfg, relu=False) if shape_changes else None
        self.add = Add()
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x):
        y = self.c(self.se(self.b(self.a(x))))
        return self.relu(self.add(y, x if self.proj is None else self.proj(x)))


class RegNet(nn.Sequential):
    """stem (3x3/2 conv, BN, ReLU), stage1..stage4 of residual bottleneck blocks, head (pool, fc)."""

    def __init__(self, cfg: dict, in_channels: int, num_classes: int):
        super().__init__()
        self.add_module("stem", conv_bn(in_channels, *cfg["stem"], cfg=cfg))  # N x 32 x 112 x 112
        stages: dict[str, list] = {}
        for block in blocks(cfg):
            stage, name, _ = block.prefix.split(".")
            stages.setdefault(stage, []).append((name, ResBottleneckBlock(block, cfg)))
        for stage, members in stages.items():
            self.add_module(stage, seq(*members))  # N x width x 56/2^(s-1) x 56/2^(s-1)
        self.add_module("head", classifier_head(block.out, num_classes, 1, None))


_OPTIONS = "224x224 input; option bn_eps."
regnet_y_400mf = register_family("regnet_y_400mf", RegNet, f"RegNetY-400MF (Radosavovic et al., 2020), torchvision's; "
                                 f"{_OPTIONS}")
regnet_y_1_6gf = register_family("regnet_y_1_6gf", RegNet, f"RegNetY-1.6GF (Radosavovic et al., 2020), torchvision's; "
                                 f"{_OPTIONS}")
