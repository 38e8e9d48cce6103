"""Analytic model description: layer names, shapes, parameters and MACs from the spec alone.

Each family's topology (``cnnbench/core/families/<family>.py``) is written once against the ops
protocol (``cnnbench.core.ops``); ``Graph`` runs it without a framework, ``models_tf`` on Keras layers."""
from __future__ import annotations

from functools import lru_cache

from cnnbench.core.analytic.graph import Graph, Layer
from cnnbench.core.errors import InputTooSmallError
from cnnbench.core.specs import get_spec

__all__ = ["Graph", "Layer", "build_graph", "min_input_size"]


def build_graph(name: str, *, num_classes: int | None = None, input_size: int | None = None, **options) -> Graph:
    """The analytic graph of a registered model (raises InputTooSmallError with the minimum)."""
    spec = get_spec(name)
    cfg = spec.resolve(**options)
    size = spec.input_size if input_size is None else input_size
    g = Graph(name, spec.in_channels, size)
    try:
        spec.topology(g, cfg, spec.num_classes if num_classes is None else num_classes)
    except InputTooSmallError as exc:
        minimum = min_input_size(name, **options)
        raise InputTooSmallError(f"{exc}; the minimum input size for {name} is {minimum}") from None
    return g


@lru_cache(maxsize=None)
def _min_size(name: str, options: tuple) -> int:
    spec = get_spec(name)
    cfg = spec.resolve(**dict(options))

    def fits(n: int) -> bool:
        try:
            spec.topology(Graph(name, spec.in_channels, n), cfg, 2)
            return True
        except InputTooSmallError:
            return False

    # every family here is monotone in the input size: bisect in [1, default]
    lo, hi = 1, spec.input_size
    if fits(lo):
        return lo
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if fits(mid) else (mid, hi)
    return hi


def min_input_size(name: str, **options) -> int:
    """The smallest square input for which every layer of the model has an output."""
    return _min_size(name, tuple(sorted(options.items())))
