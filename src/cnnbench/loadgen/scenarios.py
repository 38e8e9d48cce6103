"""LoadGen scenarios without LoadGen: their names, the settings each run gets, LoadGen's detail log read back
into a result (VALID or not, and why), and the server scenario's rate search. Pure Python, unit-tested cheaply.

Query counts. A LoadGen run is VALID only when its minimum duration and query count are met and its early
stopping criterion holds (the percentile is then bounded with confidence). Measured with LoadGen 6.0.17, the
smallest counts at which that can hold are 64 queries for SingleStream's 90th percentile and 459 for Server's
99th (with no query over the bound); MultiStream's 662 is mlperf.conf's own ``*.MultiStream.min_query_count``.
``--loadgen-query-counts mlperf`` asks for mlperf.conf's counts instead (the file built into the wheel:
``*.*.min_duration = 600000``, ``resnet50.Offline.min_query_count = 24576``).
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass

# the command line's spelling -> LoadGen's TestScenario name
SCENARIOS = {"single-stream": "SingleStream", "multi-stream": "MultiStream", "offline": "Offline", "server": "Server"}
# the percentile each scenario reports (mlperf.conf: SingleStream 90, MultiStream 99, Server 99)
PERCENTILE = {"single-stream": 90.0, "multi-stream": 99.0, "server": 99.0, "offline": None}
MULTI_STREAM_SAMPLES = 8  # mlperf.conf: *.MultiStream.samples_per_query = 8
# the fewest queries at which LoadGen 6.0.17's early stopping can make a run VALID (see the module's docstring)
EARLY_STOPPING_QUERIES = {"single-stream": 64, "multi-stream": 662, "server": 459, "offline": 1}
# mlperf.conf (built into mlcommons-loadgen 6.0.17): 600 s every scenario; Offline's 24576 samples (ResNet-50)
MLPERF_DURATION_S = 600.0
MLPERF_QUERIES = {"single-stream": 1024, "multi-stream": 662, "server": 270336, "offline": 24576}
DEFAULT_DURATION_S = 2.0  # --loadgen-duration: short, so that `make test` and CI stay short
INSTALL = "pip install mlcommons-loadgen (or the extra: pip install -e '.[loadgen]')"
# the server scenario's 99th-percentile bound per model when --server-bound names none: about 10x the model's batch-1
# step on one core of the 2-core reference VM, the ratio of MLPerf's ResNet-50 bound (15 ms, mlperf.conf
# resnet50.Server.target_latency) to a datacenter accelerator's batch-1 latency
DEFAULT_BOUND_MS = {"lenet5": 20.0, "mobilenet_v2": 600.0, "resnet50": 2500.0}
FALLBACK_BOUND_MS = 500.0
OFFLINE_BATCHES = (1, 2, 4, 8, 16)  # the offline batch sweep's candidates (--offline-batches)
SERVER_TRIALS = 4  # server search: LoadGen runs at most (--server-trials)


def missing() -> str | None:
    """Why LoadGen cannot run here (with the install command), or None; checked without importing it."""
    import importlib.util

    if importlib.util.find_spec("mlperf_loadgen") is None:
        return f"LoadGen scenarios: mlperf_loadgen is not installed ({INSTALL})"
    return None


def parse_scenarios(value: str | None) -> list[str]:
    """``--scenarios single-stream,offline`` (or ``all``): the scenarios, each once, in the given order."""
    if value is None:
        return []
    items = [v.strip() for v in value.split(",") if v.strip()]
    if items == ["all"]:
        return list(SCENARIOS)
    if not items:
        raise ValueError("--scenarios: no scenario given; choose from " + ", ".join(SCENARIOS))
    bad = [v for v in items if v not in SCENARIOS]
    if bad:
        raise ValueError(f"--scenarios: unknown scenario(s) {', '.join(bad)}; choose from {', '.join(SCENARIOS)} "
                         "or all")
    if len(set(items)) != len(items):
        raise ValueError(f"--scenarios: a scenario given twice; give each once: {','.join(dict.fromkeys(items))}")
    return items


def parse_duration(value) -> float:
    """``--loadgen-duration SECONDS``: LoadGen's minimum duration of each run, a positive number."""
    try:
        x = float(str(value))
    except ValueError:
        x = math.nan
    if not (math.isfinite(x) and x > 0):
        raise ValueError(f"--loadgen-duration: expected a positive number of seconds, got {value!r} "
                         f"(MLPerf's own minimum is {MLPERF_DURATION_S:g})")
    return x


def parse_bounds(value: str | None) -> dict[str, float]:
    """``--server-bound resnet50=400,mobilenet_v2=150``: milliseconds per model (the Server's p99 bound)."""
    bounds = {}
    for item in (value or "").split(","):
        if not item.strip():
            continue
        model, _, ms = item.partition("=")
        try:
            x = float(ms.strip().removesuffix("ms"))
        except ValueError:
            x = math.nan
        if not model.strip() or not (math.isfinite(x) and x > 0):
            raise ValueError(f"--server-bound: expected MODEL=MILLISECONDS with a positive bound, got {item.strip()!r}")
        bounds[model.strip()] = x
    return bounds


def bound_ms(model: str, bounds: dict[str, float]) -> float:
    return bounds.get(model, DEFAULT_BOUND_MS.get(model, FALLBACK_BOUND_MS))


@dataclass(frozen=True)
class RunPlan:
    """What every LoadGen run of a session is asked for: its minimum duration and which query counts."""

    duration_s: float = DEFAULT_DURATION_S
    counts: str = "early-stopping"  # or "mlperf"

    def min_queries(self, scenario: str) -> int:
        table = MLPERF_QUERIES if self.counts == "mlperf" else EARLY_STOPPING_QUERIES
        return table[scenario]


def loadgen_settings(scenario: str, plan: RunPlan, *, step_s: float, batch: int, rate: float | None = None,
                  bound_s: float | None = None, samples_per_s: float | None = None) -> dict:
    """LoadGen's TestSettings fields for one run, as plain values (``sut`` sets them; the row keeps them).

    ``step_s``: the prepared step's time at ``batch`` (the expected latency LoadGen plans with); ``rate``
    and ``bound_s``: the Server's Poisson arrival rate and p99 bound; ``samples_per_s``: Offline's expected
    throughput (LoadGen issues that many samples a second times the duration, at least the minimum count)."""
    if scenario not in SCENARIOS:
        raise ValueError(f"unknown scenario {scenario!r}")
    fields = {"scenario": SCENARIOS[scenario], "mode": "PerformanceOnly",
              "min_duration_ms": int(round(plan.duration_s * 1000)), "max_duration_ms": 0,
              "min_query_count": plan.min_queries(scenario), "max_query_count": 0}
    ns = max(1, int(step_s * 1e9))
    if scenario == "single-stream":
        fields.update(single_stream_expected_latency_ns=ns, single_stream_target_latency_percentile=0.9)
    elif scenario == "multi-stream":
        fields.update(multi_stream_samples_per_query=MULTI_STREAM_SAMPLES, multi_stream_expected_latency_ns=ns,
                      multi_stream_target_latency_percentile=0.99)
    elif scenario == "offline":
        fields.update(offline_expected_qps=float(samples_per_s or batch / step_s))
    else:
        if rate is None or bound_s is None:
            raise ValueError("the server scenario needs a rate and a bound")
        fields.update(server_target_qps=float(rate), server_target_latency_ns=int(bound_s * 1e9),
                      server_target_latency_percentile=0.99)
    return fields


# ------------------------------------------------------------------ LoadGen's logs, read back
_WHY = (("result_min_duration_met", "the minimum duration was not met"),
        ("result_min_queries_met", "the minimum query count was not met"),
        ("result_perf_constraints_met", "the latency percentile is above the bound"),
        ("early_stopping_met", "early stopping was not met"))


def read_detail(text: str) -> dict:
    """``mlperf_log_detail.txt``: its ``:::MLLOG {...}`` lines as key -> value (the last value of a key)."""
    out = {}
    for line in text.splitlines():
        if line.startswith(":::MLLOG "):
            try:
                entry = json.loads(line[len(":::MLLOG "):])
            except json.JSONDecodeError:
                continue
            out[entry.get("key")] = entry.get("value")
    return out


def result_of(scenario: str, detail: dict) -> dict:
    """The figures of one run from its detail log: validity and why, latencies (seconds), samples/s."""
    if "result_validity" not in detail:
        return {"valid": False, "validity": "NO RESULT", "why": ["LoadGen wrote no result (the run did not finish)"]}
    why = [text for key, text in _WHY if detail.get(key) is False]
    early = " ".join(str(detail.get("early_stopping_result") or "").split())
    if detail.get("early_stopping_met") is False and early:
        why.append(f"LoadGen: {early}")
    if detail.get("result_invalid_reason"):
        why.append(f"LoadGen: {detail['result_invalid_reason']}")
    per_query = "per_query_" if scenario == "multi-stream" else ""
    latency = {}
    for p in ("50.00", "90.00", "95.00", "97.00", "99.00", "99.90"):
        value = detail.get(f"result_{p}_percentile_{per_query}latency_ns", detail.get(f"result_{p}_percentile_latency_ns"))
        if value is not None:
            latency[f"p{p.rstrip('0').rstrip('.')}"] = value / 1e9
    queries = detail.get("result_query_count")
    samples_per_query = detail.get("effective_samples_per_query") or 1
    if scenario == "offline":
        throughput = detail.get("result_samples_per_second")
    elif scenario == "server":
        throughput = detail.get("result_completed_samples_per_sec")
    elif scenario == "single-stream":
        throughput = detail.get("result_qps_with_loadgen_overhead")
    else:
        throughput = None
    out = {"valid": detail["result_validity"] == "VALID", "validity": detail["result_validity"], "why": why,
           "latency_s": latency, "mean_latency_s": _s(detail.get("result_mean_latency_ns")),
           "min_latency_s": _s(detail.get("result_min_latency_ns")), "max_latency_s": _s(detail.get("result_max_latency_ns")),
           "query_count": queries, "samples_per_query": samples_per_query,
           "sample_count": queries * samples_per_query if queries is not None else None,
           "samples_per_s": throughput,
           "scheduled_samples_per_s": detail.get("result_scheduled_samples_per_sec"),
           "overlatency_queries": detail.get("result_overlatency_query_count"),
           "early_stopping": early or None,
           "loadgen_version": detail.get("loadgen_version")}
    if scenario == "single-stream" and detail.get("early_stopping_latency_ss"):
        out["early_stopping_latency_s"] = detail["early_stopping_latency_ss"] / 1e9
    if scenario == "multi-stream" and detail.get("early_stopping_latency_ms"):
        out["early_stopping_latency_s"] = detail["early_stopping_latency_ms"] / 1e9
    pct = PERCENTILE[scenario]
    out["metric"] = metric_of(scenario, out, pct)
    return out


def _s(ns) -> float | None:
    return None if ns is None else ns / 1e9


def metric_of(scenario: str, result: dict, pct: float | None) -> dict:
    """The scenario's headline figure, as MLPerf reports it: SingleStream's p90 and MultiStream's p99 latency,
    Offline's samples/s (and Server's: set by the search, the highest VALID rate)."""
    if scenario == "offline":
        return {"name": "samples_per_s", "value": result.get("samples_per_s"), "unit": "samples/s"}
    if scenario == "server":
        return {"name": "server_rate", "value": result.get("scheduled_samples_per_s"), "unit": "queries/s"}
    key = f"p{pct:g}"
    return {"name": f"{key}_latency_s", "value": result["latency_s"].get(key), "unit": "s"}


# ------------------------------------------------------------------ the server scenario's rate search
def search_server_rate(capacity: float, trial, *, trials: int = SERVER_TRIALS, start: float = 0.7) -> dict:
    """The highest Poisson arrival rate whose run is VALID (p99 under the bound, early stopping met), found as
    submitters find it: a first trial below the capacity, then bisection between the highest VALID rate and
    the lowest INVALID one, ``trials`` LoadGen runs in all (more, halving the rate, while none is VALID, up to
    twice as many).

    ``capacity``: queries/s one inference thread can serve at all (1 / the step's time at batch 1), the upper
    bracket: a Poisson arrival at the service rate has an unbounded queue. ``trial(rate)`` runs LoadGen at that
    rate and returns its result (``result_of``). Returns {"rate", "result", "trials": [(rate, valid, p99)...]}
    with rate None when no trial was VALID."""
    if not (capacity > 0 and math.isfinite(capacity)):
        raise ValueError(f"server search: the capacity must be a positive rate, got {capacity!r}")
    lo, best, hi = None, None, capacity
    rate = start * capacity
    done = []
    while len(done) < trials or (lo is None and len(done) < 2 * trials):
        result = trial(rate)
        done.append({"rate": rate, "valid": result["valid"], "p99_s": result["latency_s"].get("p99"),
                     "why": result["why"]})
        if result["valid"]:
            lo, best = rate, result
            rate = (rate + hi) / 2
        else:
            hi = rate
            rate = (lo + rate) / 2 if lo is not None else rate / 2
    return {"rate": lo, "result": best, "trials": done, "capacity": capacity}


def pick_batch(throughputs: dict[int, float], tolerance: float = 0.03) -> int:
    """The offline batch: the smallest whose samples/s is within ``tolerance`` of the sweep's best (a larger
    batch that gains less than that only adds latency and memory)."""
    if not throughputs:
        raise ValueError("offline sweep: no batch measured")
    best = max(throughputs.values())
    return min(b for b, v in throughputs.items() if v >= (1 - tolerance) * best)
