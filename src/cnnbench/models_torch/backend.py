"""The PyTorch backend: the contract (``cnnbench.core.backend.Backend`` and ``Zoo``), and what it prepares
(a case's model, inputs and step) and the data-parallel parity step.

Everything the suite measures or trains in PyTorch goes through this module: the benchmark harness
and the paired engine (through the worker process), ``cnnbench train`` and the distributed cases
(tests/test_backend_contract.py checks the contract). The parts live beside it, one job each, as on the
Keras side: ``runtime`` (device, sync, dtypes), ``settings`` (applied and read back), ``distribute``
(the process group of a data-parallel rank), ``steps`` (the training and inference step), ``measure``
(GEMM peak, allocator peak), ``trainer`` (``cnnbench train``) and ``zoo`` (seed, layout, inference,
per-layer hooks, fvcore).
"""
from __future__ import annotations

import importlib
import math
import time

import torch
from torch import nn

from cnnbench.core.case import Case
from cnnbench.core.specs import get_spec
from cnnbench.core.step import NonFiniteLoss, Prepared
from cnnbench.core.training import BENCH_SGD
from cnnbench.models_torch.distribute import ddp, distributed_info, gather
from cnnbench.models_torch.measure import ALLOCATOR_PEAK_KIND, allocator_peak_bytes, gemm_peak_flops, reset_allocator_peak
from cnnbench.models_torch.runtime import RUNTIME, device_available, device_of, sync
from cnnbench.models_torch.settings import configure, effective_settings, setting_fields, versions
from cnnbench.models_torch.steps import autocast, classification_loss, make_inference_step, make_train_step
from cnnbench.models_torch.trainer import Trainer
from cnnbench.models_torch.zoo import (FRAMEWORK, INITIAL_WEIGHTS_FROM, INPUT_LAYOUT, NAME, OP_COUNTER,
                                       framework_version, layer_output_shapes, layer_params, op_counter_version,
                                       op_counts, release_models, run_inference, set_seed)

__all__ = ["ALLOCATOR_PEAK_KIND", "RUNTIME", "Trainer", "allocator_peak_bytes", "autocast", "build",
           "classification_loss", "configure", "device_available", "distributed_info", "effective_settings",
           "gather", "gemm_peak_flops", "make_inference_step", "make_train_step", "parity_step", "prepare",
           "preload", "reset_allocator_peak", "setting_fields", "sync", "versions", "warm_runtime",
           # the zoo's side (cnnbench.core.backend.Zoo)
           "FRAMEWORK", "INITIAL_WEIGHTS_FROM", "INPUT_LAYOUT", "NAME", "OP_COUNTER", "framework_version",
           "layer_output_shapes", "layer_params", "op_counter_version", "op_counts", "param_counts",
           "release_models", "run_inference", "set_seed"]


def preload() -> None:
    """``torch.optim``'s first optimizer imports ``torch._dynamo``: about 1 s on the 2-core VM in every
    forked PyTorch worker otherwise, over a minute of a ``make bench``. Importing it starts no thread
    (tests/test_worker.py)."""
    import torch._dynamo  # noqa: F401


def warm_runtime() -> None:
    """Start the runtime without building the case's model: one training step of a tiny conv net
    (convolution, pooling, dense, autograd, the optimizer). The worker reads the process's resident
    memory after this as the runtime's own footprint, so that a case's peak leaves out the framework's
    code and pools, and keeps its weights, gradients, optimizer state and activations."""
    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                        nn.Linear(4 * 3 * 3, 2))
    step = make_train_step(net, **BENCH_SGD)
    step(torch.rand(2, 3, 8, 8), torch.tensor([0, 1]))
    make_inference_step(net)(torch.rand(2, 3, 8, 8))


def build(name: str, *, num_classes: int | None = None, input_size: int | None = None, **options) -> nn.Module:
    return getattr(importlib.import_module("cnnbench.models_torch"), name)(
        num_classes=num_classes, input_size=input_size, **options)


def _timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def param_counts(model: nn.Module) -> tuple[int, int]:
    """(parameters with the BatchNorm statistics, trainable parameters), as every row counts them
    (``num_batches_tracked``, a step counter, is not a parameter)."""
    params = sum(p.numel() for p in model.parameters()) + sum(
        b.numel() for n, b in model.named_buffers() if not n.endswith("num_batches_tracked"))
    return params, sum(p.numel() for p in model.parameters() if p.requires_grad)


def prepare(case: Case, seed: int = 0) -> Prepared:
    """Build the case's model, make its inputs on the device, run the first (untimed) step."""
    if case.device == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("--device cuda was asked for, but torch.cuda.is_available() is False")
    dist_info = distributed_info()
    if case.world_size > 1 and dist_info is None:
        raise RuntimeError(f"{case.id}: a data-parallel case needs a worker started in a process group "
                           "(cnnbench.harness.distributed launches them)")
    torch.manual_seed(seed)
    device = device_of(case)
    spec = get_spec(case.model)
    model, build_s = _timed(lambda: build(case.model, input_size=case.input_size, **dict(case.options)))
    memory_format = torch.channels_last if case.layout == "nhwc" else torch.contiguous_format
    model = model.to(device, memory_format=memory_format)
    params, trainable = param_counts(model)
    gen = torch.Generator().manual_seed(seed + (dist_info["rank"] if dist_info else 0))  # each worker its own batch
    x = torch.rand(case.batch, spec.in_channels, case.input_size, case.input_size, generator=gen)
    x = x.to(device).contiguous(memory_format=memory_format)
    y = torch.randint(0, spec.num_classes, (case.batch,), generator=gen).to(device)

    if case.mode == "inference":
        infer = make_inference_step(model, device=case.device, precision=case.precision, compile=case.torch_compile)

        def step():
            out = infer(x)
            sync(case.device)
            return out
    else:
        net = ddp(model, case) if dist_info else model
        train = make_train_step(net, device=case.device, precision=case.precision, compile=case.torch_compile,
                                **BENCH_SGD)

        def step():
            loss, _ = train(x, y)
            sync(case.device)
            return loss

    def check(result) -> None:
        if case.mode == "train" and not math.isfinite(float(result)):
            raise NonFiniteLoss(f"{case.id}: training loss is {float(result)} (NaN/inf)")

    first, first_step_s = _timed(step)
    check(first)

    def cleanup():
        nonlocal model
        model = None
        if case.device == "cuda":
            torch.cuda.empty_cache()

    def layer_times(steps: int) -> dict:
        from cnnbench.models_torch.layer_times import profile_steps

        return profile_steps(step, model, steps)

    def feed(samples) -> None:  # the next steps' input, copied into the step's own tensor (its device, format)
        x.copy_(torch.from_numpy(samples))

    return Prepared(step, check, build_s, first_step_s, params, trainable, cleanup, layer_times=layer_times,
                    feed=feed if case.mode == "inference" else None)


def parity_step(case: Case, seed: int = 0, with_weights: bool = True) -> dict:
    """One training step on this worker's slice of a fixed global batch (rank r takes images
    r*batch ... (r+1)*batch - 1), for the data-parallel parity tests: the loss, a checksum of every
    parameter's gradient after DDP's all-reduce, and the weights afterwards."""
    spec = get_spec(case.model)
    info = distributed_info() or {"rank": 0, "world_size": 1}
    gen = torch.Generator().manual_seed(seed)
    total = case.batch * info["world_size"]
    xs = torch.rand(total, spec.in_channels, case.input_size, case.input_size, generator=gen)
    ys = torch.randint(0, spec.num_classes, (total,), generator=gen)
    part = slice(info["rank"] * case.batch, (info["rank"] + 1) * case.batch)
    torch.manual_seed(seed)
    model = build(case.model, input_size=case.input_size, **dict(case.options)).to(device_of(case))
    net = ddp(model, case) if distributed_info() else model
    loss, _ = make_train_step(net, **BENCH_SGD)(xs[part].to(device_of(case)), ys[part].to(device_of(case)))
    out = {"rank": info["rank"], "loss": float(loss),
           "grads": [[float(p.grad.sum()), float((p.grad * p.grad).sum())] for p in model.parameters()]}
    if with_weights:
        out["weights"] = torch.cat([p.detach().flatten().cpu() for p in model.parameters()]).tolist()
    return out
