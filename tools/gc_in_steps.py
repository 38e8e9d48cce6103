"""Whether Python's garbage collector runs inside a framework's timed steps.

A process with PyTorch, TensorFlow and Keras imported tracks hundreds of thousands of Python objects, and each
full (generation 2) collection walks them all: about 0.4 s on the 2-core Zen 3 VM, where the test suite's
workers spent 15 s each in them (docs/testing.md). A full collection inside a timed round would be an outlier
of that size. This builds one model in one framework (PyTorch, or Keras on TensorFlow), runs the suite's
training step (``BENCH_SGD``) once, collects, then runs ``--steps`` more with a ``gc.callbacks`` hook that
counts the collections of each generation and their wall time, and prints one JSON line:

    python tools/gc_in_steps.py --framework tf --model lenet5 --steps 3000
"""
from __future__ import annotations

import argparse
import gc
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--framework", choices=("torch", "tf"), default="torch")
    p.add_argument("--model", default="lenet5")
    p.add_argument("--batch", type=int, default=2)
    p.add_argument("--steps", type=int, default=3000)
    args = p.parse_args(argv)

    import numpy as np

    import cnnbench
    from cnnbench.core.training import BENCH_SGD

    spec = cnnbench.get_spec(args.model)
    x = np.random.default_rng(0).random((args.batch, spec.in_channels, spec.input_size, spec.input_size),
                                        dtype="float32")
    y = np.zeros(args.batch, dtype="int64")
    if args.framework == "tf":
        import tensorflow as tf

        from cnnbench.models_tf import backend as kb

        step = kb.make_train_step(cnnbench.get_model(args.model, "tf"), **BENCH_SGD)
        inputs = (tf.constant(x.transpose(0, 2, 3, 1)), tf.constant(y.astype("int32")))
    else:
        import torch

        from cnnbench.models_torch import backend as tb

        step = tb.make_train_step(cnnbench.get_model(args.model, "torch"), **BENCH_SGD)
        inputs = (torch.from_numpy(x), torch.from_numpy(y))
    step(*inputs)  # the first step: tracing, allocation
    gc.collect()
    tracked = len(gc.get_objects())
    counts = {g: {"collections": 0, "seconds": 0.0} for g in range(3)}
    started = [0.0]

    def hook(phase, info):
        if phase == "start":
            started[0] = time.perf_counter()
        else:
            c = counts[info["generation"]]
            c["collections"] += 1
            c["seconds"] += time.perf_counter() - started[0]

    gc.callbacks.append(hook)
    t0 = time.perf_counter()
    for _ in range(args.steps):
        step(*inputs)
    elapsed = time.perf_counter() - t0
    gc.callbacks.remove(hook)
    print(json.dumps({"framework": args.framework, "model": args.model, "batch": args.batch, "steps": args.steps,
                      "seconds": round(elapsed, 3), "tracked_objects": tracked,
                      "collections": {f"generation {g}": c for g, c in counts.items()}}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
