"""EfficientNet-B0..B3 (Tan and Le, 2019) and EfficientNetV2-S (Tan and Le, 2021) in PyTorch, as torchvision's
``efficientnet_b0`` .. ``efficientnet_b3`` and ``efficientnet_v2_s``: MobileNet's inverted residual module with SE
(SiLU, sigmoid gate) and drop path on the residual branch; V2-S's first stages of Fused-MBConv blocks."""
from __future__ import annotations

from torch import nn

from cnnbench.core.families.efficientnet import blocks, head_channels
from cnnbench.core.families.mobilenet import Block
from cnnbench.models_torch._common import classifier_head, conv_bn, register_family
from cnnbench.models_torch.mobilenet import InvertedResidual, ResidualBlock, _MobileNet

__all__ = ["efficientnet_b0", "efficientnet_b1", "efficientnet_b2", "efficientnet_b3", "efficientnet_v2_s"]


class FusedMBConv(ResidualBlock):
    """kxk conv with the stride to the expanded width (SiLU) -> linear 1x1 projection, or at expansion 1 the kxk conv
    alone (SiLU); no SE (-> drop path) (+ the input)."""

    def __init__(self, block: Block, cfg: dict):
        super().__init__()
        expands = block.expanded != block.cin
        self.fused = conv_bn(block.cin, block.expanded if expands else block.out, block.kernel, block.stride,
                             block.kernel // 2, cfg=cfg, act=block.act)
        self.project = conv_bn(block.expanded, block.out, 1, cfg=cfg, relu=False) if expands else None
        self._residual(block)

    def forward(self, x):
        y = self.fused(x)
        return self._plus_input(x, y if self.project is None else self.project(y))


def _block(block: Block, cfg: dict) -> nn.Module:
    return FusedMBConv(block, cfg) if block.fused else InvertedResidual(block, cfg)


class EfficientNet(_MobileNet):
    """stem (3x3/2 conv, SiLU), stage1..stage7 of MBConv blocks (V2-S: stage1..stage3 of Fused-MBConv blocks,
    stage4..stage6 of MBConv blocks), head (1x1 conv, SiLU, pool, dropout, fc)."""

    def __init__(self, cfg: dict, in_channels: int, num_classes: int):
        super().__init__()
        c = self._body(cfg, in_channels, blocks(cfg), _block)  # B0: N x 320 x 7 x 7
        wide = head_channels(cfg)
        head = conv_bn(c, wide, 1, cfg=cfg, act=cfg["activation"])  # B0: N x 1280 x 7 x 7
        for name, module in classifier_head(wide, num_classes, 1, cfg["dropout"]).named_children():
            head.add_module(name, module)
        self.add_module("head", head)


_OPTIONS = "options dropout, stochastic_depth_prob, bn_eps."
efficientnet_b0 = register_family("efficientnet_b0", EfficientNet,
                                  f"EfficientNet-B0 (Tan and Le, 2019); 224x224 input; {_OPTIONS}")
efficientnet_b1 = register_family("efficientnet_b1", EfficientNet, f"EfficientNet-B1; 240x240 input; {_OPTIONS}")
efficientnet_b2 = register_family("efficientnet_b2", EfficientNet, f"EfficientNet-B2; 260x260 input; {_OPTIONS}")
efficientnet_b3 = register_family("efficientnet_b3", EfficientNet, f"EfficientNet-B3; 300x300 input; {_OPTIONS}")
efficientnet_v2_s = register_family("efficientnet_v2_s", EfficientNet,
                                    f"EfficientNetV2-S (Tan and Le, 2021); 384x384 input; {_OPTIONS}")
