"""The PyTorch runtime in this process: the device of a case, whether it is here, waiting for it, the
precisions' dtypes."""
from __future__ import annotations

import os

import torch

from cnnbench.core.case import Case

RUNTIME = "torch"
DTYPE = {"fp32": torch.float32, "tf32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


def device_available(device: str) -> bool:
    return device == "cpu" or torch.cuda.is_available()


def sync(device: str) -> None:
    """Wait for the device: CUDA kernels are asynchronous, CPU ops are not."""
    if device == "cuda":
        torch.cuda.synchronize()


def device_of(case: Case) -> torch.device:
    if case.device == "cuda":
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    return torch.device("cpu")
