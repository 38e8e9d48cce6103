"""Real handwritten digits that ship inside a package: scikit-learn's ``load_digits``.

1,797 scans (UCI "optdigits", 8x8, 17 grey levels) of digits written by 43 people. Nothing is
downloaded. To feed LeNet-5 the 28x28 input its paper and the seeds use, each 8x8 scan is scaled
up bilinearly to 20x20 and centred in a 28x28 frame, the way MNIST centres its 20x20 digits,
with values in [0, 1].

The split is fixed: stratified, 25% test, ``random_state=0`` (scikit-learn's
``train_test_split``): 1,347 training and 450 test images.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

TEST_SIZE = 0.25
SPLIT_SEED = 0
SIDE, DIGIT_SIDE = 28, 20


@dataclass(frozen=True)
class Digits:
    x_train: np.ndarray  # (N, 1, 28, 28) float32 in [0, 1], channels first
    y_train: np.ndarray  # (N,) int64
    x_test: np.ndarray
    y_test: np.ndarray

    def nhwc(self, x: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(x.transpose(0, 2, 3, 1))


def to_mnist_frame(images_8x8: np.ndarray) -> np.ndarray:
    """(N, 8, 8) grey levels 0..16 -> (N, 28, 28) float32 in [0, 1], digit 20x20 centred."""
    from cnnbench.core.deps import require

    zoom = require("scipy.ndimage", feature="the digits data set (cnnbench train)", extra="train", package="scipy").zoom

    x = images_8x8.astype(np.float32) / 16.0
    big = zoom(x, (1, DIGIT_SIDE / 8, DIGIT_SIDE / 8), order=1, grid_mode=True, mode="nearest")
    out = np.zeros((len(x), SIDE, SIDE), np.float32)
    m = (SIDE - DIGIT_SIDE) // 2
    out[:, m:m + DIGIT_SIDE, m:m + DIGIT_SIDE] = np.clip(big, 0.0, 1.0)
    return out


def load(test_size: float = TEST_SIZE, seed: int = SPLIT_SEED) -> Digits:
    from cnnbench.core.deps import require

    require("sklearn", feature="the digits data set (cnnbench train)", extra="train", package="scikit-learn")
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    bunch = load_digits()
    x = to_mnist_frame(bunch.images)[:, None]
    y = bunch.target.astype(np.int64)
    x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_size=test_size, random_state=seed, stratify=y)
    return Digits(x_tr, y_tr, x_te, y_te)
