"""Every runtime side by side (#18), equal settings (#13), scaling (#17), paired verdicts (#16), the mode
view (#19 item 3) and readable plots (#19 item 4).

Inputs: the real CPU run of tests/data with the new harness's fields ADDED in tests/new_fields.py (see
its docstring: keras-jax, keras-torch, bf16, XLA and world-size rows are synthetic copies of real rows,
rounds scaled by stated factors). Expected numbers are recomputed here from the raw rounds in the JSON.
"""
from __future__ import annotations

import json
import statistics
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import new_fields as nf
from cnnbench.reports.frameworks import comparison_frame
from cnnbench.reports.load import PairedResult, find_runs
from cnnbench.reports.modes import mode_frame
from cnnbench.reports.paired_rows import paired_frame
from cnnbench.reports.scaling import scaling_frame
from cnnbench.reports.settings import settings_by_run
from cnnbench.reports.tidy import results_frame, skipped_frame

RUNTIMES = ("torch", "keras-tf", "keras-jax", "keras-torch")


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("runs")
    return {
        "four": nf.write(nf.four_runtimes(), d / "four.json"),
        "scaling": nf.write(nf.scaling_run(), d / "scaling.json"),
        "variants": nf.write(nf.variants_run(), d / "variants.json"),
        "ab": nf.write(nf.ab_frameworks(), d / "ab.json"),
        "unequal": nf.write(nf.add_new_fields(nf.load(), per_runtime={"keras-tf": {"setting_intra_op_threads": 1}}),
                            d / "unequal.json"),
    }


def _rounds(doc: dict) -> dict[str, list[float]]:
    return {b["param"]: b["stats"]["data"] for b in doc["benchmarks"]}


def _independent_interval(a, b, resamples: int = 20000, seed: int = 12345) -> tuple[float, float]:
    """A percentile bootstrap of median(b)/median(a), written here apart from cnnbench.core.stats (other
    seed, other sampler, ten times the resamples): the code's interval must agree within Monte Carlo error."""
    rng = np.random.default_rng(seed)
    a, b = np.asarray(a), np.asarray(b)
    ia = rng.integers(0, a.size, size=(resamples, a.size))
    ib = rng.integers(0, b.size, size=(resamples, b.size))
    ratios = np.median(b[ib], axis=1) / np.median(a[ia], axis=1)
    return float(np.percentile(ratios, 2.5)), float(np.percentile(ratios, 97.5))


@pytest.fixture(scope="module")
def four(files):
    runs = find_runs([files["four"]])
    res = results_frame(runs)
    return res, comparison_frame(res, skipped_frame(runs))


def test_every_runtime_has_a_ratio_against_torch_with_an_interval_from_the_raw_rounds(four, files):
    _, comp = four
    rounds = _rounds(json.loads(files["four"].read_text()))
    assert len(comp) == 6
    for r in comp.to_dict("records"):
        ref = rounds[f"{r['model']}-torch-{r['mode']}-bs2-cpu"]
        for rt in RUNTIMES[1:]:
            other = rounds[f"{r['model']}-{nf.TAG[rt]}-{r['mode']}-bs2-cpu"]
            col = f"ratio_{rt}_over_torch"
            assert r[col] == pytest.approx(statistics.median(other) / statistics.median(ref), rel=1e-12)
            low, high = _independent_interval(ref, other)
            assert r[f"{col}_ci_low"] == pytest.approx(low, rel=0.02)
            assert r[f"{col}_ci_high"] == pytest.approx(high, rel=0.02)
            side = "tie" if r[f"{col}_ci_low"] <= 1 <= r[f"{col}_ci_high"] else ("torch" if r[col] > 1 else rt)
            assert r[f"faster_{rt}_vs_torch"] == side
        # keras-torch is torch with every round x 1.25 (new_fields.SYNTHETIC): exactly 1.25, torch faster
        assert r["ratio_keras-torch_over_torch"] == pytest.approx(1.25)
        assert r["faster_keras-torch_vs_torch"] == "torch"


def test_reference_runtime_is_an_option(files):
    runs = find_runs([files["four"]])
    comp = comparison_frame(results_frame(runs), reference="keras-jax")
    rounds = _rounds(json.loads(files["four"].read_text()))
    r = comp[(comp["model"] == "lenet5") & (comp["mode"] == "train")].iloc[0]
    assert r["reference"] == "keras-jax" and "ratio_keras-tf_over_torch" not in comp.columns
    jax, torch = rounds["lenet5-keras_jax-train-bs2-cpu"], rounds["lenet5-torch-train-bs2-cpu"]
    assert r["ratio_torch_over_keras-jax"] == pytest.approx(statistics.median(torch) / statistics.median(jax))
    assert pd.isna(r["ratio_tf_over_torch"])  # the legacy columns are keras-tf over torch only


def test_equal_settings_are_stated_per_run_and_differences_listed(files):
    results = results_frame(find_runs([files["four"], files["unequal"], nf.CPU]))
    st = settings_by_run(results)
    assert st["four"].status == "equal" and not st["four"].differences
    assert st["unequal"].status == "different"
    assert st["unequal"].differences == ["intra-op threads: keras-tf 1, torch 2"]
    assert st["unequal"].by_runtime["keras-tf"]["intra-op threads"] == "1"
    assert st["unequal"].by_runtime["torch"]["oneDNN"] == "on"
    assert st["cpu_smoke_2core"].status == "not recorded"  # a run saved before the setting_* fields


def test_memory_methods_are_never_compared_as_equal(files):
    doc = nf.add_new_fields(nf.load(), per_runtime={"keras-tf": {"peak_memory_method": "allocator_peak"}})
    for b in doc["benchmarks"]:
        if b["extra_info"]["runtime"] == "keras-tf":
            b["extra_info"]["peak_memory_bytes"] = 123 * 2**20
    path = nf.write(doc, files["four"].parent / "mixed_memory.json")
    res = results_frame(find_runs([path]))
    comp = comparison_frame(res)
    assert (comp["memory_comparable"] == False).all()  # noqa: E712
    from cnnbench.reports.report import _with_bar_labels, memory_groups

    groups = memory_groups(_with_bar_labels(res))  # one chart each
    assert [(m, sorted(set(g["runtime"]))) for m, _, g in groups] == [("allocator_peak", ["keras-tf"]),
                                                                       ("rss_delta", ["torch"])]
    # a run saved before peak_memory_method: grouped by the kind it recorded (torch RSS, TF's allocator)
    old = memory_groups(_with_bar_labels(results_frame(find_runs([nf.CPU]))))
    assert [(m, sorted(set(g["runtime"]))) for m, _, g in old] == [(None, ["torch"]), (None, ["keras-tf"])]
    assert "VmHWM" in old[0][1] and "get_memory_info" in old[1][1]


def test_scaling_efficiency_from_the_runs_images_per_s(files):
    doc = json.loads(files["scaling"].read_text())
    ips = {(b["extra_info"]["model"], b["extra_info"]["runtime"], b["extra_info"]["world_size"]):
           b["extra_info"]["images_per_s"] for b in doc["benchmarks"]}
    frame = scaling_frame(results_frame(find_runs([files["scaling"]])))
    assert len(frame) == 3 * 2 * 3  # models x runtimes x world sizes 1, 2, 4
    for r in frame.to_dict("records"):
        key = (r["model"], r["runtime"], r["world_size"])
        expected = ips[key] / (r["world_size"] * ips[(r["model"], r["runtime"], 1)])
        assert r["scaling_efficiency"] == pytest.approx(expected, rel=1e-9)
        assert r["global_batch"] == 2 * r["world_size"]
    left = frame[(frame["model"] == "resnet18") & (frame["runtime"] == "torch") & (frame["world_size"] == 4)]
    assert list(left["efficiency_source"]) == ["computed"]  # the row had none recorded
    # rounds x 1.3 at 4 workers: 4 x 2 images in 1.3 x the time = 4/1.3 x the images/s, efficiency 1/1.3
    assert float(left["scaling_efficiency"].iloc[0]) == pytest.approx(1 / 1.3, rel=1e-9)
    comp = comparison_frame(results_frame(find_runs([files["scaling"]])))
    for col in ("world_size", "torch_global_batch", "torch_images_per_s", "torch_scaling_efficiency",
                "torch_dist_backend", "keras-tf_dist_backend"):
        assert col in comp.columns
    assert set(comp["world_size"]) == {1, 2, 4} and set(comp["keras-tf_dist_backend"].dropna()) == {"tf-collective-ring"}


def test_a_paired_verdict_decides_the_faster_column_and_says_so(files):
    res = results_frame(find_runs([nf.CPU]))
    plain = comparison_frame(res)
    row = lambda c: c[(c["model"] == "resnet18") & (c["mode"] == "inference")].iloc[0]  # noqa: E731
    assert row(plain)["faster_keras-tf_vs_torch"] == "torch"  # the run's own rounds: torch 1.37x faster
    paired = paired_frame([PairedResult(files["ab"], json.loads(files["ab"].read_text()))])
    comp = comparison_frame(res, paired=paired)
    r = row(comp)
    assert r["faster_keras-tf_vs_torch"] == "tie" and r["faster"] == "tie"
    assert r["verdict_keras-tf_vs_torch"].startswith("paired A/B ab.json (resnet18-inference-bs2-cpu)")
    assert r["ratio_keras-tf_over_torch"] == row(plain)["ratio_keras-tf_over_torch"]  # the run's numbers stay
    others = comp[~((comp["model"] == "resnet18") & (comp["mode"] == "inference"))]
    assert (others["verdict_keras-tf_vs_torch"] == "bootstrap of the run's rounds").all()
    # the same pair with A and B the other way round: the ratio is inverted, "a faster" names keras-tf
    doc = nf.ab_frameworks(decision="a faster")
    case = doc["cases"][0]
    case.update(a_runtime="keras-tf", b_runtime="torch", a_case=case["b_case"], b_case=case["a_case"], ratio=0.8,
                ci_low=0.75, ci_high=0.85)
    rev = paired_frame([PairedResult(Path("rev.json"), doc)])
    r = row(comparison_frame(res, paired=rev))
    assert r["faster_keras-tf_vs_torch"] == "keras-tf"
    assert r["faster_by_keras-tf_vs_torch"] == pytest.approx(1 / 0.8)
    assert "keras-tf/torch 1.250 [1.176, 1.333]" in r["verdict_keras-tf_vs_torch"]
    # another machine's paired run says nothing about this one
    doc["machine_info"] = {"cpu_model": "elsewhere"}
    r = row(comparison_frame(res, paired=paired_frame([PairedResult(Path("x.json"), doc)])))
    assert r["faster_keras-tf_vs_torch"] == "torch"


def test_a_regression_measured_again_shows_both_measurements():
    """`cnnbench ab --confirm 1` keeps the first pass's numbers, lists the fresh pair's, and the report's
    paired table says both (the case is a regression only if the fresh pair agrees)."""
    from cnnbench.reports.paired_rows import display_rows

    doc = nf.ab_frameworks()
    doc["kind"] = "baseline"
    doc["cases"][0].update(decision="inconclusive", ratio=1.118, ci_low=1.080, ci_high=1.175, first_decision="regression",
                           confirmations=[{"ratio": 1.043, "decision": "no change", "ci_low": 1.018, "ci_high": 1.057}])
    frame = paired_frame([PairedResult(Path("ab.json"), doc)])
    assert frame["confirmations"].tolist() == ["1.043 no change"]
    (shown,) = display_rows(frame, set())
    assert shown["decision"] == "inconclusive (first pass a regression; again in fresh processes: 1.043 no change)"
    assert shown["ratio"] == "1.118"
    # a first pass that was inconclusive, with B slower, is measured again too (since 2026-12-04)
    doc["cases"][0].update(decision="regression", ratio=1.050, ci_low=0.999, ci_high=1.108,
                           first_decision="inconclusive", pooled_ratio=1.119, confirmations=[{"ratio": 1.16, "decision": "regression"},
                                                              {"ratio": 1.15, "decision": "regression"}])
    (shown,) = display_rows(paired_frame([PairedResult(Path("ab.json"), doc)]), set())
    assert shown["decision"] == ("regression (first pass inconclusive; again in fresh processes: 1.160 regression; "
                                 "1.150 regression; pooled 1.119)")


def test_mode_view_speedup_over_the_plain_case_from_the_rounds(files):
    both = find_runs([nf.CPU, files["variants"]])
    frame = mode_frame(results_frame(both))
    rounds = _rounds(nf.load()) | _rounds(json.loads(files["variants"].read_text()))
    assert set(frame["variant"]) == {"plain fp32 eager", "bf16", "XLA"}
    for r in frame[~frame["plain"]].to_dict("records"):
        tag, suffix = ("torch", "-bf16") if r["runtime"] == "torch" else ("tf", "-xla")
        base = rounds[f"{r['model']}-{tag}-{r['mode']}-bs2-cpu"]
        var = rounds[f"{r['model']}-{tag}-{r['mode']}-bs2-cpu{suffix}"]
        assert r["speedup"] == pytest.approx(statistics.median(base) / statistics.median(var), rel=1e-12)
        low, high = _independent_interval(var, base)
        assert (r["speedup_ci_low"], r["speedup_ci_high"]) == pytest.approx((low, high), rel=0.02)
    # bf16 rounds are x 0.7: 1/0.7 faster than plain torch, the fastest torch variant of every model
    torch_bf16 = frame[(frame["runtime"] == "torch") & (frame["variant"] == "bf16")]
    assert torch_bf16["speedup"].to_numpy() == pytest.approx(1 / 0.7)
    assert (torch_bf16["fastest_of_runtime"] | torch_bf16["fastest_of_model"]).fillna(False).all()
    assert mode_frame(results_frame(find_runs([nf.CPU]))).empty  # one run, one way each: no mode view


def test_a_flagged_percent_of_peak_is_never_a_number_nor_plotted(four):
    from cnnbench.reports.report import _measurements_table, _with_bar_labels, flops_points

    res, _ = four
    rows = _measurements_table(res)["rows"]
    flagged = [r for r in rows if r["pct"] == "flagged"]
    assert len(flagged) == 1 and flagged[0]["runtime"] == "keras-jax" and flagged[0]["pct_flag"] == nf.FLAG
    usable, n_flagged, n_variants = flops_points(_with_bar_labels(res))
    assert (n_flagged, n_variants, len(usable)) == (1, 0, len(res) - 1)
    assert not ((usable["runtime"] == "keras-jax") & (usable["model"] == "resnet18") & (usable["mode"] == "train")).any()


def test_plots_colour_every_runtime_as_designed(four):
    from cnnbench.reports import plots

    res, _ = four
    svg = plots.step_time_bars(res).decode()
    for colour in ("#ee4c2c", "#ff8f00", "#5e35b1", "#00897b"):  # reports/plots.py; docs/reports.md
        assert colour in svg


def test_scatter_labels_do_not_overlap():
    """Twelve points in two tight clusters: the placed labels' boxes must not intersect."""
    import matplotlib.pyplot as plt
    from matplotlib.text import Text

    from cnnbench.reports.plots import _place_labels

    fig, ax = plt.subplots(figsize=(5, 3.5))
    xs = np.array([1e6, 1.05e6, 1.1e6, 1.0e6, 1.08e6, 1.02e6, 5e8, 5.2e8, 5.1e8, 5.3e8, 4.9e8, 5.05e8])
    ys = np.array([1e-3, 1.1e-3, 0.9e-3, 1.2e-3, 1.05e-3, 0.95e-3, 2e-2, 2.2e-2, 2.1e-2, 1.9e-2, 2.05e-2, 2.15e-2])
    ax.scatter(xs, ys)
    ax.set_xscale("log")
    ax.set_yscale("log")
    labels = _place_labels(ax, xs, ys, [str(i) for i in range(1, 13)])
    fig.canvas.draw()
    boxes = [Text.get_window_extent(a) for a in labels]  # the text alone, not its leader line
    overlaps = [(i, j) for i in range(len(boxes)) for j in range(i) if boxes[i].overlaps(boxes[j])]
    plt.close(fig)
    assert not overlaps
