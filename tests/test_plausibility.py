"""Implausible figures are flagged with the reason, not shown as facts (issue #30 item 7).

The figures are the issue's, from a fresh clone's `make bench` on the 2-core AMD EPYC VM (2026-12-05):
PyTorch VGG-11 training 1,592 ms per step, VGG-13 741 ms (VGG-11-BN's 631 ms is not a sibling since issue
#37: another op mix; VGG-16 is given VGG-13's time per FLOP, 741 x 15.470 / 11.308 = 1,014 ms, as the
third like-built model the rule needs); Keras VGG inference peak
memory 1,352 MiB against PyTorch's 535 MiB, with 507 MiB of weights. The FLOPs are torchvision's
published costs (`_ops`, GMACs: VGG-11 7.609, VGG-13 11.308, VGG-16 15.470, VGG-11-BN 7.609), a
training step being 3 x 2 x MACs. The MobileNet step times are the default-profile run of the MobileNets
(Keras on TensorFlow, batch 1, 224 px: V2 16.1 ms, V3-Large 14.8 ms, V3-Small 7.9 ms) with torchvision's
GMACs 0.301, 0.217, 0.057: V3-Small is 2.3x its siblings' time per FLOP (hand arithmetic: 7.9 / 0.057 =
138.6 against the median of 16.1 / 0.301 = 53.5 and 14.8 / 0.217 = 68.2, 60.8), yet faster than both:
a small model's fixed costs, not a measurement to doubt.
"""
from __future__ import annotations

import copy
import json
from pathlib import Path

from cnnbench.reports import plausibility
from cnnbench.reports.plausibility import entry, implausible
from cnnbench.reports.verdict import render
from saved_runs import CPU, CPU16

MiB = 2**20
SAME = {"mode": "train", "batch": 1, "device": "cpu", "input_size": 224, "precision": "fp32", "compiled": False,
        "world_size": 1, "runtime": "torch"}


def _train(model: str, gmacs: float, ms: float) -> dict:
    return {"id": f"{model}-torch-train-bs1-cpu", "model": model, **SAME, "median_s": ms / 1e3,
            "flops": int(3 * 2 * gmacs * 1e9)}


VGG = [_train("vgg11", 7.609, 1592), _train("vgg13", 11.308, 741), _train("vgg16", 15.470, 1014)]


def test_the_slow_vgg11_is_flagged_with_the_sibling_that_shows_it():
    found = implausible(VGG)
    assert set(found) == {"vgg11-torch-train-bs1-cpu"}
    (why,) = found["vgg11-torch-train-bs1-cpu"]
    # 1592 / 7.609 = 209.2 against the median of itself, 741 / 11.308 = 65.53 and 1014 / 15.470 = 65.55:
    # 65.55 -> 3.2x; the witness is the sibling furthest in FLOPs: VGG-16, 15.470 / 7.609 = 2.03x the FLOPs
    # in 1014 / 1592 = 0.64x the time
    assert why.startswith("time per FLOP 3.2x the median of the 3 vgg models of this run built of the same kinds of layers")
    assert "vgg16 does 2.03x its FLOPs in 0.64x its time" in why


def test_a_small_model_slower_per_flop_but_faster_is_not_flagged():
    mobilenets = [dict(_train(m, g, ms), mode="inference", id=f"{m}-tf-inference-bs1-cpu", runtime="keras-tf",
                       flops=int(2 * g * 1e9))
                  for m, g, ms in (("mobilenet_v2", 0.301, 16.1), ("mobilenet_v3_large", 0.217, 14.8),
                                   ("mobilenet_v3_small", 0.057, 7.9))]
    assert implausible(mobilenets) == {}


def test_fewer_than_three_models_of_a_family_or_other_settings_are_not_compared():
    assert implausible(VGG[:2]) == {}
    other_batch = [dict(VGG[0], batch=8), VGG[1], VGG[2]]
    assert implausible(other_batch) == {}
    assert implausible([dict(VGG[0], model="not_a_model"), VGG[1], VGG[2]]) == {}


def test_memory_far_above_weights_and_activations_is_flagged_for_keras_not_for_torch():
    bound = 540 * MiB  # VGG-11 inference: 507 MiB of weights + every layer output at 224 px (about 33 MiB)
    keras = {"id": "vgg11-tf-inference-bs1-cpu", "model": "vgg11", **SAME, "mode": "inference",
             "runtime": "keras-tf", "peak_memory_bytes": 1352 * MiB, "peak_memory_method": "rss_delta",
             "analytic_memory_bytes": bound}
    torch = dict(keras, id="vgg11-torch-inference-bs1-cpu", runtime="torch", peak_memory_bytes=535 * MiB)
    found = implausible([keras, torch])
    assert set(found) == {"vgg11-tf-inference-bs1-cpu"}
    (why,) = found["vgg11-tf-inference-bs1-cpu"]
    assert why.startswith("peak memory 1,352 MiB is 2.5x the step's analytic bound (540 MiB")
    assert "oneDNN CPU allocator" in why and (Path(__file__).parents[1] / "results"
                                               / "keras-cpu-allocator-vgg11-2026-12-05.json").is_file()


def test_small_models_fixed_costs_are_not_flagged_as_memory():
    """LeNet-5's Keras training step held 6.6 MB against a 0.86 MB bound (bench/baselines/smoke/run1.json):
    7.8x, but 5.8 MB over it, below the 64 MiB margin: a runtime's fixed costs."""
    lenet = {"id": "lenet5-tf-train-bs2-cpu", "model": "lenet5", **SAME, "runtime": "keras-tf",
             "peak_memory_bytes": 6_647_808, "analytic_memory_bytes": 857_288, "peak_memory_method": "rss_delta"}
    assert implausible([lenet]) == {}
    assert plausibility.MEMORY_MARGIN_BYTES == 64 * MiB


def test_a_whole_process_peak_of_a_run_saved_before_the_memory_method_is_not_flagged():
    """The 16-core run (tests/data) saved peak memory as the process's peak RSS, PyTorch itself included, with
    no peak_memory_method: LeNet-5 inference read 521 MiB against a 0.35 MiB bound. That is the runtime's
    footprint, not a doubt about the model; the same figure with a method recorded would be flagged."""
    run = json.loads(CPU16.read_text())
    lenet = next(b for b in run["benchmarks"] if b["param"] == "lenet5-torch-inference-bs2-cpu")
    assert lenet["extra_info"]["peak_memory_bytes"] == 546_672_640
    assert lenet["extra_info"]["analytic_memory_bytes"] == 363_640
    assert implausible([entry(b) for b in run["benchmarks"]]) == {}
    recorded = copy.deepcopy(lenet)
    recorded["extra_info"]["peak_memory_method"] = "rss_delta"
    assert list(implausible([entry(recorded)])) == ["lenet5-torch-inference-bs2-cpu"]


def test_the_verdict_marks_the_row_and_prints_the_reason():
    run = json.loads(CPU.read_text())
    template = next(b for b in run["benchmarks"] if b["extra_info"]["model"] == "resnet18"
                    and b["extra_info"]["mode"] == "train" and b["extra_info"]["framework"] == "torch")
    rows = []
    for e in VGG:
        b = copy.deepcopy(template)
        b["extra_info"].update(model=e["model"], flops=e["flops"], batch=1, input_size=224)
        b["stats"]["data"] = [e["median_s"]] * 5
        b["stats"]["median"] = e["median_s"]
        b["name"] = b["fullname"] = f"test_step[{e['id']}]"
        b["param"] = e["id"]
        rows.append(b)
    text = render(rows, [], width=120)
    assert "1,592!" in text and "741.0!" not in text and "1,014!" not in text
    assert "! implausible, vgg11-torch-train-bs1-cpu: time per FLOP 3.2x" in text


def test_the_report_marks_the_rows_lists_them_and_the_csv_says_why(tmp_path, monkeypatch, capsys):
    """The report (issue #30 item 7: "in the verdict table and the report") of a run with the issue's
    figures (tests/new_fields.py, implausible_run): the same flags as implausible(), computed once per run."""
    import html as html_lib

    import pandas as pd

    import cnnbench.reports.report as report_mod
    import new_fields as nf
    from cnnbench.reports.cli import main as reports_main

    monkeypatch.setattr(report_mod, "figures", lambda results: [])  # charts are not what this is about
    run = nf.write(nf.implausible_run(), tmp_path / "issue30.json")
    expected = implausible([entry(b) for b in json.loads(run.read_text())["benchmarks"]])
    assert set(expected) == {"vgg11-torch-train-bs1-cpu", "vgg11-tf-inference-bs1-cpu"}
    out = tmp_path / "report"
    assert reports_main(["report", str(run), "--out", str(out), "--no-diagrams", "--no-history"]) == 0

    # results.csv: the reasons, verbatim, in the plausibility column; empty where nothing is doubted
    results = pd.read_csv(out / "results.csv", keep_default_na=False).set_index("case_id")
    assert list(results.columns).index("plausibility") == list(results.columns).index("flags") + 1
    for cid in results.index:
        assert results.loc[cid, "plausibility"] == plausibility.SEPARATOR.join(expected.get(cid, []))
    # comparison.csv: per runtime, and the row's note names the doubted figure
    comparison = pd.read_csv(out / "comparison.csv", keep_default_na=False)
    vgg11_train = comparison[(comparison["model"] == "vgg11") & (comparison["mode"] == "train")].iloc[0]
    assert vgg11_train["torch_plausibility"] == expected["vgg11-torch-train-bs1-cpu"][0]
    assert "torch: time per FLOP implausible (why: Implausible figures)" in vgg11_train["note"]

    page = html_lib.unescape((out / "report.html").read_text())
    # the list: each flagged row with its reason, and what to do
    section = page[page.index('id="implausible-figures"'):page.index('id="comparison"')]
    assert "2 row(s) hold a figure that does not fit" in section and "cnnbench ab" in section
    for cid, why in expected.items():
        assert f"issue30: {cid}: {why[0]}" in section
    assert "vgg13-torch-train-bs1-cpu" not in section
    # the per-row tables: "!" on the doubted figure, the reason as text in the row
    assert page.count('1592.000<a class="doubt"') == 2  # VGG-11 training's median ms, in both tables
    assert "741.000<a" not in page
    assert page.count('1,352.0<a class="doubt"') == 1  # Keras VGG-11's peak MiB (measurements table)
    assert f"! implausible:</span> {expected['vgg11-torch-train-bs1-cpu'][0]}" in page
    assert page.count('<a class="doubt"') == 3  # comparison: VGG-11's torch time; measurements: its time, Keras's memory
    # and on stdout
    printed = capsys.readouterr().out
    assert f"implausible: issue30: vgg11-tf-inference-bs1-cpu: {expected['vgg11-tf-inference-bs1-cpu'][0]}" in printed


def test_like_is_compared_with_like_the_op_mix():
    """Issue #37: MobileNetV2 PyTorch training was flagged "too fast per FLOP" next to MobileNetV3-Large, whose
    squeeze-excitation and hard-swish cost more per FLOP: the truth, not a doubt. The op mix (the analytic
    graph's layer kinds and activations) keeps them apart, and VGG with BatchNorm apart from VGG without."""
    mix = plausibility.op_mix
    assert mix("mobilenet_v2", None) != mix("mobilenet_v3_large", None)
    assert "SE" in mix("mobilenet_v3_large", None) and "SE" not in mix("mobilenet_v2", None)
    assert "activation relu6" in mix("mobilenet_v2", None) and "activation hardswish" in mix("mobilenet_v3_large", None)
    assert mix("mobilenet_v3_large", None) == mix("mobilenet_v3_small", None)
    assert mix("vgg11", None) == mix("vgg13", None) == mix("vgg19", None) != mix("vgg11_bn", None)
    assert mix("resnet18", None) == mix("resnet50", None)  # basic and bottleneck blocks: the same kinds of layers
    # VGG-11-BN's 631 ms (issue #30's run) among the plain VGGs no longer counts as their sibling
    assert implausible(VGG[:2] + [_train("vgg11_bn", 7.609, 631)]) == {}


def test_an_inference_step_slower_than_its_training_step_is_flagged_with_both_medians():
    """Issue #37's first case: LeNet-5's PyTorch inference at 63.99 ms, its training step at 5.43 ms, in one run."""
    same = dict(SAME, batch=1, input_size=28, model="lenet5")
    train = dict(same, id="lenet5-torch-train-bs1-cpu", median_s=5.43e-3)
    inference = dict(same, id="lenet5-torch-inference-bs1-cpu", mode="inference", median_s=63.99e-3,
                     process_medians_s=[63.99e-3, 0.61e-3])
    found = implausible([train, inference])
    assert list(found) == ["lenet5-torch-inference-bs1-cpu"]
    (why,) = found["lenet5-torch-inference-bs1-cpu"]
    assert why.startswith("step time: the inference step (64 ms (processes 64, 0.61 ms)) is slower than its own "
                          "training step (5.43 ms)")
    assert plausibility.doubted(why) == {plausibility.TIME_FIGURE}
    # another runtime's or batch's training step is not its own
    assert implausible([dict(train, runtime="keras-tf"), inference]) == {}
    assert implausible([dict(train, batch=8), inference]) == {}


def test_the_memory_rule_reads_the_steps_own_peak_where_a_row_has_it():
    """Issue #37: 13 of 15 marks were TensorFlow's allocator pool (process peak 1,352 MiB for Keras VGG-11
    inference, bound 540 MiB). With the step's own peak recorded (what the step adds above the memory held
    after the build; 30 MiB here, assumed: about the 33 MiB of layer outputs), nothing is flagged; a step
    that itself holds 3x its bound still is."""
    keras = {"id": "vgg11-tf-inference-bs1-cpu", "model": "vgg11", **SAME, "mode": "inference",
             "runtime": "keras-tf", "peak_memory_bytes": 1352 * MiB, "peak_memory_method": "rss_delta",
             "analytic_memory_bytes": 540 * MiB, "step_peak_memory_bytes": 30 * MiB}
    assert implausible([keras]) == {}
    (why,) = implausible([dict(keras, step_peak_memory_bytes=1620 * MiB)])["vgg11-tf-inference-bs1-cpu"]
    assert why.startswith("peak memory the step's own peak 1,620 MiB is 3.0x the step's analytic bound (540 MiB")
