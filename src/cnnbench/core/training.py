"""The training step's fixed choices, stated once for every runtime.

The benchmark step, the memory measurement and ``cnnbench train`` all use the one training step of each
backend: forward, cross-entropy of the logits (plus ``aux_weight`` x each auxiliary head's loss for
GoogLeNet and Inception v3), backward, SGD with momentum. Keras' momentum update
(v = m v - lr g; w += v) equals PyTorch's (v = m v + g; w -= lr v) for a constant learning rate.
"""
from __future__ import annotations

BENCH_SGD = {"lr": 0.01, "momentum": 0.9}  # the seeds' optimizer; its values do not change a step's cost
