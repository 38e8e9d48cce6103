"""What a command needs of the PyTorch zoo beside a runtime's step (``cnnbench.core.backend.Zoo``): the
seed, the input layout, one inference, the per-layer hooks of ``cnnbench profile`` and ``summary`` and
their FLOP counter (fvcore). Re-exported by ``cnnbench.models_torch.backend``."""
from __future__ import annotations

import numpy as np
import torch

FRAMEWORK = "torch"
NAME = "PyTorch"
INPUT_LAYOUT = "nchw"
INITIAL_WEIGHTS_FROM = None  # the PyTorch models start from PyTorch's own initializers
OP_COUNTER = {"name": "fvcore", "macs_field": "fvcore_macs", "macs_label": "fvcore",
              "report": ("total", "by_operator", "skipped_ops", "ignored_ops")}


def framework_version() -> str:
    return torch.__version__


def set_seed(seed: int) -> None:
    torch.manual_seed(seed)


def run_inference(model, x: np.ndarray) -> np.ndarray:
    """The model's logits for ``x`` (NCHW), in eval mode, without gradients."""
    model.eval()
    with torch.inference_mode():
        out = model(torch.from_numpy(x))
    return (out[0] if isinstance(out, tuple) else out).numpy()


def release_models() -> None:
    """Nothing: a PyTorch model is freed with its last reference."""


def layer_params(model) -> dict[str, dict[str, int]]:
    from cnnbench.models_torch.profile import layer_params

    return layer_params(model)


def layer_output_shapes(model, input_size: int, in_channels: int) -> dict[str, tuple]:
    from cnnbench.models_torch.profile import layer_output_shapes

    return layer_output_shapes(model, input_size, in_channels)


def op_counter_version() -> str:
    return torch.__version__


def op_counts(model, *, input_size: int, batch: int, in_channels: int, frozen: bool = True) -> dict:
    """fvcore's counts of one inference (``frozen`` is TensorFlow's; PyTorch has no graph to freeze): the
    report's fields (``OP_COUNTER["report"]``), and per layer all its counted FLOPs and its MACs' FLOPs."""
    from cnnbench.core.deps import require

    require("fvcore", feature="cnnbench profile's fvcore counts", extra="profile")
    from cnnbench.models_torch.profile import FVCORE_CATEGORY, fvcore_counts

    fv = fvcore_counts(model, input_size, batch, in_channels)
    return {**{k: fv[k] for k in OP_COUNTER["report"]}, "per_layer": fv["per_layer"],  # as counted: layer -> op -> FLOPs
            "layers": {name: sum(ops.values()) for name, ops in fv["per_layer"].items()},
            "layer_macs": {name: sum(v for op, v in ops.items() if FVCORE_CATEGORY.get(op) in ("conv", "dense"))
                           for name, ops in fv["per_layer"].items()}}
