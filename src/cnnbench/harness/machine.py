"""Machine facts for pytest-benchmark's machine_info and every result row, read without importing a
framework (the harness process never imports one: its workers do)."""
from __future__ import annotations

import importlib.util
import os
import platform
import shutil
import subprocess
from functools import lru_cache

from cnnbench.core.deps import distribution_version
from cnnbench.core.procfs import kib_field


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
    return kib_field("/proc/meminfo", field)


def ram_bytes() -> int | None:
    return _meminfo("MemTotal")


def available_bytes() -> int | None:
    """Memory the kernel could give a new allocation now without swapping (Linux MemAvailable)."""
    return _meminfo("MemAvailable")


def installed(module: str) -> bool:
    return importlib.util.find_spec(module) is not None




@lru_cache(maxsize=1)
def gpus() -> tuple[dict, ...]:
    """The NVIDIA GPUs nvidia-smi lists (name, memory, driver); () where there is none or no driver."""
    if shutil.which("nvidia-smi") is None:
        return ()
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=name,memory.total,driver_version",
                              "--format=csv,noheader,nounits"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return ()
    found = []
    for line in out.stdout.strip().splitlines() if out.returncode == 0 else []:
        name, memory, driver = (p.strip() for p in line.split(","))
        found.append({"name": name, "memory_bytes": int(float(memory)) * 2**20, "driver": driver})
    return tuple(found)


def cuda_available() -> bool:
    return bool(gpus()) and os.environ.get("CUDA_VISIBLE_DEVICES", None) != ""


def max_world_size(device: str) -> int:
    """How many data-parallel workers fit: one per GPU, or one per CPU core."""
    from cnnbench.core.settings import cores_available

    return len(gpus()) if device == "cuda" else cores_available()


def device_name(device: str) -> str:
    if device == "cuda" and gpus():
        return gpus()[0]["name"]
    return cpu_model()


def describe() -> dict:
    info = {
        "cpu_model": cpu_model(),
        "cpu_logical_cores": os.cpu_count(),
        "cpu_affinity_cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "ram_bytes": ram_bytes(),
    }
    if gpus():
        info.update(gpu_name=gpus()[0]["name"], gpu_memory_bytes=gpus()[0]["memory_bytes"], gpu_count=len(gpus()),
                    gpu_driver=gpus()[0]["driver"])
    for key, dist in (("torch_version", "torch"), ("tf_version", "tensorflow"), ("keras_version", "keras"),
                      ("jax_version", "jax")):
        v = distribution_version(dist) or (distribution_version("tensorflow-cpu") if dist == "tensorflow" else None)
        if v:
            info[key] = v
    return info
