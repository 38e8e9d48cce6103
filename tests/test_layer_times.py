"""``cnnbench profile --layer-times``: per-layer step times of both frameworks, matched by layer name.

The kind grouping and the bookkeeping are checked without a framework; one small real run per mode
(ResNet-18 at 32 px, each framework in its worker process) checks that both frameworks give a time to
every layer name of the model and that the rows add up to the profiled step within the stated bound.
"""
from __future__ import annotations

import subprocess
import sys
from collections import Counter
from types import SimpleNamespace

import pytest
from conftest import ONE_THREAD

from cnnbench.core.analytic import build_graph
from cnnbench.core.layer_time_match import KINDS, OUTSIDE, UNTRACED, combine, layer_kind
from cnnbench.reports.layer_time_tables import render, tables

# The rows of a framework (layers + rows outside any layer) cover this share of the profiled step's wall
# time, by the method (docs/profiling.md, "Per-layer step time"): TensorFlow's cover its executor threads,
# not Python's eager dispatch of the tf.function call, which is most of a tiny step. Neither can count more
# than the wall time (one thread; an overlap of two executor threads is split), up to the clock's rounding.
ACCOUNTED = {"torch": (0.0, 1.02), "tf": (0.50, 1.02)}
# PyTorch's events cover its one step thread but for the Python between top-level calls and the profiler's
# own bookkeeping between op events: a CPU cost per event, which scales with the CPU's speed as the step's own
# per-op cost does, so the bound is a share of the step, not seconds. Measured quiet, ResNet-18 inference at 32
# px, 2 profiled steps: 0.66-0.78 ms of 4.2-7.8 ms (9-18%) on the 2-core Zen 4 VM on 2026-12-05; 1.49-2.22 ms
# of 13.0-17.7 ms (11-13%) on a 2-core Zen 3 VM twice as slow on 2026-12-07 (one thread, five runs of this
# fixture's call). Beside the other xdist worker: 2.9-3.1 ms of 15-25 ms (12-20%) in CI on 2026-12-06, and 2.9
# ms of 19.0 ms (15%) on 2026-12-07. An absolute bound (25 us for each of the 69 layers on top of 5% of the
# step, from the first machine) failed on the second machine's CI run at 2.9 against 2.67 ms: it measured the
# machine, not the method. The bound is 25% of the step, 1.25 times the largest share seen.
TORCH_UNTRACED_SHARE = 0.25


def test_kinds_of_mobilenet_v3_small():
    # torchvision's mobilenet_v3_small table (_mobilenet_v3_conf, mobilenetv3.py): 11 inverted residual
    # blocks, each with one depthwise conv; 9 of them with squeeze-and-excitation (pool, fc1, relu, fc2,
    # hardsigmoid, mul: 6 layers each)
    kinds = Counter(layer_kind(layer) for layer in build_graph("mobilenet_v3_small", input_size=64).layers)
    assert kinds["depthwise conv"] == 11
    assert kinds["SE"] == 9 * 6
    assert kinds["linear"] == 2 and kinds["pooling"] == 1  # head: fc1, fc; the global average pool
    assert set(kinds) <= set(KINDS)


def test_kinds_of_resnet18():
    kinds = Counter(layer_kind(layer) for layer in build_graph("resnet18", input_size=64).layers)
    # 1 stem conv + 8 basic blocks x 2 convs + 3 downsampling convs; a BN after each; no depthwise conv, no SE
    assert kinds["conv"] == 20 and kinds["BN"] == 20
    assert kinds["depthwise conv"] == 0 and kinds["SE"] == 0


def _measured(layers, wall, outside, scale=1.0, extra=None):
    out = {name: {"forward_s": scale * 1e-3, "backward_s": 0.0, "ops": {"op": scale * 1e-3}} for name in layers}
    out.update(extra or {})
    return {"wall_s": wall, "step_s": wall * 0.9, "layers": out, "outside": outside, "method": "synthetic"}


def test_combine_matches_names_folds_pads_and_adds_up():
    layers = build_graph("resnet18", input_size=64).layers
    names = [layer.name for layer in layers]
    torch = _measured(names, wall=0.1, outside={"optimizer (SGD update)": 0.01})
    # Keras' explicit padding layer of the stem conv is counted in the conv; a name the graph lacks is a row
    tf = _measured(names, wall=0.05, outside={}, scale=0.5,
                   extra={"stem.conv.pad": {"forward_s": 2e-3, "backward_s": 0.0, "ops": {"Pad": 2e-3}},
                          "mystery": {"forward_s": 1e-3, "backward_s": 0.0, "ops": {"X": 1e-3}}})
    result = combine(layers, {"torch": torch, "tf": tf})
    rows = {r["name"]: r for r in result["rows"]}
    assert list(rows) == names
    assert rows["stem.conv"]["tf"]["time_s"] == pytest.approx(0.5e-3 + 2e-3)
    assert rows["stem.conv"]["ratio"] == pytest.approx(2.5e-3 / 1e-3)
    assert result["totals"]["tf"]["folded"] == {"stem.conv.pad": "stem.conv"}
    assert result["totals"]["tf"]["unknown"] == {"mystery": 1e-3}
    for fw, m in (("torch", torch), ("tf", tf)):
        t = result["totals"][fw]
        # every second of the wall time is in exactly one row: layers, outside rows, the untraced rest
        kinds_total = sum(entry[fw]["time_s"] for entry in result["kinds"].values())
        assert kinds_total == pytest.approx(m["wall_s"])
        assert t["outside"][UNTRACED] == pytest.approx(m["wall_s"] - t["profiled_s"])
    assert result["kinds"]["conv"]["torch"]["time_s"] == pytest.approx(20e-3)
    assert result["kinds"]["conv"]["torch"]["share"] == pytest.approx(20e-3 / 0.1)
    assert OUTSIDE in result["kinds"] and "SE" not in result["kinds"]  # only kinds the model has


def test_rendered_tables_line_up():
    layers = build_graph("lenet5", input_size=28).layers
    names = [layer.name for layer in layers]
    result = {"model": "lenet5", "mode": "train", "batch": 1, "input_size": 28,
              **combine(layers, {"torch": _measured(names, 0.02, {}), "tf": _measured(names, 0.01, {}, 0.5)})}
    summary, outside, per_layer = tables(result)
    assert summary["columns"][:4] == ["kind", "layers", "PyTorch ms", "PyTorch share"]
    assert [r[0] for r in per_layer["rows"]][:2] == ["stage1.conv", "stage2.conv"]  # grouped by kind, conv first
    assert "PyTorch fwd / bwd ms" in per_layer["columns"]
    for table in (summary, outside, per_layer):
        assert all(len(row) == len(table["columns"]) == len(table["align"]) for row in table["rows"])
    md = render(result, "markdown")
    assert "| kind | layers | PyTorch ms |" in md and "accounted for" in md
    assert render(result, "csv").splitlines()[0].startswith("kind,layers,PyTorch ms")


def test_a_step_mostly_under_the_executor_is_said_to_be_unseen():
    """RegNetY-400MF's Keras training step put 1,341 of 1,406 ms under the executor's row: its grouped
    convolutions run compiled with XLA, where TensorFlow's profiler records no op
    (results/keras-grouped-conv-xla-2026-12-06). Above a quarter of the step the check lines say so; at
    the 2.5-15% of the measured steps (results/layer-times-*-2026-12-05) they do not."""
    from cnnbench.core.layer_time_match import EXECUTOR
    from cnnbench.reports.layer_time_tables import check_lines

    layers = build_graph("lenet5", input_size=28).layers
    names = [layer.name for layer in layers]
    for executor, said in ((0.15 * 0.01, False), (0.95 * 0.01, True)):
        tf = _measured(names, 0.01, {EXECUTOR: executor}, 0.05)
        result = {"model": "lenet5", "mode": "train", "batch": 1, "input_size": 28, **combine(layers, {"tf": tf})}
        lines = check_lines(result)
        assert any("no op event of TensorFlow's profiler" in line for line in lines) is said, lines


def test_tf_overlapping_ops_share_the_wall_time():
    from cnnbench.models_tf.layer_times import _charged, _segments

    ev = lambda mid, start, dur: SimpleNamespace(metadata_id=mid, offset_ps=start, duration_ps=dur)  # noqa: E731
    # one thread: an executor event (1) of 10 us holding two ops (2: 2-5 us, 3: 6-9 us)
    line = SimpleNamespace(events=[ev(1, 0, 10_000_000), ev(2, 2_000_000, 3_000_000), ev(3, 6_000_000, 3_000_000)])
    segs = _segments(line, lambda mid: True)
    assert sorted(segs) == [(0, 2_000_000, 1), (2_000_000, 5_000_000, 2), (5_000_000, 6_000_000, 1),
                            (6_000_000, 9_000_000, 3), (9_000_000, 10_000_000, 1)]
    # a second thread's op 4 at 4-8 us overlaps op 2 for 1 us and op 3 for 2 us, the executor for 1 us
    charged = _charged(segs + [(4_000_000, 8_000_000, 4)])
    assert charged[2] == pytest.approx(2e-6 + 0.5e-6)
    assert charged[4] == pytest.approx(0.5e-6 + 0.5e-6 + 1e-6 * 2 / 2)
    assert sum(charged.values()) == pytest.approx(10e-6)  # the wall time some event covers, never more


@pytest.fixture(scope="module", params=["inference", pytest.param("train", marks=pytest.mark.slow)])  # train: slow tier
def measured(request):
    from cnnbench.inspection.layer_times import measure_layer_times

    # Beside another xdist worker (`make test`), one compute thread in each framework's worker, as the suite's
    # other workers run (tests/conftest.py): a pool of two threads on two cores that another test keeps busy
    # waits for its preempted thread, and such waits can fall outside any event. Seen once in CI on 2026-12-06
    # (two threads): PyTorch inference 3.1 ms in no event of 25.5 ms, against the bound's 3.0 ms, where quiet
    # runs measured 0.66-0.78 ms of 4.2-7.8 ms. The bound was measured quiet with one thread and with two
    # (TORCH_UNTRACED_SHARE's comment), so one thread here asks the same of the method.
    # One thread always: the stepping thread is then the only one computing, and its CPU time tells the time it
    # was preempted (test_rows_add_up_to_the_profiled_step); CI failed twice on 2026-12-06 at 2.9-3.1 ms untraced
    # in steps of 15-25 ms, busy moments beside the other xdist worker.
    settings = ONE_THREAD
    # batch 2 in training: ResNet-18's last BatchNorm sees 1x1 maps at 32 px and needs two values per channel
    return measure_layer_times("resnet18", "both", mode=request.param, batch=2 if request.param == "train" else 1,
                               input_size=32, steps=2, warmup=1, settings=settings)


def test_every_layer_name_has_a_time_in_both_frameworks(measured):
    names = [layer.name for layer in build_graph("resnet18", input_size=32).layers]
    assert [r["name"] for r in measured["rows"]] == names
    for fw in ("torch", "tf"):
        assert measured["totals"][fw]["unknown"] == {}  # every name a framework reported is the model's
        for r in measured["rows"]:
            if r["kind"] in ("conv", "BN", "linear"):  # layers that run ops of their own in both frameworks
                assert r[fw]["forward_s"] > 0, (fw, r["name"])
                if measured["mode"] == "train":
                    assert r[fw]["backward_s"] > 0, (fw, r["name"])
            else:
                assert r[fw]["backward_s"] == 0 or measured["mode"] == "train"


def test_rows_add_up_to_the_profiled_step(measured):
    for fw, (low, high) in ACCOUNTED.items():
        t = measured["totals"][fw]
        assert low <= t["accounted"] <= high, (fw, measured["mode"], t["accounted"], t["outside"])
        if measured["mode"] == "train":
            assert t["outside"]["optimizer (SGD update)"] > 0
    t = measured["totals"]["torch"]
    # the time the one stepping thread did not run (another process had the core) is no cost of the method,
    # in an event or outside one; quiet, it is near 0 and the bound is the one measured quiet
    off_cpu = max(0.0, t["wall_s"] - t["thread_cpu_s"])
    untraced = t["wall_s"] - t["profiled_s"]
    assert untraced - off_cpu <= TORCH_UNTRACED_SHARE * t["wall_s"], (measured["mode"], untraced, off_cpu, t["wall_s"])
    assert {w["runtime"] for w in measured["workers"].values()} == {"torch", "keras-tf"}
    assert measured["workers"]["torch"]["settings"]["setting_intra_op_threads"] == \
        measured["workers"]["tf"]["settings"]["setting_intra_op_threads"]


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "cnnbench", *args], capture_output=True, text=True)


@pytest.mark.parametrize("args,message", [
    (("profile", "resnet18", "--layer-times", "--steps", "0"), "steps must be a positive integer"),
    (("profile", "resnet18", "--layer-times", "--batch", "0"), "batch must be a positive integer"),
    (("profile", "resnt18", "--layer-times"), "Did you mean 'resnet18'"),
    (("profile", "resnet18", "--layer-times", "--input-size", "0"), "input_size must be a positive integer"),
    (("profile", "resnet18", "--layer-times", "--threads", "0"), "threads must be a positive integer"),
    (("profile", "resnet18", "--mode", "train"), "--mode applies to --layer-times only"),
    (("profile", "resnet18", "--threads", "1"), "--threads applies to --layer-times only"),
    (("profile", "resnet18", "--format", "markdown"), "--format markdown applies to --layer-times only"),
    (("profile", "resnet18", "--layer-times", "--per-layer"), "--per-layer and --layer-times are two different"),
])
def test_cli_bad_input_is_one_clear_line(args, message):
    out = _cli(*args)
    assert out.returncode == 2, out.stderr
    assert message in out.stderr and "Traceback" not in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1
