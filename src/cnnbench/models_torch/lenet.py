"""LeNet-5 (LeCun et al., 1998) in PyTorch, as the seeds define it."""
from __future__ import annotations

from torch import nn

from cnnbench.models_torch._common import ACTIVATIONS, flat_features, register_builder, resolve, seq, tag

__all__ = ["lenet5"]


class LeNet(nn.Sequential):
    """stage1, stage2 (conv -> act -> pool), head (flatten -> fc1 -> fc2 -> fc)."""

    def __init__(self, cfg: dict, in_channels: int, flat: int, num_classes: int):
        act = ACTIVATIONS[cfg["activation"]]
        pool = nn.MaxPool2d if cfg["pool"] == "max" else nn.AvgPool2d
        k = cfg["pool_size"]
        super().__init__()
        c = in_channels
        for i, (filters, kernel, padding) in enumerate(cfg["convs"], start=1):
            self.add_module(f"stage{i}", seq(
                ("conv", nn.Conv2d(c, filters, kernel, padding=padding)),  # N x filters x H x W
                ("act", act()),
                ("pool", pool(k, k)),
            ))
            c = filters
        head, n = [("flatten", nn.Flatten(1))], flat  # N x 400 at 28x28
        for i, units in enumerate(cfg["fc"], start=1):
            head += [(f"fc{i}", nn.Linear(n, units)), (f"act{i}", act())]
            n = units
        head.append(("fc", nn.Linear(n, num_classes)))
        self.add_module("head", seq(*head))


@register_builder
def lenet5(*, num_classes: int | None = None, input_size: int | None = None, **options) -> nn.Module:
    """LeNet-5 (LeCun et al., 1998): two 5x5 conv/pool stages, dense 120-84-N; 28x28x1 input."""
    spec, cfg, size, num_classes = resolve("lenet5", num_classes, input_size, options)
    model = LeNet(cfg, spec.in_channels, flat_features("lenet5", size, options), num_classes)
    return tag(model, spec, num_classes, size, options)
