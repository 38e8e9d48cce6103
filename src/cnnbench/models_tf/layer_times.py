"""Keras-on-TensorFlow side of ``cnnbench profile --layer-times``: what the real step spends per layer.

The backend's own ``tf.function`` step (as ``prepare`` built it) runs a few times under the TensorFlow
profiler (``tf.profiler.experimental.start``/``stop``, host tracer only); the trace (an XSpace protocol
buffer) holds one event per executed op, named ``<model>/<layer>[_N]/.../<op>:<OpType>``: Keras calls
every layer under a name scope that is the layer's name, which is PyTorch's module path (the house
naming rule). Each op event's *self* time (its duration less the events nested in it on its thread) is
given to the rows below; where the executor runs ops on two inter-op threads at once, each instant is
split evenly among the events running then, so that the rows add up to the step's wall time instead of
counting an overlap twice (``_charged``). The time goes to

* the layer named in its scope: the layer's forward, or its backward when the op's name starts with
  ``gradient_tape/`` (the gradient ops TensorFlow builds carry the forward op's scope);
* otherwise a labelled row outside any layer: ops outside any layer's scope (the loss, the optimizer's
  update, casts), and the executor's own events between ops (``ExecutorState::Process`` and the like).

TensorFlow's graph optimizer fuses ops (oneDNN: a convolution with its bias add and activation, or with
a batch normalization), and the fused op carries the name of the *last* node of the pattern: the time of
``stage1.conv`` may appear under ``stage1.relu``. A fused op whose type is a convolution or matmul but
whose scope names another kind of layer is given back to the convolution or dense layer that feeds it
(followed through the Keras graph), and the move is recorded in ``moved``.
"""
from __future__ import annotations

import glob
import re
import tempfile
import time
from collections import defaultdict

import keras

from cnnbench.core.layer_time_match import EXECUTOR, per_step
from cnnbench.models_tf.profile import layer_of_node
from cnnbench.models_tf.walk import keras_layers

OUTSIDE_OPS = "ops outside any layer (loss, casts)"
OUTSIDE_OPTIMIZER = "optimizer (SGD update)"
OUTSIDE_EXECUTOR = EXECUTOR
_COMPUTE = (keras.layers.Conv2D, keras.layers.DepthwiseConv2D, keras.layers.Dense)


def _segments(line, keep) -> list[tuple[int, int, int]]:
    """(start, end, metadata id) of the time each event of one trace line (one thread) runs itself: its
    interval less the intervals of the events nested in it; only events whose metadata id ``keep`` accepts."""
    events = sorted(line.events, key=lambda e: (e.offset_ps, -e.duration_ps))
    segments: list[tuple[int, int, int]] = []
    stack: list[list[int]] = []  # [end, metadata id, time covered up to]

    def close(until: float) -> None:
        while stack and stack[-1][0] <= until:
            end, mid, covered = stack.pop()
            if end > covered and keep(mid):
                segments.append((covered, end, mid))

    for e in events:
        begin, end = e.offset_ps, e.offset_ps + e.duration_ps
        close(begin)
        if stack:
            parent = stack[-1]
            if begin > parent[2] and keep(parent[1]):
                segments.append((parent[2], begin, parent[1]))
            parent[2] = max(parent[2], min(end, parent[0]))
        stack.append([end, e.metadata_id, begin])
    close(float("inf"))
    return segments


def _charged(segments: list[tuple[int, int, object]]) -> dict:
    """Seconds charged to each key: every instant is split evenly among the segments running then (two
    ops on two executor threads at once get half of the overlap each), so the charges add up to the
    wall time that some segment covers, never more."""
    points = sorted([(s, 1, i) for i, (s, _, _) in enumerate(segments)] + [(e, -1, i) for i, (_, e, _) in
                                                                            enumerate(segments)])
    charged: dict = defaultdict(float)
    active: set[int] = set()
    last = None
    for t, kind, i in points:
        if active and last is not None and t > last:
            share = (t - last) / 1e12 / len(active)
            for j in active:
                charged[segments[j][2]] += share
        last = t
        if kind > 0:
            active.add(i)
        else:
            active.discard(i)
    return charged


def _is_compute(layer) -> bool:
    """A convolution or dense layer: Keras' own, or any layer with a kernel (a family's custom conv)."""
    return isinstance(layer, _COMPUTE) or any(w.path.rpartition("/")[2] == "kernel" for w in layer.weights)


def _feeding_compute_layer(layer, hops: int = 4) -> str | None:
    """The convolution or dense layer whose output reaches ``layer`` through single-input layers."""
    for _ in range(hops):
        try:
            history = layer.input._keras_history
        except (AttributeError, ValueError):
            return None
        layer = history.operation if hasattr(history, "operation") else history[0]
        if _is_compute(layer):
            return layer.name
    return None


def _outside(op: str) -> str:
    """The row of an op outside any layer: the optimizer's update runs under the optimizer's name scope
    (``sgd``, or ``sgd_1`` for the process's second optimizer: the worker's warm-up built one)."""
    scope = re.sub(r"_\d+$", "", op.split("/")[0].lower())
    return OUTSIDE_OPTIMIZER if scope in ("sgd", "optimizer") else OUTSIDE_OPS


def attribute(space, model) -> tuple[dict, dict, dict]:
    """(per layer {"forward_s", "backward_s", "ops"}, outside rows, moved fused ops) from an XSpace,
    totals over every profiled step."""
    found = keras_layers(model)
    names = set(found)
    layers: dict = defaultdict(lambda: {"forward_s": 0.0, "backward_s": 0.0, "ops": defaultdict(float)})
    outside: dict = defaultdict(float)
    moved: dict = {}
    segments = []
    for plane in space.planes:
        if not plane.name.startswith("/host:"):
            continue
        meta = plane.event_metadata
        is_op = {mid: ":" in m.name and "/" in m.name.rpartition(":")[0] for mid, m in meta.items()}
        for line in plane.lines:
            # Python's thread waits in the eager call while the executor's threads run the ops: only ops there
            keep = (lambda mid: is_op.get(mid, False)) if line.name == "python" else (lambda mid: True)
            segments += [(s, e, (plane.name, mid)) for s, e, mid in _segments(line, keep)]
    metadata = {plane.name: plane.event_metadata for plane in space.planes}
    for (plane, mid), seconds in _charged(segments).items():
        op, sep, op_type = metadata[plane][mid].name.rpartition(":")
        if not sep or "/" not in op:  # not an op: the executor's own events
            outside[OUTSIDE_EXECUTOR] += seconds
            continue
        layer = layer_of_node(op, names)
        if layer is None:
            outside[_outside(op)] += seconds
            continue
        if ("Conv" in op_type or "MatMul" in op_type) and not _is_compute(found[layer]):
            source = _feeding_compute_layer(found[layer])
            if source is not None:
                moved[f"{op_type} named {layer}"] = source
                layer = source
        row = layers[layer]
        row["backward_s" if op.startswith("gradient_tape/") else "forward_s"] += seconds
        row["ops"][op_type] += seconds
    return {k: {**v, "ops": dict(v["ops"])} for k, v in layers.items()}, dict(outside), moved


def profile_steps(step, model, steps: int) -> dict:
    """``steps`` calls of ``step`` (the prepared, synchronized step) under the TF profiler; per-step seconds."""
    import tensorflow as tf
    from tensorflow.tsl.profiler.protobuf import xplane_pb2

    if keras.backend.backend() != "tensorflow":
        raise NotImplementedError(f"per-layer times read TensorFlow's profiler trace; Keras runs on "
                                  f"{keras.backend.backend()} here")
    options = tf.profiler.experimental.ProfilerOptions(host_tracer_level=2, python_tracer_level=0,
                                                       device_tracer_level=0)
    with tempfile.TemporaryDirectory(prefix="cnnbench-layer-times-") as logdir:
        tf.profiler.experimental.start(logdir, options=options)
        try:
            start = time.perf_counter()
            for _ in range(steps):
                step()
            wall = time.perf_counter() - start
        finally:
            tf.profiler.experimental.stop()
        files = glob.glob(f"{logdir}/**/*.xplane.pb", recursive=True)
        if not files:
            raise RuntimeError(f"the TensorFlow profiler wrote no trace under {logdir}")
        space = xplane_pb2.XSpace()
        with open(files[0], "rb") as f:
            space.ParseFromString(f.read())
    layers, outside, moved = attribute(space, model)
    return per_step(steps, wall, layers, outside, moved=moved,
                    method="TensorFlow profiler trace (host), self time of every op event (an overlap of ops on two "
                           "executor threads split evenly between them), attributed by the layer's name scope; "
                           "gradient_tape/ ops are the backward")
