"""PyTorch side of ``cnnbench train``: mini-batch SGD with momentum, evaluation, save/load."""
from __future__ import annotations

import time

import numpy as np
import torch
from torch import nn


def classification_loss(out, y: torch.Tensor, aux_weight: float = 0.0) -> torch.Tensor:
    """Cross-entropy of the logits. Networks with auxiliary heads (GoogLeNet, Inception v3) return
    ``(logits, *aux_logits)`` in training mode; each auxiliary loss is added with ``aux_weight``.
    The one training loss of the benchmark step, the memory probe and ``cnnbench train``."""
    if isinstance(out, tuple):
        return nn.functional.cross_entropy(out[0], y) + aux_weight * sum(
            nn.functional.cross_entropy(a, y) for a in out[1:])
    return nn.functional.cross_entropy(out, y)


class Trainer:
    """Trains one model on in-memory arrays (NCHW); every call returns plain numbers."""

    framework = "torch"

    def __init__(self, model: nn.Module, lr: float, momentum: float, threads: int | None = None):
        if threads:
            torch.set_num_threads(threads)
        self.model = model
        self.opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum)
        self.aux_weight = getattr(model, "aux_weight", 0.0)

    def train_epoch(self, x: np.ndarray, y: np.ndarray, order: np.ndarray, batch: int, on_step=None) -> tuple:
        """One pass over ``order``; returns (mean loss, accuracy, seconds)."""
        self.model.train()
        xt, yt = torch.from_numpy(x), torch.from_numpy(y)
        start = time.perf_counter()
        total_loss, correct = 0.0, 0
        for i in range(0, len(order), batch):
            idx = torch.from_numpy(order[i:i + batch])
            xb, yb = xt[idx], yt[idx]
            self.opt.zero_grad(set_to_none=True)
            out = self.model(xb)
            logits = out[0] if isinstance(out, tuple) else out
            loss = classification_loss(out, yb, self.aux_weight)
            loss.backward()
            self.opt.step()
            total_loss += loss.item() * len(idx)
            correct += int((logits.argmax(1) == yb).sum())
            if on_step:
                on_step(i // batch + 1, total_loss / (i + len(idx)), correct / (i + len(idx)))
        return total_loss / len(order), correct / len(order), time.perf_counter() - start

    @torch.no_grad()
    def predict(self, x: np.ndarray, batch: int = 256) -> np.ndarray:
        self.model.eval()
        out = [self.model(torch.from_numpy(x[i:i + batch])).numpy() for i in range(0, len(x), batch)]
        return np.concatenate(out)

    def save(self, path: str) -> None:
        torch.save(self.model.state_dict(), path)

    def load(self, path: str) -> None:
        self.model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
