"""Readers that never trust a file (issue #14): every JSON given to `cnnbench report` / `cnnbench compare`
is checked before use; a bad one gives one line naming the file and the problem, and exit 2.

Inputs are real saved runs (tests/data; see tests/test_reports.py), damaged in the test as described.
"""
from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pandas as pd
import pytest

import new_fields as nf
from cnnbench.reports.cli import main as reports_main

from saved_runs import CPU, SAME1, SAME2, SLOWER


@pytest.fixture
def no_bar_plots(monkeypatch):
    """These tests are about inputs, not charts: the per-machine charts (tested elsewhere) are skipped
    to keep the suite fast; the trend chart is still drawn."""
    import cnnbench.reports.report as report_mod

    monkeypatch.setattr(report_mod, "figures", lambda results: [])


def _doc() -> dict:
    return json.loads(CPU.read_text())


def _row(doc: dict, case: str = "resnet18-torch-inference-bs2-cpu") -> dict:
    return next(b for b in doc["benchmarks"] if b["param"] == case)


def _foreign(doc):  # a pytest-benchmark run of another project: its rows carry no cnnbench extra_info
    for b in doc["benchmarks"]:
        b["extra_info"] = {}


def _set(path: tuple, value):
    def damage(doc):
        target = _row(doc)
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value
    return damage


def _drop(key):
    def damage(doc):
        del _row(doc)["extra_info"][key]
    return damage


# (how the run is damaged, what the one line must say)
BAD_RUNS = [
    (_foreign, "has no extra_info with the cnnbench fields"),
    (_set(("extra_info",), None), "has no extra_info with the cnnbench fields"),
    (_set(("extra_info", "batch"), "2"), "extra_info.batch is '2' (a string); it must be a whole number >= 1"),
    (_set(("extra_info", "batch"), 0), "extra_info.batch is 0 (a number); it must be a whole number >= 1"),
    (_set(("extra_info", "batch"), True), "extra_info.batch is True (a boolean)"),
    (_drop("model"), "extra_info.model is missing; it must be a non-empty string"),
    (_set(("extra_info", "mode"), None), "extra_info.mode is null"),
    (_set(("extra_info", "runtime"), "mxnet"), "extra_info.runtime is 'mxnet' (a string); it must be one of torch"),
    (_set(("extra_info", "runtime"), "keras-jax"), "framework 'torch' and runtime 'keras-jax' contradict"),
    (_set(("extra_info", "params"), float("nan")), "extra_info.params is nan (not finite); it must be a whole number"),
    (_set(("extra_info", "input_size"), [64]), "extra_info.input_size is [64] (a list)"),
    (_set(("extra_info", "setting_intra_op_threads"), "two"), "extra_info.setting_intra_op_threads is 'two'"),
    (_set(("stats", "median"), "0.02"), "stats.median is '0.02' (a string); it must be a number"),
    (_set(("stats", "data"), [0.02, "x"]), "stats.data is [0.02, 'x'] (a list); it must be a list of numbers"),
    (_set(("stats",), None), "has no name/stats"),
    (lambda d: d.update(machine_info=[]), "machine_info is [] (a list); it must be an object"),
    (lambda d: d["machine_info"].update(gemm_peak_flops={"torch:cpu": "fast"}),
     "machine_info.gemm_peak_flops.torch:cpu is 'fast'"),
    (lambda d: d["cnnbench"].update(skipped=[{"id": "x"}]), "cnnbench.skipped[0] is {'id': 'x'}; each entry must"),
    (lambda d: d.update(benchmarks={}), "benchmarks is {} (an object); it must be a list"),
]


def _write(tmp_path: Path, damage, name: str = "bad.json") -> Path:
    doc = _doc()
    damage(doc)
    path = tmp_path / name
    path.write_text(json.dumps(doc))
    return path


@pytest.mark.parametrize("damage, message", BAD_RUNS)
@pytest.mark.parametrize("command", ["report", "compare-baseline", "compare-current"])
def test_a_bad_run_is_one_line_naming_the_file_and_exit_2(tmp_path, capsys, damage, message, command):
    bad = _write(tmp_path, damage)
    out = tmp_path / "out"
    argv = {"report": ["report", str(bad), "--out", str(out), "--no-diagrams", "--no-history"],
            "compare-baseline": ["compare", str(bad), str(CPU)],
            "compare-current": ["compare", str(CPU), str(bad)]}[command]
    assert reports_main(argv) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1, err  # one line, no traceback
    assert str(bad) in err and message in err, err
    assert not (out / "report.html").exists()


def test_a_baseline_directory_is_checked_file_by_file(tmp_path, capsys):
    base = tmp_path / "baseline"
    base.mkdir()
    (base / "run1.json").write_bytes(SAME1.read_bytes())
    bad = _write(base, _foreign, "run2.json")
    assert reports_main(["compare", str(base), str(SAME2)]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and str(bad) in err and "another project" in err


@pytest.mark.parametrize("text, message", [
    (lambda full: full[: len(full) // 2], "the file ends early: truncated?"),
    (lambda full: full[:-1], "the file ends early: truncated?"),
    (lambda full: "", "the file is empty"),
    (lambda full: "[1, 2]", "JSON but not a pytest-benchmark run"),
])
def test_truncated_and_non_run_files(tmp_path, capsys, text, message):
    bad = tmp_path / "cut.json"
    bad.write_text(text(CPU.read_text()))
    assert reports_main(["compare", str(bad), str(CPU)]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and str(bad) in err and message in err


THRESHOLDS = [
    ("--time-threshold", "nan", "--time-threshold must be a finite number >= 0 (0.10 = 10% slower), got nan"),
    ("--time-threshold", "inf", "--time-threshold must be a finite number >= 0 (0.10 = 10% slower), got inf"),
    ("--time-threshold", "-0.1", "--time-threshold must be a finite number >= 0 (0.10 = 10% slower), got -0.1"),
    ("--memory-threshold", "nan", "--memory-threshold must be a finite number >= 0 (0.05 = 5% more memory), got nan"),
    ("--memory-threshold", "-1", "--memory-threshold must be a finite number >= 0 (0.05 = 5% more memory), got -1.0"),
    ("--alpha", "nan", "--alpha must be a significance level between 0 and 1, exclusive (0.01), got nan"),
    ("--alpha", "0", "--alpha must be a significance level between 0 and 1, exclusive (0.01), got 0.0"),
    ("--alpha", "1", "--alpha must be a significance level between 0 and 1, exclusive (0.01), got 1.0"),
    ("--alpha", "-inf", "--alpha must be a significance level between 0 and 1, exclusive (0.01), got -inf"),
]


@pytest.mark.parametrize("option, value, message", THRESHOLDS)
def test_thresholds_are_refused_the_same_way_by_every_command(tmp_path, capsys, option, value, message):
    said = []
    for argv in (["report", str(CPU), "--out", str(tmp_path / "o"), "--no-diagrams", "--no-history"],
                 ["compare", str(SAME1), str(SAME2)]):
        assert reports_main(argv + [f"{option}={value}"]) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and message in err
        said.append(err.split("error: ", 1)[1])
    assert said[0] == said[1]  # the same sentence, whichever command


def test_reference_must_be_a_runtime_present(tmp_path, capsys):
    argv = ["report", str(CPU), "--out", str(tmp_path / "o"), "--no-diagrams", "--no-history"]
    assert reports_main(argv + ["--reference", "mxnet"]) == 2
    assert ("--reference must be one of torch, keras-tf, keras-jax, keras-torch, ort-from-torch, ort-from-keras, "
            "openvino-from-torch, openvino-from-keras, litert-from-keras, got 'mxnet'") in capsys.readouterr().err
    assert reports_main(argv + ["--reference", "keras-jax"]) == 2
    assert "no keras-jax case in the runs (runtimes measured: torch, keras-tf)" in capsys.readouterr().err


def test_output_paths_are_refused_before_any_work(tmp_path, capsys):
    assert reports_main(["compare", str(SAME1), str(SAME2), "--output", str(tmp_path)]) == 2
    err = capsys.readouterr()
    assert "is a directory; give a file path" in err.err and err.out == ""
    deep = tmp_path / "no" / "such" / "dir" / "cmp.md"
    assert reports_main(["compare", str(SAME1), str(SAME2), "--output", str(deep)]) == 2
    assert f"the directory {deep.parent}/ does not exist" in capsys.readouterr().err
    assert not (tmp_path / "no").exists()
    # report --out: the last level is created, never a chain of directories from a typo
    out = tmp_path / "typo" / "report"
    assert reports_main(["report", str(CPU), "--out", str(out), "--no-diagrams", "--no-history"]) == 2
    assert "its parent" in capsys.readouterr().err and not (tmp_path / "typo").exists()


def test_runs_with_nothing_in_common_are_an_error(tmp_path, capsys):
    doc = json.loads(SAME1.read_text())
    for b in doc["benchmarks"]:
        b["param"] = b["param"].replace("-cpu", "-cuda")
        b["extra_info"]["device"] = "cuda"
    other = tmp_path / "other.json"
    other.write_text(json.dumps(doc))
    assert reports_main(["compare", str(SAME1), str(other)]) == 2
    err = capsys.readouterr().err
    assert "nothing to compare" in err and "no case (id and input size) in common" in err
    assert len(err.strip().splitlines()) == 1


def test_a_baseline_case_missing_from_the_current_run_fails_unless_allowed(tmp_path, capsys):
    doc = json.loads(SAME2.read_text())
    gone = doc["benchmarks"].pop(0)["param"]
    doc["cnnbench"]["skipped"] = [{"id": gone, "group": None, "reason": "out of memory (test)"}]
    cur = tmp_path / "cur.json"
    cur.write_text(json.dumps(doc))
    assert reports_main(["compare", str(SAME1), str(cur)]) == 1
    out = capsys.readouterr().out
    line = next(x for x in out.splitlines() if x.startswith(gone))
    assert re.fullmatch(rf"{gone} +MISSING from current +skipped: out of memory \(test\)", line), line
    assert "1 baseline case(s) missing from the current run (fails; --allow-missing accepts it)" in out
    assert reports_main(["compare", str(SAME1), str(cur), "--allow-missing", "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["missing_from_current"] == {gone: "skipped: out of memory (test)"} and doc["allow_missing"] is True


def _non_finite(tmp_path: Path) -> Path:
    """A saved run with an inf median (resnet18 torch inference) and a NaN images/s (lenet5 tf inference)."""
    doc = json.loads(SAME1.read_text())
    _row(doc)["stats"]["median"] = float("inf")
    _row(doc, "lenet5-tf-inference-bs2-cpu")["extra_info"]["images_per_s"] = float("nan")
    path = tmp_path / "nonfinite.json"
    path.write_text(json.dumps(doc))  # json writes Infinity / NaN, as Python's json does for a real run
    return path


def test_nan_and_inf_are_flagged_never_rated_or_shown(tmp_path, capsys, no_bar_plots):
    bad = _non_finite(tmp_path)
    out = tmp_path / "out"
    assert reports_main(["report", str(bad), "--out", str(out), "--no-diagrams", "--no-history"]) == 0
    said = capsys.readouterr().out
    assert "flagged: nonfinite: resnet18-torch-inference-bs2-cpu: median time is inf" in said
    assert "lenet5-tf-inference-bs2-cpu: images_per_s is nan" in said
    results = pd.read_csv(out / "results.csv")
    row = results[results["case_id"] == "resnet18-torch-inference-bs2-cpu"].iloc[0]
    # no timing, and nothing derived from it (images/s, GFLOP/s, % of peak): all blank, the reason in flags
    assert all(math.isnan(row[c]) for c in ("median_s", "images_per_s", "gflops_per_s", "pct_of_peak"))
    assert "median time is inf" in row["flags"]
    assert math.isnan(results[results["case_id"] == "lenet5-tf-inference-bs2-cpu"].iloc[0]["images_per_s"])
    assert not {"inf", "Infinity"} & set(results.astype(str).values.ravel())
    comp = pd.read_csv(out / "comparison.csv")
    hit = comp[(comp["model"] == "resnet18") & (comp["mode"] == "inference")].iloc[0]
    assert math.isnan(hit["ratio_keras-tf_over_torch"]) and not isinstance(hit["faster_keras-tf_vs_torch"], str)
    assert "torch: timing unusable" in hit["note"]
    html = (out / "report.html").read_text()
    assert 'id="flagged-rows"' in html and ">invalid<" in html
    assert ">inf<" not in html and "Infinity" not in html
    # compare never rates it ok: the case is invalid and the comparison fails
    assert reports_main(["compare", str(SAME1), str(bad)]) == 1
    said = capsys.readouterr().out
    line = next(x for x in said.splitlines() if x.startswith("resnet18-torch-inference-bs2-cpu"))
    assert "INVALID (TIME)" in line and "cannot be rated" in line
    assert "1 case(s) with a NaN/inf timing or memory (invalid: fails)" in said


def test_history_leaves_out_foreign_and_damaged_runs_with_one_line_each(tmp_path, monkeypatch, capsys, no_bar_plots):
    monkeypatch.chdir(tmp_path)
    store = tmp_path / ".benchmarks" / "Linux"
    store.mkdir(parents=True)
    for p in (SAME1, SAME2):
        (store / p.name).write_bytes(p.read_bytes())
    good = store / "0003_slower.json"
    good.write_bytes(SLOWER.read_bytes())
    (store / "0004_cut.json").write_text(SAME1.read_text()[:500])
    _write(store, _foreign, "0005_other_project.json")
    (store / "0006_ab.json").write_text(json.dumps(nf.ab_frameworks()))
    assert reports_main(["report", str(good), "--out", "out", "--no-diagrams"]) == 0
    said = capsys.readouterr().out.splitlines()
    left = [line for line in said if line.startswith("left out of the trend:")]
    assert len(left) == 3
    assert any("0004_cut.json: not JSON" in x and "truncated?" in x for x in left)
    assert any("0005_other_project.json" in x and "another project" in x for x in left)
    assert any("0006_ab.json: a paired A/B result, not a run" in x for x in left)
    html = (tmp_path / "out" / "report.html").read_text()
    assert "fig-trend" in html and "resnet18-torch-inference-bs2-cpu in 0003_slower" in html


def test_missing_graphviz_is_said_in_stdout_and_in_the_html(tmp_path, monkeypatch, capsys, no_bar_plots):
    import cnnbench.inspection.diagram

    monkeypatch.setattr(cnnbench.inspection.diagram.shutil, "which", lambda name: None)
    assert reports_main(["report", str(SAME1), "--out", str(tmp_path / "o"), "--no-history"]) == 0
    said = capsys.readouterr().out
    assert "diagrams left out: Graphviz's `dot` program is not installed" in said
    html = (tmp_path / "o" / "report.html").read_text()
    assert 'id="diagrams-note"' in html and "Graphviz&#39;s `dot` program is not installed" in html


def test_an_internal_error_shows_its_traceback_and_asks_to_report_it(tmp_path, monkeypatch, capsys):
    import cnnbench.reports.report as report_mod

    def broken(*args, **kwargs):
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr(report_mod, "build_report", broken)
    assert reports_main(["report", str(SAME1), "--out", str(tmp_path / "o"), "--no-diagrams", "--no-history"]) == 3
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err and "ZeroDivisionError: a bug" in err
    assert err.strip().splitlines()[-1].startswith("cnnbench report: internal error (a bug in cnnbench")
    assert "please report it" in err


def _ab(tmp_path: Path, change=None, name: str = "ab.json") -> Path:
    doc = nf.ab_frameworks()
    if change:
        change(doc)
    path = tmp_path / name
    path.write_text(json.dumps(doc))
    return path


BAD_AB = [
    (lambda d: d.update(cnnbench_ab=2), "cnnbench_ab is 2; this cnnbench reads paired A/B files of format 1"),
    (lambda d: d.update(kind="speed"), "kind is 'speed'; it must be one of baseline, setting, frameworks"),
    (lambda d: d.update(cases=[]), "the paired A/B file holds no case"),
    (lambda d: d.update(cases="all"), "cases is 'all' (a string); it must be a list"),
    (lambda d: d["cases"][0].update(decision="regression"), "decision is 'regression'; a 'frameworks' file decides"),
    (lambda d: d["cases"][0].update(ratio=float("nan")), "ratio is nan (not finite); it must be a finite number > 0"),
    (lambda d: d["cases"][0].update(ci_low=1.2), "ci_low 1.2 and ci_high 1.08 are not an interval"),
    (lambda d: d["cases"][0].update(stopped="bored"), "stopped is 'bored'; it must be one of precision, budget"),
    (lambda d: d["cases"][0].pop("pair_id"), "pair_id is missing"),
    (lambda d: d["cases"][0].update(b_runtime="tf"), "b_runtime is 'tf' (a string); it must be one of torch"),
    (lambda d: d["cases"][0].update(a_rounds_s=[0.1, -1]), "a_rounds_s is [0.1, -1] (a list); it must be a list of"),
    (lambda d: d["cases"][0].update(confirmations=[{"ratio": "high", "decision": "tie"}]),
     "confirmations is [{'ratio': 'high', 'decision': 'tie'}]; it must be a list of objects, each with a number"),
]


@pytest.mark.parametrize("change, message", BAD_AB)
def test_a_bad_paired_ab_file_is_one_line_and_exit_2(tmp_path, capsys, change, message):
    bad = _ab(tmp_path, change)
    assert reports_main(["report", str(CPU), str(bad), "--out", str(tmp_path / "o"), "--no-diagrams",
                         "--no-history"]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and str(bad) in err and message in err, err


def test_paired_files_go_to_report_not_to_compare(tmp_path, capsys):
    ab = _ab(tmp_path)
    assert reports_main(["compare", str(ab), str(CPU)]) == 2
    assert "a paired A/B result (cnnbench ab), not a run" in capsys.readouterr().err
    assert reports_main(["report", str(ab), "--out", str(tmp_path / "o"), "--no-diagrams", "--no-history"]) == 2
    assert "only paired A/B result(s) given" in capsys.readouterr().err
