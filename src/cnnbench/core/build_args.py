"""Everything a model builder takes, checked before any framework is imported.

Above both the spec registry and the analytic graph: the smallest input a model accepts is found by
running its topology (``cnnbench.core.analytic.min_input_size``), so the check cannot live in
``cnnbench.core.specs``, which the analytic graph reads.
"""
from __future__ import annotations

from cnnbench.core.analytic import min_input_size
from cnnbench.core.errors import InputTooSmallError
from cnnbench.core.specs import ModelSpec, get_spec
from cnnbench.core.user_values import positive_int

__all__ = ["check_build_args"]


def check_build_args(name: str, num_classes: int | None, input_size: int | None, options: dict) -> ModelSpec:
    """Validate everything a builder takes, before any framework is imported."""
    spec = get_spec(name)
    if num_classes is None:
        num_classes = spec.num_classes
    positive_int("num_classes", num_classes)
    spec.resolve(**options)  # unknown options fail here
    if input_size is not None:
        positive_int("input_size", input_size, unit=" (pixels per side)")
        minimum = min_input_size(name, **options)
        if input_size < minimum:
            raise InputTooSmallError(
                f"{name}: input_size {input_size} is too small; the minimum input size is {minimum} "
                f"(default {spec.input_size})"
            )
    return spec
