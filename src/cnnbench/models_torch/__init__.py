"""PyTorch implementations of the cnnbench zoo: plain ``nn.Module`` classes in torchvision's style,
one file per family (``models_torch/<family>.py``, named as ``cnnbench/core/families/<family>.py``),
whose builders register themselves with ``@register_builder``.

Every builder takes ``num_classes``, ``input_size`` and the spec's options, and returns an
``nn.Module`` taking NCHW float32 input and returning logits.
"""
from __future__ import annotations

import importlib

from cnnbench.core.specs import families, list_models
from cnnbench.models_torch._common import BUILDERS

for _family in families():
    try:
        importlib.import_module(f"{__name__}.{_family}")
    except ModuleNotFoundError as exc:
        if exc.name != f"{__name__}.{_family}":
            raise
        # no PyTorch file for this family yet: its models have no PyTorch builder (the registry
        # test names what a model lacks; get_model says so)

__all__ = [name for name in list_models() if name in BUILDERS]
globals().update({name: BUILDERS[name] for name in __all__})
