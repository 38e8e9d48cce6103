"""GoogLeNet (Inception v1, Szegedy et al., 2014) with BatchNorm: its spec and its topology."""
from __future__ import annotations

from typing import Mapping

from cnnbench.core.ops import Ops, Tensor, batchnorm
from cnnbench.core.options import DROPOUT, Flag, OneOf
from cnnbench.core.specs import ModelSpec, Variant, frozen, register


def inception(ops: Ops, p: str, x: Tensor, widths, cfg: Mapping) -> Tensor:
    """Four branches: 1x1 | 1x1 -> 3x3 | 1x1 -> kxk (5x5 in the paper) | 3x3 max pool -> 1x1."""
    c1, r3, c3, r5, c5, proj = widths
    k, bn = cfg["branch3_kernel"], batchnorm(cfg)
    b1 = ops.conv_bn(p + "branch1.", x, c1, 1, **bn)
    b2 = ops.conv_bn(p + "branch2.reduce.", x, r3, 1, **bn)
    b2 = ops.conv_bn(p + "branch2.", b2, c3, 3, padding=1, **bn)
    b3 = ops.conv_bn(p + "branch3.reduce.", x, r5, 1, **bn)
    b3 = ops.conv_bn(p + "branch3.", b3, c5, k, padding=k // 2, **bn)
    b4 = ops.maxpool(p + "branch4.pool", x, *cfg["branch4_pool"], ceil_mode=cfg["ceil_mode"])
    b4 = ops.conv_bn(p + "branch4.", b4, proj, 1, **bn)
    return ops.concat(p + "concat", [b1, b2, b3, b4])


def inception_aux(ops: Ops, p: str, x: Tensor, cfg: Mapping, num_classes: int) -> Tensor:
    """Adaptive 4x4 average pool -> 1x1 conv (128) -> fc 1024 -> dropout 0.7 -> fc."""
    x = ops.adaptive_avgpool(p + "pool", x, cfg["aux_pool"])
    x = ops.conv_bn(p + "proj.", x, cfg["aux_proj"], 1, **batchnorm(cfg))
    x = ops.flatten(p + "flatten", x)
    x = ops.relu(p + "relu", ops.linear(p + "fc1", x, cfg["aux_fc"]))
    x = ops.dropout(p + "drop", x, cfg["aux_dropout"])
    return ops.linear(p + "fc", x, num_classes)


def googlenet(ops: Ops, cfg: Mapping, num_classes: int):
    """stem, inception3a..5b with max pools between stages, head; aux heads (training only) with
    ``aux_logits``."""
    k, s, stem, ceil = cfg["pool_size"], cfg["pool_stride"], cfg["stem"], cfg["ceil_mode"]
    x = ops.conv_bn("stem.conv1.", ops.input, *stem["conv1"], **batchnorm(cfg))  # 64 x 112 x 112
    x = ops.maxpool("stem.pool1", x, k, s, ceil_mode=ceil)  # 64 x 56 x 56
    x = ops.conv_bn("stem.conv2.", x, *stem["conv2"], **batchnorm(cfg))
    x = ops.conv_bn("stem.conv3.", x, *stem["conv3"], **batchnorm(cfg))  # 192 x 56 x 56
    x = ops.maxpool("stem.pool2", x, k, s, ceil_mode=ceil)  # 192 x 28 x 28
    aux = []
    for name, widths in cfg["modules"]:
        x = inception(ops, name + ".", x, widths, cfg)
        if name in cfg["pools_after"]:
            pool_name, pool_k = cfg["pools_after"][name]
            x = ops.maxpool(pool_name, x, pool_k, s, ceil_mode=ceil)
        if cfg["aux_logits"] and name in cfg["aux_after"]:
            aux.append(inception_aux(ops, f"aux{len(aux) + 1}.", x, cfg, num_classes))
    x = ops.adaptive_avgpool("head.pool", x, 1)  # 1024 x 1 x 1
    x = ops.flatten("head.flatten", x)
    x = ops.dropout("head.drop", x, cfg["dropout"])
    return ops.output(ops.linear("head.fc", x, num_classes), *aux, aux_weight=cfg["aux_weight"])


# ------------------------------------------------------------------ the specs
register(ModelSpec(
    name="googlenet",
    paper="Szegedy et al., Going Deeper with Convolutions, 2014 (Inception v1), with BatchNorm",
    published="2014-09-17",  # arXiv:1409.4842 v1
    topology=googlenet,
    input_size=224,
    in_channels=3,
    config=frozen(
        # stem: conv 7x7/2 (64), maxpool 3/2, conv 1x1 (64), conv 3x3 (192), maxpool 3/2
        stem=dict(conv1=(64, 7, 2, 3), conv2=(64, 1, 1, 0), conv3=(192, 3, 1, 1)),
        pool_size=3,
        pool_stride=2,
        # The paper's Table 1: #1x1, #3x3 reduce, #3x3, #5x5 reduce, #5x5, pool proj.
        modules=(
            ("inception3a", (64, 96, 128, 16, 32, 32)),
            ("inception3b", (128, 128, 192, 32, 96, 64)),
            ("inception4a", (192, 96, 208, 16, 48, 64)),
            ("inception4b", (160, 112, 224, 24, 64, 64)),
            ("inception4c", (128, 128, 256, 24, 64, 64)),
            ("inception4d", (112, 144, 288, 32, 64, 64)),
            ("inception4e", (256, 160, 320, 32, 128, 128)),
            ("inception5a", (256, 160, 320, 32, 128, 128)),
            ("inception5b", (384, 192, 384, 48, 128, 128)),
        ),
        # max pools (name, kernel) between the stages; the last is 2x2/2 in torchvision
        pools_after=frozen(inception3b=("pool3", 3), inception4e=("pool4", 2)),
        branch4_pool=(3, 1, 1),  # the max pool of each module's branch 4: kernel, stride, padding
        ceil_mode=True,  # every max pool rounds its output size up (torchvision)
        branch3_kernel=5,  # the paper; torchvision uses 3 (kept for its weights)
        bn_eps=1e-3,
        bn_momentum=0.1,
        dropout=0.2,
        aux_logits=False,
        # auxiliary heads after inception4a and inception4d (torchvision's layout)
        aux_after=("inception4a", "inception4d"),
        aux_pool=4,  # adaptive average pool to 4x4
        aux_proj=128,
        aux_fc=1024,
        aux_dropout=0.7,
        aux_weight=0.3,
    ),
    options=frozen(aux_logits=Flag(), branch3_kernel=OneOf(3, 5), dropout=DROPOUT),
    reference_params=7_005_832,
    reference_source=(
        "paper's module table with BN, hand arithmetic: torchvision googlenet 6,624,904 "
        "with 3x3 in branch 3, plus the 5x5-vs-3x3 difference of its nine modules (380,928)"
    ),
    variants=(
        Variant({"aux_logits": True}, 13_385_816, "7,005,832 + torchvision's two aux heads (6,379,984)"),
        Variant({"branch3_kernel": 3}, 6_624_904, "torchvision.models.googlenet published num_params"),
        Variant(
            {"branch3_kernel": 3, "aux_logits": True},
            13_004_888,
            "torchvision.models.googlenet(aux_logits=True) parameter count",
        ),
    ),
))
