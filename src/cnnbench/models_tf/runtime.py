"""Which Keras backend this process runs (``KERAS_BACKEND`` is fixed per process), and what every
engine of it needs: the device scope, the end-of-step synchronization, seeding, the GPU check."""
from __future__ import annotations

import contextlib

import keras
import numpy as np

KERAS_BACKEND = keras.backend.backend()
RUNTIME = {"tensorflow": "keras-tf", "jax": "keras-jax", "torch": "keras-torch"}[KERAS_BACKEND]


def _allow_dotted_layer_names_on_torch() -> None:
    """Keras' torch backend registers each variable as a torch parameter named by its path
    (``stage1.conv/kernel``), and torch refuses a "." in a parameter name, while Keras allows it in a
    layer name and our layers carry PyTorch's dotted module paths. Register them under the same path
    with "." replaced by U+2024 (one dot leader); Keras itself keeps the real names."""
    import torch
    from keras.src.backend.torch.layer import TorchLayer

    def key(variable) -> str:
        return variable.path.replace(".", "\u2024")

    def _track_variables(self):
        self._torch_params = torch.nn.ParameterDict({key(v): v.value for v in self.variables})

    def _post_track_variable(self, variable):
        if hasattr(self, "_torch_params") and key(variable) not in self.torch_params:
            self.torch_params[key(variable)] = variable.value

    def _post_untrack_variable(self, variable):
        if hasattr(self, "_torch_params") and key(variable) in self.torch_params:
            self.torch_params.pop(key(variable))

    TorchLayer._track_variables = _track_variables
    TorchLayer._post_track_variable = _post_track_variable
    TorchLayer._post_untrack_variable = _post_untrack_variable


if KERAS_BACKEND == "torch":
    _allow_dotted_layer_names_on_torch()


def device_available(device: str) -> bool:
    if device == "cpu":
        return True
    if KERAS_BACKEND == "tensorflow":
        import tensorflow as tf

        return bool(tf.config.list_physical_devices("GPU"))
    if KERAS_BACKEND == "jax":
        import jax

        return any(d.platform == "gpu" for d in jax.devices())
    import torch

    return torch.cuda.is_available()


def sync(device: str, result=None) -> None:
    """Wait until the step is done: TensorFlow's sync_devices on a GPU and a read back to the host on
    the CPU; JAX's block_until_ready (its dispatch is asynchronous on every device); CUDA
    synchronization for the torch backend."""
    if KERAS_BACKEND == "tensorflow":
        import tensorflow as tf

        if device == "cuda":
            tf.test.experimental.sync_devices()
        elif result is not None:
            result.numpy()
    elif KERAS_BACKEND == "jax":
        import jax

        if result is not None:
            jax.block_until_ready(result)
    elif device == "cuda":
        import torch

        torch.cuda.synchronize()


def set_seed(seed: int) -> None:
    """keras.utils.set_random_seed without its side effect of importing TensorFlow into a JAX or torch
    process (400 MB of resident memory that would count as the case's): the same global Keras seed and
    SeedGenerator reset, Python's and NumPy's seeds, and the backend's own."""
    if KERAS_BACKEND == "tensorflow":
        keras.utils.set_random_seed(seed)
        return
    import random

    from keras.src.backend.common import global_state
    from keras.src.random import seed_generator
    from keras.src.utils import rng_utils

    global_state.set_global_attribute(rng_utils.GLOBAL_RANDOM_SEED, seed)
    global_state.set_global_attribute(seed_generator.GLOBAL_SEED_GENERATOR, None)
    random.seed(seed)
    np.random.seed(seed)
    if KERAS_BACKEND == "torch":
        import torch

        torch.manual_seed(seed)


def device_scope(device: str):
    if KERAS_BACKEND == "tensorflow":
        import tensorflow as tf

        return tf.device("/GPU:0" if device == "cuda" else "/CPU:0")
    return contextlib.nullcontext()  # JAX and torch place on the visible device (the worker hides GPUs for CPU cases)
