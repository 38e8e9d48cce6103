"""VGG (Simonyan & Zisserman, 2014): one table of stage widths expanded by one topology."""
from __future__ import annotations

from typing import Mapping

from cnnbench.core.ops import Ops, batchnorm
from cnnbench.core.options import DROPOUT
from cnnbench.core.specs import ModelSpec, frozen, register


def vgg(ops: Ops, cfg: Mapping, num_classes: int):
    """stage1..stage5 (3x3 convs [-> BN] -> relu, then a 2x2 max pool), head (pool 7x7 -> 3 dense)."""
    x = ops.input
    for s, widths in enumerate(cfg["stages"], start=1):
        for i, filters in enumerate(widths, start=1):
            x = ops.conv(f"stage{s}.conv{i}", x, filters, cfg["kernel"], padding=cfg["padding"])
            if cfg["batch_norm"]:
                x = ops.bn(f"stage{s}.bn{i}", x, **batchnorm(cfg))
            x = ops.relu(f"stage{s}.relu{i}", x)
        x = ops.maxpool(f"stage{s}.pool", x, cfg["pool_size"], cfg["pool_size"])
    x = ops.adaptive_avgpool("head.pool", x, cfg["head_pool"])  # 512 x 7 x 7
    x = ops.flatten("head.flatten", x)  # 25088
    for i, units in enumerate(cfg["fc"], start=1):
        x = ops.linear(f"head.fc{i}", x, units)
        x = ops.relu(f"head.relu{i}", x)
        x = ops.dropout(f"head.drop{i}", x, cfg["dropout"])
    return ops.output(ops.linear("head.fc", x, num_classes))


# ------------------------------------------------------------------ the specs
_VGG_STAGES = {
    11: ((64,), (128,), (256, 256), (512, 512), (512, 512)),
    13: ((64, 64), (128, 128), (256, 256), (512, 512), (512, 512)),
    16: ((64, 64), (128, 128), (256, 256, 256), (512, 512, 512), (512, 512, 512)),
    19: ((64, 64), (128, 128), (256,) * 4, (512,) * 4, (512,) * 4),
}


def _vgg(depth: int, batch_norm: bool, params: int, source: str) -> ModelSpec:
    return ModelSpec(
        name=f"vgg{depth}" + ("_bn" if batch_norm else ""),
        paper="Simonyan & Zisserman, Very Deep Convolutional Networks, 2014",
        published="2014-09-04",  # arXiv:1409.1556 v1
        topology=vgg,
        input_size=224,
        in_channels=3,
        config=frozen(
            stages=_VGG_STAGES[depth],
            kernel=3,
            padding=1,
            pool_size=2,
            batch_norm=batch_norm,
            bn_eps=1e-5,
            bn_momentum=0.1,
            head_pool=7,
            fc=(4096, 4096),
            dropout=0.5,
        ),
        options=frozen(dropout=DROPOUT),
        reference_params=params,
        reference_source=source,
    )


_TV = "torchvision.models.{} published num_params"
register(
    _vgg(11, False, 132_863_336, _TV.format("vgg11")),
    _vgg(13, False, 133_047_848, _TV.format("vgg13")),
    _vgg(16, False, 138_357_544, _TV.format("vgg16") + "; seed 000 Keras summary"),
    _vgg(19, False, 143_667_240, _TV.format("vgg19")),
    _vgg(11, True, 132_868_840, _TV.format("vgg11_bn")),
    _vgg(13, True, 133_053_736, _TV.format("vgg13_bn")),
    _vgg(16, True, 138_365_992, _TV.format("vgg16_bn")),
    _vgg(19, True, 143_678_248, _TV.format("vgg19_bn")),
)
