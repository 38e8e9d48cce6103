"""Cross-checks against keras.applications, built here with weights=None (nothing downloaded)."""
from __future__ import annotations

import numpy as np
import pytest

import cnnbench
from references import KERAS_APPLICATIONS_EXTRA_FROZEN


def _counts(model) -> tuple[int, int]:
    count = lambda ws: sum(int(np.prod(w.shape)) for w in ws)  # noqa: E731
    return count(model.trainable_weights), count(model.non_trainable_weights)


def _check(reference, mine, app: str) -> None:
    ref_trainable, ref_frozen = _counts(reference)
    my_trainable, my_frozen = _counts(mine)
    assert my_trainable == ref_trainable
    if not app.startswith("VGG"):
        # keras.applications' DenseNet/ResNet keep the same BN statistics (EfficientNet: and its input
        # Normalization layer's weights)
        assert my_frozen == ref_frozen - KERAS_APPLICATIONS_EXTRA_FROZEN.get(app, 0)


@pytest.mark.parametrize("default_pair,app", [("densenet121", "DenseNet121"), ("densenet169", "DenseNet169"),
                                              ("densenet201", "DenseNet201"), ("vgg16", "VGG16"), ("vgg19", "VGG19"),
                                              ("mobilenet_v2", "MobileNetV2"),
                                              ("mobilenet_v3_large", "MobileNetV3Large"),
                                              ("mobilenet_v3_small", "MobileNetV3Small"),
                                              ("efficientnet_b0", "EfficientNetB0"),
                                              ("efficientnet_b1", "EfficientNetB1"),
                                              ("efficientnet_b2", "EfficientNetB2"),
                                              ("efficientnet_b3", "EfficientNetB3"),
                                              ("efficientnet_v2_s", "EfficientNetV2S"),
                                              ("convnext_tiny", "ConvNeXtTiny")],
                         indirect=["default_pair"])
def test_counts_equal_keras_applications(default_pair, app, keras_mod):
    """Our Keras model as the other per-model tests share it (default options, input and classes).
    The MobileNets have the same weights and BN statistics as keras.applications', with other BatchNorm
    momentum and padding (where and why: cnnbench/core/families/mobilenet.py); the EfficientNets the same weights,
    BN statistics and momentum, with other padding and an input normalization layer (V2-S: a rescaling, without
    weights) (families/efficientnet.py);
    ConvNeXt-Tiny the same weights, with grouped Conv2D for depthwise and no drop path by default (convnext.py)."""
    _check(getattr(keras_mod.applications, app)(weights=None), default_pair[2], app)


@pytest.mark.slow  # another option set of a family, built at its default size (docs/testing.md, "Two tiers")
def test_resnet50_v1_options_equal_keras_applications(keras_mod):
    # the seeds' / keras.applications' ResNet50 is our "v1" option set
    mine = cnnbench.get_model("resnet50", "tf", stride_in_1x1=True, conv_bias=True, bn_eps=1.001e-5)
    _check(keras_mod.applications.ResNet50(weights=None), mine, "ResNet50")
    keras_mod.backend.clear_session()
