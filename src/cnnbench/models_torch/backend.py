"""The PyTorch backend: build, the inference step, the one training step, settings, GEMM peaks, memory.

Everything the suite measures or trains in PyTorch goes through this module: the benchmark harness
and the paired engine (through the worker process), ``cnnbench train`` and the distributed cases.
It keeps the backend contract, ``cnnbench.core.backend.Backend`` (tests/test_backend_contract.py).
"""
from __future__ import annotations

import contextlib
import importlib
import math
import os
import time

import torch
from torch import nn

from cnnbench.core.case import Case
from cnnbench.core.settings import Settings
from cnnbench.core.specs import get_spec
from cnnbench.core.step import NonFiniteLoss, Prepared
from cnnbench.core.training import BENCH_SGD
from cnnbench.models_torch.zoo import (FRAMEWORK, INITIAL_WEIGHTS_FROM, INPUT_LAYOUT, NAME, OP_COUNTER,  # noqa: F401
                                       framework_version, layer_output_shapes, layer_params, op_counter_version,
                                       op_counts, release_models, run_inference, set_seed)

RUNTIME = "torch"
_DTYPE = {"fp32": torch.float32, "tf32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


# ------------------------------------------------------------------ settings and versions
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
        _start_process_group(device)


def _start_process_group(device: str) -> None:
    """Join the job the way torchrun's workers do: env:// rendezvous (MASTER_ADDR, MASTER_PORT, RANK,
    WORLD_SIZE, LOCAL_RANK), NCCL on GPUs (one per worker), gloo on CPUs."""
    import datetime

    import torch.distributed as dist

    if device == "cuda":
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    timeout = datetime.timedelta(seconds=float(os.environ.get("CNNBENCH_RENDEZVOUS_TIMEOUT", "120")))
    dist.init_process_group("nccl" if device == "cuda" else "gloo", init_method="env://", timeout=timeout)


def distributed_info() -> dict | None:
    """Rank, world size and collective backend of a data-parallel worker, or None."""
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()):
        return None
    return {"rank": dist.get_rank(), "world_size": dist.get_world_size(),
            "dist_backend": f"torch.distributed {dist.get_backend()} (DistributedDataParallel)"}


def gather(value) -> list:
    """Every rank's ``value`` (JSON-able), in rank order, through torch.distributed (all_gather_object)."""
    import torch.distributed as dist

    out = [None] * dist.get_world_size()
    dist.all_gather_object(out, value)
    return out


def _device_of(case: Case) -> torch.device:
    if case.device == "cuda":
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    return torch.device("cpu")


def _ddp(model: nn.Module, case: Case) -> nn.Module:
    """The single-device model wrapped by PyTorch's own data-parallel engine (gradients all-reduced
    and averaged during backward)."""
    from torch.nn.parallel import DistributedDataParallel

    ids = [_device_of(case).index] if case.device == "cuda" else None
    ddp = DistributedDataParallel(model, device_ids=ids)
    ddp.aux_weight = getattr(model, "aux_weight", 0.0)
    return ddp


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


def device_available(device: str) -> bool:
    return device == "cpu" or torch.cuda.is_available()


def sync(device: str) -> None:
    """Wait for the device: CUDA kernels are asynchronous, CPU ops are not."""
    if device == "cuda":
        torch.cuda.synchronize()


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


# ------------------------------------------------------------------ models and steps
def build(name: str, *, num_classes: int | None = None, input_size: int | None = None, **options) -> nn.Module:
    return getattr(importlib.import_module("cnnbench.models_torch"), name)(
        num_classes=num_classes, input_size=input_size, **options)


def classification_loss(out, y: torch.Tensor, aux_weight: float = 0.0) -> torch.Tensor:
    """Cross-entropy of the logits. Networks with auxiliary heads (GoogLeNet, Inception v3) return
    ``(logits, *aux_logits)`` in training mode; each auxiliary loss is added with ``aux_weight``."""
    if isinstance(out, tuple):
        return nn.functional.cross_entropy(out[0], y) + aux_weight * sum(
            nn.functional.cross_entropy(a, y) for a in out[1:])
    return nn.functional.cross_entropy(out, y)


def autocast(device: str, precision: str):
    if precision == "fp32":
        return contextlib.nullcontext()
    return torch.autocast(device_type=device, dtype=_DTYPE[precision])


def make_train_step(model: nn.Module, *, lr: float, momentum: float, device: str = "cpu", precision: str = "fp32",
                    compile: bool = False):
    """THE training step: forward, loss (aux heads weighted), backward, SGD with momentum (loss scaling
    for fp16). Returns ``step(x, y) -> (loss, logits)``, both detached; the caller synchronizes."""
    model.train()
    net = torch.compile(model) if compile else model
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum)
    scaler = torch.amp.GradScaler(device) if precision == "fp16" else None
    aux_weight = getattr(model, "aux_weight", 0.0)

    def step(x, y):
        opt.zero_grad(set_to_none=True)
        with autocast(device, precision):
            out = net(x)
            loss = classification_loss(out, y, aux_weight)
        if scaler is not None:
            scaler.scale(loss).backward()
            scaler.step(opt)
            scaler.update()
        else:
            loss.backward()
            opt.step()
        logits = out[0] if isinstance(out, tuple) else out
        return loss.detach(), logits.detach()

    return step


def make_inference_step(model: nn.Module, *, device: str = "cpu", precision: str = "fp32", compile: bool = False):
    model.eval()
    net = torch.compile(model) if compile else model

    def step(x):
        with torch.inference_mode(), autocast(device, precision):
            return net(x)

    return step


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
    device = _device_of(case)
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
        net = _ddp(model, case) if dist_info else model
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

    return Prepared(step, check, build_s, first_step_s, params, trainable, cleanup, layer_times=layer_times)


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
    model = build(case.model, input_size=case.input_size, **dict(case.options)).to(_device_of(case))
    net = _ddp(model, case) if distributed_info() else model
    loss, _ = make_train_step(net, **BENCH_SGD)(xs[part].to(_device_of(case)), ys[part].to(_device_of(case)))
    out = {"rank": info["rank"], "loss": float(loss),
           "grads": [[float(p.grad.sum()), float((p.grad * p.grad).sum())] for p in model.parameters()]}
    if with_weights:
        out["weights"] = torch.cat([p.detach().flatten().cpu() for p in model.parameters()]).tolist()
    return out


# ------------------------------------------------------------------ machine measurements
def gemm_peak_flops(device: str = "cpu", math_mode: str = "fp32", *, n: int | None = None, trials: int = 5) -> float:
    """Best FLOP/s of ``trials`` synchronized n x n matrix products (2 n^3 FLOPs each) in ``math_mode``:
    fp32 (strict), tf32 (float32 storage, TF32 tensor cores), bf16 or fp16. The run's own settings are
    restored afterwards."""
    if n is None:
        n = 8192 if device == "cuda" else (2048 if math_mode in ("fp32", "tf32") else 1024)
    dtype = _DTYPE[math_mode]
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


# ------------------------------------------------------------------ cnnbench train
class Trainer:
    """Trains one model on in-memory arrays (NCHW) with the one training step; returns plain numbers."""

    framework = "torch"

    def __init__(self, model: nn.Module, lr: float, momentum: float):
        self.model = model
        self._step = make_train_step(model, lr=lr, momentum=momentum)

    def train_epoch(self, x, y, order, batch: int, on_step=None) -> tuple:
        """One pass over ``order``; returns (mean loss, accuracy, seconds)."""
        self.model.train()
        xt, yt = torch.from_numpy(x), torch.from_numpy(y)
        start = time.perf_counter()
        total_loss, correct = 0.0, 0
        for i in range(0, len(order), batch):
            idx = torch.from_numpy(order[i:i + batch])
            yb = yt[idx]
            loss, logits = self._step(xt[idx], yb)
            total_loss += loss.item() * len(idx)
            correct += int((logits.argmax(1) == yb).sum())
            if on_step:
                on_step(i // batch + 1, total_loss / (i + len(idx)), correct / (i + len(idx)))
        return total_loss / len(order), correct / len(order), time.perf_counter() - start

    @torch.no_grad()
    def predict(self, x, batch: int = 256):
        import numpy as np

        self.model.eval()
        out = [self.model(torch.from_numpy(x[i:i + batch])).numpy() for i in range(0, len(x), batch)]
        return np.concatenate(out)

    def save(self, path: str) -> None:
        torch.save(self.model.state_dict(), path)

    def load(self, path: str) -> None:
        self.model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
