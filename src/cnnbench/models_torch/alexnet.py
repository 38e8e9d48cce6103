"""AlexNet (Krizhevsky et al., 2012), single tower as in torchvision, in PyTorch."""
from __future__ import annotations

from torch import nn

from cnnbench.models_torch._common import register_builder, resolve, seq, tag

__all__ = ["alexnet"]


class AlexNet(nn.Sequential):
    """stage1..stage5 (conv -> relu [-> pool]), head (pool 6x6 -> flatten -> 3 dense)."""

    def __init__(self, cfg: dict, in_channels: int, num_classes: int):
        super().__init__()
        c = in_channels
        for i, (filters, kernel, stride, padding, pool) in enumerate(cfg["stages"], start=1):
            layers = [("conv", nn.Conv2d(c, filters, kernel, stride, padding)), ("relu", nn.ReLU(inplace=True))]
            if pool:
                layers.append(("pool", nn.MaxPool2d(cfg["pool_size"], cfg["pool_stride"])))
            self.add_module(f"stage{i}", seq(*layers))
            c = filters
        head = [("pool", nn.AdaptiveAvgPool2d(cfg["head_pool"])), ("flatten", nn.Flatten(1))]
        n = c * cfg["head_pool"] ** 2  # N x 9216
        for i, units in enumerate(cfg["fc"], start=1):
            head += [
                (f"drop{i}", nn.Dropout(cfg["dropout"])),
                (f"fc{i}", nn.Linear(n, units)),
                (f"relu{i}", nn.ReLU(inplace=True)),
            ]
            n = units
        head.append(("fc", nn.Linear(n, num_classes)))
        self.add_module("head", seq(*head))


@register_builder
def alexnet(*, num_classes: int | None = None, input_size: int | None = None, **options) -> nn.Module:
    """AlexNet (Krizhevsky et al., 2012), torchvision's single-tower variant; 224x224 input."""
    spec, cfg, size, num_classes = resolve("alexnet", num_classes, input_size, options)
    return tag(AlexNet(cfg, spec.in_channels, num_classes), spec, num_classes, size, options)
