"""The backend contract: what a framework backend module provides, written down once.

A backend is a module (``cnnbench.models_torch.backend``, ``cnnbench.models_tf.backend``) that serves
one runtime in this process. ``cnnbench.zoo.dispatch.runtime_backend`` picks it; a worker process
(``cnnbench.worker``) configures it before anything is built, reads back what is in force, prepares
a case and steps it; ``cnnbench train`` trains with its ``Trainer``. Nothing else reaches into a
backend, so a new framework is a new module that satisfies ``Backend`` (a module satisfies a
``typing.Protocol`` by its functions, PEP 544) and one line in ``cnnbench.zoo.dispatch``.

Framework-free: the types below say what goes in and out (``Settings``, ``Case``, ``Prepared``, plain
dicts and numbers), never a framework's tensor or model.
"""
from __future__ import annotations

import inspect
from typing import Any, Callable, Protocol

from cnnbench.core.case import Case
from cnnbench.core.settings import Settings
from cnnbench.core.step import Prepared


class Trainer(Protocol):
    """Trains one model on in-memory arrays with the backend's one training step (``cnnbench train``)."""

    framework: str  # "torch" or "tf": the zoo the model came from

    def train_epoch(self, x, y, order, batch: int, on_step: Callable | None = None) -> tuple:
        """One pass over ``order`` in batches; (mean loss, accuracy, seconds)."""

    def predict(self, x, batch: int = 256):
        """Logits of ``x`` as a NumPy array."""

    def save(self, path: str) -> None: ...

    def load(self, path: str) -> None: ...


class Backend(Protocol):
    """One runtime (``torch``, ``keras-tf``, ``keras-jax``, ``keras-torch``) in this process."""

    RUNTIME: str  # the runtime it serves (a Keras backend module serves the one KERAS_BACKEND names)
    ALLOCATOR_PEAK_KIND: str  # what allocator_peak_bytes measures, as every GPU row records it
    Trainer: Callable[..., Trainer]  # Trainer(model, lr=..., momentum=...)

    def configure(self, settings: Settings, device: str) -> None:
        """Apply the run's settings, once per process, before any model is built (and join a
        data-parallel job when the worker was started as one of its ranks)."""

    def warm_runtime(self) -> None:
        """Start the framework's runtime (a tiny step), so that import costs never reach a case."""

    def versions(self, device: str) -> dict:
        """Framework, backend and (on a GPU) CUDA/cuDNN versions: the ``*_version`` fields of a row."""

    def effective_settings(self, device: str) -> dict:
        """What is in force, read back from the framework: the ``setting_*`` fields of a row."""

    def device_available(self, device: str) -> bool: ...

    def distributed_info(self) -> dict | None:
        """Rank, world size and collective backend of a data-parallel worker; None outside a job."""

    def gather(self, value) -> list:
        """Every rank's JSON-able ``value`` in rank order, through the framework's own collective."""

    def prepare(self, case: Case, seed: int = 0) -> Prepared:
        """Build the case's model and step, run the first step; what the worker then times."""

    def parity_step(self, case: Case, seed: int = 0, with_weights: bool = True) -> dict:
        """One training step from a fixed start, for the data-parallel parity tests."""

    def gemm_peak_flops(self, device: str = "cpu", math_mode: str = "fp32", *, n: int | None = None,
                        trials: int = 5) -> float:
        """The best FLOP/s of a large square matmul: the peak that % of peak is against."""

    def reset_allocator_peak(self, device: str) -> None: ...

    def allocator_peak_bytes(self, device: str) -> int | None:
        """The GPU allocator's peak since the last reset; None on the CPU."""


def members(protocol: type) -> dict[str, Any]:
    """The protocol's attributes (name -> annotation) and methods (name -> function)."""
    found: dict[str, Any] = dict(getattr(protocol, "__annotations__", {}))
    found.update({k: v for k, v in vars(protocol).items() if inspect.isfunction(v) and not k.startswith("_")})
    return found


def _parameters(fn: Callable, drop_self: bool) -> list[tuple]:
    params = list(inspect.signature(fn).parameters.values())[1 if drop_self else 0:]
    return [(p.name, p.kind, p.default) for p in params]


def conformance(module) -> list[str]:
    """How ``module`` breaks the ``Backend`` contract (an empty list: it keeps it): a missing name, or
    a function whose parameters (names, kinds, defaults) differ from the contract's."""
    problems = []
    for name, spec in members(Backend).items():
        if not hasattr(module, name):
            problems.append(f"{module.__name__} has no {name}")
        elif inspect.isfunction(spec) and _parameters(getattr(module, name), False) != _parameters(spec, True):
            problems.append(f"{module.__name__}.{name}{inspect.signature(getattr(module, name))} differs from the "
                            f"contract's {name}{inspect.signature(spec)}")
    trainer = getattr(module, "Trainer", None)
    for name, spec in members(Trainer).items() if inspect.isclass(trainer) else ():
        if not hasattr(trainer, name) and name not in getattr(trainer, "__annotations__", {}):
            problems.append(f"{module.__name__}.Trainer has no {name}")
        elif inspect.isfunction(spec) and _parameters(getattr(trainer, name), True) != _parameters(spec, True):
            problems.append(f"{module.__name__}.Trainer.{name}{inspect.signature(getattr(trainer, name))} differs "
                            f"from the contract's {name}{inspect.signature(spec)}")
    return problems
