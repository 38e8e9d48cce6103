"""`cnnbench ab`: bad input, what gets paired, the JSON/table/csv/markdown output, and one real run."""
from __future__ import annotations

import json
import math
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from cnnbench.ab import output, pairing
from cnnbench.harness.cases import build_cases
from cnnbench.ab.engine import PairOutcome, Plan, Side
from cnnbench.core.case import Case
from cnnbench.core.paired_stats import paired_ratio
from cnnbench.core.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
IS_GIT = shutil.which("git") is not None and subprocess.run(
    ["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True).returncode == 0

BAD = [  # (arguments, what the one line must say)
    ([], "give exactly one of --baseline"),
    (["--baseline", "HEAD", "--compare-frameworks"], "got baseline, frameworks"),
    (["--compare-frameworks", "--sides", "torch"], "--sides: give two different runtimes"),
    (["--compare-frameworks", "--sides", "torch,mxnet"], "--sides: unknown runtime(s) mxnet"),
    (["--compare-frameworks", "--frameworks", "torch"], "choose the two runtimes with --sides"),
    (["--sides", "torch,keras-jax", "--baseline", "HEAD"], "--sides chooses the runtimes of --compare-frameworks"),
    (["--compare-setting", "precision=fp64"], "precision: 'fp64' is not one of fp32, bf16, fp16"),
    (["--compare-setting", "colour=red"], "unknown key 'colour'"),
    (["--compare-setting", "threads=0"], "threads: expected a positive whole number"),
    (["--compare-setting", "threads"], "expected KEY=VALUE"),
    (["--baseline", "HEAD", "--models", "nosuchnet"], "nosuchnet"),
    (["--baseline", "HEAD", "--batch-sizes", "0"], "--batch-sizes: batch size must be a positive integer"),
    (["--baseline", "HEAD", "--time-budget", "0"], "--time-budget: expected a number > 0"),
    (["--baseline", "HEAD", "--time-budget", "soon"], "--time-budget: expected a number"),
    (["--baseline", "HEAD", "--time-budget", "inf"], "--time-budget: expected a number > 0"),
    (["--baseline", "HEAD", "--threshold", "5"], "--threshold is a fraction"),
    (["--baseline", "HEAD", "--process-pairs", "0"], "--process-pairs"),
    (["--baseline", "HEAD", "--confirm", "-1"], "--confirm: expected a number >= 0"),
    (["--compare-frameworks", "--confirm", "1"], "--confirm re-measures regressions of --baseline"),
    (["--baseline", "HEAD", "--format", "xml"], "--format: 'xml' is not one of"),
    (["--baseline", "HEAD", "--cpus", "first"], "--cpus: expected auto, none or CPU numbers"),
    (["--baseline", "HEAD", "--cpus", "4096"], "--cpus 4096: CPU 4096 not available to this process"),
    (["--baseline", "HEAD", "--builds", "0"], "--builds: expected a number > 0"),
    (["--baseline", "HEAD", "--order", "zigzag"], "--order: 'zigzag' is not one of abba, random"),
    (["--baseline", "HEAD", "--device", "tpu"], "--device: 'tpu' is not one of"),
    (["--baseline", "HEAD", "--models", "lenet5", "--inject-delay", "resnet50=15%"], "matches none of the selected"),
    (["--baseline", "HEAD", "--inject-delay", "lenet5=-3"], "--inject-delay: the delay must be a positive number"),
    (["--baseline", "HEAD", "--out", "/nonexistent-dir/ab.json"], "does not exist"),
    (["--baseline", "no-such-ref-0123"], "--baseline no-such-ref-0123: no such commit"),
]


@pytest.mark.parametrize("args, message", BAD, ids=[" ".join(a) or "nothing" for a, _ in BAD])
def test_bad_input_is_one_line_and_exit_2(args, message, capsys):
    from cnnbench.cli import main

    if "--baseline" in args and not IS_GIT:
        pytest.skip("not a git checkout")
    assert main(["ab", "--device", "cpu", *args]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("cnnbench ab: error: ") and "Traceback" not in err[0]
    assert message in err[0]


def _git(path: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(path), *args], check=True, capture_output=True)


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_baseline_before_the_worker_protocol_is_refused(tmp_path):
    from cnnbench.ab.checkout import resolve_baseline

    _git(tmp_path, "init", "-q")
    (tmp_path / "README.md").write_text("old\n")
    _git(tmp_path, "add", ".")
    _git(tmp_path, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "old")
    with pytest.raises(ValueError, match="predates the worker protocol"):
        resolve_baseline("HEAD", root=tmp_path)
    (tmp_path / "cnnbench").mkdir()
    (tmp_path / "cnnbench" / "worker.py").write_text("PROTOCOL = 0\n")
    _git(tmp_path, "add", ".")
    _git(tmp_path, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "protocol 0")
    with pytest.raises(ValueError, match="speaks protocol 0"):
        resolve_baseline("HEAD", root=tmp_path)
    with pytest.raises(ValueError, match="no such commit"):
        resolve_baseline("v9.9", root=tmp_path)


TORCH = Case("resnet18", "torch", "train", 2, "cpu", 64)
KERAS_TF = Case("resnet18", "tf", "train", 2, "cpu", 64, layout="nhwc")
KERAS_JAX = Case("resnet18", "tf", "train", 2, "cpu", 64, layout="nhwc", keras_backend="jax")
GPU = Case("resnet18", "torch", "train", 8, "cuda", 64)

CHANGES = [  # (case, --compare-setting, B's case id or None, B's settings differ, why nothing changes)
    (TORCH, "precision=bf16", "resnet18-torch-train-bs2-cpu-bf16", False, None),
    (TORCH, "layout=nhwc", "resnet18-torch-train-bs2-cpu-nhwc", False, None),
    (KERAS_TF, "layout=nchw", None, False, "channels-last"),
    (TORCH, "compile=on", "resnet18-torch-train-bs2-cpu-compiled", False, None),
    (KERAS_TF, "xla=on", "resnet18-tf-train-bs2-cpu-xla", False, None),
    (KERAS_JAX, "compile=on", None, False, "always runs a jax.jit-compiled step"),
    (TORCH, "threads=1", "resnet18-torch-train-bs2-cpu", True, None),
    (TORCH, "math=fp32", None, False, "a CPU computes FP32 either way"),
    (GPU, "math=fp32", "resnet18-torch-train-bs8-cuda", True, None),
    (TORCH, "onednn=off", None, False, "TensorFlow's oneDNN"),
    (KERAS_TF, "onednn=off", "resnet18-tf-train-bs2-cpu", True, None),
    (TORCH, "precision=fp32", None, False, "already uses this setting"),
]


@pytest.mark.parametrize("case, text, b_id, settings_differ, skip", CHANGES,
                         ids=[f"{c.runtime}-{c.device}-{t}" for c, t, *_ in CHANGES])
def test_setting_pairs(case, text, b_id, settings_differ, skip):
    pair = pairing.setting_pairs([case], Settings(threads=2), pairing.parse_setting_change(text), [])[0]
    assert pair.pair_id == f"{case.id}~{text}" and pair.a.case == case
    if skip:
        assert pair.skip and skip in pair.skip
        return
    assert pair.skip is None and pair.b.case.id == b_id
    assert (pair.b.settings.resolved() != pair.a.settings.resolved()) == settings_differ


def test_framework_pairs_pair_the_same_step_in_two_runtimes():
    cases = build_cases(profile="smoke", models="lenet5,resnet18", modes="train", device="cpu",
                        **pairing.framework_selection(("torch", "keras-jax")))
    pairs = pairing.framework_pairs(cases, ("torch", "keras-jax"), Settings(), [])
    assert [p.pair_id for p in pairs] == ["train:lenet5:bs2:cpu:torch~keras-jax",
                                          "train:resnet18:bs2:cpu:torch~keras-jax"]
    assert [(p.a.case.runtime, p.b.case.runtime) for p in pairs] == [("torch", "keras-jax")] * 2
    assert pairs[1].a.case.input_size == pairs[1].b.case.input_size == 64


def test_baseline_pairs_delay_only_the_candidate():
    cases = build_cases(profile="smoke", models="lenet5,resnet18", frameworks="torch", modes="inference",
                        device="cpu")
    pairs = pairing.baseline_pairs(cases, Settings(), worktree="/tmp/wt", baseline_label="A", candidate_label="B",
                                    delays=[("resnet18", 0.15, "fraction")])
    assert [(p.a.delay, p.b.delay) for p in pairs] == [(None, None), (None, (0.15, "fraction"))]
    assert all(p.a.pythonpath == p.a.cwd == "/tmp/wt" and p.b.pythonpath is None for p in pairs)


DESIGN_CASE_KEYS = {  # the paired A/B JSON: cnnbench/ab/output.py, case_row
    "pair_id", "model", "mode", "batch", "device", "input_size", "precision", "a_case", "b_case", "a_runtime",
    "b_runtime", "rounds", "steps_per_round", "a_median_s", "b_median_s", "ratio", "ci_low", "ci_high", "p_value",
    "stopped", "seconds", "decision", "a_rounds_s", "b_rounds_s", "injected_delay_s"}


def _doc(kind="baseline", b_factor=1.2):
    a = [0.010, 0.011, 0.0105, 0.0102, 0.0099, 0.0101, 0.0103, 0.0100, 0.0104, 0.0098]
    b = [x * b_factor for x in a]
    outcome = PairOutcome(a_samples=a, b_samples=b, blocks=[0] * 10, steps_per_round=2, estimate=paired_ratio(a, b),
                          stopped="precision", seconds=12.3, rounds_s=4.0, injected_delay_s=0.002)
    pair = pairing.Pair("resnet18-torch-train-bs2-cpu", Side(TORCH), Side(TORCH))
    row = output.case_row(pair, outcome, kind, 0.05)
    return output.document(kind=kind, a_label="baseline HEAD", b_label="working tree", plan=Plan(),
                              threshold=0.05, cases=[row], machine_info={"cpu_model": "x"}, commit_info={"id": "abc"},
                              datetime="2026-01-01T00:00:00+00:00", skipped=[{"pair_id": "p", "reason": "why"}],
                              unfinished=[])


def test_cpus_auto_pins_both_sides_to_the_last_threads_cpus(monkeypatch):
    from cnnbench.ab import options
    from cnnbench.core import settings

    monkeypatch.setattr(settings, "allowed_cpus", lambda: [0, 1, 2, 3])
    assert options._cpus("auto", 1) == (3,) and options._cpus("auto", 2) == (2, 3)
    assert options._cpus("auto", None) is None and options._cpus("none", 1) is None  # no --threads: not pinned
    assert options._cpus("0,2,2", 2) == (0, 2)
    with pytest.raises(options.BadInput, match="1 CPU\\(s\\) for --threads 2; give at least 2"):
        options._cpus("3", 2)


def test_json_has_the_design_fields():
    doc = json.loads(output.render(_doc(), "json"))
    assert doc["cnnbench_ab"] == 1 and doc["kind"] == "baseline"
    assert {"datetime", "machine_info", "commit_info", "kind", "a_label", "b_label", "method", "thresholds",
            "cases"} <= set(doc)
    assert doc["thresholds"] == {"time": 0.05, "confidence": 0.95}
    assert doc["plan"]["builds"] == 2 and doc["plan"]["cpus"] is None  # Plan's defaults: built twice, not pinned
    assert "each case built 2 times, the last build measured" in doc["method"]
    assert doc["plan"]["measured_builds"] == 1 and "measured in turn" not in doc["method"]
    three = output.method_text(Plan(measured_builds=3))
    assert "each case built 2 times, the last build measured, then built again before each further share of the " \
           "rounds: 3 builds measured in turn, rounds pooled" in three
    row = doc["cases"][0]
    assert set(row) == DESIGN_CASE_KEYS
    assert row["ratio"] == pytest.approx(1.2) and row["decision"] == "regression" and row["rounds"] == 10
    assert len(row["a_rounds_s"]) == len(row["b_rounds_s"]) == 10 and row["a_median_s"] == pytest.approx(0.01015)
    assert output.exit_status(doc) == 1
    assert output.exit_status(_doc(b_factor=1.0)) == 0


@pytest.mark.parametrize("fmt, must_have", [
    ("table", ["resnet18-torch-train-bs2-cpu", "1.200", "regression", "A: baseline HEAD", "skipped p: why"]),
    ("markdown", ["| pair |", "`resnet18-torch-train-bs2-cpu`", "| regression |", "- skipped p: why"]),
    ("csv", ["pair_id,a_case,b_case,rounds", "resnet18-torch-train-bs2-cpu,resnet18-torch-train-bs2-cpu"]),
])
def test_renderings(fmt, must_have):
    text = output.render(_doc(), fmt)
    for part in must_have:
        assert part in text


def test_frameworks_kind_decides_which_is_faster():
    doc = _doc(kind="frameworks")
    assert doc["cases"][0]["decision"] == "a faster" and output.exit_status(doc) == 0


def _outcome(b_factor: float) -> PairOutcome:
    a = [0.010, 0.011, 0.0105, 0.0102, 0.0099, 0.0101, 0.0103, 0.0100, 0.0104, 0.0098]
    return PairOutcome(a_samples=a, b_samples=[x * b_factor for x in a], blocks=[0] * 10, steps_per_round=2,
                       estimate=paired_ratio(a, [x * b_factor for x in a]), stopped="precision", seconds=1.0,
                       rounds_s=1.0, injected_delay_s=0.0)


@pytest.mark.parametrize("again, decision, runs, shown", [
    # a fresh pair that is a regression on its own, as the first was: settled, no third pair is run
    ([1.2, 1.2], "regression", 1, "(confirmed in 1 fresh pair: 1.200 [1.200, 1.200]; "
                                  "pooled over 2 pairs of processes 1.200)"),
    # a fresh pair below the threshold on its own, but every pair slower and the three pooled beyond it:
    # (1.2 x 1.03 x 1.1)^(1/3) = 1.1082 > 1.05 (the shape of the misses of 2026-12-02: 1.219, then 1.073)
    ([1.03, 1.1], "regression", 2, "pooled over 3 pairs of processes 1.108)"),
    # a fresh pair that saw no slowdown: not a regression, and no third pair is run
    ([1.0, 1.2], "inconclusive", 1, "(first pair: regression at 1.200; not a regression with 1 fresh pair: "
                                    "1.000 [1.000, 1.000]; pooled over 2 pairs of processes 1.095)"),
])
def test_a_regression_stands_only_if_every_fresh_pair_confirms_it(again, decision, runs, shown, monkeypatch):
    """--confirm N: the flagged pair measured up to N more times, each in new worker processes (a process's
    own bias lasts its life, so only a new process is a new sample of it); the regression stands if every
    pair measured B slower and the pairs' geometric mean is above the threshold."""
    from cnnbench.ab import engine, measure

    pools = []
    results = iter(again)

    def fake_measure(a, b, plan, pool):
        assert pool.workers is None and pool not in pools  # a new, empty pool each time: fresh workers
        pools.append(pool)
        return _outcome(next(results))

    monkeypatch.setattr(engine, "measure_pair", fake_measure)
    doc = _doc()
    row = doc["cases"][0]
    pair = pairing.Pair(row["pair_id"], Side(TORCH), Side(TORCH))
    unfinished = []
    measure._confirm({"confirm": 2, "plan": Plan(), "kind": "baseline", "threshold": 0.05}, pair, row, unfinished,
                    log=lambda line: None)
    assert len(pools) == runs and unfinished == []
    assert row["first_decision"] == "regression" and row["decision"] == decision
    assert [c["ratio"] for c in row["confirmations"]] == pytest.approx(again[:runs])
    assert row["pooled_ratio"] == pytest.approx(math.prod([1.2, *again[:runs]]) ** (1 / (runs + 1)))
    assert shown in output.render(doc, "table")
    assert output.exit_status(doc) == (1 if decision == "regression" else 0)


def _noisy_outcome(factors: list[float]) -> PairOutcome:
    a = [0.010 + 0.0001 * (i % 7) for i in range(len(factors))]
    b = [x * f for x, f in zip(a, factors)]
    return PairOutcome(a_samples=a, b_samples=b, blocks=[0] * len(a), steps_per_round=2,
                       estimate=paired_ratio(a, b), stopped="budget", seconds=1.0, rounds_s=1.0, injected_delay_s=0.0)


def test_a_first_pass_that_may_have_regressed_is_measured_again(monkeypatch):
    """A first pass that is inconclusive with B slower and its interval reaching past the threshold is
    re-measured too (one pair's bias can pull a true slowdown under the threshold: 1.050 [0.999, 1.108]
    for a 15% slowdown on 2026-12-04), and becomes a regression when the pairs pooled say so; a first pass
    inside the no-change band is not re-measured."""
    from cnnbench.ab import engine, measure

    noisy = _noisy_outcome([1.00, 1.09, 1.03, 1.11, 0.99, 1.06, 1.02, 1.10, 1.04, 1.08])
    first = noisy.estimate
    assert output.case_row(pairing.Pair("x", Side(TORCH), Side(TORCH)), noisy, "baseline", 0.05)[
        "decision"] == "inconclusive" and first.ratio > 1 and first.high > 1.05
    for outcomes, calls, decision in (([noisy, _outcome(1.2), _outcome(1.2)], 3, "regression"),
                                      ([_outcome(1.01)], 1, "no change")):
        results = iter(outcomes)
        seen = []
        monkeypatch.setattr(engine, "measure_pair", lambda a, b, plan, pool: seen.append(1) or next(results))
        opts = {"confirm": 2, "plan": Plan(), "kind": "baseline", "threshold": 0.05}
        rows, _, unfinished = measure.measure_all(opts, [pairing.Pair("p", Side(TORCH), Side(TORCH))],
                                                 log=lambda line: None)
        (row,) = rows
        assert len(seen) == calls and unfinished == [] and row["decision"] == decision
        if decision == "regression":
            # (first x 1.2 x 1.2)^(1/3), the first pass inconclusive and both fresh pairs regressions
            assert row["first_decision"] == "inconclusive" and len(row["confirmations"]) == 2
            assert row["pooled_ratio"] == pytest.approx((first.ratio * 1.2 * 1.2) ** (1 / 3))
            assert "(first pair: inconclusive at" in output._confirmed(row)
            assert "; a regression with 2 fresh pairs: 1.200" in output._confirmed(row)
        else:
            assert "confirmations" not in row


@pytest.mark.slow  # the quick tier runs the paired engine on stand-in workers
@pytest.mark.skipif(not IS_GIT, reason="--baseline needs a git checkout")
def test_real_run_against_head_flags_the_injected_delay(tmp_path):
    """One small real run: LeNet-5 inference in PyTorch at 28 px, the baseline worker on a worktree of
    HEAD, the candidate with a TEST-ONLY busy wait of its own step time: B/A near 2, exit 1 naming it.
    One thread per worker: on a 2-core machine shared with other jobs, two-thread steps stall at every
    barrier whenever a neighbour holds a core (docs/ab.md). One build a worker, measured whole (--builds 1
    --measured-builds 1): the few-percent bias of a build (docs/ab.md) cannot hide a 2x delay, and the extra
    builds and warm-ups cost about a fifth of the run (44 -> 35 s on the loaded 2-core VM)."""
    pytest.importorskip("torch")
    out = tmp_path / "ab.json"
    before = subprocess.run(["git", "-C", str(ROOT), "worktree", "list"], capture_output=True, text=True).stdout
    done = subprocess.run(
        [sys.executable, "-m", "cnnbench", "ab", "--baseline", "HEAD", "--models", "lenet5", "--frameworks", "torch",
         "--modes", "inference", "--device", "cpu", "--bench-profile", "smoke", "--threads", "1", "--time-budget", "5",
         "--builds", "1", "--measured-builds", "1",
         "--inject-delay", "lenet5=100%", "--confirm", "1", "--format", "json", "--out", str(out)],
        capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert done.returncode == 1, done.stderr[-2000:]
    assert "regression: lenet5-torch-inference-bs2-cpu" in done.stderr
    assert "[1/1] lenet5-torch-inference-bs2-cpu" in done.stderr  # the progress line with its verdict
    doc = json.loads(out.read_text())
    row = doc["cases"][0]
    assert set(row) == DESIGN_CASE_KEYS | {"first_decision", "confirmations", "pooled_ratio"}
    assert doc["kind"] == "baseline" and doc["a_label"].startswith("baseline HEAD")
    assert row["decision"] == "regression" and 1.5 < row["ratio"] < 3.0 and row["ci_low"] > 1.05
    (again,) = row["confirmations"]  # --confirm 1: measured again in a fresh pair of workers, and it agrees
    assert again["decision"] == "regression" and 1.5 < again["ratio"] < 3.0 and again["rounds"] >= 10
    assert "confirm lenet5-torch-inference-bs2-cpu" in done.stderr
    assert row["rounds"] >= 10 and len(row["a_rounds_s"]) == row["rounds"] and row["injected_delay_s"] > 0
    assert row["stopped"] in ("precision", "budget", "max_rounds")
    after = subprocess.run(["git", "-C", str(ROOT), "worktree", "list"], capture_output=True, text=True).stdout
    assert after == before  # the baseline worktree is gone


def test_a_one_round_pair_is_written_so_that_the_report_reads_it(tmp_path):
    """One round (a short --time-budget on a busy machine) has an unbounded interval, [0, inf]: both ends
    are written as null, which the reports' check accepts (a lower end of 0.0 was refused as not > 0)."""
    from cnnbench.reports.load import load_document

    outcome = PairOutcome(a_samples=[0.01], b_samples=[0.011], blocks=[0], steps_per_round=2,
                          estimate=paired_ratio([0.01], [0.011]), stopped="budget", seconds=1.0, rounds_s=1.0,
                          injected_delay_s=0.0)
    row = output.case_row(pairing.Pair("p", Side(TORCH), Side(TORCH)), outcome, "setting", 0.05)
    assert row["ci_low"] is None and row["ci_high"] is None
    doc = json.loads(output.render(_doc(), "json"))
    doc["cases"] = [{**doc["cases"][0], **{k: row[k] for k in ("ci_low", "ci_high", "rounds", "a_rounds_s",
                                                                 "b_rounds_s", "ratio", "p_value")}}]
    path = tmp_path / "ab.json"
    path.write_text(json.dumps(doc))
    assert load_document(path).data["cases"][0]["ci_low"] is None
