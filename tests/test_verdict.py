"""The terminal verdict the harness prints at the end of `pytest bench` (issue #19 item 2).

Rows are pytest-benchmark JSON rows as the harness hands them over (``stats["data"]`` = raw rounds):
the real CPU run of tests/data, with the new fields added by tests/new_fields.py where needed.
"""
from __future__ import annotations

import copy
import statistics
import subprocess
import sys

import pytest

import new_fields as nf
from cnnbench.core.stats import ratio_of_medians
from cnnbench.reports.verdict import comparisons, render

SKIPPED = [{"id": "inception_v3-torch-inference-bs2-cpu", "group": "inference:inception_v3:bs2:cpu",
            "reason": "inception_v3: input_size 64 is too small; the minimum input size is 75 (default 299)"},
           {"id": "vgg16-keras_jax-train-bs2-cpu", "group": "train:vgg16:bs2:cpu",
            "reason": "out of memory: the model needs about 3.1 GiB for a training step, 2.0 GiB are available"}]


@pytest.fixture(scope="module")
def four() -> list[dict]:
    return nf.four_runtimes()["benchmarks"]


def _line(text: str, after: str, runtime: str) -> str:
    """The row of ``runtime`` in the table under the title line containing ``after``."""
    lines = text.splitlines()
    start = next(i for i, x in enumerate(lines) if after in x)
    return next(x for x in lines[start + 1:] if x.split()[0] == runtime)


@pytest.mark.parametrize("width", [100, 80, 120])
def test_every_line_fits_the_terminal(four, width):
    text = render(four, SKIPPED, width=width)
    assert max(len(line) for line in text.splitlines()) <= width
    assert "inception_v3-torch-inference-bs2-cpu" in text  # wrapped, not cut
    assert "2.0 GiB are available" in text.replace("\n  ", " ").replace("\n    ", " ")


def test_medians_ratios_and_intervals_come_from_the_raw_rounds(four):
    text = render(four, [], width=100)
    by = {b["param"]: b for b in four}
    for model, mode in (("resnet18", "inference"), ("lenet5", "train")):
        title = f"{model} | {mode} | bs2 | cpu"
        ref = by[f"{model}-torch-{mode}-bs2-cpu"]["stats"]["data"]
        assert f"{1e3 * statistics.median(ref):.2f}"[:5] in _line(text, title, "torch")
        for rt in ("keras-tf", "keras-jax", "keras-torch"):
            rounds = by[f"{model}-{nf.TAG[rt]}-{mode}-bs2-cpu"]["stats"]["data"]
            ratio = statistics.median(rounds) / statistics.median(ref)
            est = ratio_of_medians(ref, rounds)  # the shared bootstrap (tested against an independent one)
            line = _line(text, title, rt)
            assert f"{ratio:.2f} [{est.low:.2f}, {est.high:.2f}]" in line
            winner = "tie" if est.low <= 1 <= est.high else ("torch" if ratio > 1 else rt)
            assert (f"{winner} {max(ratio, 1 / ratio):.2f}x" if winner != "tie" else " tie ") in line


def test_flagged_peak_invalid_time_and_skips_are_said(four):
    rows = copy.deepcopy(four)
    broken = next(b for b in rows if b["param"] == "lenet5-torch-inference-bs2-cpu")
    broken["stats"]["median"] = float("inf")
    text = render(rows, SKIPPED, width=100)
    jax = _line(text, "resnet18 | train | bs2 | cpu", "keras-jax")
    assert jax.rstrip().endswith("flagged")
    assert "% of peak flagged, resnet18-keras_jax-train-bs2-cpu: above the measured GEMM peak" in text
    assert "invalid" in _line(text, "lenet5 | inference | bs2 | cpu", "torch")
    table = [x for x in text.splitlines() if x.split()[:1] and x.split()[0] in nf.TAG]
    assert len(table) == 24 and not any("inf" in x.split() for x in table)  # a cell is "invalid", never inf
    assert "not finite, lenet5-torch-inference-bs2-cpu: median time is inf" in text
    assert "Skipped (2):" in text and "out of memory: the model needs about 3.1 GiB" in text


def test_grouped_convolutions_keras_compiled_with_xla_are_explained_once(four):
    """A Keras-on-TensorFlow row that records grouped convolutions compiled with XLA
    (cnnbench.models_tf.backend.xla_grouped_convs) gets one note naming the model and its count, and the
    result file that measured what that costs (which must exist); a run without such rows has none."""
    from pathlib import Path

    from cnnbench.reports.verdict import XLA_GROUPED_CONV_RESULT

    assert "grouped convolutions:" not in render(four, [], width=100)
    rows = copy.deepcopy(four)
    for b in rows:
        if b["extra_info"]["runtime"] == "keras-tf" and b["extra_info"]["model"] == "resnet18":
            b["extra_info"]["keras_xla_grouped_convs"] = 16  # as RegNetY-400MF's rows record it
    text = " ".join(render(rows, [], width=100).split())
    assert text.count("grouped convolutions: Keras on TensorFlow compiled resnet18's 16 with XLA") == 1
    assert XLA_GROUPED_CONV_RESULT in text
    assert (Path(__file__).resolve().parents[1] / XLA_GROUPED_CONV_RESULT).is_file()


def test_comparisons_whose_processes_disagree_are_named_in_one_note(four):
    """Two processes a side whose medians cross (torch 1 and 2 ms, Keras 1.5 and 1.5 ms: two of the four pairs
    put torch ahead, two Keras) name no side; the comparisons are listed in one note, not one note each (on a
    noisy machine that was most of the verdict's lines)."""
    rows = copy.deepcopy(four)
    disagreeing = ("lenet5-tf-inference-bs2-cpu", "resnet18-tf-train-bs2-cpu")
    for b in rows:
        i = b["extra_info"]
        if i["runtime"] not in ("torch", "keras-tf") or (i["model"], i["mode"]) not in (("lenet5", "inference"),
                                                                                     ("resnet18", "train")):
            continue
        data = [1e-3] * 5 + [2e-3] * 5 if i["runtime"] == "torch" else [1.5e-3] * 10
        b["stats"].update(data=data, median=statistics.median(data), min=min(data), max=max(data),
                          mean=statistics.mean(data), rounds=len(data))
        i["process_rounds"] = [5, 5]
    # every comparison of those rows whose processes cross (the Keras-on-JAX rows of one process cross the new
    # torch rows' two processes too), as the shared statistics say
    crossing = [cid for _, cid, est, _ in comparisons(rows) if est.processes_disagree]
    assert set(disagreeing) <= set(crossing)
    text = " ".join(render(rows, [], width=100).split())
    assert text.count("processes disagree:") == 1 and "processes disagree," not in text
    assert (f"processes disagree: no side is named faster for {len(crossing)} comparison(s) against torch, where "
            "more than 1 in 10 pairs of processes disagree on which side is ahead") in text
    # two processes a side at most: the rule's clause for four or more (the slowest quarter left out) is not said
    assert "slowest quarter" not in text
    named = text.split("on which side is ahead: ")[1].split(", ")[:len(crossing)]
    assert sorted(named[:-1] + named[-1].split()[:1]) == sorted(crossing)
    lines = render(rows, [], width=100)
    for model, mode in (("lenet5", "inference"), ("resnet18", "train")):
        assert " tie " in _line(lines, f"{model} | {mode} | bs2 | cpu", "keras-tf") + " "


def test_a_foreign_row_is_left_out_with_a_line_not_a_crash(four):
    rows = copy.deepcopy(four) + [{"name": "test_other", "stats": {"median": 1.0}, "extra_info": {}}]
    text = render(rows, [], width=100)
    assert "left out: this run: benchmark 'test_other' has no extra_info" in text.replace("\n    ", " ")


def test_old_runs_without_the_new_fields_render_too():
    text = render(nf.load()["benchmarks"], [], width=100)
    assert "keras-tf" in _line(text, "resnet18 | train | bs2 | cpu", "keras-tf")
    # two ways of measuring memory in one table: marked, and named once below it
    assert "* peak memory measured differently per runtime, not comparable" in text


def test_verdict_needs_neither_pandas_nor_matplotlib():
    code = (
        "import sys, json\n"
        "from cnnbench.reports.verdict import render\n"
        f"doc = json.load(open({str(nf.CPU)!r}))\n"
        "text = render(doc['benchmarks'], doc['cnnbench']['skipped'], width=100)\n"
        "assert 'resnet18' in text\n"
        "bad = [m for m in ('pandas', 'matplotlib', 'torch', 'tensorflow', 'jinja2') if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
