"""Params, FLOPs and memory: three counters reconciled exactly, for every model."""
from __future__ import annotations

import subprocess
import sys

import pytest

import cnnbench
from cnnbench.core.analytic import build_graph
from cnnbench.core.analytic.conventions import CATEGORIES
from cnnbench.core.memory import analytic_memory
from cnnbench.inspection.profile import profile_model
from conftest import per_family
from model_outputs import CLASSES, small_size
from references import TORCHVISION_GMACS

# fvcore FlopCountAnalysis totals at batch 1 for torchvision-identical architectures, as reported in
# issue #4 (fvcore 0.1.5 on torchvision's models). fvcore counts one "flop" per multiply-add plus 2 per
# BatchNorm element and 1 per adaptive-pool input element: their multiply-add part is torchvision's own
# published "_ops" (test_analytic_macs_equal_torchvision_published_ops), the rest hand arithmetic by
# category (test_three_counters_reconcile_exactly).
FVCORE_REFERENCE = {
    ("resnet50", 224): 4_111_512_576,
    ("vgg16", 224): 15_470_289_408,
    ("alexnet", 224): 714_197_696,
    ("densenet121", 224): 2_865_546_752,
    ("inception_v3", 299): 5_731_282_144,
}


@pytest.fixture(scope="module", autouse=True)
def _private_cache(tmp_path_factory, monkeypatch_module):
    # every test here measures afresh: no results from an earlier run's cache
    monkeypatch_module.setenv("CNNBENCH_CACHE", str(tmp_path_factory.mktemp("cnnbench-cache")))


@pytest.fixture(scope="module")
def monkeypatch_module():
    mp = pytest.MonkeyPatch()
    yield mp
    mp.undo()


@pytest.mark.parametrize("name,size", sorted(FVCORE_REFERENCE), ids=lambda v: str(v))
def test_fvcore_reference_totals_to_the_unit(name, size, torch_mod):
    result = profile_model(name, "torch", input_size=size)
    assert result["fvcore"]["total"] == FVCORE_REFERENCE[(name, size)]


@pytest.mark.parametrize("name,options,gmacs", TORCHVISION_GMACS, ids=lambda v: v if isinstance(v, str) else None)
def test_analytic_macs_equal_torchvision_published_ops(name, options, gmacs):
    """torchvision publishes each model's conv + linear multiply-adds in GFLOPS to three decimals."""
    assert round(build_graph(name, **options).macs / 1e9, 3) == gmacs


def test_analytic_macs_hand_arithmetic():
    # LeNet-5: C1 6*28*28*25 + C3 16*10*10*150 + 400*120 + 120*84 + 84*10
    assert build_graph("lenet5").macs == 117_600 + 240_000 + 48_000 + 10_080 + 840


# The ops fvcore does not count, by hand from torchvision's modules (eval mode, no auxiliary heads). Inception
# v3: 94 conv-BN-ReLUs (stem 5, InceptionA 7 x 3, B 4, C 10 x 4, D 6, E 9 x 2), concatenations A 3 + B 1 + C 4
# + D 1 + E 3 x 2 (its 1x3 / 3x1 pairs) = 15, max pools stem 2 + B + D, average pools in A x 3, C x 4, E x 2.
# GoogLeNet: 57 conv-BN-ReLUs (stem 3, 9 inception blocks of 6), 9 concatenations, max pools 4 (2 in the stem,
# after 3b and after 4e) + one pool branch per block 9. (torch.jit.trace's inlined graph, which the profile read
# before, showed Inception v3 13 concatenations.)
FVCORE_OPS_BY_HAND = {
    "inception_v3": ({"aten::max_pool2d": 2 + 1 + 1, "aten::avg_pool2d": 3 + 4 + 2},
                     {"aten::relu_": 94, "aten::cat": 15, "aten::flatten": 1, "aten::dropout": 1}),
    "googlenet": ({"aten::max_pool2d": 4 + 9},
                  {"aten::relu_": 3 + 9 * 6, "aten::cat": 9, "aten::flatten": 1, "aten::dropout": 1}),
}


def test_three_counters_reconcile_exactly(small_pair):
    """analytic conv+dense MACs == fvcore conv+linear == TF (Conv2D+DepthwiseConv2dNative+MatMul)/2, and every
    counter's total is explained per category, to the unit."""
    # the traced graph unfrozen: the same counts as frozen (test below), without freezing every weight into
    # the graph (the largest cost of a VGG's profile); on the models built once at a small input and class
    # count (the conventions are per element and per window, so any valid size proves them; the published
    # totals above are checked at the default sizes)
    name, tm, km = small_pair
    result = profile_model(name, "both", tf_frozen=False, input_size=small_size(name), num_classes=CLASSES,
                           models={"torch": tm, "tf": km})
    totals = result["totals"]
    assert totals["analytic"]["measured"] is None  # the convention is the prediction, not a measurement
    for counter in ("fvcore", "tf_profiler"):
        assert totals[counter]["measured"] == totals[counter]["predicted"], counter
    assert totals["fvcore"]["measured_total"] == result["fvcore"]["total"]
    assert totals["tf_profiler"]["measured_total"] == result["tf_profiler"]["total"]
    assert result["tf_profiler"]["unattributed"] == {}
    macs = result["macs"]
    assert totals["fvcore"]["measured"]["conv"] + totals["fvcore"]["measured"]["dense"] == macs
    # Conv2D, DepthwiseConv2dNative and MatMul: TF's counts of the conv and dense layers' MACs, 2 each
    by_op = result["tf_profiler"]["by_op_type"]
    tf_mac_ops = sum(by_op.get(op, 0) for op in ("Conv2D", "DepthwiseConv2dNative", "MatMul"))
    assert tf_mac_ops == 2 * macs
    if name in FVCORE_OPS_BY_HAND:  # every op of the forward is in the graph fvcore read, the uncounted ones too
        skipped, ignored = FVCORE_OPS_BY_HAND[name]
        assert result["fvcore"]["skipped_ops"] == skipped and result["fvcore"]["ignored_ops"] == ignored
    # per layer: both frameworks agree with the analytic params and MACs
    for row in result["layers"]:
        if row["params"]:
            assert row["torch_params"] == row["tf_params"] == row["params"], row["name"]
        if row["macs"]:
            assert row["fvcore_macs"] == row["tf_macs"] == row["macs"], row["name"]


# the quick tier (`make test`) freezes LeNet-5, ResNet-18 (BatchNorm, residual adds) and RegNetY-400MF (the grouped
# convs, whose XLA call once hid every later op's shape from a frozen graph: _grouped_convs_as_plain_ops); the
# other families' freezing, 45 s of CPU time in all on the 2-core Zen 3 VM (2026-12-07), is in the slow tier:
# every per-model test of every family that counts (the three counters above) stays quick
FROZEN_QUICK = ("lenet5", "resnet18", "regnet_y_400mf")


@pytest.mark.parametrize("default_pair", [m if m in FROZEN_QUICK else pytest.param(m, marks=pytest.mark.slow)
                                          for m in per_family("mobilenet_v2", "mobilenet_v3_small")], indirect=True)
def test_frozen_and_traced_graphs_count_the_same(default_pair):
    """One model per family: freezing turns variables into constants and changes no float op."""
    from cnnbench.models_tf.profile import tf_profiler_counts

    _, _, model = default_pair
    frozen, traced = tf_profiler_counts(model, 1, frozen=True), tf_profiler_counts(model, 1, frozen=False)
    assert frozen["total"] == traced["total"] and frozen["by_op_type"] == traced["by_op_type"]
    assert frozen["per_layer"] == traced["per_layer"]


def test_counts_scale_with_batch(torch_mod):
    one = profile_model("resnet18", "torch", input_size=64)
    four = profile_model("resnet18", "torch", input_size=64, batch=4)
    assert four["fvcore"]["total"] == 4 * one["fvcore"]["total"]
    assert four["macs"] == 4 * one["macs"]


def test_fvcore_reports_what_it_skips(torch_mod):
    fv = profile_model("resnet18", "torch", input_size=64)["fvcore"]
    assert "aten::max_pool2d" in fv["skipped_ops"]
    assert "aten::add" in fv["skipped_ops"] or "aten::add_" in fv["skipped_ops"]
    assert "aten::relu_" in fv["ignored_ops"] or "aten::relu" in fv["ignored_ops"]
    # by hand, torchvision's ResNet-18: the stem's ReLU and max pool, 8 basic blocks of 2 ReLUs and 1 residual add
    assert fv["skipped_ops"] == {"aten::max_pool2d": 1, "aten::add": 8}
    assert fv["ignored_ops"] == {"aten::relu_": 1 + 8 * 2, "aten::flatten": 1}


# ------------------------------------------------------------------ memory
@pytest.mark.parametrize("name", ["lenet5", "resnet50", "densenet121"])
def test_analytic_activation_memory_is_linear_in_batch(name):
    one, three = analytic_memory(name, 1), analytic_memory(name, 3)
    assert three["activation_bytes"] == 3 * one["activation_bytes"] > 0
    assert one["param_bytes"] == 4 * cnnbench.get_spec(name).reference_params
    assert one["optimizer_bytes"]["adam"] == 2 * one["optimizer_bytes"]["sgd_momentum"] == 2 * one["param_bytes"]


def test_min_step_bytes_is_weights_plus_the_widest_layer():
    """Hand arithmetic. LeNet-5 (28 px): 61,706 params; its widest layer is the first pool, holding
    its input 6x28x28 and output 6x14x14 (5,880 values). VGG-11 at 32 px: 132,863,336 params; the
    first pool holds 64x32x32 + 64x16x16 = 81,920 values an image. Float32 bytes."""
    lenet = analytic_memory("lenet5", 1)
    assert lenet["min_step_layer"] == "stage1.pool"
    assert lenet["min_step_bytes"] == 4 * (61_706 + 5_880)
    vgg = analytic_memory("vgg11", 1000, input_size=32)
    assert vgg["min_step_layer"] == "stage1.pool"
    assert vgg["min_step_bytes"] == 4 * (132_863_336 + 81_920 * 1000)
    # a lower bound: never above what the step keeps for the backward pass
    assert vgg["min_step_bytes"] < vgg["train_total_bytes_sgd_momentum"]


@pytest.mark.slow  # the quick tier: tests/test_memory.py
def test_profile_memory_is_measured_as_the_benchmark_measures_it(torch_mod):
    """`cnnbench profile --memory` asks a worker, as the harness does: the same kind of figure.
    ResNet-18 training at 64 px keeps weights, gradients and momentum: >= 3 x 4 x 11,689,512 bytes."""
    result = profile_model("resnet18", "torch", input_size=64, batch=2, memory=True)
    train = result["torch_memory"]["train"]
    assert train["peak_memory_method"] == "rss_delta"
    assert train["peak_memory_bytes"] >= 3 * 4 * 11_689_512
    assert result["torch_memory"]["inference"]["peak_memory_bytes"] >= 4 * 11_689_512


def test_achieved_rate():
    from cnnbench.core.memory import achieved_rate

    r = achieved_rate(0.5, 10**9, peak_flops=4 * 10**9)
    assert r == {"flops_per_s": 2 * 10**9, "pct_of_peak": 50.0}
    with pytest.raises(ValueError):
        achieved_rate(0, 1)


# ------------------------------------------------------------------ the CLI
def _cli(*args):
    return subprocess.run([sys.executable, "-m", "cnnbench", *args], capture_output=True, text=True)


def test_cli_per_layer_table_lines_up(torch_mod, keras_mod, capsys):
    # in this process (both frameworks are imported already); the bad-input cases below run the real
    # command line, since they are about its exit status and what it prints before any framework loads
    from cnnbench.cli import main as cli_main

    assert cli_main(["profile", "resnet18", "--framework", "both", "--per-layer", "--input-size", "64"]) == 0
    out = capsys.readouterr()
    assert "stage4.block2.conv2" in out.out and " NO" not in out.out
    assert "Traceback" not in out.err


@pytest.mark.parametrize(
    "args,message",
    [
        (("profile", "resnt50"), "Did you mean 'resnet50'"),
        (("profile", "lenet5", "--batch", "0"), "batch must be a positive integer"),
        (("profile", "vgg16", "--input-size", "16"), "minimum input size is 32"),
    ],
)
def test_cli_bad_input_is_one_clear_line(args, message):
    out = _cli(*args)
    assert out.returncode != 0
    assert message in out.stderr and "Traceback" not in out.stderr


def test_cli_missing_framework_is_one_clear_line(tmp_path):
    """With TensorFlow hidden from the import system, --framework tf says how to install it."""
    blocker = tmp_path / "sitecustomize.py"
    blocker.write_text(
        "import sys\n"
        "class _Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in ('tensorflow', 'keras'):\n"
        "            raise ImportError(f'No module named {name!r} (hidden by the test)')\n"
        "sys.meta_path.insert(0, _Block())\n"
    )
    import os

    env = {**os.environ, "PYTHONPATH": f"{tmp_path}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    out = subprocess.run([sys.executable, "-m", "cnnbench", "profile", "lenet5", "--framework", "tf"],
                         capture_output=True, text=True, env=env)
    assert out.returncode == 2
    assert "framework 'tf' is not installed" in out.stderr and "pip install" in out.stderr
    assert "Traceback" not in out.stderr
