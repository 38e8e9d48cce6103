"""Framework dispatch, in one place: which package builds a framework's models, and how to install it."""
from __future__ import annotations

import difflib
import importlib

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


def framework_module(framework: str):
    """Import ``cnnbench.models_torch`` or ``cnnbench.models_tf``; a missing framework gives install advice."""
    check_framework(framework)
    try:
        return importlib.import_module(_PACKAGES[framework])
    except ImportError as exc:
        raise FrameworkUnavailableError(
            f"framework {framework!r} is not installed ({exc}); install it with {_INSTALL[framework]}"
        ) from None


def model_builder(framework: str, name: str):
    """The builder of the registered model ``name`` in ``framework`` (``cnnbench.models_torch.resnet50``)."""
    module = framework_module(framework)
    if name not in module.__all__:
        raise NoBuilderError(f"{name} has no {framework} builder: {_PACKAGES[framework]} does not register one")
    return getattr(module, name)
