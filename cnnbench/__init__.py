"""cnnbench: the same classic image CNNs in PyTorch and TensorFlow/Keras, measured honestly.

This core package imports neither framework; ``get_model`` imports the one asked for.
"""
from cnnbench.errors import (
    CnnbenchError,
    FrameworkUnavailableError,
    InputTooSmallError,
    TransferError,
    UnknownFrameworkError,
    UnknownModelError,
)
from cnnbench.registry import FRAMEWORKS, get_model, get_spec, list_models
from cnnbench.transfer import transfer_weights

__version__ = "0.1.0"

__all__ = [
    "FRAMEWORKS",
    "CnnbenchError",
    "FrameworkUnavailableError",
    "InputTooSmallError",
    "TransferError",
    "UnknownFrameworkError",
    "UnknownModelError",
    "get_model",
    "get_spec",
    "list_models",
    "transfer_weights",
]
