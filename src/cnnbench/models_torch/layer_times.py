"""PyTorch side of ``cnnbench profile --layer-times``: what the real step spends in each layer, by name.

The backend's own step (``backend.make_inference_step`` / ``make_train_step``, as ``prepare`` built it) runs
a few times under ``torch.profiler``; a forward pre-hook and a forward hook on every leaf module open and
close a ``record_function`` scope carrying the module's path, which is the layer's name in every framework
(the house naming rule). Every op event's *self* time (CPU) is then given to

* the layer whose scope encloses it: that layer's forward;
* in training, the layer whose forward op created the autograd node it runs under
  (``autograd::engine::evaluate_function: XBackward0`` carries the sequence number of the forward op
  that recorded it): that layer's backward;
* otherwise a labelled row outside any layer: the optimizer (``Optimizer.step``/``zero_grad``), the
  loss and other ops outside a module, autograd's own work (the loss's backward, gradient accumulation),
  and the Python time between ops inside a layer's scope (the scope's own self time).

Nothing is re-executed in isolation: the times are those of the step the benchmark times, with the
profiler's overhead on top (the caller compares the traced step with untraced ones).
"""
from __future__ import annotations

import time
from collections import defaultdict

import torch
from torch import nn

from cnnbench.core.layer_time_match import per_step
from cnnbench.models_torch.profile import leaf_modules

SCOPE = "cnnbench.layer::"  # prefix of the record_function scopes this module opens
OUTSIDE_OPTIMIZER = "optimizer (SGD update)"
OUTSIDE_OPS = "ops outside any layer (loss, casts)"
OUTSIDE_AUTOGRAD = "autograd outside any layer (loss backward, gradient accumulation)"
OUTSIDE_DISPATCH = "Python and dispatch inside layers, between ops"


def _scope_hooks(model: nn.Module) -> list:
    """A record_function scope around every leaf module's forward, named by its path."""
    open_scopes: list = []

    def enter(name):
        def pre(module, args):
            scope = torch.profiler.record_function(SCOPE + name)
            scope.__enter__()
            open_scopes.append(scope)
        return pre

    def leave(module, args, output):
        open_scopes.pop().__exit__(None, None, None)

    handles = []
    for name, module in leaf_modules(model).items():
        handles.append(module.register_forward_pre_hook(enter(name)))
        handles.append(module.register_forward_hook(leave))
    return handles


def _ancestor(event, test):
    while event is not None:
        if test(event.name):
            return event
        event = event.cpu_parent
    return None


def attribute(events) -> tuple[dict, dict]:
    """(per layer {"forward_s", "backward_s", "ops": {op: s}}, outside rows {label: s}) from profiler
    events, totals over every profiled step."""
    layers: dict = defaultdict(lambda: {"forward_s": 0.0, "backward_s": 0.0, "ops": defaultdict(float)})
    outside: dict = defaultdict(float)
    in_scope = lambda n: n.startswith(SCOPE)  # noqa: E731
    seq_layer: dict[int, str] = {}
    scope_of = {}
    for e in events:
        scope = None if in_scope(e.name) else _ancestor(e, in_scope)
        scope_of[id(e)] = scope
        if scope is not None and getattr(e, "sequence_nr", -1) >= 0:
            seq_layer.setdefault(e.sequence_nr, scope.name[len(SCOPE):])
    for e in events:
        self_s = e.self_cpu_time_total / 1e6
        if in_scope(e.name):
            outside[OUTSIDE_DISPATCH] += self_s
            continue
        scope = scope_of[id(e)]
        if scope is not None:
            row = layers[scope.name[len(SCOPE):]]
            row["forward_s"] += self_s
            row["ops"][e.name] += self_s
            continue
        if _ancestor(e, lambda n: n.startswith("Optimizer.")) is not None:
            outside[OUTSIDE_OPTIMIZER] += self_s
            continue
        node = _ancestor(e, lambda n: n.startswith("autograd::engine::evaluate_function"))
        if node is not None and node.sequence_nr in seq_layer:
            row = layers[seq_layer[node.sequence_nr]]
            row["backward_s"] += self_s
            row["ops"][e.name] += self_s
        elif node is not None:
            outside[OUTSIDE_AUTOGRAD] += self_s
        else:
            outside[OUTSIDE_OPS] += self_s
    return ({k: {**v, "ops": dict(v["ops"])} for k, v in layers.items()}, dict(outside))


def profile_steps(step, model: nn.Module, steps: int) -> dict:
    """``steps`` calls of ``step`` (the prepared, synchronized step) under the profiler; per-step seconds."""
    handles = _scope_hooks(model)
    try:
        step()  # the hooks' first call, outside the trace
        with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
            start, cpu = time.perf_counter(), time.thread_time()
            for _ in range(steps):
                step()
            wall, cpu = time.perf_counter() - start, time.thread_time() - cpu
    finally:
        for h in handles:
            h.remove()
    layers, outside = attribute(prof.events())
    # the stepping thread's own CPU time beside the wall time: with one compute thread, what the wall time
    # holds beyond it is time the thread did not run (preempted by another process), in an event or not
    return per_step(steps, wall, layers, outside,
                    method="torch.profiler (CPU), self time of every op event; a record_function scope per leaf "
                           "module (forward), autograd sequence numbers (backward)", thread_cpu_s=cpu / steps)
