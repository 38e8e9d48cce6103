"""MNASNet (Tan et al., 2018) in PyTorch, as torchvision's ``mnasnet0_5`` and ``mnasnet1_0``: MobileNet's inverted
residual module with ReLU and 3x3 or 5x5 depthwise convs, a head conv to 1280 channels."""
from __future__ import annotations

from torch import nn

from cnnbench.core.families.mnasnet import blocks
from cnnbench.models_torch._common import classifier_head, conv_bn, register_builder, resolve, tag
from cnnbench.models_torch.mobilenet import _MobileNet

__all__ = ["mnasnet0_5", "mnasnet1_0"]


class MNASNet(_MobileNet):
    """stem (3x3/2 conv), stage1 (depthwise separable) .. stage7 of inverted residual blocks, head (1x1 conv,
    pool, dropout, fc)."""

    def __init__(self, cfg: dict, in_channels: int, num_classes: int):
        super().__init__()
        c = self._body(cfg, in_channels, blocks(cfg))  # N x 320 x 7 x 7 (alpha 1)
        head = conv_bn(c, cfg["head_channels"], 1, cfg=cfg, act=cfg["activation"])  # N x 1280 x 7 x 7
        for name, module in classifier_head(cfg["head_channels"], num_classes, 1, cfg["dropout"]).named_children():
            head.add_module(name, module)
        self.add_module("head", head)


def _build(name: str, num_classes: int | None, input_size: int | None, options: dict) -> nn.Module:
    spec, cfg, size, num_classes = resolve(name, num_classes, input_size, options)
    return tag(MNASNet(cfg, spec.in_channels, num_classes), spec, num_classes, size, options)


@register_builder
def mnasnet0_5(*, num_classes: int | None = None, input_size: int | None = None, **options) -> nn.Module:
    """MNASNet with depth multiplier 0.5 (Tan et al., 2018), torchvision's; 224x224 input; options width_mult,
    dropout, bn_eps."""
    return _build("mnasnet0_5", num_classes, input_size, options)


@register_builder
def mnasnet1_0(*, num_classes: int | None = None, input_size: int | None = None, **options) -> nn.Module:
    """MNASNet with depth multiplier 1.0 (Tan et al., 2018), torchvision's; 224x224 input; options width_mult,
    dropout, bn_eps."""
    return _build("mnasnet1_0", num_classes, input_size, options)
