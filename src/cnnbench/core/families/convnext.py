"""ConvNeXt-Tiny (Liu et al., 2022): a ResNet modernised toward a vision transformer; its spec and topology.

As torchvision's ``convnext_tiny`` (torchvision/models/convnext.py): a 4x4/4 "patchify" stem conv (with bias)
and a LayerNorm over channels; four stages of (3, 3, 9, 3) blocks at widths (96, 192, 384, 768), each block a
7x7 depthwise conv (with bias), LayerNorm over channels (eps 1e-6), a pointwise dense layer to 4x the width,
GELU (exact, with erf), a pointwise dense layer back, layer scale (a learned per-channel factor, initialised
to 1e-6) and stochastic depth on the branch, added to the input; between stages a LayerNorm and a 2x2/2 conv;
the head a global average pool, a LayerNorm, flatten and the classifier. Stochastic depth rises linearly from
0 at the first block to ``stochastic_depth_prob`` (0.1) at the last: rate_i = 0.1 x i / (blocks - 1).

keras.applications.ConvNeXtTiny (weights=None, include_top=True) has the same 28,589,128 trainable weights in
the same layers (LayerNorm eps 1e-6, exact GELU, layer scale initialised to 1e-6, no non-trainable weights),
but differs in three ways: its ``drop_path_rate`` defaults to 0 (an identity layer where the drop path goes;
torchvision and this model train with 0.1), its depthwise convs are grouped ``Conv2D`` layers (kernel 7 x 7 x
1 x C, groups C) where ours are ``DepthwiseConv2D``, and it adds an input ``Normalization`` layer and a
softmax after the classifier (ours returns logits).
"""
from __future__ import annotations

from typing import Mapping

from cnnbench.core.ops import Ops, Tensor
from cnnbench.core.options import DROPOUT
from cnnbench.core.specs import ModelSpec, frozen, register


def drop_rates(cfg: Mapping) -> list[float]:
    """Each block's stochastic depth rate, first to last: ``stochastic_depth_prob`` x i / (blocks - 1)
    (torchvision's expression, so the floats are the same)."""
    total = sum(cfg["depths"])
    return [cfg["stochastic_depth_prob"] * i / (total - 1.0) for i in range(total)]


def block(ops: Ops, p: str, x: Tensor, rate: float, cfg: Mapping) -> Tensor:
    """7x7 depthwise conv -> LayerNorm -> dense 4x -> GELU -> dense back -> layer scale -> drop path, + x."""
    c, k = ops.channels(x), cfg["dw_kernel"]
    y = ops.conv(p + "dwconv", x, c, k, 1, k // 2, bias=True, groups=c)
    y = ops.layer_norm(p + "norm", y, eps=cfg["ln_eps"])
    y = ops.act(p + "gelu", ops.linear(p + "fc1", y, cfg["mlp_ratio"] * c), "gelu")
    y = ops.layer_scale(p + "layer_scale", ops.linear(p + "fc2", y, c), cfg["layer_scale"])
    return ops.add(p + "add", [x, ops.drop_path(p + "drop_path", y, rate)])


def convnext(ops: Ops, cfg: Mapping, num_classes: int):
    """stem (4x4/4 conv, LayerNorm), stage1..stage4 of blocks with downsampling (LayerNorm, 2x2/2 conv) between
    them, head (pool, LayerNorm, flatten, fc)."""
    eps, widths, rates = cfg["ln_eps"], cfg["widths"], iter(drop_rates(cfg))
    kernel = cfg["patch"]
    x = ops.conv("stem.conv", ops.input, widths[0], kernel, kernel, bias=True)  # 96 x 56 x 56
    x = ops.layer_norm("stem.norm", x, eps=eps)
    for s, (width, depth) in enumerate(zip(widths, cfg["depths"]), start=1):
        if s > 1:  # 192 x 28 x 28, 384 x 14 x 14, 768 x 7 x 7
            x = ops.layer_norm(f"stage{s}.downsample.norm", x, eps=eps)
            x = ops.conv(f"stage{s}.downsample.conv", x, width, 2, 2, bias=True)
        for b in range(1, depth + 1):
            x = block(ops, f"stage{s}.block{b}.", x, next(rates), cfg)
    x = ops.layer_norm("head.norm", ops.adaptive_avgpool("head.pool", x, 1), eps=eps)
    return ops.output(ops.linear("head.fc", ops.flatten("head.flatten", x), num_classes))


register(ModelSpec(
    name="convnext_tiny",
    paper="Liu et al., A ConvNet for the 2020s, 2022 (ConvNeXt-T)",
    published="2022-01-10",  # arXiv:2201.03545 v1
    topology=convnext,
    input_size=224,
    in_channels=3,
    config=frozen(
        patch=4,  # the stem: a patch x patch conv at stride patch
        widths=(96, 192, 384, 768),
        depths=(3, 3, 9, 3),
        dw_kernel=7,
        mlp_ratio=4,  # the pointwise layers' hidden width: 4 x the block's
        layer_scale=1e-6,  # layer scale's initial value
        ln_eps=1e-6,
        stochastic_depth_prob=0.1,
    ),
    options=frozen(stochastic_depth_prob=DROPOUT),
    reference_params=28_589_128,
    reference_source=("torchvision.models.convnext_tiny published num_params (ConvNeXt_Tiny_Weights.IMAGENET1K_V1); "
                      "keras.applications.ConvNeXtTiny(include_top=True) trainable params agree "
                      "(tests/test_keras_applications.py builds it)"),
))
