"""VGG (Simonyan & Zisserman, 2014) in PyTorch: one table expanded by one builder."""
from __future__ import annotations

from torch import nn

from cnnbench.models_torch._common import bn, register_family, seq

__all__ = ["vgg11", "vgg13", "vgg16", "vgg19", "vgg11_bn", "vgg13_bn", "vgg16_bn", "vgg19_bn"]


class VGG(nn.Sequential):
    """stage1..stage5 (3x3 convs [-> BN] -> relu, then 2x2 max pool), head (pool 7x7 -> 3 dense)."""

    def __init__(self, cfg: dict, in_channels: int, num_classes: int):
        super().__init__()
        c = in_channels
        for s, widths in enumerate(cfg["stages"], start=1):
            layers = []
            for i, filters in enumerate(widths, start=1):
                layers.append((f"conv{i}", nn.Conv2d(c, filters, cfg["kernel"], padding=cfg["padding"])))
                if cfg["batch_norm"]:
                    layers.append((f"bn{i}", bn(filters, cfg)))
                layers.append((f"relu{i}", nn.ReLU(inplace=True)))
                c = filters
            layers.append(("pool", nn.MaxPool2d(cfg["pool_size"], cfg["pool_size"])))
            self.add_module(f"stage{s}", seq(*layers))
        head = [("pool", nn.AdaptiveAvgPool2d(cfg["head_pool"])), ("flatten", nn.Flatten(1))]
        n = c * cfg["head_pool"] ** 2  # N x 25088
        for i, units in enumerate(cfg["fc"], start=1):
            head += [
                (f"fc{i}", nn.Linear(n, units)),
                (f"relu{i}", nn.ReLU(inplace=True)),
                (f"drop{i}", nn.Dropout(cfg["dropout"])),
            ]
            n = units
        head.append(("fc", nn.Linear(n, num_classes)))
        self.add_module("head", seq(*head))


def _register(name: str):
    return register_family(name, VGG, f"{name.upper()} (Simonyan & Zisserman, 2014); 224x224 input.")


vgg11, vgg13, vgg16, vgg19 = (_register(n) for n in ("vgg11", "vgg13", "vgg16", "vgg19"))
vgg11_bn, vgg13_bn, vgg16_bn, vgg19_bn = (_register(n) for n in ("vgg11_bn", "vgg13_bn", "vgg16_bn", "vgg19_bn"))
