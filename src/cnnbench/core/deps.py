"""Optional dependencies: a missing one gives one line naming the package and the extra to install."""
from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util

from cnnbench.core.errors import CnnbenchError


class MissingDependencyError(CnnbenchError, ImportError):
    """A feature needs a package that is not installed; the message says which and how to install it."""


def require(module: str, *, feature: str, extra: str, package: str | None = None):
    """Import ``module`` for ``feature``, or raise one clear line: pip install 'cnnbench[extra]'."""
    if importlib.util.find_spec(module.split(".")[0]) is None:
        raise MissingDependencyError(
            f"{feature} needs {package or module}, which is not installed: pip install -e '.[{extra}]' "
            f"(or pip install {package or module})")
    return importlib.import_module(module)


def distribution_version(distribution: str) -> str | None:
    """An installed distribution's version, from its metadata (nothing is imported; ``ai-edge-litert`` has no
    ``__version__``); None if it is not installed."""
    for name in (distribution, distribution.replace("-", "_")):
        try:
            return importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return None
