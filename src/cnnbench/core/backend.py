"""The backend contract: what a framework backend module provides, written down once.

A backend is a module (``cnnbench.models_torch.backend``, ``cnnbench.models_tf.backend``) that serves
one runtime in this process. ``cnnbench.zoo.dispatch.runtime_backend`` picks it; a worker process
(``cnnbench.worker``) configures it before anything is built, reads back what is in force, prepares
a case and steps it; ``cnnbench train`` trains with its ``Trainer``. Nothing else reaches into a
backend, so a new framework is a new module that satisfies ``Backend`` and ``Zoo`` (a module satisfies a
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

    def preload(self) -> None:
        """Import what the first step would import later, and nothing more: no op run, no thread pool
        started. A fork server calls it before its first fork, so each forked worker inherits it."""

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


class Zoo(Protocol):
    """What a command needs of a framework's model zoo beside a runtime's step: both framework backends
    (``cnnbench.models_torch.backend``, ``cnnbench.models_tf.backend``) keep it, and
    ``cnnbench.zoo.dispatch.framework_backend(framework)`` returns it, so that no command above the models
    layer chooses by a framework's name (``cnnbench train``, ``profile``, ``summary``, ``export``, the
    export runtimes' source model). Arrays in and out are NumPy, in the zoo's ``INPUT_LAYOUT``."""

    FRAMEWORK: str  # "torch" | "tf": the zoo (the ``framework`` field of a row)
    NAME: str  # the zoo as a reader knows it: "PyTorch", "Keras"
    INPUT_LAYOUT: str  # "nchw" | "nhwc" (cnnbench.core.case.to_layout turns the suite's NCHW arrays into it)
    INITIAL_WEIGHTS_FROM: str | None  # the twin zoo whose initial weights this zoo's models take, if installed
    OP_COUNTER: dict  # the framework's FLOP counter: its name, its per-layer MACs field, its report's fields

    def framework_version(self) -> str: ...

    def set_seed(self, seed: int) -> None:
        """Seed the framework's initializers (and NumPy's and Python's where the framework does)."""

    def build(self, name: str, *, num_classes: int | None = None, input_size: int | None = None, **options):
        """The registered model, built by this zoo."""

    def param_counts(self, model) -> tuple[int, int]:
        """(parameters with the BatchNorm statistics, trainable parameters), as every row counts them."""

    def run_inference(self, model, x) -> Any:
        """The model's logits for ``x`` (in ``INPUT_LAYOUT``) in inference mode, as a NumPy array."""

    def release_models(self) -> None:
        """Free what the framework keeps of models no longer referenced (Keras' traced graphs)."""

    def layer_params(self, model) -> dict:
        """Per layer name: trainable, frozen, buffers, bytes, type."""

    def layer_output_shapes(self, model, input_size: int, in_channels: int) -> dict:
        """Per layer name: its output shape without the batch axis, in ``INPUT_LAYOUT``."""

    def op_counter_version(self) -> str:
        """The version the FLOP counter's results depend on (a cache key)."""

    def op_counts(self, model, *, input_size: int, batch: int, in_channels: int, frozen: bool = True) -> dict:
        """The FLOP counter's report fields, per layer and op what it counted (``per_layer``), and per layer
        its FLOPs (``layers``) and MACs (``layer_macs``)."""


def members(protocol: type) -> dict[str, Any]:
    """The protocol's attributes (name -> annotation) and methods (name -> function)."""
    found: dict[str, Any] = dict(getattr(protocol, "__annotations__", {}))
    found.update({k: v for k, v in vars(protocol).items() if inspect.isfunction(v) and not k.startswith("_")})
    return found


def _parameters(fn: Callable, drop_self: bool) -> list[tuple]:
    params = list(inspect.signature(fn).parameters.values())[1 if drop_self else 0:]
    return [(p.name, p.kind, p.default) for p in params]


def conformance(module, protocol: type = Backend) -> list[str]:
    """How ``module`` breaks the ``protocol`` contract (an empty list: it keeps it): a missing name, or
    a function whose parameters (names, kinds, defaults) differ from the contract's."""
    problems = []
    for name, spec in members(protocol).items():
        if not hasattr(module, name):
            problems.append(f"{module.__name__} has no {name}")
        elif inspect.isfunction(spec) and _parameters(getattr(module, name), False) != _parameters(spec, True):
            problems.append(f"{module.__name__}.{name}{inspect.signature(getattr(module, name))} differs from the "
                            f"contract's {name}{inspect.signature(spec)}")
    trainer = getattr(module, "Trainer", None) if protocol is Backend else None
    for name, spec in members(Trainer).items() if inspect.isclass(trainer) else ():
        if not hasattr(trainer, name) and name not in getattr(trainer, "__annotations__", {}):
            problems.append(f"{module.__name__}.Trainer has no {name}")
        elif inspect.isfunction(spec) and _parameters(getattr(trainer, name), True) != _parameters(spec, True):
            problems.append(f"{module.__name__}.Trainer.{name}{inspect.signature(getattr(trainer, name))} differs "
                            f"from the contract's {name}{inspect.signature(spec)}")
    return problems
