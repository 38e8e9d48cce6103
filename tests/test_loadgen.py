"""LoadGen scenarios (issue #40, docs/loadgen.md): the options and their one-line refusals, the Server search,
real LoadGen runs through the SUT/QSL around LeNet-5's prepared step (tiny durations), a `pytest bench
--scenarios` run end to end, and the export runtimes' worker that imports only its engine (the export cache)."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from cnnbench.core.case import Case
from cnnbench.loadgen import scenarios as sc

ROOT = Path(__file__).resolve().parents[1]


def test_options_settings_and_the_server_search():
    """Pure Python: each bad value is one line naming the option; the settings LoadGen gets; the search."""
    assert sc.parse_scenarios("all") == ["single-stream", "multi-stream", "offline", "server"]
    for value, start in (("bogus", "--scenarios: unknown scenario(s) bogus"), ("offline,offline", "--scenarios: a "),
                         ("", "--scenarios: no scenario given")):
        with pytest.raises(ValueError) as exc:
            sc.parse_scenarios(value)
        assert str(exc.value).startswith(start) and "\n" not in str(exc.value)
    for bad in ("0", "-1", "nan", "soon"):
        with pytest.raises(ValueError, match="^--loadgen-duration: expected a positive number"):
            sc.parse_duration(bad)
    assert sc.parse_bounds("resnet50=400,lenet5=2.5ms") == {"resnet50": 400.0, "lenet5": 2.5}
    with pytest.raises(ValueError, match="^--server-bound: expected MODEL=MILLISECONDS"):
        sc.parse_bounds("resnet50=-3")
    from cnnbench.harness.loadgen import impossible_bound

    assert impossible_bound("lenet5", 0.010, 0.002) is None
    why = impossible_bound("resnet50", 0.015, 0.2)
    assert why.startswith("--server-bound resnet50=15: impossible: one query alone takes 200.0 ms") and "\n" not in why

    plan = sc.RunPlan(duration_s=2.5)
    ss = sc.loadgen_settings("single-stream", plan, step_s=0.004, batch=1)
    assert ss["min_duration_ms"] == 2500 and ss["min_query_count"] == 64
    assert ss["single_stream_expected_latency_ns"] == 4_000_000
    server = sc.loadgen_settings("server", plan, step_s=0.01, batch=1, rate=20.0, bound_s=0.05)
    assert (server["server_target_qps"], server["server_target_latency_ns"], server["min_query_count"]) == (20.0, 50_000_000, 459)
    # MLPerf's own counts and duration (mlperf.conf in the 6.0.17 wheel), asked for by --loadgen-query-counts mlperf
    assert sc.RunPlan(600.0, "mlperf").min_queries("offline") == 24576 and sc.MLPERF_DURATION_S == 600.0

    # the search by hand: a system that meets the bound up to 60% of its capacity (100 q/s): 70 fails, then
    # bisection 35 (VALID), 52.5 (VALID: between 35 and the failed 70), 61.25 (fails): 52.5 q/s is the answer
    def system(rate):
        return {"valid": rate <= 60.0, "latency_s": {"p99": rate / 1000}, "why": [] if rate <= 60 else ["slow"]}

    found = sc.search_server_rate(100.0, system, trials=4)
    assert [t["rate"] for t in found["trials"]] == [70.0, 35.0, 52.5, 61.25] and found["rate"] == 52.5
    assert found["result"]["latency_s"]["p99"] == 0.0525
    never = sc.search_server_rate(100.0, lambda r: {"valid": False, "latency_s": {}, "why": ["x"]}, trials=3)
    assert never["rate"] is None and len(never["trials"]) == 6  # halving on while none is VALID, twice the trials
    assert sc.pick_batch({1: 100.0, 4: 190.0, 8: 195.0, 16: 196.0}) == 8  # the smallest within 3% of the best


def test_a_missing_loadgen_skips_with_the_install_command(monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "mlperf_loadgen" else real(name, *a))
    assert sc.missing() == ("LoadGen scenarios: mlperf_loadgen is not installed (pip install mlcommons-loadgen (or "
                            "the extra: pip install -e '.[loadgen]'))")


@pytest.fixture(scope="module")
def lenet(torch_mod):
    """LeNet-5's prepared inference step at batch 1 and 8, in this process (one thread), as a worker holds it."""
    pytest.importorskip("mlperf_loadgen")
    from cnnbench.models_torch import backend

    torch_mod.set_num_threads(1)
    return {b: backend.prepare(Case("lenet5", "torch", "inference", b, "cpu", 28)) for b in (1, 8)}


def test_every_scenario_runs_real_loadgen_through_the_prepared_step(lenet, tmp_path):
    """LoadGen 6.0.17 drives LeNet-5 on the digits test set: every scenario VALID at its minimum query count, and
    its latency is never below the step the SUT ran (a query's latency contains its step)."""
    from cnnbench.loadgen.sut import run

    plan = sc.RunPlan(duration_s=0.05)
    for scenario, batch in (("single-stream", 1), ("multi-stream", 8), ("offline", 8), ("server", 1)):
        server = SimpleNamespace(case=Case("lenet5", "torch", "inference", batch, "cpu", 28), prep=lenet[batch],
                                 runtime_rss=None)
        step = min(lenet[batch].step() is not None and _time(lenet[batch]) for _ in range(5))
        fields = sc.loadgen_settings(scenario, plan, step_s=step / 2, batch=batch, samples_per_s=2 * batch / step,
                                     rate=0.05 / step, bound_s=0.25)  # the server at 5% of its capacity
        out = run(server, scenario, fields, str(tmp_path / scenario))
        r = out["result"]
        assert r["valid"], (scenario, r["why"])
        assert r["query_count"] >= plan.min_queries(scenario)
        assert r["sample_count"] == r["query_count"] * (8 if scenario == "multi-stream" else 1) or scenario == "offline"
        lat = r["latency_s"]
        assert lat["p50"] <= lat["p90"] <= lat["p99"] <= r["max_latency_s"]
        assert r["min_latency_s"] >= min(out["step_times"])
        assert out["samples"].startswith("the digits test set (450 images")  # sklearn's 1797 digits, 25% test
        assert len(out["step_times"]) == -(-r["sample_count"] // batch) or scenario == "offline"
        summary = (tmp_path / scenario / "mlperf_log_summary.txt").read_text()
        assert "Result is : VALID" in summary
    # too few queries for the duration: INVALID, and why, in one list of plain sentences
    server = SimpleNamespace(case=Case("lenet5", "torch", "inference", 1, "cpu", 28), prep=lenet[1], runtime_rss=None)
    fields = sc.loadgen_settings("single-stream", sc.RunPlan(duration_s=0.5), step_s=10.0, batch=1)
    r = run(server, "single-stream", fields, str(tmp_path / "short"))["result"]
    assert not r["valid"] and r["validity"] == "INVALID" and r["why"][0] == "the minimum duration was not met"


def _time(prep) -> float:
    import time

    start = time.perf_counter()
    prep.step()
    return time.perf_counter() - start


def test_pytest_bench_scenarios_end_to_end(tmp_path):
    """`pytest bench --scenarios`: a VALID SingleStream row with LoadGen's settings and logs beside the JSON; an
    impossible Server bound fails its case in one line; a bad option is one line before anything runs."""
    pytest.importorskip("mlperf_loadgen")
    pytest.importorskip("torch")
    out = tmp_path / "run.json"
    cmd = [sys.executable, "-m", "pytest", "bench", "--benchmark-only", "-p", "no:cacheprovider", "-q",
           f"--benchmark-json={out}", "--models", "lenet5", "--runtimes", "torch", "--threads", "1",
           "--scenarios", "single-stream,server", "--loadgen-duration", "0.1", "--server-bound", "lenet5=0.001"]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 1, proc.stdout[-3000:] + proc.stderr[-3000:]
    failure = proc.stdout.split("test_loadgen_scenario[lenet5-torch-loadgen_server-cpu] _", 1)[1].split("\n=", 1)[0].strip("_\n")
    assert failure.strip().startswith("--server-bound lenet5=0.001: impossible: one query alone takes")
    assert len(failure.strip().splitlines()) == 1  # one line, no traceback
    data = json.loads(out.read_text())
    (row,) = data["benchmarks"]
    info = row["extra_info"]
    assert info["loadgen_case"] == "lenet5-torch-loadgen_single_stream-cpu" and info["loadgen_validity"] == "VALID"
    assert info["loadgen_settings"]["scenario"] == "SingleStream" and info["loadgen_settings"]["min_duration_ms"] == 100
    assert info["loadgen_query_count"] >= 64 and info["loadgen_metric"] == "p90_latency_s"
    assert info["loadgen_metric_value"] == info["loadgen_latency_s"]["p90"] and info["setting_intra_op_threads"] == 1
    assert "not an MLPerf result" in info["loadgen_note"] and info["processes_per_case"] == 1
    assert Path(info["loadgen_logs"]["detail"]).is_file() and Path(info["loadgen_logs"]["summary"]).parent.parent == \
        out.with_suffix(".loadgen")
    assert data["cnnbench"]["loadgen"]["min_queries"] == {"single-stream": 64, "server": 459}
    # the verdict's scenario table, the report's section and figure, and compare, read the row
    assert "SingleStream p90 ms" in proc.stdout and "not MLPerf results" in proc.stdout
    from cnnbench.reports.compare import compare_runs
    from cnnbench.reports.load import find_runs
    from cnnbench.reports.report import build_report

    html = build_report(find_runs([str(out)]), tmp_path / "report").html.read_text()
    assert '<section id="loadgen">' in html and 'id="fig-loadgen"' in html and "SingleStream p90 ms" in html
    (case,) = compare_runs(find_runs([str(out)]), find_runs([str(out)])).cases
    assert case.case_id == "lenet5-torch-loadgen_single_stream-cpu" and case.status == "ok"
    bad = subprocess.run([*cmd[:-6], "--scenarios", "single-stream,bogus"], capture_output=True, text=True, cwd=ROOT)
    assert bad.returncode == 4 and bad.stderr.strip().splitlines() == [
        "ERROR: --scenarios: unknown scenario(s) bogus; choose from single-stream, multi-stream, offline, server or all"]


def test_an_export_runtimes_worker_imports_only_its_engine(tmp_path):
    """ort-from-torch: the export is made once by a child process into the cache (a second prepare finds it), and
    the worker never maps PyTorch's library: its memory is ONNX Runtime's own."""
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    from cnnbench.core.settings import Settings
    from cnnbench.worker.client import Worker

    case = Case("lenet5", "torch", "inference", 1, "cpu", 28, export="ort")
    with Worker("ort-from-torch", "cpu", Settings(threads=1), env={"CNNBENCH_EXPORT_CACHE": str(tmp_path)}) as w:
        first = w.call("prepare", case=case.to_dict())["extra"]
        again = w.call("prepare", case=case.to_dict())["extra"]
        maps = Path(f"/proc/{w.pid}/maps").read_text()
    assert (first["export_cache"], again["export_cache"]) == ("miss", "hit") and first["export_parity_ok"]
    assert first["export_cache_entry"] == again["export_cache_entry"] and again["export_s"] == 0.0
    assert "libtorch" not in maps and "onnxruntime" in maps
    from cnnbench.deploy.export_process import cache_key

    assert cache_key(case, 0, "torch", "onnx")[0] != cache_key(case, 1, "torch", "onnx")[0]  # the seed is in the key
