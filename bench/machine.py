"""Machine facts for pytest-benchmark's machine_info and every result row."""
from __future__ import annotations

import importlib.util
import os
import platform


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _meminfo(field: str) -> int | None:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def ram_bytes() -> int | None:
    return _meminfo("MemTotal")


def available_bytes() -> int | None:
    """Memory the kernel could give a new allocation now without swapping (Linux MemAvailable)."""
    return _meminfo("MemAvailable")


def installed(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def cuda_available() -> bool:
    """True when PyTorch sees a CUDA device (TensorFlow is asked only if torch is absent)."""
    if installed("torch"):
        import torch

        return torch.cuda.is_available()
    if installed("tensorflow"):
        import tensorflow as tf

        return bool(tf.config.list_physical_devices("GPU"))
    return False


def gpu_info() -> dict:
    if not installed("torch"):
        return {}
    import torch

    if not torch.cuda.is_available():
        return {}
    props = torch.cuda.get_device_properties(0)
    return {
        "gpu_name": props.name,
        "gpu_memory_bytes": int(props.total_memory),
        "gpu_count": torch.cuda.device_count(),
        "cuda_version": torch.version.cuda,
        "cudnn_version": torch.backends.cudnn.version(),
    }


def device_name(device: str) -> str:
    if device == "cuda":
        return gpu_info().get("gpu_name", "cuda")
    return cpu_model()


def describe() -> dict:
    info = {
        "cpu_model": cpu_model(),
        "cpu_logical_cores": os.cpu_count(),
        "cpu_affinity_cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "ram_bytes": ram_bytes(),
    }
    info.update(gpu_info())
    if installed("torch"):
        import torch

        info["torch_version"] = torch.__version__
    if installed("tensorflow"):
        import keras
        import tensorflow as tf

        info["tf_version"] = tf.__version__
        info["keras_version"] = keras.__version__
    return info
