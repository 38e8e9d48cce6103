"""Measure one case: a fresh worker process builds it, warms it up and times it; pytest-benchmark keeps
the statistics; the row gets every figure a user compares (FLOPs, memory, % of peak, settings).

Timing. The worker times each step itself (``time.perf_counter`` around a step that ends with a
device synchronization), so the pipe to this process never enters a measurement. pytest-benchmark
receives exactly those per-step times through its ``pedantic`` runner with a timer that replays them
(``WorkerClock``, given through pytest-benchmark's public ``benchmark`` marker, never its private
``_timer``): its statistics, its tables and its saved JSON are of the worker's steps.
"""
from __future__ import annotations

import fnmatch
import math
import os
import platform
import statistics
import time

import pytest

from cnnbench.harness import machine, replication
from cnnbench.harness.cases import delay_for
from cnnbench.harness.scaling import apply_scaling
from cnnbench.core.case import Case
from cnnbench.core.errors import InputTooSmallError, out_of_memory_reason
from cnnbench.core.flops import step_cost
from cnnbench.core.memory import analytic_memory
from cnnbench.core.build_args import check_build_args
from cnnbench.worker.client import Worker, WorkerDied, WorkerError
from cnnbench.harness.state import HarnessState

_GEMM_TRIALS, _GEMM_RECHECK_TRIALS = 7, 21


class WorkerClock:
    """pytest-benchmark's timer, replaying the worker's own step times. A round reads the clock (0),
    calls ``advance`` (the 'benchmarked function', which loads the next worker-measured time) and reads
    the clock again (that time), so each round's duration is exactly one worker-measured step."""

    __name__ = "perf_counter_in_the_worker_process"  # the saved JSON's options.timer
    __module__ = "cnnbench.worker.client"

    def __init__(self, times: list[float] = ()):
        self.load(times)

    def load(self, times: list[float]) -> None:
        self._times = list(times)
        self._pending: float | None = None

    def __call__(self) -> float:
        value, self._pending = (self._pending or 0.0), None
        return value

    def advance(self) -> None:
        self._pending = self._times.pop(0)


# The timer of every case's benchmark fixture: the plugin gives it through pytest-benchmark's public
# ``@pytest.mark.benchmark(timer=...)`` (read when the fixture is made, before the worker has measured
# anything), so one clock serves the session and each case loads its worker's times into it.
WORKER_CLOCK = WorkerClock()


def replay(benchmark, times: list[float], group: str) -> None:
    """Hand the worker-measured ``times`` to pytest-benchmark as rounds of its pedantic runner."""
    WORKER_CLOCK.load(times)
    benchmark.group = group
    benchmark.pedantic(WORKER_CLOCK.advance, rounds=len(times), iterations=1, warmup_rounds=0)
    if sorted(benchmark.stats.stats.data) != sorted(times):  # the fixture timed advance() with another clock
        benchmark.has_error = True  # pytest-benchmark then leaves the row out of what it saves
        raise RuntimeError("pytest-benchmark did not time the rounds with WORKER_CLOCK: the case's benchmark "
                           "marker (cnnbench.harness.plugin, pytest_collection_modifyitems) is missing")


def record_skip(state: HarnessState, case: Case, reason: str):
    state.skipped.append({"id": case.id, "group": case.group, "reason": reason})
    pytest.skip(reason)


def record_unfinished(state: HarnessState, case: Case, reason: str):
    state.unfinished.append({"id": case.id, "reason": reason})
    pytest.fail(f"{case.id}: {reason}", pytrace=False)


def rounds_for(profile, seconds_per_step: float, processes: int = 1) -> int:
    """Timed rounds of one worker process: the profile's timed seconds per case shared by the case's
    ``processes``, within the profile's bounds of rounds per process."""
    wanted = math.ceil(profile.target_seconds / max(processes, 1) / max(seconds_per_step, 1e-9))
    return max(profile.min_rounds, min(profile.max_rounds, wanted))


def too_big_for_the_cpu(case: Case) -> str | None:
    """Why ``case`` cannot fit in this machine's free memory, or None; checked before anything is built.

    A step that does not fit is not always an error on the CPU: TensorFlow 2.21's convolution crashes
    (SIGSEGV) when its allocation fails, and an allocation the kernel grants but cannot back ends in the
    OOM killer, which may pick this process. So a case whose analytic lower bound (weights + the widest
    layer's inputs and output) exceeds MemAvailable is skipped with the numbers. GPUs raise a clean
    out-of-memory error and are not pre-checked.
    """
    free = machine.available_bytes()
    if case.device != "cpu" or free is None:
        return None
    check_build_args(case.model, None, case.input_size, dict(case.options))  # too small an input: its own message
    one = analytic_memory(case.model, 1, input_size=case.input_size, **dict(case.options))
    fixed = one["param_bytes"] + one["buffer_bytes"]
    per_sample = one["min_step_bytes"] - fixed  # the bound is linear in the batch
    need = (fixed + per_sample * case.batch) * case.world_size
    if need <= free:
        return None
    fits = (free // case.world_size - fixed) // per_sample
    advice = (f"batch {fits} or less might fit (--batch-sizes)" if fits >= 1
              else "not even batch 1 fits: free memory or use a smaller --input-size")
    return (f"out of memory at batch {case.batch} on cpu (checked before running): a step needs at least "
            f"{need / 2**30:.1f} GiB (weights + {one['min_step_layer']}'s inputs and output), "
            f"{free / 2**30:.1f} GiB is available; {advice}")


def precheck(case: Case, state: HarnessState) -> None:
    """Skip, with the reason, what cannot run here: a missing framework, too small an input, no room."""
    from cnnbench.zoo.dispatch import runtime_missing

    missing = runtime_missing(case.runtime)
    if missing:
        record_skip(state, case, missing)
    try:
        too_big = None if state.no_memory_check else too_big_for_the_cpu(case)
        if too_big is None:
            check_build_args(case.model, None, case.input_size, dict(case.options))
    except InputTooSmallError as exc:
        record_skip(state, case, str(exc))
    if too_big:
        record_skip(state, case, too_big)


def open_worker(case: Case, state: HarnessState) -> Worker:
    """A worker for ``case``, forked from its runtime's fork server where there is one; ``StartFailed``
    when it cannot start."""
    try:
        return Worker(case.runtime, case.device, state.settings, start_timeout=state.worker_timeout,
                      fork_server=fork_server_for(case, state))
    except WorkerError as exc:
        raise StartFailed(exc.message) from None
    except WorkerDied as exc:
        raise StartFailed(str(exc)) from None


def start_worker(case: Case, state: HarnessState) -> Worker:
    """``open_worker``, or the case left unfinished with why."""
    try:
        return open_worker(case, state)
    except StartFailed as exc:
        record_unfinished(state, case, f"the {case.runtime} worker could not start: {exc}")


def fail_from_worker(case: Case, state: HarnessState, exc: Exception):
    """Turn a worker's failure into the case's outcome: a skip with the reason, or a failure."""
    if isinstance(exc, WorkerDied):
        record_unfinished(state, case, str(exc))
    kind = exc.kind
    if kind == "oom":
        record_skip(state, case, out_of_memory_reason(case.batch, case.device, exc.error_type, exc.message))
    if kind in ("input_too_small", "unsupported"):
        record_skip(state, case, f"{case.runtime}: {exc.message}")
    if kind == "nonfinite":
        pytest.fail(exc.message, pytrace=False)
    state.unfinished.append({"id": case.id, "reason": f"{exc.error_type}: {exc.message}"})
    pytest.fail(f"{case.id}: the {case.runtime} worker failed: {exc.error_type}: {exc.message}\n"
                f"--- traceback in the worker ---\n{exc.traceback}", pytrace=False)


def gemm_peak_key(case: Case, math_mode: str, key_suffix: str = "") -> str:
    return f"{case.runtime}:{case.device}:{math_mode}{key_suffix}"


def gemm_peak(worker: Worker, state: HarnessState, case: Case, math_mode: str, *, recheck: bool = False,
              key_suffix: str = "") -> float:
    """The best GEMM FLOP/s of this runtime, device and math measured this session (measured in the
    first case's worker; re-measured with more trials when a case beats it). ``key_suffix`` tells apart
    peaks measured with another thread count (data-parallel workers)."""
    from cnnbench.core.procfs import LoadMeter

    key = gemm_peak_key(case, math_mode, key_suffix)
    if key not in state.gemm_peak or recheck or key in state.gemm_peak_busy:
        trials = _GEMM_RECHECK_TRIALS if recheck else _GEMM_TRIALS
        load = LoadMeter([worker.pid])
        measured = worker.call("gemm_peak", math=math_mode, trials=trials, timeout=state.worker_timeout)
        # measured while other processes were busy: kept as the best so far, and measured again in the next
        # case's worker (a peak measured in a busy moment made the first ETA of a run 144 hours)
        if replication.is_busy(load.read(), state.busy_cores):
            state.gemm_peak_busy.add(key)
        else:
            state.gemm_peak_busy.discard(key)
        state.gemm_peak[key] = max(state.gemm_peak.get(key, 0.0), measured["flops_per_s"])
    return state.gemm_peak[key]


def fork_server_for(case: Case, state: HarnessState):
    """The fork server of the case's runtime (started on first use), or None: fork servers off
    (``--no-fork-server``), a data-parallel case, or a server that could not start (its reason is kept
    in ``state.fork_servers_failed``, and that runtime's workers start as fresh interpreters)."""
    from cnnbench.worker.client import ForkServer

    if not state.fork_workers or case.distributed or case.runtime in state.fork_servers_failed:
        return None
    server = state.fork_servers.get(case.runtime)
    if server is not None and server.alive():
        return server
    try:
        server = ForkServer(case.runtime, case.device, state.settings, start_timeout=state.worker_timeout)
    except (WorkerDied, OSError, ValueError) as exc:
        state.fork_servers_failed[case.runtime] = str(exc)
        return None
    state.fork_servers[case.runtime] = server
    return server


def close_fork_servers(state: HarnessState) -> None:
    for server in state.fork_servers.values():
        server.close()


class StartFailed(Exception):
    """The case's worker process could not start (its framework failed to import, or it never answered)."""


class NoDevice(Exception):
    """The worker's runtime sees no GPU although the case asks for one."""


def measure_process(case: Case, state: HarnessState, rounds: int | None = None) -> dict:
    """One worker process's measurement of ``case``: start, build, warm up, ``rounds`` timed steps (None:
    as many as the profile's time target asks at the warm-up's step time), the memory step, and how busy
    the rest of the machine was meanwhile. Raises the worker's failure (``WorkerError``/``WorkerDied``)."""
    from datetime import datetime, timezone

    from cnnbench.core.procfs import LoadMeter

    profile, timeout = state.profile, state.worker_timeout
    started_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
    wall = time.perf_counter()
    worker = open_worker(case, state)
    try:
        info = worker.info
        if case.device == "cuda" and not info.get("device_available"):
            raise NoDevice(f"{case.runtime}: this runtime sees no GPU here")
        prep = worker.call("prepare", case=case.to_dict(), timeout=timeout)
        crash = os.environ.get("CNNBENCH_TEST_CRASH")  # TEST ONLY: a native crash of the framework, simulated
        if crash and fnmatch.fnmatchcase(case.id, crash):
            worker.call("crash", timeout=timeout)
        stepping = time.perf_counter()  # warm-up, timed rounds, memory step: what the progress ETA scales
        warm = worker.call("warmup", rounds=profile.warmup_rounds, seconds=profile.warmup_seconds, timeout=timeout)
        estimate = warm["last_s"]
        delay = delay_for(state.delay, case)
        if delay:
            amount, unit = delay
            worker.call("inject_delay", amount=amount, unit=unit, timeout=timeout)
            estimate = estimate * (1 + amount) if unit == "fraction" else estimate + amount
        load = LoadMeter([worker.pid])
        timed = worker.call("time", rounds=rounds or rounds_for(profile, estimate, state.processes_wanted),
                            timeout=timeout)
        busy = load.read()
        memory = worker.call("memory", timeout=timeout)
        stepping = time.perf_counter() - stepping
        math_mode = case.precision if case.precision != "fp32" else (
            state.settings.math if case.device == "cuda" else "fp32")
        median = statistics.median(timed["times"])
        cost = step_cost(case.model, case.mode, case.batch, input_size=case.input_size, **dict(case.options))
        peak = gemm_peak(worker, state, case, math_mode)
        if cost.flops / median > peak:  # faster than the machine's GEMM peak: re-measure the peak first
            gemm_peak(worker, state, case, math_mode, recheck=True)
    finally:
        worker.close()
    return {"times": timed["times"], "injected_s": timed.get("injected_s", 0.0), "info": info, "prep": prep,
            "memory": memory, "math_mode": math_mode, "cost": cost, "stepping_s": stepping,
            "record": {"started_at": started_at, "pid": info.get("pid"), "median_s": median,
                       "rounds": len(timed["times"]), "worker_start_s": info["import_s"], "build_s": prep["build_s"],
                       "first_step_s": prep["first_step_s"], "wall_s": time.perf_counter() - wall,
                       "forked": bool(info.get("forked")),
                       # the optional packages its framework's import left out (cnnbench.worker.lean_imports)
                       "imports_left_out": info.get("imports_left_out"),
                       # a forked worker: the server's library pages it mapped again before its memory baseline
                       # (None: none, and its baseline lacks them: cnnbench.worker.forkserver)
                       "populated_bytes": (info.get("populated") or {}).get("bytes"),
                       "peak_memory_bytes": memory.get("peak_memory_bytes"),
                       "step_peak_memory_bytes": memory.get("step_peak_memory_bytes"),
                       "other_cores": busy and round(busy["other_cores"], 3),
                       "steal_cores": busy and round(busy["steal_cores"], 3),
                       "busy": replication.is_busy(busy, state.busy_cores)}}


def run_single_case(benchmark, case: Case, state: HarnessState) -> None:
    """One single-device case: its first worker process, measured when pytest runs the case; the others
    come in later passes over every case (``replication``), which rewrite the row from all of them
    (a data-parallel case: cnnbench.harness.distributed)."""
    if state.rendezvous["node_rank"] != 0:
        pytest.skip(f"node {state.rendezvous['node_rank']}: single-device cases run on node 0")
    precheck(case, state)
    try:
        measured = measure_process(case, state)
    except NoDevice as exc:
        record_skip(state, case, str(exc))
    except StartFailed as exc:
        record_unfinished(state, case, f"the {case.runtime} worker could not start: {exc}")
    except (WorkerError, WorkerDied) as exc:
        fail_from_worker(case, state, exc)
    state.processes[case.id] = [measured]
    replay(benchmark, measured["times"], case.group)
    state.rows[case.id] = benchmark.stats
    write_row(benchmark.stats, case, state)


def process_median_memory(figures: list[dict]) -> dict:
    """The memory fields of a row from every counted process: each number the median over the processes
    that have it (a Keras process's figure differs from the next one's by up to ~20%: which thread's
    malloc arena holds what: docs/benchmarks.md, How a case is measured), the words (method, kind) the first
    process's. Each field is its own median: ``peak_memory_bytes`` is the median of the processes' peaks
    above their runtime, not the median peak less the median runtime (no report recomputes one from the
    others)."""
    number = lambda v: isinstance(v, (int, float)) and not isinstance(v, bool)  # noqa: E731
    out = dict(figures[0])
    for key in {k for f in figures for k in f}:
        values = [f[key] for f in figures if number(f.get(key))]
        if values:
            out[key] = statistics.median(values)
    return out


def write_row(stats, case: Case, state: HarnessState) -> None:
    """The case's row (pytest-benchmark's ``Metadata``: its rounds and ``extra_info``) from every worker
    process measured so far: the rounds of the processes that count, pooled process after process
    (``extra_info["process_rounds"]`` says where each ends), and what each process was."""
    from pytest_benchmark.stats import Stats

    processes = state.processes[case.id]
    counted = replication.counted(processes, state.processes_wanted)
    pooled = [t for p in counted for t in p["times"]]
    if [t for t in stats.stats.data] != pooled:
        stats.stats = Stats()  # its figures are cached properties: a fresh one for the new rounds
        for t in pooled:
            stats.stats.update(t)
    stats_median = stats.stats.median
    first = counted[0]
    prep, cost, info = first["prep"], first["cost"], first["info"]
    memory = process_median_memory([p["memory"] for p in counted])
    budget = analytic_memory(case.model, case.batch, input_size=case.input_size, **dict(case.options))
    med = lambda key: statistics.median(p["record"][key] for p in counted)  # noqa: E731
    delays = [p["injected_s"] for p in counted if p["injected_s"]]
    extra = stats.extra_info
    extra.update(case_info(case, state))
    extra.update({
        "params": prep["trainable_params"],
        "params_with_buffers": prep["params"],
        "macs": cost.macs,
        "flops": cost.flops,
        "flops_rule": cost.rule,
        **memory,
        # exact, from the spec: what compare gates on (measured peaks are noisy)
        "analytic_memory_bytes": budget["train_total_bytes_sgd_momentum"] if case.mode == "train"
        else budget["param_bytes"] + budget["buffer_bytes"] + budget["activation_bytes"],
        "analytic_memory_rule": ("params + grads + momentum + BN buffers + activations" if case.mode == "train"
                                 else "params + BN buffers + every layer output") + " (float32)",
        "images_per_s": case.batch / stats_median,
        "gflops_per_s": cost.flops / stats_median / 1e9,
        "gemm_peak_math": first["math_mode"],
        "gemm_peak_key": gemm_peak_key(case, first["math_mode"]),
        # the median over the counted processes: each process builds, compiles and starts its own
        "build_s": med("build_s"),
        "first_step_s": med("first_step_s"),
        # first-call overhead beyond a steady step: tf.function tracing, XLA, torch.compile, jax.jit
        "compile_s": max(0.0, med("first_step_s") - stats_median),
        "worker_start_s": med("worker_start_s"),
        "injected_delay_s": statistics.mean(delays) if delays else None,
        **info["versions"],
        **info["settings"],
        "setting_cpu_affinity": info.get("cpu_affinity"),
        # what a runtime knows once prepared: an export's facts, parity and its engine's settings (docs/deploy.md)
        **(prep.get("extra") or {}),
        **replication.row_fields(processes, state, case.id),
    })
    apply_peak(extra, state.gemm_peak.get(gemm_peak_key(case, first["math_mode"])))
    state.results[case.id] = {"median_s": stats_median, "images_per_s": case.batch / stats_median,
                              "stepping_s": sum(p["stepping_s"] for p in processes)}


def case_info(case: Case, state: HarnessState) -> dict:
    """The case's identity and environment, as every row records it."""
    return {
        "model": case.model,
        "framework": case.framework,
        "runtime": case.runtime,
        "keras_backend": case.keras_backend,
        "mode": case.mode,
        "batch": case.batch,
        "device": case.device,
        "device_name": machine.device_name(case.device),
        "input_size": case.input_size,
        "precision": case.precision,
        "layout": case.layout,
        "tf_jit": case.tf_jit if case.runtime == "keras-tf" else None,
        "torch_compile": case.torch_compile if case.runtime in ("torch", "keras-torch") else None,
        "compiled": case.compiled,
        "options": dict(case.options),
        "world_size": case.world_size,
        "cpu_threads_available": _cores(),
        "python_version": platform.python_version(),
        "profile": state.profile.name,
    }


def _cores() -> int:
    from cnnbench.core.settings import cores_available

    return cores_available()


def apply_peak(info: dict, peak_flops: float | None) -> None:
    """``pct_of_peak`` against the GEMM peak of the case's runtime, device and math; a figure above
    100% is a measurement error (a slow moment when the peak was measured, or a faster algorithm than
    the nominal FLOPs assume, such as Winograd convolutions) and is flagged, never shown as a fact."""
    if not peak_flops:
        return
    achieved = info["gflops_per_s"] * 1e9
    pct = 100.0 * achieved / peak_flops
    info["gemm_peak_gflops_per_s"] = peak_flops / 1e9
    info["pct_of_peak_raw"] = pct
    if pct > 100.0:
        info["pct_of_peak"] = None
        info["pct_of_peak_flag"] = (f"above the measured GEMM peak ({pct:.0f}% of {peak_flops / 1e9:,.1f} GFLOP/s, "
                                    "re-measured): a measurement error, not shown")
    else:
        info["pct_of_peak"] = pct
        info["pct_of_peak_flag"] = None


def finalize_rows(rows: list[dict], state: HarnessState) -> None:
    """At save time: every row's % of peak against the session's best peak of its runtime, device and
    math (a later case may have raised it), and scaling efficiency against world size 1."""
    for row in rows:
        info = row.get("extra_info") or {}
        key = info.get("gemm_peak_key")
        if "gflops_per_s" in info and key in state.gemm_peak:
            apply_peak(info, state.gemm_peak[key])
    apply_scaling(rows)


def run_tta_case(benchmark, case: Case, state: HarnessState) -> None:
    """Time to accuracy: whole LeNet-5 trainings on the shipped digits until the test target, each round in
    a worker process of its own (forked from the runtime's fork server), so that the row's rounds are
    processes too (``process_rounds``: one each) and the interval resamples them as it does the steps'."""
    from datetime import datetime, timezone

    from cnnbench.train.loop import DEFAULTS

    precheck(case, state)
    results, processes = [], []
    for _ in range(state.profile.tta_rounds):
        started_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
        worker = start_worker(case, state)
        info = worker.info
        try:
            results.append(worker.call("train_to_accuracy", model=case.model, timeout=state.worker_timeout))
        except (WorkerError, WorkerDied) as exc:
            fail_from_worker(case, state, exc)
        finally:
            worker.close()
        processes.append({"started_at": started_at, "pid": info.get("pid"), "forked": bool(info.get("forked")),
                          "round_s": results[-1]["round_s"]})
    state.results[case.id] = {"stepping_s": sum(r["round_s"] for r in results)}
    replay(benchmark, [r["round_s"] for r in results], "time_to_accuracy:lenet5:digits")
    reached = sorted(r["time_to_target_s"] for r in results if r["time_to_target_s"] is not None)
    last = results[-1]
    benchmark.extra_info.update(case_info(case, state))
    benchmark.extra_info.update({
        "device": "cpu", "dataset": last["dataset"], "target_accuracy": DEFAULTS["target"],
        "time_to_target_s": reached[len(reached) // 2] if reached else None, "time_to_target_all_s": reached,
        "epochs_to_target": last["epochs_to_target"], "test_accuracy_at_stop": last["test_accuracy"],
        "train_settings": last["settings"],
        **info["versions"], **info["settings"], "setting_cpu_affinity": info.get("cpu_affinity"),
        "tta_processes": processes, "process_rounds": [1] * len(processes),
    })
    if len(reached) < len(results):
        pytest.fail(f"{case.id}: test accuracy stayed below {DEFAULTS['target']:.0%} after {DEFAULTS['epochs']} epochs "
                    f"in {len(results) - len(reached)} of {len(results)} rounds (last: {last['test_accuracy']:.4f})",
                    pytrace=False)


def replicate(state: HarnessState, progress=None, journal=None) -> None:
    """Passes 2..``processes_wanted`` over every case measured in pytest's pass, then re-measurement until
    no case needs another process or each has ``max_processes`` (``cnnbench.harness.replication``)."""
    def another(case_id: str, reason: str) -> None:
        case = state.by_id[case_id]
        first = replication.with_rounds(state.processes[case_id])[0]
        try:
            measured = measure_process(case, state, rounds=len(first["times"]))
        except Exception as exc:  # noqa: BLE001  a later process failing (a crash, a hang) loses no row
            measured = {"times": [], "record": {"failed": f"{type(exc).__name__}: {exc}"[:500], "busy": False,
                                                "median_s": None}}
        state.processes[case_id].append(measured)
        if not reason.startswith("process "):
            state.remeasured.setdefault(case_id, []).append(reason)
        write_row(state.rows[case_id], case, state)
        if journal is not None:
            journal.write()
        if progress is not None:
            progress.process_done(case_id, measured, reason)
        if journal is not None and journal.failed:  # a disk that filled up: measure nothing more into the void
            raise _StopMeasuring(journal.failed)

    try:
        _passes(state, another, progress)
    except _StopMeasuring:
        if state.interrupted is None:
            state.interrupted = "a failed write"


class _StopMeasuring(Exception):
    """The journal could not be written: what is measured next could not be kept."""


def _passes(state: HarnessState, another, progress) -> None:
    ids = list(state.rows)
    if progress is not None:
        progress.plan_replication(ids * (state.processes_wanted - 1))
    for k in range(2, state.processes_wanted + 1):
        for case_id in ids:
            if len(state.processes[case_id]) < k:
                another(case_id, f"process {k} of {state.processes_wanted}")
    while True:
        state.process_noise = replication.noise(state)
        threshold = state.process_noise["threshold"] if state.process_noise else None
        doubts = replication.doubts(state)
        todo = {cid: why for cid in ids if (why := replication.why_another(cid, state, threshold, doubts))}
        if not todo and state.processes_wanted > 1:  # each case settled alone: then its comparisons
            _stamp_spread(state)
            todo = replication.undecided(state)
        if not todo:
            break
        if progress is not None:
            progress.plan_replication(list(todo))
        for case_id, why in todo.items():
            another(case_id, why)
    state.process_noise = replication.noise(state)
    _stamp_spread(state)


def _stamp_spread(state: HarnessState) -> None:
    """Every row gets the run's process spread as it now stands (replication module docstring)."""
    state.process_spread = replication.spread_of_run(state)
    sd, df = state.process_spread or (None, None)
    for row in state.rows.values():
        row.extra_info.update({"run_process_sd": sd, "run_process_df": df})
