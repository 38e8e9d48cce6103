"""What a command needs of the Keras zoo beside a runtime's step (``cnnbench.core.backend.Zoo``): the
seed, the input layout, one inference, the per-layer hooks of ``cnnbench profile`` and ``summary`` and
their FLOP counter (the TF profiler). Re-exported by ``cnnbench.models_tf.backend``; TensorFlow is
imported only by what needs it (the profiler), so a Keras-on-JAX process never loads it."""
from __future__ import annotations

import keras
import numpy as np

from cnnbench.models_tf.runtime import set_seed  # noqa: F401  (part of the zoo's contract)

FRAMEWORK = "tf"
NAME = "Keras"
INPUT_LAYOUT = "nhwc"
# the Keras models start from the PyTorch twin's initial weights where PyTorch is installed (cnnbench train,
# the export runtimes): both frameworks then train, or export, the same function
INITIAL_WEIGHTS_FROM = "torch"
OP_COUNTER = {"name": "tf_profiler", "macs_field": "tf_macs", "macs_label": "tf/2", "report": ("total", "by_op_type", "unattributed")}


def framework_version() -> str:
    return keras.__version__


def run_inference(model, x: np.ndarray) -> np.ndarray:
    """The model's logits for ``x`` (NHWC), in inference mode."""
    return np.asarray(keras.ops.convert_to_numpy(model(x, training=False)))


def release_models() -> None:
    """Free the graphs Keras (and an exporter) traced: the models themselves go with their references."""
    keras.backend.clear_session()


def layer_params(model) -> dict[str, dict[str, int]]:
    from cnnbench.models_tf.profile import layer_params

    return layer_params(model)


def layer_output_shapes(model, input_size: int, in_channels: int) -> dict[str, tuple]:
    """Keras knows each layer's output shape from building the model: the input's size is not needed."""
    from cnnbench.models_tf.profile import layer_output_shapes

    return layer_output_shapes(model)


def op_counter_version() -> str:
    import tensorflow as tf

    return tf.__version__


def op_counts(model, *, input_size: int, batch: int, in_channels: int, frozen: bool = True) -> dict:
    """The TF profiler's float ops of the (frozen) inference graph of the model's main output: the report's
    fields (``OP_COUNTER["report"]``), and per layer all its FLOPs and its MACs' FLOPs (2 per MAC)."""
    from cnnbench.models_tf.profile import TF_MAC_OPS, tf_profiler_counts

    tfp = tf_profiler_counts(getattr(model, "main", model), batch, frozen)  # an aux-logits model's inference graph
    return {**{k: tfp[k] for k in OP_COUNTER["report"]}, "per_layer": tfp["per_layer"],  # as counted: layer -> op -> FLOPs
            "layers": {name: sum(ops.values()) for name, ops in tfp["per_layer"].items()},
            "layer_macs": {name: sum(v for op, v in ops.items() if op in TF_MAC_OPS) // 2
                           for name, ops in tfp["per_layer"].items()}}
