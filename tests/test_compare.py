"""`cnnbench compare` on saved runs of the real harness (tests/data; see tests/test_reports.py)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from cnnbench.reports.cli import main as reports_main
from cnnbench.reports.compare import Thresholds, compare_runs
from cnnbench.reports.load import find_runs

from saved_runs import CPU, CPU16, SAME1, SAME2, SLOWER


def _compare(a: Path, b: Path, **kw):
    return compare_runs(find_runs([a]), find_runs([b]), **kw)


def test_injected_delay_is_flagged_and_nothing_else():
    # 0003_slower added 4 ms to every resnet18 step (about +20% of resnet18-torch's ~20 ms; +12% of TF's 33 ms)
    comp = _compare(SAME1, SLOWER)
    flagged = sorted(c.case_id for c in comp.cases if c.time_status == "regression")
    assert flagged == ["resnet18-torch-inference-bs2-cpu"] or flagged == sorted(
        ["resnet18-torch-inference-bs2-cpu", "resnet18-tf-inference-bs2-cpu"])
    assert all(c.case_id.startswith("resnet18") for c in comp.regressions)
    assert comp.same_machine and comp.exit_status == 1
    slowed = next(c for c in comp.cases if c.case_id == "resnet18-torch-inference-bs2-cpu")
    assert slowed.time_ratio > 1.10 and slowed.time_p < 0.01
    assert slowed.time_ci_low <= slowed.time_ratio <= slowed.time_ci_high


def test_same_code_twice_is_clean():
    comp = _compare(SAME1, SAME2)
    assert comp.exit_status == 0 and not comp.regressions
    assert not any(c.exact_changes for c in comp.cases)


def test_threshold_and_alpha_are_both_needed():
    # with a 50% threshold the +20% slowdown is no longer a regression, however significant
    assert _compare(SAME1, SLOWER, thresholds=Thresholds(time=0.5)).exit_status == 0
    # with alpha so small nothing is significant, nothing is flagged
    assert _compare(SAME1, SLOWER, thresholds=Thresholds(alpha=1e-300)).exit_status == 0


def test_exact_metric_change_fails_unless_allowed(tmp_path):
    doc = json.loads(SAME2.read_text())
    for b in doc["benchmarks"]:
        if b["extra_info"]["model"] == "lenet5":
            b["extra_info"]["params"] += 10
            b["extra_info"]["macs"] += 10
    changed = tmp_path / "changed.json"
    changed.write_text(json.dumps(doc))
    comp = _compare(SAME1, changed)
    failures = {c.case_id: c.exact_failures for c in comp.cases if c.exact_failures}
    assert set(failures) == {"lenet5-torch-inference-bs2-cpu", "lenet5-tf-inference-bs2-cpu"}
    assert failures["lenet5-torch-inference-bs2-cpu"] == ["params 61,706 -> 61,716", "macs 833,040 -> 833,050"]
    assert comp.exit_status == 1
    assert _compare(SAME1, changed, allow_changes=["lenet5"]).exit_status == 0
    assert _compare(SAME1, changed, allow_changes=["lenet5:params"]).exit_status == 1  # macs still changed
    assert _compare(SAME1, changed, allow_changes=["lenet5:params", "lenet5:macs"]).exit_status == 0
    assert _compare(SAME1, changed, allow_changes=["params", "macs"]).exit_status == 0


def test_different_machines_compare_exact_metrics_only():
    comp = _compare(CPU, CPU16)
    assert not comp.same_machine and not comp.timing_compared
    assert "NOT compared" in comp.notes[0]
    assert len(comp.cases) == 6  # the PyTorch cases both runs have
    assert all(c.time_status == "not compared" and not c.exact_changes for c in comp.cases)
    assert sorted(comp.only_in_baseline) == sorted(
        f"{m}-tf-{mode}-bs2-cpu" for m in ("lenet5", "resnet18", "googlenet") for mode in ("inference", "train"))
    # the current run lacks the baseline's Keras cases: that fails, unless missing cases are allowed
    assert comp.exit_status == 1 and not comp.regressions
    assert _compare(CPU, CPU16, allow_missing=True).exit_status == 0


def test_cross_machine_normalizes_by_each_gemm_peak():
    comp = _compare(CPU, CPU16, cross_machine=True)
    assert comp.timing_compared and "GEMM peak" in comp.notes[0]
    base = json.loads(CPU.read_text())["benchmarks"]
    cur = json.loads(CPU16.read_text())["benchmarks"]
    b = next(x for x in base if x["param"] == "resnet18-torch-train-bs2-cpu")
    c = next(x for x in cur if x["param"] == "resnet18-torch-train-bs2-cpu")
    expected = (c["stats"]["median"] * c["extra_info"]["gemm_peak_gflops_per_s"]) / (
        b["stats"]["median"] * b["extra_info"]["gemm_peak_gflops_per_s"])
    got = next(x for x in comp.cases if x.case_id == "resnet18-torch-train-bs2-cpu")
    assert got.time_ratio == pytest.approx(expected, rel=1e-9)
    assert any("normalized by GEMM peak" in n for n in got.notes)


def test_several_baseline_runs_are_pooled_with_a_noise_floor():
    # baseline = the two unchanged runs: rounds pooled; a slowdown must also exceed their spread
    import numpy as np

    raw = {p: {b["param"]: b["stats"] for b in json.loads(p.read_text())["benchmarks"]} for p in (SAME1, SAME2)}
    comp = compare_runs(find_runs([SAME1, SAME2]), find_runs([SLOWER]))
    for c in comp.cases:
        pooled = raw[SAME1][c.case_id]["data"] + raw[SAME2][c.case_id]["data"]
        assert c.base_median_s == pytest.approx(float(np.median(pooled)))
        assert f"{len(pooled)} rounds pooled from 2 runs" in " ".join(c.notes)
        floor = max(raw[SAME1][c.case_id]["median"], raw[SAME2][c.case_id]["median"]) / np.median(pooled)
        has_floor = any(n.startswith("noise floor") for n in c.notes)
        assert has_floor == (floor > 1.10), c.case_id
        if has_floor:
            assert f"x{floor:.3f}" in " ".join(c.notes)
            assert c.time_status != "regression" or c.time_ratio > floor


@pytest.mark.parametrize("fmt", ["table", "csv", "json", "markdown"])
def test_cli_formats_and_exit_status(capsys, fmt, tmp_path):
    out = tmp_path / f"cmp.{fmt}"
    assert reports_main(["compare", str(SAME1), str(SLOWER), "--format", fmt, "--output", str(out)]) == 1
    text = capsys.readouterr().out
    assert out.read_text() == text
    if fmt == "json":
        doc = json.loads(text)
        assert doc["exit_status"] == 1 and doc["same_machine"] is True
        assert {c["case"] for c in doc["cases"] if c["status"] == "regression"} >= {"resnet18-torch-inference-bs2-cpu"}
        assert all(c["flagged_by"] for c in doc["cases"] if c["status"] == "regression")
    elif fmt == "markdown":
        assert text.startswith("### ❌ cnnbench compare") and "| `resnet18-torch-inference-bs2-cpu` | **regression (time)**" in text
    elif fmt == "csv":
        assert text.splitlines()[0].startswith("case,input_size,status")
    else:
        assert "RESULT: " in text and "REGRESSION" in text


def test_cli_usage_errors_exit_2(capsys, tmp_path):
    bad = tmp_path / "x.json"
    bad.write_text("{not json")
    assert reports_main(["compare", str(bad), str(SAME1)]) == 2
    assert "not JSON" in capsys.readouterr().err
    assert reports_main(["compare", str(SAME1), str(SAME2), "--alpha", "2"]) == 2
    assert "--alpha must be a significance level between 0 and 1, exclusive (0.01), got 2.0" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:  # argparse: a missing argument is a usage error (exit 2)
        reports_main(["compare", str(SAME1)])
    assert exc.value.code == 2


def test_cnnbench_cli_reaches_compare(capsys):
    from cnnbench.cli import main

    assert main(["compare", str(SAME1), str(SAME2)]) == 0
    assert "RESULT: no regression" in capsys.readouterr().out


def test_ci_gate_fails_exact_changes_at_once_and_passes_clean_runs(tmp_path, capsys):
    from tools.ci_gate import main as gate

    doc = json.loads(SAME2.read_text())
    for b in doc["benchmarks"]:
        b["extra_info"]["flops"] += 2
    changed = tmp_path / "changed.json"
    changed.write_text(json.dumps(doc))
    assert gate([str(SAME1), str(changed), "--out", str(tmp_path / "a")]) == 1
    assert "changed params/MACs/FLOPs/analytic memory: failing" in capsys.readouterr().out
    assert not (tmp_path / "a" / "confirm.json").exists()  # no re-measurement for exact metrics
    assert (tmp_path / "a" / "compare.md").read_text().startswith("### ❌")
    assert gate([str(SAME1), str(SAME2), "--out", str(tmp_path / "b")]) == 0
    assert gate([str(tmp_path / "nope.json"), str(SAME2), "--out", str(tmp_path / "c")]) == 2


def test_ci_gate_shows_timing_differences_but_never_fails_on_them(tmp_path, capsys):
    """Timings between two runs at two times are gated by the paired comparison (cnnbench ab), not here."""
    from tools.ci_gate import main as gate

    assert gate([str(SAME1), str(SLOWER), "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "shown for information" in out and "REGRESSION" in out
    assert not (tmp_path / "confirm.json").exists()


def test_process_rss_is_shown_not_gated():
    comp = _compare(SAME1, SAME2)
    torch_case = next(c for c in comp.cases if c.case_id == "lenet5-torch-inference-bs2-cpu")
    assert torch_case.memory_change is not None and torch_case.memory_status == "not compared"
    assert "memory is process peak RSS: shown, not gated" in torch_case.notes


def test_status_says_what_flagged_it():
    """A case can be slower and leaner at once: the status names the metric that decided it."""
    from cnnbench.reports.compare import CaseComparison

    slowed = next(c for c in _compare(SAME1, SLOWER).cases if c.case_id == "resnet18-torch-inference-bs2-cpu")
    assert slowed.flagged_by == ["time"] and slowed.label == "regression (time)"
    leaner = CaseComparison("x", 64, status="improvement", time_status="ok", memory_status="improvement")
    assert leaner.label == "improvement (memory)"
    both = CaseComparison("y", 64, status="regression", exact_failures=["params 1 -> 2"], time_status="regression")
    assert both.flagged_by == ["exact", "time"]
    assert CaseComparison("z", 64).label == "ok"
