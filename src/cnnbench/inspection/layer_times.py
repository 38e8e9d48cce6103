"""``cnnbench profile MODEL --layer-times``: where each framework's step goes, layer by layer.

Each framework runs in its own worker process under the suite's settings (``cnnbench.worker``: equal
threads, oneDNN on, read back and recorded), exactly as a benchmark case does: the case is prepared,
warmed up, timed untraced (the step time the benchmark would report), then profiled for a few more
steps by the framework's own profiler (the worker's ``layer_times`` command). The replies are matched
by layer name on the analytic graph (``cnnbench.core.layer_time_match.combine``).
"""
from __future__ import annotations

import statistics
from typing import Any

from cnnbench.core.analytic import build_graph
from cnnbench.core.case import NATIVE_LAYOUT, Case
from cnnbench.core.layer_time_match import combine
from cnnbench.core.settings import Settings
from cnnbench.core.user_values import positive_int
from cnnbench.inspection.profile import frameworks_for
from cnnbench.registry import check_build_args

MODES = ("inference", "train")


def measure_layer_times(name: str, framework: str = "both", *, mode: str = "inference", batch: int = 1,
                        input_size: int | None = None, steps: int = 5, warmup: int = 3,
                        settings: Settings | None = None, options: dict | None = None) -> dict[str, Any]:
    """Per-layer time of ``steps`` profiled steps of each framework, after ``warmup`` untraced ones and
    ``steps`` timed untraced ones; the result of ``combine`` with the run's parameters and each worker's
    versions and settings."""
    from cnnbench.worker.client import Worker, WorkerError

    options = options or {}
    if mode not in MODES:
        raise ValueError(f"--mode must be one of {', '.join(MODES)}, not {mode!r}")
    positive_int("batch", batch)
    positive_int("steps", steps)
    positive_int("warmup", warmup)
    spec = check_build_args(name, None, input_size, options)
    size = input_size or spec.input_size
    fws = frameworks_for(framework)
    settings = settings or Settings()
    measured, workers = {}, {}
    for fw in fws:
        case = Case(name, fw, mode, batch, "cpu", size, layout=NATIVE_LAYOUT[fw], options=tuple(sorted(options.items())))
        with Worker(case.runtime, "cpu", settings) as w:
            try:
                w.call("prepare", case=case.to_dict())
                w.call("warmup", rounds=warmup)
                untraced = w.call("time", rounds=steps)["times"]
                reply = w.call("layer_times", steps=steps)
            except WorkerError as exc:
                raise RuntimeError(f"{case.id}: {exc.message}") from None
        reply["step_s"] = statistics.median(untraced)
        reply["untraced_times_s"] = untraced
        measured[fw] = reply
        workers[fw] = {"runtime": case.runtime, "versions": w.info.get("versions", {}),
                       "settings": w.info.get("settings", {})}
    graph = build_graph(name, input_size=size, **options)
    return {"model": name, "mode": mode, "batch": batch, "input_size": size, "device": "cpu", "steps": steps,
            "warmup": warmup, "options": options, "settings": settings.to_dict(), "workers": workers,
            **combine(graph.layers, measured)}
