"""``cnnbench train``'s Trainer on the Keras models: the one training step over in-memory arrays."""
from __future__ import annotations

import time

import keras
import numpy as np

from cnnbench.models_tf.steps import make_inference_step, make_train_step

class Trainer:
    """Trains one Keras model on in-memory arrays (NHWC) with the one training step."""

    framework = "tf"

    def __init__(self, model, lr: float, momentum: float):
        self.model = model
        self._step = make_train_step(model, lr=lr, momentum=momentum)
        self._predict = make_inference_step(model)

    def train_epoch(self, x, y, order, batch: int, on_step=None) -> tuple:
        start = time.perf_counter()
        total_loss, correct = 0.0, 0
        for i in range(0, len(order), batch):
            idx = order[i:i + batch]
            yb = y[idx]
            loss, logits = self._step(keras.ops.convert_to_tensor(x[idx]), keras.ops.convert_to_tensor(yb))
            logits = np.asarray(keras.ops.convert_to_numpy(logits))  # waits for the step
            total_loss += float(np.asarray(keras.ops.convert_to_numpy(loss))) * len(idx)
            correct += int((logits.argmax(1) == yb).sum())
            if on_step:
                on_step(i // batch + 1, total_loss / (i + len(idx)), correct / (i + len(idx)))
        if hasattr(self._step, "write_back"):
            self._step.write_back()
            self._predict = make_inference_step(self.model)
        return total_loss / len(order), correct / len(order), time.perf_counter() - start

    def predict(self, x, batch: int = 256):
        return np.concatenate([np.asarray(keras.ops.convert_to_numpy(self._predict(keras.ops.convert_to_tensor(
            x[i:i + batch])))) for i in range(0, len(x), batch)])

    def save(self, path: str) -> None:
        self.model.save_weights(path)

    def load(self, path: str) -> None:
        self.model.load_weights(path)
