"""LoadGen scenario cases of ``pytest bench --scenarios ...`` (docs/loadgen.md): one worker process per case
prepares the runtime's step once and runs MLCommons' LoadGen through it (``cnnbench.loadgen.sut``).

One process per scenario case, not the step cases' several (cnnbench.harness.replication): a LoadGen run is
itself hundreds of timed queries with LoadGen's own statistics (the percentile with early stopping's bound),
and the Server search is already several runs; a second process would double the longest cases of the suite.
Each row says so (``processes_note``).

These are unofficial runs of LoadGen's scenarios, never "MLPerf results": short durations, no accuracy run.
"""
from __future__ import annotations

import math
import shutil
import statistics
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import pytest

from cnnbench.core.case import Case
from cnnbench.harness.harness import (StartFailed, case_info, fail_from_worker, open_worker, precheck, record_skip,
                                      record_unfinished, replay)
from cnnbench.loadgen import scenarios as sc
from cnnbench.worker.client import WorkerDied, WorkerError

COLUMNS_SHORT = {"single-stream": "p90 ms", "multi-stream": "p99 ms", "offline": "samples/s", "server": "q/s @ p99 ms"}
PROCESSES_NOTE = ("one worker process per scenario case: the LoadGen run's own queries are its repeats (its "
                  "percentiles and early-stopping bound), and a Server search is already several runs")


@dataclass(frozen=True)
class ScenarioCase(Case):
    """A case measured through one LoadGen scenario; ``batch`` is the step's batch where the scenario fixes it
    (SingleStream and Server 1, MultiStream 8); Offline's comes from the sweep."""

    scenario: str = "single-stream"

    @property
    def id(self) -> str:
        tag = self.at_batch(1).id.split("-")[1]  # the runtime's part of a step case's id
        return "-".join([self.model, tag, "loadgen_" + self.scenario.replace("-", "_"), self.device])

    @property
    def group(self) -> str:
        return f"loadgen:{self.scenario}:{self.model}:{self.device}"

    def at_batch(self, batch: int) -> Case:
        """The plain inference case the worker prepares (its id and row fields: a step case's)."""
        return Case(self.model, self.framework, "inference", batch, self.device, self.input_size, self.precision,
                    self.layout, self.tf_jit, self.torch_compile, self.options, self.keras_backend, export=self.export)


@dataclass
class LoadgenOptions:
    """The session's LoadGen options (pytest bench --scenarios ...), checked once."""

    scenarios: list[str]
    plan: sc.RunPlan = field(default_factory=sc.RunPlan)
    bounds: dict[str, float] = field(default_factory=dict)  # model -> Server p99 bound, ms
    trials: int = sc.SERVER_TRIALS
    batches: tuple[int, ...] = sc.OFFLINE_BATCHES
    logs: Path = Path(".benchmarks/loadgen")


def add_options(group) -> None:
    group.addoption("--scenarios", default=None, metavar="single-stream,multi-stream,offline,server",
                    help="measure these LoadGen scenarios (MLCommons' load generator, unofficial short runs) "
                         "in place of the step cases; all: every scenario (docs/loadgen.md)")
    group.addoption("--loadgen-duration", default=str(sc.DEFAULT_DURATION_S), metavar="SECONDS",
                    help=f"minimum duration of each LoadGen run (default {sc.DEFAULT_DURATION_S:g}; MLPerf's own: "
                         f"{sc.MLPERF_DURATION_S:g})")
    group.addoption("--loadgen-query-counts", default="early-stopping", metavar="early-stopping|mlperf",
                    help="minimum queries per run: the fewest with which early stopping can hold (default), or "
                         "mlperf.conf's")
    group.addoption("--server-bound", default=None, metavar="MODEL=MS,...",
                    help="the Server scenario's p99 latency bound per model in ms (default: "
                         + ", ".join(f"{m} {v:g}" for m, v in sc.DEFAULT_BOUND_MS.items())
                         + f", others {sc.FALLBACK_BOUND_MS:g})")
    group.addoption("--server-trials", default=str(sc.SERVER_TRIALS), metavar="N",
                    help=f"LoadGen runs of the Server rate search (default {sc.SERVER_TRIALS})")
    group.addoption("--offline-batches", default=",".join(map(str, sc.OFFLINE_BATCHES)), metavar="1,2,4,...",
                    help="the Offline batch sweep's batches (the smallest within 3%% of the best samples/s is run)")
    group.addoption("--loadgen-logs", default=None, metavar="DIR",
                    help="where LoadGen's summary and detail logs go (default: beside --benchmark-json, as "
                         "NAME.loadgen/, else .benchmarks/loadgen/DATE)")


def options_from(opt) -> LoadgenOptions | None:
    """The checked options, or None without --scenarios; ValueError with one line for a bad value."""
    from cnnbench.harness.cases import parse_batch_sizes, positive_int

    chosen = sc.parse_scenarios(getattr(opt, "scenarios", None))
    if not chosen:
        return None
    counts = opt.loadgen_query_counts
    if counts not in ("early-stopping", "mlperf"):
        raise ValueError(f"--loadgen-query-counts: {counts!r} is not one of early-stopping, mlperf")
    plan = sc.RunPlan(sc.parse_duration(opt.loadgen_duration), counts)
    if opt.modes not in (None, "inference"):
        raise ValueError(f"--scenarios: LoadGen scenarios are inference; leave out --modes {opt.modes}")
    if opt.world_sizes:
        raise ValueError("--scenarios: LoadGen scenarios run one process on one device; leave out --world-sizes")
    logs = opt.loadgen_logs
    if logs is None:
        json_path = getattr(opt, "benchmark_json", None)
        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        logs = Path(str(json_path)).with_suffix(".loadgen") if json_path else Path(".benchmarks/loadgen") / stamp
    return LoadgenOptions(chosen, plan, sc.parse_bounds(opt.server_bound),
                          positive_int("--server-trials", opt.server_trials, allow_none=False),
                          tuple(sorted(parse_batch_sizes(opt.offline_batches))), Path(logs))


def scenario_cases(cases: list[Case], options: LoadgenOptions) -> list[ScenarioCase]:
    """One case per inference case's model x runtime x device (its batch ignored) x scenario."""
    seen, out = set(), []
    for case in cases:
        key = (case.model, case.runtime, case.device)
        if case.mode != "inference" or key in seen or case.distributed:
            continue
        seen.add(key)
        for scenario in options.scenarios:
            batch = sc.MULTI_STREAM_SAMPLES if scenario == "multi-stream" else 1
            out.append(ScenarioCase(case.model, case.framework, "inference", batch, case.device, case.input_size,
                                    case.precision, case.layout, case.tf_jit, case.torch_compile, case.options,
                                    case.keras_backend, export=case.export, scenario=scenario))
    return out


# ------------------------------------------------------------------ one case
def _prepare(worker, case: Case, state) -> dict:
    """Prepare ``case`` in the worker, warm it up, time a few steps: (prep, the median step time)."""
    timeout = state.worker_timeout
    worker.call("release", timeout=timeout)  # the sweep's last batch freed before the next is built
    prep = worker.call("prepare", case=case.to_dict(), timeout=timeout)
    warm = worker.call("warmup", rounds=state.profile.warmup_rounds, seconds=state.profile.warmup_seconds,
                       timeout=timeout)
    rounds = max(3, min(20, math.ceil(0.5 / max(warm["last_s"], 1e-6))))
    times = worker.call("time", rounds=rounds, timeout=timeout)["times"]
    return {"prep": prep, "step_s": statistics.median(times), "fastest_s": min(times), "times": times}


def _run(worker, case: ScenarioCase, settings: dict, outdir: Path, state) -> dict:
    """One LoadGen run in the worker; its logs in ``outdir`` (the empty accuracy log removed)."""
    timeout = state.worker_timeout + 10 * settings["min_duration_ms"] / 1000
    out = worker.call("loadgen", scenario=case.scenario, settings=settings, outdir=str(outdir), timeout=timeout)
    accuracy = outdir / "mlperf_log_accuracy.json"
    if accuracy.exists() and accuracy.stat().st_size <= 2:  # performance runs log no accuracy: an empty list
        accuracy.unlink()
    return out


def impossible_bound(model: str, bound_s: float, step_s: float) -> str | None:
    """Why no arrival rate can meet ``bound_s`` (one query alone takes longer), or None."""
    if step_s < bound_s:
        return None
    return (f"--server-bound {model}={bound_s * 1e3:g}: impossible: one query alone takes {step_s * 1e3:.1f} ms at "
            f"batch 1 here, before any queueing; give a bound above it (e.g. --server-bound "
            f"{model}={math.ceil(3 * step_s * 1e3)})")


def run_scenario_case(benchmark, case: ScenarioCase, state) -> None:
    """Measure ``case``: prepare (Offline: after the batch sweep), then its LoadGen run (Server: the search)."""
    options: LoadgenOptions = state.loadgen
    why = sc.missing()
    if why:
        record_skip(state, case, why)
    precheck(case, state)
    logs = options.logs / case.id
    shutil.rmtree(logs, ignore_errors=True)
    started = datetime.now(timezone.utc).isoformat(timespec="seconds")
    wall = time.perf_counter()
    try:
        worker = open_worker(case, state)
    except StartFailed as exc:
        record_unfinished(state, case, f"the {case.runtime} worker could not start: {exc}")
    extra: dict = {}
    try:
        info = worker.info
        if case.scenario == "offline":
            sweep = {}
            for batch in options.batches:
                sweep[batch] = _prepare(worker, case.at_batch(batch), state)
                rate = {b: b / m["step_s"] for b, m in sweep.items()}
                if len(rate) > 1 and rate[batch] < (1 + 0.03) * max(v for b, v in rate.items() if b != batch):
                    break  # no longer gaining: larger batches only add latency and memory
            batch = sc.pick_batch(rate)
            measured = sweep[batch] if batch == max(sweep) else _prepare(worker, case.at_batch(batch), state)
            extra.update(offline_batch=batch, offline_sweep_images_per_s={str(b): v for b, v in rate.items()})
        else:
            batch = case.batch
            measured = _prepare(worker, case.at_batch(batch), state)
        step_s = measured["step_s"]
        if case.scenario == "server":
            bound_s = sc.bound_ms(case.model, options.bounds) / 1e3
            impossible = impossible_bound(case.model, bound_s, step_s)
            if impossible:
                pytest.fail(impossible, pytrace=False)
            runs = []

            def trial(rate: float) -> dict:
                fields = sc.loadgen_settings("server", options.plan, step_s=step_s, batch=batch, rate=rate,
                                             bound_s=bound_s)
                out = _run(worker, case, fields, logs / f"trial{len(runs) + 1}-{rate:.3g}qps", state)
                runs.append(out)
                return out["result"]

            search = sc.search_server_rate(1.0 / step_s, trial, trials=options.trials)
            chosen = next((r for r in runs if r["result"] is search["result"]), runs[-1])
            extra.update(server_bound_s=bound_s, server_capacity_qps=search["capacity"], server_rate_qps=search["rate"],
                         server_p99_s=search["result"]["latency_s"].get("p99") if search["result"] else None,
                         server_trials=search["trials"])
        else:
            # LoadGen pre-generates the queries of the duration from these: planned on the fastest step, and with
            # a margin, so that a slower moment cannot leave the run short of its minimum duration
            fields = sc.loadgen_settings(case.scenario, options.plan, step_s=measured["fastest_s"] / 2, batch=batch,
                                         samples_per_s=1.5 * batch / measured["fastest_s"])
            chosen = _run(worker, case, fields, logs, state)
    except (WorkerError, WorkerDied) as exc:
        fail_from_worker(case, state, exc)
    finally:
        worker.close()
    result = chosen["result"]
    times = chosen["step_times"] or measured["times"]
    replay(benchmark, times, case.group)
    state.results[case.id] = {"stepping_s": chosen["wall_s"]}
    row = benchmark.extra_info
    row.update(case_info(case.at_batch(batch), state))
    prep = measured["prep"]
    valid = result["valid"] and (case.scenario != "server" or extra.get("server_rate_qps") is not None)
    log_dir = Path(chosen["logs"])
    row.update({
        "scenario": case.scenario, "loadgen_case": case.id,
        "loadgen_note": "LoadGen scenario, unofficial: short duration, no accuracy run; not an MLPerf result",
        "loadgen_valid": valid, "loadgen_validity": "VALID" if valid else "INVALID",
        "loadgen_why": result["why"] if case.scenario != "server" or not valid else [],
        "loadgen_metric": result["metric"]["name"], "loadgen_metric_unit": result["metric"]["unit"],
        "loadgen_metric_value": extra.get("server_rate_qps") if case.scenario == "server" else result["metric"]["value"],
        "loadgen_latency_s": result["latency_s"], "loadgen_mean_latency_s": result["mean_latency_s"],
        "loadgen_samples_per_s": result["samples_per_s"], "loadgen_query_count": result["query_count"],
        "loadgen_sample_count": result["sample_count"], "loadgen_samples_per_query": result["samples_per_query"],
        "loadgen_early_stopping": result["early_stopping"], "loadgen_run_s": chosen["wall_s"],
        "loadgen_min_duration_s": options.plan.duration_s, "loadgen_query_counts": options.plan.counts,
        "loadgen_min_queries": options.plan.min_queries(case.scenario),
        "loadgen_settings": chosen["settings"], "loadgen_version": result["loadgen_version"],
        "loadgen_samples": chosen["samples"], "loadgen_samples_bytes": chosen["samples_bytes"],
        "loadgen_samples_rss_bytes": chosen.get("samples_rss_bytes"),
        "loadgen_sut": chosen["sut"],
        "loadgen_logs": {"summary": str(log_dir / "mlperf_log_summary.txt"), "detail": str(log_dir / "mlperf_log_detail.txt")},
        "loadgen_step_s": step_s,
        "params": prep["trainable_params"], "params_with_buffers": prep["params"],
        "build_s": prep["build_s"], "first_step_s": prep["first_step_s"], "worker_start_s": info["import_s"],
        "peak_memory_bytes": chosen["peak_memory_bytes"], "peak_memory_method": "rss_delta",
        "peak_memory_kind": chosen["peak_memory_kind"], "runtime_rss_bytes": chosen.get("runtime_rss_bytes"),
        "process_peak_rss_bytes": chosen.get("process_peak_rss_bytes"),
        **info["versions"], **info["settings"], "setting_cpu_affinity": info.get("cpu_affinity"),
        **(prep.get("extra") or {}),
        **extra,
        "processes_per_case": 1, "processes_note": PROCESSES_NOTE,
        "loadgen_process": {"started_at": started, "pid": info.get("pid"), "forked": bool(info.get("forked")),
                            "wall_s": time.perf_counter() - wall},
    })
    from cnnbench.reports.loadgen import cell

    state.results[case.id]["summary"] = f"{row['loadgen_validity']} {COLUMNS_SHORT[case.scenario]} {cell(row)}"
    if not valid:
        if case.scenario == "server":
            tried = "; ".join(f"{t['rate']:.3g} q/s: {', '.join(t['why']) or 'INVALID'}" for t in extra["server_trials"])
            pytest.fail(f"{case.id}: no Server trial was VALID under the {extra['server_bound_s'] * 1e3:g} ms bound "
                        f"({tried[:400]})", pytrace=False)
        pytest.fail(f"{case.id}: LoadGen's result is INVALID: {'; '.join(result['why'])[:400]}", pytrace=False)


def summary_block(options: LoadgenOptions | None) -> dict | None:
    """The saved JSON's ``cnnbench.loadgen``: what every LoadGen run of the session was asked for."""
    if options is None:
        return None
    return {"scenarios": options.scenarios, "min_duration_s": options.plan.duration_s,
            "query_counts": options.plan.counts,
            "min_queries": {s: options.plan.min_queries(s) for s in options.scenarios},
            "server_bounds_ms": options.bounds or None, "server_trials": options.trials,
            "offline_batches": list(options.batches), "logs": str(options.logs),
            "note": "LoadGen scenarios (MLCommons' load generator), unofficial: not MLPerf results"}
