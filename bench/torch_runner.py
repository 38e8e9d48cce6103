"""Prepare a PyTorch case: build, move to device, first (untimed) step, timed step function."""
from __future__ import annotations

import contextlib
import math


from cnnbench.bench.cases import Case
from cnnbench.bench.common import (
    NonFiniteLoss, Prepared, process_peak_rss, reset_process_peak_rss, timed,
)


def sync(device: str) -> None:
    """Wait for the device: CUDA kernels are asynchronous, CPU ops are not."""
    import torch

    if device == "cuda":
        torch.cuda.synchronize()


def _autocast(case: Case):
    import torch

    if case.precision == "fp32":
        return contextlib.nullcontext()
    dtype = torch.bfloat16 if case.precision == "bf16" else torch.float16
    return torch.autocast(device_type=case.device, dtype=dtype)


def settings(device: str) -> dict:
    import torch

    out = {
        "torch_version": torch.__version__,
        "torch_intra_op_threads": torch.get_num_threads(),
        "torch_inter_op_threads": torch.get_num_interop_threads(),
        "cudnn_benchmark": bool(torch.backends.cudnn.benchmark),
        "tf32_matmul": bool(torch.backends.cuda.matmul.allow_tf32),
        "tf32_cudnn": bool(torch.backends.cudnn.allow_tf32),
        "matmul_precision": torch.get_float32_matmul_precision(),
    }
    if device == "cuda":
        out["cuda_version"] = torch.version.cuda
        out["cudnn_version"] = torch.backends.cudnn.version()
    return out


def prepare(case: Case, seed: int = 0, builder=None) -> Prepared:
    """Everything outside the timed region happens here.
    ``builder`` (a callable returning a model) replaces the registry build (README's reference builds)."""
    import torch

    import cnnbench

    if case.device == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("--device cuda was asked for, but torch.cuda.is_available() is False")
    torch.manual_seed(seed)
    device = torch.device(case.device)
    opts = dict(case.options)
    model, build_s = timed(builder or (lambda: cnnbench.get_model(
        case.model, "torch", input_size=case.input_size, **opts)))
    spec = cnnbench.get_spec(case.model)
    memory_format = torch.channels_last if case.layout == "nhwc" else torch.contiguous_format
    model = model.to(device, memory_format=memory_format)
    params = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    gen = torch.Generator().manual_seed(seed)
    x = torch.rand(case.batch, spec.in_channels, case.input_size, case.input_size, generator=gen)
    x = x.to(device).contiguous(memory_format=memory_format)
    y = torch.randint(0, spec.num_classes, (case.batch,), generator=gen).to(device)
    net = torch.compile(model) if case.torch_compile else model
    aux_weight = getattr(model, "aux_weight", 0.0)
    scaler = torch.amp.GradScaler(case.device) if case.precision == "fp16" and case.mode == "train" else None

    if case.mode == "inference":
        model.eval()

        def step():
            with torch.inference_mode(), _autocast(case):
                out = net(x)
            sync(case.device)
            return out

    else:
        model.train()
        opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)  # as in the seeds
        from cnnbench.models_torch.train import classification_loss

        def step():
            opt.zero_grad(set_to_none=True)
            with _autocast(case):
                loss = classification_loss(net(x), y, aux_weight)
            if scaler is not None:
                scaler.scale(loss).backward()
                scaler.step(opt)
                scaler.update()
            else:
                loss.backward()
                opt.step()
            sync(case.device)
            return loss.detach()

    def check(result) -> None:
        if case.mode == "train":
            value = float(result)
            if not math.isfinite(value):
                raise NonFiniteLoss(f"{case.id}: training loss is {value} (NaN/inf) after the timed rounds")

    def measure_peak_memory() -> dict:
        if case.device == "cuda":
            torch.cuda.reset_peak_memory_stats()
            step()
            return {"peak_memory_bytes": int(torch.cuda.max_memory_allocated()),
                    "peak_memory_kind": "torch.cuda.max_memory_allocated (allocator peak, this step)"}
        ok = reset_process_peak_rss()
        step()
        return {"peak_memory_bytes": process_peak_rss() if ok else None,
                "peak_memory_kind": "process peak RSS during one step (Linux VmHWM after reset)"
                if ok else "unavailable: /proc/self/clear_refs not writable"}

    first, first_step_s = timed(step)  # out of memory here is the harness's to record (is_out_of_memory)
    check(first)

    def cleanup():
        nonlocal model, net
        model = net = None
        if case.device == "cuda":
            torch.cuda.empty_cache()

    return Prepared(step, check, measure_peak_memory, build_s, first_step_s, params, trainable,
                    settings(case.device), cleanup)



def gemm_peak_flops(device: str = "cpu") -> float:
    """The framework's measured float32 GEMM peak (see cnnbench.models_torch.profile)."""
    from cnnbench.models_torch.profile import gemm_peak_flops as measure

    return measure(device)


def gemm_math_mode(device: str = "cpu") -> str:
    from cnnbench.models_torch.profile import gemm_math_mode as mode

    return mode(device)
