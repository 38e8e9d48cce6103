"""The run's settings applied to PyTorch (threads, TF32, cuDNN autotuning) and read back, and its versions."""
from __future__ import annotations

import contextlib
import os

import torch

from cnnbench.core.settings import Settings
from cnnbench.models_torch.distribute import start_process_group


def configure(settings: Settings, device: str) -> None:
    """Apply the run's settings; called once per process, before any model is built."""
    s = settings.resolved()
    torch.set_num_threads(s.threads)
    with contextlib.suppress(RuntimeError):  # settable once, before any inter-op work
        torch.set_num_interop_threads(s.interop_threads)
    tf32 = s.math == "tf32"
    torch.backends.cuda.matmul.allow_tf32 = tf32  # PyTorch's default is False: strict FP32 matmuls
    torch.backends.cudnn.allow_tf32 = tf32
    torch.backends.cudnn.benchmark = s.autotune  # PyTorch's default is False
    torch.set_float32_matmul_precision("high" if tf32 else "highest")
    if os.environ.get("CNNBENCH_DISTRIBUTED") == "1":
        start_process_group(device)


def setting_fields(device: str) -> dict:
    """The ``setting_*`` fields of a row, read back from PyTorch (also for Keras on the torch backend)."""
    cuda = device == "cuda"
    return {
        "setting_math_matmul": "tf32" if cuda and torch.backends.cuda.matmul.allow_tf32 else "fp32",
        "setting_math_conv": "tf32" if cuda and torch.backends.cudnn.allow_tf32 else "fp32",
        "setting_autotune": bool(torch.backends.cudnn.benchmark) if cuda else None,
        "setting_intra_op_threads": torch.get_num_threads(),
        "setting_inter_op_threads": torch.get_num_interop_threads(),
        "setting_onednn": bool(torch.backends.mkldnn.is_available() and torch.backends.mkldnn.enabled)
        if not cuda else None,
    }


def effective_settings(device: str) -> dict:
    """What is in force, read back from PyTorch (the ``setting_*`` fields of a row)."""
    return {
        **setting_fields(device),
        # the framework's own names, as earlier runs recorded them
        "torch_intra_op_threads": torch.get_num_threads(),
        "torch_inter_op_threads": torch.get_num_interop_threads(),
        "cudnn_benchmark": bool(torch.backends.cudnn.benchmark),
        "tf32_matmul": bool(torch.backends.cuda.matmul.allow_tf32),
        "tf32_cudnn": bool(torch.backends.cudnn.allow_tf32),
        "matmul_precision": torch.get_float32_matmul_precision(),
    }


def versions(device: str) -> dict:
    out = {"torch_version": torch.__version__, "backend_version": f"torch {torch.__version__}"}
    if device == "cuda":
        out["cuda_version"] = torch.version.cuda
        out["cudnn_version"] = torch.backends.cudnn.version()
    return out
