"""Cross-checks against keras.applications, built here with weights=None (nothing downloaded)."""
from __future__ import annotations

import numpy as np
import pytest

import cnnbench


def _counts(model) -> tuple[int, int]:
    count = lambda ws: sum(int(np.prod(w.shape)) for w in ws)  # noqa: E731
    return count(model.trainable_weights), count(model.non_trainable_weights)


@pytest.mark.parametrize(
    "ours,options,app",
    [
        # the seeds' / keras.applications' ResNet50 is our "v1" option set
        ("resnet50", {"stride_in_1x1": True, "conv_bias": True, "bn_eps": 1.001e-5}, "ResNet50"),
        ("densenet121", {}, "DenseNet121"),
        ("densenet169", {}, "DenseNet169"),
        ("densenet201", {}, "DenseNet201"),
        ("vgg16", {}, "VGG16"),
        ("vgg19", {}, "VGG19"),
    ],
)
def test_counts_equal_keras_applications(ours, options, app, keras_mod):
    reference = getattr(keras_mod.applications, app)(weights=None)
    mine = cnnbench.get_model(ours, "tf", **options)
    ref_trainable, ref_frozen = _counts(reference)
    my_trainable, my_frozen = _counts(mine)
    assert my_trainable == ref_trainable
    if not app.startswith("VGG"):
        # keras.applications' DenseNet/ResNet keep the same BN statistics
        assert my_frozen == ref_frozen
    keras_mod.backend.clear_session()
