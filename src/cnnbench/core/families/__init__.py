"""Every model family, one file each: its specs and its topology, registered when the file is imported.

``import_all`` imports every module of this package (a package scan), so a new family file is found
without being listed anywhere. A family file defines ``topology(ops, cfg, num_classes)`` against the
ops protocol (``cnnbench.core.ops``) and calls ``cnnbench.core.specs.register`` with its specs.
"""
from __future__ import annotations

import importlib
import pkgutil


def import_all() -> None:
    for module in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{module.name}")
