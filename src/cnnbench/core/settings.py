"""The settings that change results, applied equally to every runtime of a run.

A TensorFlow-vs-PyTorch verdict means something only when both sides ran under the same rules. By
default the frameworks do not: on a GPU TensorFlow runs float32 convolutions *and* matmuls in TF32 and
autotunes cuDNN, while PyTorch runs convolutions in TF32, matmuls in strict FP32 and does not autotune;
on a CPU, TensorFlow 2.21 turns oneDNN on only on some processors. ``Settings`` names one value for each
rule; every worker process applies it before its framework starts (``worker_env`` for what must be in
the environment, the backends for the rest) and reads back what is in force (``setting_*`` fields of
every row).
"""
from __future__ import annotations

import os
from dataclasses import asdict, dataclass

MATH_MODES = ("tf32", "fp32")


def allowed_cpus() -> list[int]:
    """The CPU numbers this process may run on, ascending."""
    if hasattr(os, "sched_getaffinity"):
        return sorted(os.sched_getaffinity(0))
    return list(range(os.cpu_count() or 1))


def cores_available() -> int:
    return len(allowed_cpus())


@dataclass(frozen=True)
class Settings:
    math: str = "tf32"  # GPU float32 math of convolutions AND matmuls: "tf32" or strict "fp32"
    autotune: bool = True  # cuDNN / XLA algorithm autotuning (TensorFlow's default; cudnn.benchmark=True)
    threads: int | None = None  # intra-op threads; None: the cores this process may use
    interop_threads: int | None = None  # inter-op threads; None: the same as threads
    onednn: bool = True  # TensorFlow's oneDNN CPU kernels (TF_ENABLE_ONEDNN_OPTS); PyTorch uses oneDNN too

    def resolved(self) -> "Settings":
        threads = self.threads or cores_available()
        return Settings(self.math, self.autotune, threads, self.interop_threads or threads, self.onednn)

    def to_dict(self) -> dict:
        return asdict(self.resolved())

    @classmethod
    def from_dict(cls, d: dict) -> "Settings":
        return cls(**{k: d[k] for k in ("math", "autotune", "threads", "interop_threads", "onednn") if k in d})


def worker_env(settings: Settings, *, device: str, keras_backend: str | None = None) -> dict[str, str]:
    """Environment variables a worker needs set *before* its framework is imported."""
    s = settings.resolved()
    env = {
        "TF_CPP_MIN_LOG_LEVEL": "3",
        "TF_ENABLE_ONEDNN_OPTS": "1" if s.onednn else "0",
        # OpenMP (PyTorch's intra-op pool, oneDNN) and TensorFlow read these at start-up
        "OMP_NUM_THREADS": str(s.threads),
        "MKL_NUM_THREADS": str(s.threads),
        "TF_NUM_INTRAOP_THREADS": str(s.threads),
        "TF_NUM_INTEROP_THREADS": str(s.interop_threads),
        "TF_CUDNN_USE_AUTOTUNE": "1" if s.autotune else "0",
        # keep JAX from grabbing 75% of the GPU up front: allocate as needed, as the others do
        "XLA_PYTHON_CLIENT_PREALLOCATE": "false",
    }
    xla = [f"--xla_cpu_multi_thread_eigen={'true' if s.threads > 1 else 'false'}"]
    if not s.autotune:
        xla.append("--xla_gpu_autotune_level=0")
    env["XLA_FLAGS"] = " ".join(xla)
    if s.math == "fp32":  # strict float32 in every CUDA library of the process (cuBLAS, cuDNN)
        env["NVIDIA_TF32_OVERRIDE"] = "0"
    if keras_backend:
        env["KERAS_BACKEND"] = keras_backend
    if device == "cpu":
        env["CUDA_VISIBLE_DEVICES"] = ""  # a CPU case never touches a GPU, in any runtime
        env["JAX_PLATFORMS"] = "cpu"
    return env
