"""The optional packages a worker's framework import leaves out.

TensorFlow and Keras import some installed packages only to offer integrations a worker never uses: Keras its
scikit-learn wrappers (scikit-learn, which imports SciPy's sparse and stats modules), its pandas data adapter,
its matplotlib image gallery and, for its Orbax checkpoint callback, JAX; TensorFlow Lite JAX's ``jit``. Each of
those imports is guarded (``try: import X`` / ``except ImportError``), so the framework runs without the package,
as it does where the package is not installed. With scikit-learn, pandas, matplotlib and JAX installed (this
project's extras), they were 40 to 60% of the import of a Keras runtime: importing the keras-tf runtime took
6.6 s, and 3.9 s without them; keras-torch 7.3 s and 4.1 s; keras-jax (which keeps JAX) 4.2 s and 1.6 s (2-core
AMD EPYC Zen 3 VM, 2026-12-07, one import each; results/worker-lean-imports-2026-12-07.json measures it paired).

They are left out during the runtime's import and start-up only (``sys.modules[name] = None``: Python's own way
to make ``import name`` raise ``ModuleNotFoundError``), and importable again afterwards: the time-to-accuracy
round loads scikit-learn's digits in the worker, later. A fork server and a fresh worker leave out the same
packages, so a forked worker still starts with what a fresh one has. PyTorch's runtime imports none of them.
"""
from __future__ import annotations

import os
import sys
from contextlib import contextmanager
from typing import Iterator

# never used by a worker's runtime; JAX also left out where the runtime does not compute with it
LEFT_OUT = ("sklearn", "pandas", "matplotlib")
JAX_RUNTIMES = ("keras-jax",)
FULL_IMPORT_ENV = "CNNBENCH_WORKER_FULL_IMPORT"  # "1": leave nothing out (the other side of the paired check)


def left_out(runtime: str) -> tuple[str, ...]:
    """The packages ``runtime``'s import leaves out; none where $CNNBENCH_WORKER_FULL_IMPORT is 1."""
    if os.environ.get(FULL_IMPORT_ENV) == "1":
        return ()
    return LEFT_OUT if runtime in JAX_RUNTIMES else (*LEFT_OUT, "jax")


@contextmanager
def leaving_out(names: tuple[str, ...]) -> Iterator[tuple[str, ...]]:
    """Within the block, ``import name`` raises ModuleNotFoundError for each of ``names`` not yet imported;
    afterwards each is importable again. Yields the names it left out (an already imported one is kept)."""
    absent = tuple(n for n in names if n not in sys.modules)
    for name in absent:
        sys.modules[name] = None  # type: ignore[assignment]
    try:
        yield absent
    finally:
        for name in absent:
            if name in sys.modules and sys.modules[name] is None:
                del sys.modules[name]
