"""PyTorch's window arithmetic, written once: the analytic graph counts with it, the Keras builders
pad and pool with it, so both follow PyTorch's definition exactly (one spatial axis at a time)."""
from __future__ import annotations


def out_len(n: int, kernel: int, stride: int, padding: int = 0, ceil_mode: bool = False) -> int:
    """Output length of a convolution or pooling window over ``n`` inputs, as PyTorch computes it:
    ``floor((n + 2p - k) / s) + 1``, rounded up with ``ceil_mode``; 0 when not one window fits."""
    span = n + 2 * padding - kernel
    if span < 0:
        return 0
    if ceil_mode:
        out = -(-span // stride) + 1
        # PyTorch drops a last window that would start in the right padding
        if (out - 1) * stride >= n + padding:
            out -= 1
        return out
    return span // stride + 1


def ceil_mode_extra_padding(n: int, kernel: int, stride: int, padding: int = 0) -> int:
    """Padding that ``ceil_mode`` adds at the end (bottom/right) only: with it, a floor-mode window
    over ``n + 2p + extra`` inputs has as many outputs as PyTorch's ceil-mode window over ``n``."""
    out = out_len(n, kernel, stride, padding, ceil_mode=True)
    return max(0, (out - 1) * stride + kernel - (n + 2 * padding))


def adaptive_bins(n: int, size: int) -> list[tuple[int, int]]:
    """PyTorch's adaptive pooling of ``n`` inputs to ``size`` outputs: bin ``i`` covers the inputs
    ``[floor(i * n / size), ceil((i + 1) * n / size))``; bins overlap when ``size`` does not divide ``n``."""
    return [((i * n) // size, -(-(i + 1) * n // size)) for i in range(size)]
