"""TensorFlow side of ``cnnbench train``: the same SGD with momentum, in a traced step; save/load."""
from __future__ import annotations

import time

import keras
import numpy as np
import tensorflow as tf

_CE = keras.losses.SparseCategoricalCrossentropy(from_logits=True)


def classification_loss(out, y, aux_weight: float = 0.0):
    """Cross-entropy of the logits, computed in float32 (mixed-precision logits are cast). Networks
    with auxiliary heads (GoogLeNet, Inception v3) return ``[logits, *aux_logits]`` in training
    mode; each auxiliary loss is added with ``aux_weight``. The one training loss of the benchmark
    step, the memory probe and ``cnnbench train``."""
    if isinstance(out, (list, tuple)):
        main = _CE(y, tf.cast(out[0], tf.float32))
        return main + aux_weight * tf.add_n([_CE(y, tf.cast(a, tf.float32)) for a in out[1:]])
    return _CE(y, tf.cast(out, tf.float32))


class Trainer:
    """Trains one Keras model on in-memory arrays (NHWC); every call returns plain numbers."""

    framework = "tf"

    def __init__(self, model: keras.Model, lr: float, momentum: float, threads: int | None = None):
        self.model = model
        # Keras' momentum update (v = m v - lr g; w += v) equals PyTorch's (v = m v + g; w -= lr v)
        # for a constant learning rate, so both frameworks take the same steps.
        self.opt = keras.optimizers.SGD(learning_rate=lr, momentum=momentum)
        aux_weight = getattr(model, "aux_weight", 0.0)

        @tf.function(reduce_retracing=True)
        def step(xb, yb):
            with tf.GradientTape() as tape:
                out = self.model(xb, training=True)
                loss = classification_loss(out, yb, aux_weight)
            logits = out[0] if isinstance(out, (list, tuple)) else out
            grads = tape.gradient(loss, self.model.trainable_variables)
            self.opt.apply_gradients(zip(grads, self.model.trainable_variables))
            correct = tf.reduce_sum(tf.cast(tf.equal(tf.argmax(logits, 1, output_type=tf.int64), yb), tf.int32))
            return loss, correct

        self._step = step
        self._predict = tf.function(lambda xb: self.model(xb, training=False), reduce_retracing=True)

    def train_epoch(self, x: np.ndarray, y: np.ndarray, order: np.ndarray, batch: int, on_step=None) -> tuple:
        start = time.perf_counter()
        total_loss, correct = 0.0, 0
        for i in range(0, len(order), batch):
            idx = order[i:i + batch]
            loss, ok = self._step(tf.constant(x[idx]), tf.constant(y[idx]))
            total_loss += float(loss.numpy()) * len(idx)  # .numpy() waits for the step
            correct += int(ok.numpy())
            if on_step:
                on_step(i // batch + 1, total_loss / (i + len(idx)), correct / (i + len(idx)))
        return total_loss / len(order), correct / len(order), time.perf_counter() - start

    def predict(self, x: np.ndarray, batch: int = 256) -> np.ndarray:
        return np.concatenate([self._predict(tf.constant(x[i:i + batch])).numpy() for i in range(0, len(x), batch)])

    def save(self, path: str) -> None:
        self.model.save_weights(path)

    def load(self, path: str) -> None:
        self.model.load_weights(path)
