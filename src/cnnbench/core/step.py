"""A prepared case, as every backend hands it to the worker: pure data and callables, no framework."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable


class NonFiniteLoss(Exception):
    """The training loss is NaN or infinite; the case fails with this message."""


@dataclass
class Prepared:
    """A case ready to time: ``step()`` runs one step and returns only when the device is done."""

    step: Callable[[], Any]
    check: Callable[[Any], None]  # raises NonFiniteLoss when the last step's loss is NaN/inf
    build_s: float
    first_step_s: float
    params: int  # trainable + BatchNorm statistics
    trainable_params: int
    cleanup: Callable[[], None] = lambda: None
    notes: list[str] = field(default_factory=list)
    # ``layer_times(steps)``: ``steps`` more steps under the framework's profiler, and what they spent per
    # layer name (``cnnbench profile --layer-times``); None where the runtime cannot attribute its ops
    layer_times: Callable[[int], dict] | None = None
    extra: dict = field(default_factory=dict)  # row fields a runtime knows only once prepared (an export's facts)
    # ``feed(x)``: the next steps run on ``x`` (a numpy array of the step's input shape and layout) in place of
    # the prepared input; what the LoadGen SUT calls before each step (cnnbench.loadgen.sut). None: inference
    # cases of runtimes that cannot take samples, and training cases
    feed: Callable[[Any], None] | None = None
