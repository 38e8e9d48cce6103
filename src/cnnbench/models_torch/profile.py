"""PyTorch side of ``cnnbench profile`` and ``summary``: per-layer params and output shapes, fvcore counts."""
from __future__ import annotations

from collections import defaultdict

import torch
from torch import nn


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
    # ops fvcore drops without a warning (its ignore list: relu, flatten, dropout, ...), read from the graph
    # fvcore itself counts: torch.jit._get_trace_graph's flat trace, one node per op the forward ran. Not
    # torch.jit.trace's inlined graph: that builds a ScriptModule for every submodule (2.4 of EfficientNetV2-S's
    # 3.2 s here) and lost 2 of Inception v3's 15 concatenations (13 aten::cat; an eager forward runs 15).
    with torch.no_grad():
        graph, _ = torch.jit._get_trace_graph(model, (x,))
    seen: dict[str, int] = defaultdict(int)
    for node in graph.nodes():
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


def layer_output_shapes(model: nn.Module, input_size: int, in_channels: int = 3) -> dict[str, tuple]:
    """Per leaf module: its output shape (batch axis dropped), from one forward pass with hooks.

    Training mode, so auxiliary heads run too; batch 2, since BatchNorm in training mode needs more
    than one value per channel; no gradients; the model's mode and BatchNorm statistics (which a
    training-mode pass updates) are restored afterwards.
    """
    shapes: dict[str, tuple] = {}

    def hook(name):
        def record(_module, _inputs, output):
            if isinstance(output, torch.Tensor) and name not in shapes:
                shapes[name] = tuple(output.shape[1:])
        return record

    handles = [m.register_forward_hook(hook(n)) for n, m in leaf_modules(model).items()]
    was_training = model.training
    buffers = [b.clone() for b in model.buffers()]
    try:
        model.train()
        with torch.no_grad():
            model(torch.zeros(2, in_channels, input_size, input_size))
    finally:
        model.train(was_training)
        with torch.no_grad():
            for b, saved in zip(model.buffers(), buffers):
                b.copy_(saved)
        for h in handles:
            h.remove()
    return shapes
