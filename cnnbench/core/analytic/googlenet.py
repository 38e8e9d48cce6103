"""GoogLeNet (Inception v1, Szegedy et al., 2014) with BatchNorm: its topology, for every implementation of the ops."""
from __future__ import annotations

from typing import Mapping

from cnnbench.core.ops import Ops, Tensor, batchnorm


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
