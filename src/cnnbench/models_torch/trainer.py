"""``cnnbench train``'s trainer on the one PyTorch training step: in-memory arrays (NCHW), plain numbers out."""
from __future__ import annotations

import time

import torch
from torch import nn

from cnnbench.models_torch.steps import make_train_step


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
