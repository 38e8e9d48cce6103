"""What the machine gives PyTorch: the GEMM peak (the "% of peak" denominator) and the CUDA allocator's peak."""
from __future__ import annotations

import math
import time

import torch

from cnnbench.models_torch.runtime import DTYPE, sync


def gemm_peak_flops(device: str = "cpu", math_mode: str = "fp32", *, n: int | None = None, trials: int = 5) -> float:
    """Best FLOP/s of ``trials`` synchronized n x n matrix products (2 n^3 FLOPs each) in ``math_mode``:
    fp32 (strict), tf32 (float32 storage, TF32 tensor cores), bf16 or fp16. The run's own settings are
    restored afterwards."""
    if n is None:
        n = 8192 if device == "cuda" else (2048 if math_mode in ("fp32", "tf32") else 1024)
    dtype = DTYPE[math_mode]
    a = torch.rand(n, n, device=device).to(dtype)
    b = torch.rand(n, n, device=device).to(dtype)
    saved = torch.backends.cuda.matmul.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = math_mode == "tf32"
    try:
        a @ b
        sync(device)
        best = math.inf
        for _ in range(trials):
            start = time.perf_counter()
            a @ b
            sync(device)
            best = min(best, time.perf_counter() - start)
    finally:
        torch.backends.cuda.matmul.allow_tf32 = saved
    return 2 * n**3 / best


def reset_allocator_peak(device: str) -> None:
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()


def allocator_peak_bytes(device: str) -> int | None:
    """The CUDA caching allocator's peak since the last reset; None on the CPU (no such statistic)."""
    return int(torch.cuda.max_memory_allocated()) if device == "cuda" else None


ALLOCATOR_PEAK_KIND = "torch.cuda.max_memory_allocated (allocator peak during one steady step)"
