"""Keras 3 implementations of the cnnbench zoo: one builder per registered model, each running its
family's topology (``cnnbench/core/families/<family>.py``) on ``KerasOps``.

Every builder takes ``num_classes``, ``input_size`` and the spec's options, and returns a
``keras.Model`` taking NHWC float32 input and returning logits.
"""
from __future__ import annotations

from typing import Any, Callable

import keras

from cnnbench.core.build_args import check_build_args
from cnnbench.core.specs import get_spec, list_models
from cnnbench.models_tf.ops import KerasOps


def build(name: str, *, num_classes: int | None = None, input_size: int | None = None, **options: Any) -> keras.Model:
    """The registered model ``name`` as a Keras model (arguments checked before anything is built)."""
    spec = check_build_args(name, num_classes, input_size, options)
    options = spec.check_options(**options)
    num_classes = spec.num_classes if num_classes is None else num_classes
    input_size = input_size or spec.input_size
    model = spec.topology(KerasOps(spec.name, spec.in_channels, input_size), spec.resolve(**options), num_classes)
    # what was built, so tools can rebuild the twin in the other framework
    model.cnnbench_name = spec.name
    model.cnnbench_num_classes = num_classes
    model.cnnbench_input_size = input_size
    model.cnnbench_options = options
    return model


def _builder(name: str) -> Callable[..., keras.Model]:
    def builder(*, num_classes: int | None = None, input_size: int | None = None, **options: Any) -> keras.Model:
        return build(name, num_classes=num_classes, input_size=input_size, **options)

    spec = get_spec(name)
    builder.__name__ = builder.__qualname__ = name
    builder.__doc__ = (f"{spec.paper}; {spec.input_size}x{spec.input_size}x{spec.in_channels} input by default; "
                       f"options: {', '.join(spec.options) or 'none'}.")
    return builder


__all__ = list_models()
globals().update({name: _builder(name) for name in __all__})
