"""Deterministic weights and inputs for the stored expected-output test (tests/test_model_outputs.py).

Every parameter and BatchNorm statistic is set from a sine of its index (no random generator, so no
framework or version changes them), the input likewise; the PyTorch model's logits at a small input
are stored in tests/data/expected_outputs.json by `python tests/model_outputs.py` (every model), or
`python tests/model_outputs.py NAME ...` (those models' entries only, the others kept). Both frameworks
must keep reproducing them: parity tests compare the frameworks with each other, this compares them
with what they computed when the file was written, so a change in both at once is caught too.
"""
from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import numpy as np

STORE = Path(__file__).parent / "data" / "expected_outputs.json"
CLASSES = 7  # not any model's default (LeNet-5: 10, the others 1000)


def small_size(name: str, **options) -> int:
    """The tests' small input: not the default, odd (so PyTorch's ceil-mode pools and the uneven
    padding splits are exercised) and at least 65 px, so that VGG's last feature map (2 x 2) still
    pools into AdaptiveAvgPool's 7 x 7 bins unevenly rather than from one value."""
    from cnnbench.core.analytic import min_input_size

    return max(min_input_size(name, **options) + 1, 65) | 1


def set_deterministic(model) -> None:
    import torch

    table = torch.sin(torch.arange(4099, dtype=torch.float64) * 0.37).float()  # one period table, tiled
    with torch.no_grad():
        for i, (key, t) in enumerate(model.state_dict().items()):
            if not t.is_floating_point():
                continue
            # table[(k + 101 i) mod len] for k = 0..numel-1: the rolled table, tiled
            shifted = torch.roll(table, -((101 * i) % len(table)))
            wave = shifted.repeat(t.numel() // len(table) + 1)[: t.numel()].reshape(t.shape)
            if key.endswith("running_var"):
                value = 1.0 + 0.5 * wave.abs()
            elif key.endswith("running_mean") or key.endswith("bias"):
                value = 0.1 * wave
            elif t.dim() > 1:  # conv and dense kernels: unit-variance-ish activations at any depth
                value = wave * math.sqrt(3.0 / (t.numel() // t.shape[0]))
            else:  # BatchNorm scale
                value = 1.0 + 0.1 * wave
            t.copy_(value.to(t.dtype))


def input_for(name: str) -> np.ndarray:
    import cnnbench

    spec, size = cnnbench.get_spec(name), small_size(name)
    n = spec.in_channels * size * size
    return np.sin(np.arange(n) * 0.11).reshape(1, spec.in_channels, size, size).astype("float32")


def torch_logits(name: str) -> np.ndarray:
    import torch

    import cnnbench

    model = cnnbench.get_model(name, "torch", num_classes=CLASSES, input_size=small_size(name)).eval()
    set_deterministic(model)
    with torch.no_grad():
        return model(torch.from_numpy(input_for(name))).numpy()[0]


def main(names: list[str]) -> int:
    """Every model's entry, or only ``names``' (a new model's, without recomputing the others')."""
    import cnnbench
    import torch

    unknown = sorted(set(names) - set(cnnbench.list_models()))
    if unknown:
        print(f"unknown model(s) {', '.join(unknown)}; known: {', '.join(cnnbench.list_models())}", file=sys.stderr)
        return 2
    logits = json.loads(STORE.read_text())["logits"] if names else {}
    logits.update({name: torch_logits(name).tolist() for name in names or cnnbench.list_models()})
    order = {name: i for i, name in enumerate(cnnbench.list_models())}
    out = {"generated_by": "python tests/model_outputs.py", "torch_version": torch.__version__,
           "classes": CLASSES, "logits": dict(sorted(logits.items(), key=lambda kv: order.get(kv[0], len(order))))}
    STORE.write_text(json.dumps(out, indent=1) + "\n")
    print(f"wrote {STORE}" + (f" ({', '.join(names)})" if names else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
