"""PyTorch side of ``cnnbench profile``: per-layer params, fvcore counts, measured memory, GEMM peak."""
from __future__ import annotations

import math
import time
from collections import defaultdict

import torch
from torch import nn

from cnnbench.models_torch.train import classification_loss

# fvcore's operator names -> our categories
FVCORE_CATEGORY = {
    "conv": "conv", "linear": "dense", "addmm": "dense", "matmul": "dense", "bmm": "dense", "einsum": "dense",
    "batch_norm": "batchnorm", "adaptive_avg_pool2d": "pooling",
}


def leaf_modules(model: nn.Module) -> dict[str, nn.Module]:
    return {n: m for n, m in model.named_modules() if n and not list(m.children())}


def layer_params(model: nn.Module) -> dict[str, dict[str, int]]:
    """Per leaf module: trainable and frozen parameters, BN running statistics, bytes."""
    out = {}
    for name, module in leaf_modules(model).items():
        params = list(module.parameters(recurse=False))
        buffers = [b for n, b in module.named_buffers(recurse=False) if not n.endswith("num_batches_tracked")]
        out[name] = {
            "trainable": sum(p.numel() for p in params if p.requires_grad),
            "frozen": sum(p.numel() for p in params if not p.requires_grad),
            "buffers": sum(b.numel() for b in buffers),
            "bytes": sum(t.numel() * t.element_size() for t in (*params, *buffers)),
            "type": type(module).__name__,
        }
    return out


def fvcore_counts(model: nn.Module, input_size: int, batch: int = 1, in_channels: int = 3) -> dict:
    """fvcore FlopCountAnalysis in eval mode: per leaf module per operator, totals, skipped ops."""
    from fvcore.nn import FlopCountAnalysis

    model = model.eval()
    x = torch.zeros(batch, in_channels, input_size, input_size)
    analysis = FlopCountAnalysis(model, (x,))
    analysis.unsupported_ops_warnings(False)
    analysis.uncalled_modules_warnings(False)
    leaves = set(leaf_modules(model))
    per_layer: dict[str, dict[str, int]] = defaultdict(dict)
    for name, ops in analysis.by_module_and_operator().items():
        if name in leaves:
            per_layer[name] = {op: int(v) for op, v in ops.items() if v}
    by_category: dict[str, int] = defaultdict(int)
    for op, v in analysis.by_operator().items():
        by_category[FVCORE_CATEGORY.get(op, f"other:{op}")] += int(v)
    unsupported = {op: int(n) for op, n in analysis.unsupported_ops().items()}
    # ops fvcore drops without a warning (its ignore list: relu, flatten, dropout, ...)
    with torch.no_grad():
        traced = torch.jit.trace(model, (x,), check_trace=False)
    seen: dict[str, int] = defaultdict(int)
    for node in traced.inlined_graph.nodes():
        if node.kind().startswith("aten::"):
            seen[node.kind()] += 1
    counted = {f"aten::{op}" for op in analysis.by_operator()} | {"aten::_convolution", "aten::linear"}
    ignored = {op: n for op, n in seen.items() if op not in counted and op not in unsupported}
    return {
        "total": int(analysis.total()),
        "by_operator": {op: int(v) for op, v in analysis.by_operator().items()},
        "by_category": dict(by_category),
        "per_layer": dict(per_layer),
        "skipped_ops": unsupported,  # fvcore warns about these and counts 0
        "ignored_ops": ignored,  # fvcore counts these 0 silently
    }


def _sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def _step_fn(model: nn.Module, mode: str, batch: int, input_size: int, in_channels: int, num_classes: int, device: str):
    x = torch.rand(batch, in_channels, input_size, input_size, device=device)
    if mode == "inference":
        model.eval()

        def step():
            with torch.inference_mode():
                model(x)

        return step, None
    model.train()
    y = torch.randint(0, num_classes, (batch,), device=device)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    aux_weight = getattr(model, "aux_weight", 0.0)

    def step():
        opt.zero_grad(set_to_none=True)
        classification_loss(model(x), y, aux_weight).backward()
        opt.step()

    return step, opt


def _resident_bytes(model: nn.Module, opt) -> int:
    tensors = [*model.parameters(), *model.buffers()]
    tensors += [p.grad for p in model.parameters() if p.grad is not None]
    if opt is not None:
        tensors += [t for s in opt.state.values() for t in s.values() if torch.is_tensor(t)]
    return sum(t.numel() * t.element_size() for t in tensors)


def measured_memory(model: nn.Module, mode: str, batch: int, input_size: int, in_channels: int,
                    num_classes: int, device: str = "cpu") -> dict:
    """Peak tensor memory of one step (after one warm-up step, so optimizer state exists).

    CUDA: ``torch.cuda.max_memory_allocated`` after a reset. CPU: the profiler's
    memory records (every allocation and free during the step, in order): the
    highest running total, added to the tensors resident before the step
    (parameters, buffers, gradients, optimizer state).
    """
    model = model.to(device)
    step, opt = _step_fn(model, mode, batch, input_size, in_channels, num_classes, device)
    step()
    _sync(device)
    if mode == "train":  # gradients are set to None at the start of each step
        for p in model.parameters():
            p.grad = None
    resident = _resident_bytes(model, opt)
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
        step()
        _sync(device)
        return {"peak_bytes": int(torch.cuda.max_memory_allocated()), "resident_before_bytes": resident,
                "kind": "torch.cuda.max_memory_allocated (allocator peak)"}
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        step()
    # allocations are attributed to the ops that make them, frees to "[memory]" events: their
    # self memory, in time order, is the running total of the step's tensor memory
    deltas = sorted((e.time_range.start, e.self_cpu_memory_usage) for e in prof.events() if e.self_cpu_memory_usage)
    running = peak = 0
    for _, delta in deltas:
        running += delta
        peak = max(peak, running)
    return {"peak_bytes": int(resident + peak), "step_peak_extra_bytes": int(peak), "resident_before_bytes": resident,
            "kind": "torch.profiler memory records: resident tensors + highest running total of the step's allocations and frees"}


def gemm_peak_flops(device: str = "cpu", n: int | None = None, repeats: int = 10) -> float:
    """Best observed FLOP/s of an n x n float32 matrix product (2 n^3 FLOPs), synchronized.

    On CUDA the product runs in the math mode the convolutions use: PyTorch lets cuDNN convolve
    float32 in TF32 by default (``cudnn.allow_tf32``) but not matmuls (``matmul.allow_tf32``), and a
    strict-FP32 peak under TF32 convolutions gave "% of peak" above 100 (VGG-16 at 213% on an H100).
    """
    n = n or (2048 if device == "cpu" else 8192)
    a = torch.rand(n, n, device=device)
    b = torch.rand(n, n, device=device)
    saved = torch.backends.cuda.matmul.allow_tf32
    if device == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32
    try:
        a @ b
        _sync(device)
        best = math.inf
        for _ in range(repeats):
            t = time.perf_counter()
            a @ b
            _sync(device)
            best = min(best, time.perf_counter() - t)
    finally:
        torch.backends.cuda.matmul.allow_tf32 = saved
    return 2 * n**3 / best


def gemm_math_mode(device: str = "cpu") -> str:
    """The math mode ``gemm_peak_flops`` measured in on this device: ``fp32`` or ``tf32``."""
    return "tf32" if device == "cuda" and torch.backends.cudnn.allow_tf32 else "fp32"


def layer_output_shapes(model: nn.Module, input_size: int, in_channels: int = 3) -> dict[str, tuple]:
    """Per leaf module: its output shape (batch axis dropped), from one forward pass with hooks.

    Training mode, so auxiliary heads run too; batch 2, since BatchNorm in training mode needs more
    than one value per channel; no gradients; the model's mode is restored afterwards.
    """
    shapes: dict[str, tuple] = {}

    def hook(name):
        def record(_module, _inputs, output):
            if isinstance(output, torch.Tensor) and name not in shapes:
                shapes[name] = tuple(output.shape[1:])
        return record

    handles = [m.register_forward_hook(hook(n)) for n, m in leaf_modules(model).items()]
    was_training = model.training
    try:
        model.train()
        with torch.no_grad():
            model(torch.zeros(2, in_channels, input_size, input_size))
    finally:
        model.train(was_training)
        for h in handles:
            h.remove()
    return shapes
