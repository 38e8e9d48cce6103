"""Several worker processes per case (issue #37): which processes count, when a case is measured again,
the hierarchical interval, the machine's load, and one real run of two processes per case."""
from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from cnnbench.core.procfs import LoadMeter, process_cpu_seconds
from cnnbench.core.stats import faster_side, ratio_of_medians, split_rounds
from cnnbench.harness import replication
from cnnbench.harness.plugin import process_counts

ROOT = Path(__file__).resolve().parents[1]


def _process(median_ms: float, busy: bool = False, rounds: int = 5, other: float = 0.0) -> dict:
    t = median_ms / 1e3
    return {"times": [t] * rounds, "record": {"median_s": t, "busy": busy, "other_cores": other, "steal_cores": 0.0}}


def _state(processes: dict, wanted: int = 2, most: int = 4):
    return SimpleNamespace(processes=processes, rows=dict.fromkeys(processes), processes_wanted=wanted,
                           max_processes=most, remeasured={})


def test_busy_processes_count_only_until_quiet_ones_replace_them():
    quiet, busy, busier = _process(10), _process(30, busy=True, other=0.9), _process(40, busy=True, other=1.5)
    assert replication.counted([quiet, busy], 2) == [quiet, busy]  # the best there is: a row, marked
    assert replication.counted([quiet, busier, busy], 2) == [quiet, busy]  # the least busy one first
    again = _process(11)
    assert replication.counted([quiet, busy, again], 2) == [quiet, again]
    assert replication.counted([busy, busier], 2) == [busy, busier]
    failed = {"times": [], "record": {"failed": "WorkerDied: ...", "busy": False, "median_s": None}}
    assert replication.counted([quiet, failed, again], 2) == [quiet, again]


def test_why_a_case_gets_another_process():
    state = _state({"a": [_process(10)]})
    assert replication.why_another("a", state, None, {}) == "process 2 of 2"
    state.processes["a"].append(_process(10.2, busy=True, other=1.0))
    assert "timed while the machine was busy" in replication.why_another("a", state, 0.05, {})
    state.processes["a"].append(_process(13))  # quiet, but 30% from the first
    why = replication.why_another("a", state, 0.05, {})
    assert why.startswith("its processes disagree: medians 10, 13 ms (30% apart, this run's noise threshold 5%)")
    state.processes["a"].append(_process(10.1))
    assert replication.why_another("a", state, 0.05, {}) is None  # max_processes (4) reached: judged as it is
    calm = _state({"b": [_process(10), _process(10.3)]})
    assert replication.why_another("b", calm, 0.05, {}) is None
    assert replication.why_another("b", calm, 0.05, {"b": ["step time: ..."]}) == "implausible: step time: ..."


def test_the_noise_threshold_is_the_runs_own_spread_and_at_least_five_percent():
    # spreads 2%, 4%, 10%: median 4% -> 3 x 4% = 12%
    state = _state({"a": [_process(100), _process(102)], "b": [_process(50), _process(52)],
                    "c": [_process(10), _process(11)], "d": [_process(7)]})
    found = replication.noise(state)
    assert found["cases"] == 3 and found["median_spread"] == pytest.approx(0.04)
    assert found["threshold"] == pytest.approx(0.12)
    quiet = _state({"a": [_process(100), _process(100.5)]})
    assert replication.noise(quiet)["threshold"] == replication.MIN_DISAGREEMENT == 0.05


def test_the_interval_resamples_processes_then_rounds_and_names_no_side_they_dispute():
    """Hand-made rounds: side A's two processes at 10.0 and 10.6 ms, side B's at 10.3 ms. Pooled as one
    process, B's 3% lead or lag looks certain; as processes, one of A's is faster than B and one slower."""
    rng = np.random.default_rng(0)
    a = list(10.0 + 0.01 * rng.standard_normal(30)) + list(10.6 + 0.01 * rng.standard_normal(30))
    b = list(10.3 + 0.01 * rng.standard_normal(60))
    pooled = ratio_of_medians(a, b)
    assert pooled.processes == (1, 1) and not pooled.processes_disagree
    est = ratio_of_medians(a, b, a_processes=[30, 30], b_processes=[30, 30])
    assert est.processes == (2, 2) and est.processes_disagree
    assert faster_side(est, "a", "b") == "tie"
    assert est.low < 10.3 / 10.6 + 0.01 and est.high > 10.3 / 10.0 - 0.01  # spans both processes of A
    clear = ratio_of_medians(a, [x * 1.5 for x in b], a_processes=[30, 30], b_processes=[30, 30])
    assert not clear.processes_disagree and faster_side(clear, "a", "b") == "a"
    # counts that do not add up (a run saved before processes were recorded): one group, as before
    assert len(split_rounds(a, [30, 31])) == 1 and [len(g) for g in split_rounds(a, [20, 40])] == [20, 40]


def test_process_options_mean_something_together():
    opt = lambda **kw: SimpleNamespace(**{"fast": False, "rigorous": False, "processes": None,  # noqa: E731
                                         "max_processes": None, **kw})
    assert process_counts(opt()) == (2, 4)
    assert process_counts(opt(fast=True)) == (1, 1)
    assert process_counts(opt(rigorous=True)) == (4, 8)
    assert process_counts(opt(processes="3")) == (3, 5)
    assert process_counts(opt(processes="3", max_processes="3")) == (3, 3)
    for kw, message in (({"fast": True, "rigorous": True}, "--fast and --rigorous both set"),
                        ({"processes": "0"}, "--processes"),
                        ({"processes": "3", "max_processes": "2"}, "--max-processes 2: fewer than the 3")):
        with pytest.raises(ValueError, match=message):
            process_counts(opt(**kw))


def test_the_load_meter_sees_another_process_busy():
    """A busy loop in another process for 1.5 s is at least ~0.7 of a core of 'other' load (not 1.0: under
    pytest-xdist the meter's own test worker shares the two cores with it)."""
    hog = subprocess.Popen([sys.executable, "-c", "import time\nt = time.time()\nwhile time.time() - t < 1.5: pass"])
    try:
        meter = LoadMeter([])
        time.sleep(1.0)
        load = meter.read()
    finally:
        hog.wait()
    assert load["other_cores"] > 0.6 and load["wall_s"] == pytest.approx(1.0, abs=0.3)
    assert replication.is_busy(load)
    assert process_cpu_seconds(hog.pid) is None  # gone: the meter says so rather than guess
    assert not replication.is_busy(None) and not replication.is_busy({"other_cores": 0.05, "steal_cores": 0.0})


@pytest.mark.usefixtures("torch_mod")
def test_a_real_run_measures_each_case_in_two_processes_and_pools_them(tmp_path):
    out = tmp_path / "run.json"
    cmd = [sys.executable, "-m", "pytest", "bench", "--benchmark-only", "-p", "no:cacheprovider", "--bench-profile",
           "smoke", "--models", "lenet5", "--frameworks", "torch", "--modes", "inference", "--no-time-to-accuracy",
           "--processes", "2", "--max-processes", "3", f"--benchmark-json={out}"]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    data = json.loads(out.read_text())
    (row,) = data["benchmarks"]
    info = row["extra_info"]
    assert 2 <= len(info["processes"]) <= 3 and info["processes_counted"] == 2
    counted = [p for p in info["processes"] if p["counted"]]
    assert len({p["pid"] for p in info["processes"]}) == len(info["processes"])  # each its own worker process
    assert counted[0]["started_at"] < counted[1]["started_at"]
    assert sum(info["process_rounds"]) == len(row["stats"]["data"]) == row["stats"]["rounds"]
    assert info["process_rounds"][0] == info["process_rounds"][1]  # each process weighs the same
    for p, rounds in zip(counted, split_rounds(row["stats"]["data"], info["process_rounds"])):
        assert p["median_s"] == pytest.approx(float(np.median(rounds)))
        assert p["other_cores"] is not None and p["other_cores"] >= 0
    assert info["step_peak_memory_bytes"] is not None and info["step_peak_memory_bytes"] <= info["peak_memory_bytes"]
    assert data["cnnbench"]["processes_per_case"] == 2 and data["cnnbench"]["max_processes"] == 3
    assert data["cnnbench"]["process_noise"]["cases"] == 1
    assert "each case in 2 fresh worker processes, interleaved" in proc.stdout
    assert "[p2 +1] lenet5-torch-inference-bs2-cpu" in proc.stdout
    assert "Each row from 2 worker process(es) per case" in proc.stdout


def test_a_quorum_of_agreeing_processes_ends_the_re_measurement():
    """Issue #37's clean-clone run: DenseNet-121's PyTorch inference measured 58.8 and 85.9 ms in two processes
    (46% apart, the run's threshold 16%), then 77.0 ms: 85.9 / 77.0 = 1.116, two of three agree within 16%, so
    a fourth process would not change the picture. Two processes alone never make a quorum of two out of more."""
    p = [_process(58.8), _process(85.9)]
    assert not replication.quorum(p, 2, 0.16)
    assert replication.quorum(p + [_process(77.0)], 2, 0.16)
    assert not replication.quorum(p + [_process(45.0)], 2, 0.16)  # 58.8 / 45.0 = 1.31: still no two agree
    state = _state({"a": p + [_process(77.0)]})
    assert replication.why_another("a", state, 0.16, {}) is None
    state = _state({"a": p + [_process(45.0)]})
    assert replication.why_another("a", state, 0.16, {}).startswith("its processes disagree")
