"""The model registry's façade: look models up by name, build them in either framework."""
from __future__ import annotations

from typing import Any

from cnnbench.zoo.dispatch import FRAMEWORKS, check_framework, framework_module, model_builder
from cnnbench.core.build_args import check_build_args
from cnnbench.core.specs import get_spec, list_models, register

__all__ = ["FRAMEWORKS", "check_build_args", "check_framework", "framework_module", "get_model", "get_spec",
           "list_models", "register"]


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
    return model_builder(framework, spec.name)(num_classes=num_classes, input_size=input_size, **options)
