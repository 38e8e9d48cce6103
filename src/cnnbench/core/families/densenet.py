"""DenseNet-BC (Huang et al., 2017): its specs and its topology."""
from __future__ import annotations

from typing import Mapping

from cnnbench.core.ops import Ops, Tensor, batchnorm
from cnnbench.core.options import BN_EPS
from cnnbench.core.specs import ModelSpec, frozen, register


def dense_layer(ops: Ops, p: str, x: Tensor, cfg: Mapping) -> Tensor:
    """BN -> ReLU -> 1x1 conv (bn_size * k) -> BN -> ReLU -> 3x3 conv (k), concatenated to its input."""
    k, width, bn = cfg["growth_rate"], cfg["bn_size"] * cfg["growth_rate"], batchnorm(cfg)
    y = ops.relu(p + "relu1", ops.bn(p + "bn1", x, **bn))
    y = ops.conv(p + "conv1", y, width, 1, bias=False)
    y = ops.relu(p + "relu2", ops.bn(p + "bn2", y, **bn))
    y = ops.conv(p + "conv2", y, k, 3, padding=1, bias=False)
    return ops.concat(p + "concat", [x, y])


def densenet(ops: Ops, cfg: Mapping, num_classes: int):
    """stem, block1 transition1 ... block4, head (BN, ReLU, global pool, fc)."""
    bn = batchnorm(cfg)
    filters, kernel, stride, padding = cfg["stem"]
    x = ops.conv("stem.conv", ops.input, filters, kernel, stride, padding, bias=False)
    x = ops.relu("stem.relu", ops.bn("stem.bn", x, **bn))
    x = ops.maxpool("stem.pool", x, *cfg["stem_pool"])  # 64 x 56 x 56
    for b, n_layers in enumerate(cfg["blocks"], start=1):
        for i in range(1, n_layers + 1):
            x = dense_layer(ops, f"block{b}.layer{i}.", x, cfg)
        if b < len(cfg["blocks"]):
            p = f"transition{b}."
            y = ops.relu(p + "relu", ops.bn(p + "bn", x, **bn))
            y = ops.conv(p + "conv", y, int(ops.channels(x) * cfg["compression"]), 1, bias=False)
            x = ops.avgpool(p + "pool", y, *cfg["transition_pool"])
    x = ops.relu("head.relu", ops.bn("head.bn", x, **bn))
    x = ops.adaptive_avgpool("head.pool", x, 1)  # 1024 (121) .. 1920 (201) x 1 x 1
    x = ops.flatten("head.flatten", x)
    return ops.output(ops.linear("head.fc", x, num_classes))


# ------------------------------------------------------------------ the specs
def _densenet(depth: int, blocks: tuple[int, ...], params: int) -> ModelSpec:
    return ModelSpec(
        name=f"densenet{depth}",
        paper="Huang et al., Densely Connected Convolutional Networks, 2017 (DenseNet-BC)",
        published="2016-08-25",  # arXiv:1608.06993 v1
        topology=densenet,
        input_size=224,
        in_channels=3,
        config=frozen(
            blocks=blocks,
            growth_rate=32,
            bn_size=4,  # bottleneck width = bn_size * growth_rate
            compression=0.5,
            transition_pool=(2, 2),  # average pool of each transition: kernel, stride
            stem=(64, 7, 2, 3),
            stem_pool=(3, 2, 1),
            bn_eps=1e-5,
            bn_momentum=0.1,
        ),
        options=frozen(bn_eps=BN_EPS),
        reference_params=params,
        reference_source=(
            f"torchvision.models.densenet{depth} published num_params; "
            "keras.applications agrees on the trainable count"
        ),
    )


register(
    _densenet(121, (6, 12, 24, 16), 7_978_856),
    _densenet(169, (6, 12, 32, 32), 14_149_480),
    _densenet(201, (6, 12, 48, 32), 20_013_928),
)
