"""Whole-process peak RSS of one step, measured in a fresh interpreter.

``python -m cnnbench.memprobe MODEL FRAMEWORK MODE BATCH [INPUT_SIZE]`` builds the
model, runs one warm-up and one measured step, and prints JSON with the
process's peak resident set size (``VmHWM``): framework runtime, weights,
optimizer state and the step's activations together, as the operating system
sees them.
"""
from __future__ import annotations

import json
import os
import resource
import subprocess
import sys


def run_in_subprocess(model: str, framework: str, mode: str, batch: int, input_size: int | None = None) -> dict:
    args = [sys.executable, "-m", "cnnbench.memprobe", model, framework, mode, str(batch)]
    if input_size:
        args.append(str(input_size))
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    out = subprocess.run(args, capture_output=True, text=True, env=env)
    if out.returncode != 0:
        raise RuntimeError(f"memory probe failed: {out.stderr.strip().splitlines()[-1] if out.stderr else out.returncode}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def vmhwm_bytes() -> int | None:
    """Peak RSS of this address space (Linux VmHWM), or None where /proc is unavailable.
    Not ru_maxrss: Linux carries the parent's high-water mark across fork and exec into it,
    so a probe started by a big process would read big."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def _peak_rss() -> int:
    peak = vmhwm_bytes()
    return peak if peak is not None else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB


def main(argv: list[str]) -> int:
    model, framework, mode, batch = argv[0], argv[1], argv[2], int(argv[3])
    size = int(argv[4]) if len(argv) > 4 else None
    import cnnbench

    spec = cnnbench.get_spec(model)
    m = cnnbench.get_model(model, framework, input_size=size)
    size = size or spec.input_size
    if framework == "torch":
        from cnnbench.models_torch.profile import measured_memory

        measured_memory(m, mode, batch, size, spec.in_channels, spec.num_classes)
    else:
        from cnnbench.models_tf.profile import measured_memory

        measured_memory(m, mode, batch, spec.num_classes)
    peak = _peak_rss()
    print(json.dumps({"model": model, "framework": framework, "mode": mode, "batch": batch,
                      "input_size": size, "process_peak_rss_bytes": peak,
                      "kind": "peak RSS (VmHWM) of a fresh process: runtime + model + one step"}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
