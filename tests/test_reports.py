"""reports/: tidy CSV, framework comparison, HTML, bad input. Runs on saved JSON of real harness runs.

tests/data/ holds files written by `pytest bench --benchmark-only` (none written by hand):
- runs/cpu_smoke_2core.json: the smoke profile, both frameworks, on this 2-core CI machine;
- runs/gpu_smoke_h200_torch_only.json: the smoke profile on an H200 machine without TensorFlow
  (six cases skipped as a missing framework), i.e. another machine;
- runs/cpu_smoke_16core_torch_only.json: the smoke profile on that machine's 16-core CPU, PyTorch only;
- runs/cpu_torch_sweep_skips.json: PyTorch only, batch sizes 1 and 4, Inception v3 skipped (64 < 75 px);
- storage/...: three runs of the same cases here, the third with --inject-delay resnet18=0.004;
- all_skipped.json: a run in which every case was skipped (input too small).
"""
from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

import new_fields as nf
from conftest import reference_params
from cnnbench.reports.cli import main as reports_main
from cnnbench.reports.errors import ReportError
from cnnbench.reports.frameworks import comparison_frame
from cnnbench.reports.load import find_runs, load_run
from cnnbench.core.stats import mann_whitney_p, ratio_of_medians
from cnnbench.reports.tidy import results_frame, skipped_frame

from saved_runs import CPU, DATA, GPU, SAME1, STORAGE, SWEEP

# the columns results.csv promises (docs/reports.md, "results.csv")
REQUIRED_COLUMNS = [
    "run", "case_id", "model", "runtime", "framework", "keras_backend", "world_size", "flags", "plausibility", "mode", "batch", "device", "device_name", "input_size", "precision",
    "layout", "tf_jit", "torch_compile", "min_s", "median_s", "mean_s", "iqr_s", "stddev_s", "rounds", "data_s",
    "params", "macs", "flops", "peak_memory_bytes", "peak_memory_method", "peak_memory_kind", "images_per_s",
    "pct_of_peak", "pct_of_peak_flag", "compile_s", "first_step_s", "global_batch", "scaling_efficiency",
    "machine", "machine_id", "cpu_model", "torch_version", "commit", "run_datetime",
]


def _raw(path: Path) -> dict:
    return json.loads(path.read_text())


def test_results_frame_has_one_row_per_benchmark_with_every_column():
    runs = find_runs([CPU, GPU, SWEEP])
    df = results_frame(runs)
    assert len(df) == sum(len(_raw(p)["benchmarks"]) for p in (CPU, GPU, SWEEP)) == 12 + 6 + 8
    missing = [c for c in REQUIRED_COLUMNS if c not in df.columns]
    assert not missing
    # runs saved before the runtime field: derived from the framework (docs/keras-runtimes.md)
    assert dict(zip(df["framework"], df["runtime"])) == {"torch": "torch", "tf": "keras-tf"}
    assert (df["world_size"] == 1).all() and df["peak_memory_method"].isna().all()
    # values are carried over unchanged from pytest-benchmark's statistics
    raw = {b["param"]: b for b in _raw(CPU)["benchmarks"]}
    row = df[(df["run"] == "cpu_smoke_2core") & (df["case_id"] == "resnet18-tf-train-bs2-cpu")].iloc[0]
    assert row["median_s"] == raw["resnet18-tf-train-bs2-cpu"]["stats"]["median"]
    assert json.loads(row["data_s"]) == raw["resnet18-tf-train-bs2-cpu"]["stats"]["data"]
    assert row["rounds"] == len(json.loads(row["data_s"]))
    # parameter counts agree with torchvision / the seed, never with numbers from the code under test
    by_model = df.groupby("model")["params"].unique()
    for model in ("resnet18", "googlenet"):
        assert list(by_model[model]) == [reference_params(model)]
    assert set(df[(df["model"] == "lenet5") & (df["input_size"] == 28)]["params"]) == {reference_params("lenet5")}
    # environment columns: two machines, versions
    assert df["machine_id"].nunique() == 2
    assert set(df[df["device"] == "cuda"]["gpu_name"]) == {"NVIDIA H200"}
    assert df["torch_version"].notna().all()


def test_skipped_cases_are_kept_with_their_reasons():
    sk = skipped_frame(find_runs([GPU, SWEEP]))
    assert len(sk) == 6 + 4
    assert sk[sk["run"] == "gpu_smoke_h200_torch_only"]["reason"].str.contains("tensorflow is not installed").all()
    assert sk[sk["model"] == "inception_v3"]["reason"].str.contains("minimum input size is 75").all()


def test_comparison_ratio_is_keras_tf_over_torch_median_with_an_interval():
    runs = find_runs([CPU])
    comp = comparison_frame(results_frame(runs))
    assert len(comp) == 6  # 3 models x 2 modes, batch 2
    raw = {b["param"]: b["stats"] for b in _raw(CPU)["benchmarks"]}
    for r in comp.to_dict("records"):
        t = raw[f"{r['model']}-torch-{r['mode']}-bs2-cpu"]["median"]
        f = raw[f"{r['model']}-tf-{r['mode']}-bs2-cpu"]["median"]
        assert r["ratio_keras-tf_over_torch"] == pytest.approx(f / t, rel=1e-12)
        low, high = r["ratio_keras-tf_over_torch_ci_low"], r["ratio_keras-tf_over_torch_ci_high"]
        assert low <= r["ratio_keras-tf_over_torch"] <= high
        assert bool(r["params_agree"]) and bool(r["macs_agree"])
        expected = "tie" if low <= 1 <= high else ("torch" if f > t else "keras-tf")
        assert r["faster_keras-tf_vs_torch"] == expected
        assert r["faster_by_keras-tf_vs_torch"] == pytest.approx(max(f / t, t / f))
        # the columns comparison.csv had before runtimes keep their meaning (TF = Keras on TensorFlow)
        assert (r["ratio_tf_over_torch"], r["ratio_ci_low"], r["ratio_ci_high"]) == (r["ratio_keras-tf_over_torch"],
                                                                                      low, high)
        assert r["faster"] == {"keras-tf": "tf"}.get(expected, expected) and r["faster_by"] == r[
            "faster_by_keras-tf_vs_torch"]


def test_comparison_with_one_runtime_says_why_the_other_is_missing():
    runs = find_runs([GPU, SWEEP])
    res = results_frame(runs)
    comp = comparison_frame(res, skipped_frame(runs))
    assert comp["keras-tf_median_s"].isna().all() and comp["ratio_keras-tf_over_torch"].isna().all()
    gpu = comp[comp["run"] == "gpu_smoke_h200_torch_only"]
    assert gpu["note"].str.contains("keras-tf: skipped .*tensorflow is not installed", regex=True).all()
    sweep = comp[comp["run"] == "cpu_torch_sweep_skips"]
    measured = sweep[sweep["torch_median_s"].notna()]
    # a PyTorch-only run never asked for Keras: its rows do not list Keras as missing
    assert len(measured) == 8 and (measured["note"] == "").all()
    # a group no runtime measured still gets its row, with the reasons (here: Inception v3 at 64 px)
    unmeasured = sweep[sweep["torch_median_s"].isna()]
    assert len(unmeasured) == 4 and (unmeasured["model"] == "inception_v3").all()
    assert unmeasured["note"].str.fullmatch(r"torch: skipped \(inception_v3: input_size 64 is too small.*\)").all()


def test_comparison_flags_a_params_disagreement(tmp_path):
    doc = _raw(CPU)
    for b in doc["benchmarks"]:
        if b["param"] == "resnet18-tf-inference-bs2-cpu":
            b["extra_info"]["params"] += 1
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(doc))
    comp = comparison_frame(results_frame(find_runs([bad])))
    row = comp[(comp["model"] == "resnet18") & (comp["mode"] == "inference")].iloc[0]
    assert not bool(row["params_agree"]) and "BUG: the runtimes disagree" in row["note"]


def test_ratio_of_medians_and_mann_whitney_by_hand():
    est = ratio_of_medians([1.0, 2.0, 3.0], [2.0, 4.0, 6.0])
    assert est.ratio == 2.0  # median 4 / median 2
    assert est.low <= 2.0 <= est.high
    assert ratio_of_medians([1.0, 2.0, 3.0], [2.0, 4.0, 6.0]) == est  # seeded: deterministic
    # identical samples: U = n*m/2, two-sided p = 1
    assert mann_whitney_p([1, 2, 3, 4], [1, 2, 3, 4]) == pytest.approx(1.0)
    # complete separation of 5 vs 5 rounds: exact two-sided p = 2 / C(10, 5) = 2/252
    assert mann_whitney_p([1, 2, 3, 4, 5], [6, 7, 8, 9, 10]) == pytest.approx(2 / 252)


@pytest.fixture(scope="module")
def new_runs(full_report) -> dict[str, Path]:
    """Runs with the new harness's fields, built from the CPU run (tests/new_fields.py says how)."""
    return full_report[1]


@pytest.fixture(scope="module")
def built_report(full_report) -> Path:
    """One report of every saved run and of the runs with new fields (one build, shared with the browser's
    test: plots are what costs; tests/conftest.py, full_report)."""
    return full_report[0]


def test_report_writes_csvs_and_a_self_contained_html(built_report, new_runs):
    results = pd.read_csv(built_report / "results.csv")
    runs = [CPU, GPU, SWEEP, *STORAGE.rglob("*.json"), new_runs["four"], new_runs["scaling"], new_runs["variants"]]
    assert len(results) == sum(len(_raw(p)["benchmarks"]) for p in runs)
    assert (built_report / "comparison.csv").stat().st_size > 0
    html = (built_report / "report.html").read_text()
    for fig in ("step-time-", "flops-", "memory-", "compile-", "throughput-", "fig-trend"):
        assert fig in html
    assert "comparison-table" in html and "skipped-table" in html and "runs-table" in html
    # self-contained: no external fetch of any kind
    assert "http://" not in html.replace("http://www.w3.org", "") and "https://" not in html
    assert "<link" not in html and 'src="data:' in html
    assert "TEST-ONLY injected delay" in html  # the slowed run is labelled, not passed off as real
    # no figure here is implausible (tests/test_plausibility.py builds a report where some are): said so
    assert results["plausibility"].isna().all() and "Implausible figures: none found" in html
    assert 'class="doubt"' not in html


def test_an_interrupted_paired_file_is_marked_with_the_pairs_it_did_not_measure(built_report):
    """tests/new_fields.py ab_interrupted: a paired A/B file that Ctrl-C stopped before its second pair, as
    cnnbench/ab/cli.py writes it: the report says so beside the runs' own warnings, and still lists its case."""
    html = (built_report / "report.html").read_text()
    warning = html[html.index('class="warn paired-incomplete"'):]
    warning = " ".join(warning[:warning.index("</p>")].split())
    assert warning.endswith("Paired A/B file ab-interrupted.json is incomplete (interrupted by SIGINT; 1 case(s) not "
                            "measured): its verdicts cover only the pairs it measured; resnet18-train-bs2-cpu: not "
                            "measured: the run was interrupted (SIGINT)")
    assert html.count('class="warn paired-incomplete"') == 1  # ab.json is whole
    table = html[html.index('id="paired-table"'):html.index("</table>", html.index('id="paired-table"'))]
    assert "ab-interrupted.json" in table and "ab.json" in table


def test_the_html_has_every_new_section(built_report):
    html = (built_report / "report.html").read_text()
    for marker in ('id="paired-table"', 'id="modes-table"', 'id="fig-modes"', 'id="scaling-table"', 'id="fig-scaling"',
                   'id="measurements-table"', 'id="equal-settings"', "all runtimes ran under equal settings",
                   "not recorded in run(s)", "flagged: " + nf.FLAG, '<span class="paired">paired</span>', "rss_delta",
                   "1 case(s) left out: their % of the GEMM peak is flagged"):
        assert marker in html, marker
    for rt in ("torch", "keras-tf", "keras-jax", "keras-torch"):
        assert f"<th>{rt} ms</th>" in html
    assert (built_report / "modes.csv").exists()
    # several processes a case, the step's own memory and Callgrind's count: columns only where a run has them
    table = html[html.index('id="measurements-table"'):html.index("</table>", html.index('id="measurements-table"'))]
    for header in (">processes</th>", "<th>spread</th>", ">step MiB</th>", ">instructions</th>"):
        assert header in table, header
    assert "<td>4.3%</td>" in table and "31.65 M" in table
    assert 'title="measured again: timed while busy: 1.1 other cores (first process)"' in table
    comp = pd.read_csv(built_report / "comparison.csv")
    assert {f"ratio_{rt}_over_torch" for rt in ("keras-tf", "keras-jax", "keras-torch")} <= set(comp.columns)


def test_trend_marks_the_slowed_run(built_report):
    html = (built_report / "report.html").read_text()
    assert "resnet18-torch-inference-bs2-cpu in 0003_slower" in html
    assert "lenet5-torch-inference-bs2-cpu in 0003_slower" not in html


def test_reports_import_neither_framework():
    code = (
        "import sys, tempfile\n"
        "from cnnbench.reports.cli import main\n"
        f"assert main(['report', {str(SAME1)!r}, '--out', tempfile.mkdtemp(), '--no-diagrams']) == 0\n"
        f"assert main(['compare', {str(SAME1)!r}, {str(SAME1)!r}, '--format', 'json']) == 0\n"
        "bad = [m for m in ('torch', 'tensorflow', 'keras', 'jax') if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]


@pytest.mark.parametrize("content, message", [
    ("this is not json", "not JSON"),
    ("", "the file is empty"),
    ('{"a": 1}', "not a pytest-benchmark run"),
    ('[1, 2]', "not a pytest-benchmark run"),
])
def test_bad_run_files_give_one_clear_line(tmp_path, capsys, content, message):
    bad = tmp_path / "run.json"
    bad.write_text(content)
    assert reports_main(["report", str(bad), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1
    assert not (tmp_path / "out" / "report.html").exists()


def test_empty_directory_zero_benchmarks_and_unwritable_out(tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    assert reports_main(["report", str(empty)]) == 2
    assert "no *.json run files" in capsys.readouterr().err
    assert reports_main(["report", str(DATA / "all_skipped.json"), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "zero benchmarks" in err and "too small" in err  # says why: every case was skipped
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    assert reports_main(["report", str(CPU), "--out", str(blocker / "out")]) == 2
    assert "cannot create the output directory" in capsys.readouterr().err
    assert reports_main(["report", str(tmp_path / "missing.json")]) == 2
    assert "no such file" in capsys.readouterr().err


@pytest.fixture
def no_bar_plots(monkeypatch):
    """For tests about files and history, not charts: skip the per-machine charts (built_report and the
    browser test draw them); the trend chart is still drawn."""
    import cnnbench.reports.report as report_mod

    monkeypatch.setattr(report_mod, "figures", lambda results: [])


def test_a_failed_report_leaves_the_previous_one_whole(tmp_path, monkeypatch, no_bar_plots):
    out = tmp_path / "out"
    assert reports_main(["report", str(SAME1), "--out", str(out), "--no-diagrams", "--no-history"]) == 0
    before = (out / "report.html").read_bytes()
    import cnnbench.reports.report as report_mod

    def broken(*args, **kwargs):
        raise RuntimeError("disk full while rendering")

    monkeypatch.setattr(report_mod, "render_html", broken)
    with pytest.raises(RuntimeError):
        report_mod.build_report(find_runs([SWEEP]), out)
    assert (out / "report.html").read_bytes() == before
    assert not [p for p in out.iterdir() if p.name.endswith(".tmp")]


def test_write_atomic_removes_its_temporary_file_on_failure(tmp_path):
    from cnnbench.reports.atomic import write_atomic

    target = tmp_path / "f.txt"
    target.write_text("old")
    with pytest.raises(TypeError):
        write_atomic(target, object())  # not bytes/str: fails before anything replaces the target
    assert target.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["f.txt"]


def test_load_run_rejects_benchmark_entries_without_stats(tmp_path):
    bad = tmp_path / "x.json"
    bad.write_text(json.dumps({"machine_info": {}, "benchmarks": [{"name": "x"}]}))
    with pytest.raises(ReportError, match="no name/stats"):
        load_run(bad)


def test_newest_run_under_the_default_storage(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ReportError, match="no saved run under .benchmarks"):
        find_runs(None)
    target = tmp_path / ".benchmarks" / "Linux-CPython-3.11-64bit"
    target.mkdir(parents=True)
    for p in sorted((STORAGE / "Linux-CPython-3.11-64bit").glob("*.json")):
        (target / p.name).write_bytes(p.read_bytes())
    newest = find_runs(None)
    assert [r.name for r in newest] == ["0003_slower"]
    assert not math.isnan(newest[0].data["benchmarks"][0]["stats"]["median"])


def test_trend_reads_the_history_in_the_storage(tmp_path, monkeypatch, no_bar_plots):
    """With no run named, the report is of the newest run, and its trend covers every saved run."""
    monkeypatch.chdir(tmp_path)
    target = tmp_path / ".benchmarks" / "Linux-CPython-3.11-64bit"
    target.mkdir(parents=True)
    for p in sorted((STORAGE / "Linux-CPython-3.11-64bit").glob("*.json")):
        (target / p.name).write_bytes(p.read_bytes())
    (target / "0004_broken.json").write_text("{not json")  # a damaged old run does not stop the report
    assert reports_main(["report", str(target / "0003_slower.json"), "--out", "out", "--no-diagrams"]) == 0
    results = pd.read_csv(tmp_path / "out" / "results.csv")
    assert set(results["run"]) == {"0003_slower"}  # the CSV holds the reported run only
    html = (tmp_path / "out" / "report.html").read_text()
    assert "fig-trend" in html and "resnet18-torch-inference-bs2-cpu in 0003_slower" in html
    assert reports_main(["report", str(target / "0003_slower.json"), "--out", "out2", "--no-diagrams",
                         "--no-history"]) == 0
    assert "fig-trend" not in (tmp_path / "out2" / "report.html").read_text()
