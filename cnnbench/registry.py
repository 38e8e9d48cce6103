"""The model registry: look models up by name, build them in either framework."""
from __future__ import annotations

import difflib
import fnmatch
import importlib
from typing import Any

from cnnbench.errors import FrameworkUnavailableError, InputTooSmallError, UnknownFrameworkError, UnknownModelError
from cnnbench.specs import ALL_SPECS, ModelSpec

FRAMEWORKS = ("torch", "tf")
_FRAMEWORK_PACKAGES = {"torch": "models_torch", "tf": "models_tf"}
_FRAMEWORK_INSTALL = {"torch": 'pip install -e ".[torch]"', "tf": 'pip install -e ".[tf]" (or ".[tf-cpu]")'}

_REGISTRY: dict[str, ModelSpec] = {}


def register(spec: ModelSpec) -> ModelSpec:
    """Add a spec to the registry; a name registered twice is refused."""
    if spec.name in _REGISTRY:
        raise ValueError(f"model {spec.name!r} is already registered")
    _REGISTRY[spec.name] = spec
    return spec


for _spec in ALL_SPECS:
    register(_spec)


def list_models(pattern: str = "*") -> list[str]:
    """Registered model names matching a shell-style wildcard (``"resnet*"``), in table order."""
    return [name for name in _REGISTRY if fnmatch.fnmatchcase(name, pattern)]


def get_spec(name: str) -> ModelSpec:
    try:
        return _REGISTRY[name]
    except KeyError:
        close = difflib.get_close_matches(str(name).lower(), list(_REGISTRY), n=1, cutoff=0.5)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise UnknownModelError(
            f"unknown model {name!r}.{hint} Known models: {', '.join(_REGISTRY)}"
        ) from None


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


def framework_module(framework: str):
    """Import ``models_torch`` or ``models_tf``; a missing framework gives install advice."""
    check_framework(framework)
    try:
        return importlib.import_module(_FRAMEWORK_PACKAGES[framework])
    except ImportError as exc:
        raise FrameworkUnavailableError(
            f"framework {framework!r} is not installed ({exc}); install it with {_FRAMEWORK_INSTALL[framework]}"
        ) from None


def check_build_args(name: str, num_classes: int | None, input_size: int | None, options: dict) -> ModelSpec:
    """Validate everything get_model takes before any framework is imported."""
    spec = get_spec(name)
    if num_classes is None:
        num_classes = spec.num_classes
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes <= 0:
        raise ValueError(f"num_classes must be a positive integer, got {num_classes!r}")
    spec.resolve(**options)  # unknown options fail here
    if input_size is not None:
        if isinstance(input_size, bool) or not isinstance(input_size, int) or input_size <= 0:
            raise ValueError(f"input_size must be a positive integer (pixels per side), got {input_size!r}")
        from cnnbench.analytic import min_input_size

        minimum = min_input_size(name, **options)
        if input_size < minimum:
            raise InputTooSmallError(
                f"{name}: input_size {input_size} is too small; the minimum input size is {minimum} "
                f"(default {spec.input_size})"
            )
    return spec


def get_model(
    name: str,
    framework: str = "torch",
    *,
    num_classes: int | None = None,
    input_size: int | None = None,
    **options: Any,
):
    """Build a registered model in PyTorch (``"torch"``) or Keras 3 (``"tf"``).

    ``num_classes`` defaults to the spec's (1000 for the ImageNet models, 10 for
    LeNet-5); ``input_size`` to the spec's default input (224, 299, 28).
    ``options`` are the spec options the model accepts (``cnnbench.get_spec(name).options``),
    for example ``aux_logits=True`` for GoogLeNet or ``activation="tanh"`` for LeNet-5.
    PyTorch models take NCHW input, Keras models NHWC.
    """
    check_framework(framework)
    spec = check_build_args(name, num_classes, input_size, options)
    module = framework_module(framework)
    builder = getattr(module, spec.name)
    return builder(num_classes=num_classes, input_size=input_size, **options)
