"""Framework dispatch, in one place: which package builds a framework's models, and how to install it."""
from __future__ import annotations

import difflib
import importlib

from cnnbench.core.backend import Backend
from cnnbench.core.case import EXPORT_RUNTIMES
from cnnbench.core.errors import FrameworkUnavailableError, NoBuilderError, UnknownFrameworkError

FRAMEWORKS = ("torch", "tf")
_PACKAGES = {"torch": "cnnbench.models_torch", "tf": "cnnbench.models_tf"}
_INSTALL = {"torch": 'pip install -e ".[torch]"', "tf": 'pip install -e ".[tf]" (or ".[tf-cpu]")'}


def check_framework(framework: str) -> str:
    if framework not in FRAMEWORKS:
        close = difflib.get_close_matches(str(framework).lower(), ["torch", "tf", "pytorch", "tensorflow"], n=1)
        alias = {"pytorch": "torch", "tensorflow": "tf", "keras": "tf"}
        hint = alias.get(str(framework).lower()) or (alias.get(close[0], close[0]) if close else None)
        raise UnknownFrameworkError(
            f"unknown framework {framework!r}; choose one of {', '.join(FRAMEWORKS)}"
            + (f" (did you mean {hint!r}?)" if hint else "")
        )
    return framework


def framework_backend(framework: str):
    """The backend module of ``framework``'s zoo in this process (``cnnbench.models_torch.backend``,
    ``cnnbench.models_tf.backend``): what a command needs of a framework (the ``Zoo`` contract of
    ``cnnbench.core.backend``: seed, build, layout, inference, parameter counts, per-layer hooks, FLOP
    counter, version) besides the runtime's ``Backend``; a missing framework gives install advice."""
    framework_module(framework)
    return importlib.import_module(_PACKAGES[framework] + ".backend")


def framework_module(framework: str):
    """Import ``cnnbench.models_torch`` or ``cnnbench.models_tf``; a missing framework gives install advice."""
    check_framework(framework)
    try:
        return importlib.import_module(_PACKAGES[framework])
    except ImportError as exc:
        raise FrameworkUnavailableError(
            f"framework {framework!r} is not installed ({exc}); install it with {_INSTALL[framework]}"
        ) from None


# ------------------------------------------------------------------ runtimes: a zoo on an engine
# Each runtime is served by one backend module; Keras' backend is fixed per process (KERAS_BACKEND),
# so a worker process serves one runtime (cnnbench.worker).
# The export runtimes (docs/deploy.md) share one backend, cnnbench.deploy.backend, told which runtime it
# serves; each needs its source framework, the exporter and the engine (the extras onnx, openvino, litert).
_RUNTIME_BACKEND = {"torch": "cnnbench.models_torch.backend", "keras-tf": "cnnbench.models_tf.backend",
                    "keras-jax": "cnnbench.models_tf.backend", "keras-torch": "cnnbench.models_tf.backend",
                    **{rt: "cnnbench.deploy.backend" for rt in EXPORT_RUNTIMES}}
_ONNX_FROM = {"torch": ("torch", "onnx", "onnxscript"), "keras": ("tensorflow", "keras", "onnx", "tf2onnx")}
_RUNTIME_NEEDS = {"torch": ("torch",), "keras-tf": ("tensorflow", "keras"), "keras-jax": ("jax", "keras"),
                  "keras-torch": ("torch", "keras"),
                  "ort-from-torch": (*_ONNX_FROM["torch"], "onnxruntime"),
                  "ort-from-keras": (*_ONNX_FROM["keras"], "onnxruntime"),
                  "openvino-from-torch": (*_ONNX_FROM["torch"], "openvino"),
                  "openvino-from-keras": (*_ONNX_FROM["keras"], "openvino"),
                  "litert-from-keras": ("tensorflow", "keras", "ai_edge_litert")}
_RUNTIME_INSTALL = {"torch": 'pip install -e ".[torch]"', "keras-tf": 'pip install -e ".[tf]" (or ".[tf-cpu]")',
                    "keras-jax": 'pip install -e ".[jax]"', "keras-torch": 'pip install -e ".[torch,keras]"',
                    "ort-from-torch": 'pip install -e ".[torch,onnx]"', "ort-from-keras": 'pip install -e ".[tf,onnx]"',
                    "openvino-from-torch": 'pip install -e ".[torch,onnx,openvino]"',
                    "openvino-from-keras": 'pip install -e ".[tf,onnx,openvino]"',
                    "litert-from-keras": 'pip install -e ".[tf,litert]"'}


def runtime_missing(runtime: str) -> str | None:
    """Why ``runtime`` cannot run here (a missing package, with the install command), or None.
    Checked without importing anything."""
    import importlib.util

    missing = [m for m in _RUNTIME_NEEDS[runtime] if importlib.util.find_spec(m) is None]
    if not missing:
        return None
    return f"{runtime}: {' and '.join(missing)} {'is' if len(missing) == 1 else 'are'} not installed " \
           f"({_RUNTIME_INSTALL[runtime]})"


def runtime_backend(runtime: str) -> Backend:
    """The backend module of ``runtime`` (it keeps the contract ``cnnbench.core.backend.Backend``); for
    Keras, this process's KERAS_BACKEND must match."""
    from cnnbench.core.case import split_runtime

    _, keras_backend = split_runtime(runtime)
    if keras_backend is not None:
        import os

        current = os.environ.get("KERAS_BACKEND", "tensorflow")
        if current != keras_backend:
            raise RuntimeError(f"this process runs Keras on {current!r} (KERAS_BACKEND); {runtime} needs "
                               f"{keras_backend!r}: run it in a worker process (cnnbench.worker)")
    module = importlib.import_module(_RUNTIME_BACKEND[runtime])
    if runtime in EXPORT_RUNTIMES:
        module.serve_runtime(runtime)  # one backend module for every export runtime: this process serves this one
    return module


def model_builder(framework: str, name: str):
    """The builder of the registered model ``name`` in ``framework`` (``cnnbench.models_torch.resnet50``)."""
    module = framework_module(framework)
    if name not in module.__all__:
        raise NoBuilderError(f"{name} has no {framework} builder: {_PACKAGES[framework]} does not register one")
    return getattr(module, name)
