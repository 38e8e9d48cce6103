"""The PyTorch steps: THE training step (forward, loss, backward, SGD with momentum) and the inference
step, under autocast for bf16/fp16 and torch.compile when asked."""
from __future__ import annotations

import contextlib

import torch
from torch import nn

from cnnbench.models_torch.runtime import DTYPE


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
    return torch.autocast(device_type=device, dtype=DTYPE[precision])


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
