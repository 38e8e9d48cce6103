"""cnnbench: the same image CNNs in PyTorch and Keras 3, measured honestly.

``import cnnbench`` imports neither framework; ``get_model`` imports the one asked for. The public
names below are loaded on first use, so importing a lower layer (``cnnbench.core``) does not pull
in the application layer.

Layout (bottom-up; ``tests/test_layers.py`` enforces it): ``cnnbench.core`` (specs, analytic graph,
FLOP and memory arithmetic, statistics, validation, errors, the backend contracts; no framework) <-
``cnnbench.models_torch``, ``cnnbench.models_tf`` (builders and one backend object per framework) <-
``cnnbench.zoo`` (framework dispatch, weight transfer) and ``cnnbench.registry`` <- ``cnnbench.deploy``
(the export runtimes) <- ``cnnbench.train`` <- ``cnnbench.worker`` (one measuring process per case) <-
``cnnbench.inspection`` (profile, summary, diagram, per-layer times) <- ``cnnbench.reports`` (saved JSON
-> tables and HTML; no framework) <- ``cnnbench.history`` <- ``cnnbench.harness`` (the pytest-benchmark
harness) <- ``cnnbench.ab`` (the paired A/B engine) <- ``cnnbench.cli`` and each package's ``cli`` module.
"""
from __future__ import annotations

import importlib

__version__ = "0.1.0"

_API = {
    "CnnbenchError": "cnnbench.core.errors",
    "FrameworkUnavailableError": "cnnbench.core.errors",
    "InputTooSmallError": "cnnbench.core.errors",
    "InvalidValueError": "cnnbench.core.errors",
    "NoBuilderError": "cnnbench.core.errors",
    "TransferError": "cnnbench.core.errors",
    "UnknownFrameworkError": "cnnbench.core.errors",
    "UnknownModelError": "cnnbench.core.errors",
    "FRAMEWORKS": "cnnbench.registry",
    "get_model": "cnnbench.registry",
    "get_spec": "cnnbench.registry",
    "list_models": "cnnbench.registry",
    "transfer_weights": "cnnbench.zoo.transfer",
}

__all__ = sorted(_API)


def __getattr__(name: str):
    if name in _API:
        value = getattr(importlib.import_module(_API[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'cnnbench' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_API))
