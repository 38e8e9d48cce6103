"""Shared fixtures. Framework imports happen lazily, inside the fixtures that need them."""
from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # keep TensorFlow's C++ start-up chatter out of test logs
# `make test` runs two pytest-xdist workers, which name themselves in PYTEST_XDIST_*; the benchmark runs
# the tests start in subprocesses would inherit that, and pytest-benchmark would then believe it runs
# under xdist and refuse --benchmark-only
XDIST_WORKERS = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "0"))
# Each xdist worker pinned to a core of its own (gw0 the first this process may use, gw1 the next): every process a
# test starts inherits it, so that the harness's workers, fork servers and export engines, whose thread count
# defaults to the cores a process may use (cnnbench.core.settings.cores_available), run one thread each, as the
# worker's own frameworks do (XDIST_ONE_THREAD below), instead of two-thread pools spinning against the other
# worker. Measured with `make test` on the 2-core Zen 3 VM (2026-12-07): 376 s -> 349 s, CPU time (user + system,
# /proc/stat) 732 -> 666 s (results/time-budgets-zen3-2026-12-07.json). CNNBENCH_TEST_PIN=0 leaves them unpinned.
from cnnbench.core.settings import allowed_cpus  # noqa: E402  (no framework, no thread: before the pinning)

_WORKER = os.environ.get("PYTEST_XDIST_WORKER", "")  # gw0, gw1, ...
_CPUS = allowed_cpus()  # the machine's CPUs this run may use, read before a worker pins itself to one of them
if XDIST_WORKERS > 1 and _WORKER[2:].isdigit() and hasattr(os, "sched_setaffinity") and len(_CPUS) >= XDIST_WORKERS \
        and os.environ.get("CNNBENCH_TEST_PIN", "1") == "1":
    os.sched_setaffinity(0, {_CPUS[int(_WORKER[2:]) % len(_CPUS)]})
for _key in [k for k in os.environ if k.startswith("PYTEST_XDIST_")]:
    del os.environ[_key]

import gc
import json
from pathlib import Path

import numpy as np
import pytest

import cnnbench
from cnnbench.core.settings import Settings


# One compute thread per framework in each xdist worker (`make test`): two workers with a pool of two
# threads each on the two cores spin against each other. The tests check values, not speed; float
# summation order is all a thread count changes. Measured on the reference VM on 2026-11-23: four
# models' tests (62) in 101 s with one thread, 131 s with the frameworks' own pools; the whole suite
# 10 min 48 s against 12 min 33 s (with the transfer change of the same day).
XDIST_ONE_THREAD = XDIST_WORKERS > 1

# a worker process with one compute thread and one inter-op thread, for the tests that start one
ONE_THREAD = Settings(threads=1, interop_threads=1)

# The harness counts a worker process timed while other processes took more than --busy-cores cores (default
# BUSY_CORES) as busy, and measures its case again. Beside the other xdist workers of `make test`, which keep their
# cores busy throughout, every process of a test's harness run counted as busy, and a --fast case was measured
# twice: a LeNet-5 run pinned to one core beside a busy one took 11.3 s, 8.2 s with this (2026-12-07, Zen 3 VM).
# The tests' harness runs add this option: the other workers' cores are expected, what is above them is not.
# (Busy processes replaced for real: tests/test_replication.py's slow test, which keeps the default.)
HARNESS_BESIDE_XDIST: tuple[str, ...] = ()
if XDIST_WORKERS > 1:
    from cnnbench.harness.state import BUSY_CORES

    HARNESS_BESIDE_XDIST = ("--busy-cores", f"{min(XDIST_WORKERS, len(_CPUS)) - 1 + BUSY_CORES:g}")


def _one_thread(module_name: str) -> None:
    import sys

    if not XDIST_ONE_THREAD or module_name not in sys.modules:
        return
    if module_name == "torch":
        import torch

        torch.set_num_threads(1)
        try:
            torch.set_num_interop_threads(1)
        except RuntimeError:  # only before the first inter-op work
            pass
    else:
        import tensorflow as tf

        try:
            tf.config.threading.set_intra_op_parallelism_threads(1)
            tf.config.threading.set_inter_op_parallelism_threads(1)
        except RuntimeError:  # only before TensorFlow's runtime starts
            pass


@pytest.fixture(scope="session", autouse=True)
def _threads_of_a_test_worker():
    for name in ("torch", "tensorflow"):
        _one_thread(name)


@pytest.fixture(scope="session")
def torch_mod():
    torch = pytest.importorskip("torch", reason="PyTorch is not installed (pip install -e '.[torch]')")
    _one_thread("torch")
    _collect_and_freeze()
    return torch


@pytest.fixture(scope="session")
def keras_mod():
    pytest.importorskip("tensorflow", reason="TensorFlow is not installed (pip install -e '.[tf-cpu]')")
    _one_thread("tensorflow")
    import keras

    _collect_and_freeze()
    return keras


# ------------------------------------------------------------------ each model built once per test run
# The per-model tests of several files (parity, stored outputs, counter reconciliation, summaries) share
# these session-scoped pairs; pytest orders the tests of a parameter together across files, so that each
# model is built once per size and torn down when the next model is asked for. Under pytest-xdist the
# xdist_group marks below keep a model's tests on one worker (pytest is pinned below 9.2, which loses
# the groups: pytest-dev/pytest-xdist#1386; tests/test_scheduling.py fails if they are lost again).
MODELS = cnnbench.list_models()


def per_family(*chosen: str) -> list[str]:
    """One model of every registered family, in listing order: ``chosen`` where a test picks its own (a
    cheaper one, or more than one of a family for another block type: ResNet-18's basic and ResNet-50's
    bottleneck blocks), the family's first-registered model elsewhere. A per-family test covers a new
    family the moment its file registers it, with nothing to add here (docs/adding-a-model.md)."""
    unknown = sorted(set(chosen) - set(MODELS))
    if unknown:
        raise ValueError(f"per_family: unknown model(s) {', '.join(unknown)}")
    picked = {cnnbench.get_spec(name).family for name in chosen}
    firsts = {}
    for name in MODELS:
        firsts.setdefault(cnnbench.get_spec(name).family, name)
    return [m for m in MODELS if m in chosen or (firsts[cnnbench.get_spec(m).family] == m
                                                  and cnnbench.get_spec(m).family not in picked)]


# One model of every family and of every block type (a family's depth and width variants are the same code,
# built from another config): the models of the quick tier (`make test`, below) and of the gradient tests.
BLOCK_TYPES = per_family("vgg11_bn", "resnet18", "resnet50", "mobilenet_v2", "mobilenet_v3_small", "efficientnet_b0",
                         "efficientnet_v2_s")  # ResNet-50: the bottleneck; MobileNetV3: SE and hard activations;
#                                                 V2-S: the fused MBConv block
# One model of every family, the first of BLOCK_TYPES' picks in each: all its small-size proofs are in the quick
# tier. The other BLOCK_TYPES models, a family's other block types, are there with BLOCK_TYPE_QUICK_TESTS, the parity
# both ways and the stored outputs; their gradients, FLOP counters and summaries are slow (23 s of CPU time of
# `make test` on the 2-core Zen 3 VM, 2026-12-07). tests/test_scheduling.py checks both lists.
_FIRST_OF_FAMILY: dict[str, str] = {}
for _name in BLOCK_TYPES:
    _FIRST_OF_FAMILY.setdefault(cnnbench.get_spec(_name).family, _name)
FAMILY_MODELS = list(_FIRST_OF_FAMILY.values())
BLOCK_TYPE_QUICK_TESTS = ("test_parity_both_ways_at_a_small_size_and_class_count",
                          "test_outputs_equal_the_stored_ones_in_both_frameworks")


def reference_params(name: str) -> int:
    """The published parameter count of ``name``, kept once, with its source, in the spec
    (src/cnnbench/core/families/; tests/references.py says why there; its variants' counts: ``VARIANTS``)."""
    return cnnbench.get_spec(name).reference_params


# every variant with a published count of its own: (model, options, params, source), from the specs
VARIANTS = [(name, dict(v.options), v.params, v.source) for name in MODELS for v in cnnbench.get_spec(name).variants]
# pytest keeps one value of a parametrized session fixture, keyed by its place in the parameter list:
# a test that picks some models (`indirect=True`, e.g. keras.applications' five) asks for "vgg16" under
# another key, and pytest tears the pair down and builds it again (measured under `make test` on
# 2026-11-23: keras.applications' five models were each built twice, 4.2-5.3 s a build). So the pairs
# live here, one per size, and a fixture only looks its model up.
_BUILT: dict[str, tuple] = {}


def _shared(size: str, name: str, build) -> tuple:
    if _BUILT.get(size, (None,))[0] != name:
        _BUILT.pop(size, None)
        _collect_and_freeze()  # not keras' clear_session(): the other size's pair may still be alive and in use
        _BUILT[size] = (name, *build(name))
    return _BUILT[size]


def _collect_and_freeze() -> None:
    """Python's full collections walk every object it tracks, and with PyTorch, TensorFlow and Keras imported that
    is millions of objects: ~0.4 s a collection, ~40 collections in each xdist worker of `make test`, 15 s of CPU
    time a worker (gc.callbacks, 2026-12-07, 2-core Zen 3 VM). What is alive after a full collection, the imported
    modules above all, is then moved to gc's permanent generation (gc.freeze), which no collection walks again;
    what later tests create is still collected. Frozen only while no model pair is alive, since a frozen pair would
    never be freed: the frameworks' fixtures call it, and _shared between two pairs (the modules the last model's
    tests imported, keras.applications', ...). That cut the workers' full collections to 8.5 s and 4.8 s of CPU
    time. A frozen object that becomes garbage (a small fixture's) stays until the worker exits."""
    gc.collect()
    if not _BUILT:
        gc.freeze()


def _default(name: str) -> tuple:
    return cnnbench.get_model(name, "torch").eval(), cnnbench.get_model(name, "tf")


def _small(name: str) -> tuple:
    from model_outputs import CLASSES, set_deterministic, small_size

    size = small_size(name)
    tm = cnnbench.get_model(name, "torch", num_classes=CLASSES, input_size=size).eval()
    set_deterministic(tm)
    km = cnnbench.get_model(name, "tf", num_classes=CLASSES, input_size=size)
    cnnbench.transfer_weights(tm, km)
    return tm, km


@pytest.fixture(scope="session", params=MODELS)
def default_pair(request, torch_mod, keras_mod):
    """(name, PyTorch module in eval mode, Keras model) at the model's default input and class count.
    Tests may change the weights (each sets what it needs) but not the architecture."""
    return _shared("default", request.param, _default)


@pytest.fixture(scope="session", params=MODELS)
def small_pair(request, torch_mod, keras_mod):
    """(name, PyTorch module, Keras model) at ``small_size`` with ``CLASSES`` classes: PyTorch's weights
    set by ``set_deterministic`` and copied into Keras. A test that changes weights restores them."""
    return _shared("small", request.param, _small)


PER_MODEL_FIXTURES = ("default_pair", "small_pair")
# parameters that split a long file's group in two or three (each value's module fixture, where there is
# one, is parametrized by it, so it is still built once)
SPLIT_BY = ("framework", "runtime", "parity", "backend_result")


# files whose tests share a session fixture with another file's, and so run in its group (on its worker): the
# report of every saved run (full_report) is built once for tests/test_reports.py and the browser's test
SAME_GROUP = {"tests/test_report_browser.py": "tests/test_reports.py"}


@pytest.fixture(scope="session")
def full_report(tmp_path_factory) -> tuple[Path, dict[str, Path]]:
    """(the report folder, the runs with new fields it read): one report of the saved runs of tests/data and of
    the runs with the new harness's fields (tests/new_fields.py), built once (its plots are what costs: 12 s of
    CPU time on the 2-core Zen 3 VM) for tests/test_reports.py and tests/test_report_browser.py."""
    import new_fields as nf
    from saved_runs import CPU, GPU, STORAGE, SWEEP

    from cnnbench.reports.cli import main as reports_main

    d = tmp_path_factory.mktemp("new")
    new = {"four": nf.write(nf.four_runtimes(), d / "four.json"), "scaling": nf.write(nf.scaling_run(), d / "scaling.json"),
           "variants": nf.write(nf.variants_run(), d / "variants.json"), "ab": nf.write(nf.ab_frameworks(), d / "ab.json"),
           "ab_interrupted": nf.write(nf.ab_interrupted(), d / "ab-interrupted.json")}
    runs = [CPU, GPU, SWEEP, STORAGE, *new.values()]
    out = tmp_path_factory.mktemp("report")
    assert reports_main(["report", *map(str, runs), "--out", str(out), "--no-history"]) == 0
    return out, new


def _group(item) -> str:
    """The xdist group of a test: its model for the per-model tests, else its file (as --dist loadfile),
    split by the value of the first SPLIT_BY parameter it has."""
    params = getattr(getattr(item, "callspec", None), "params", {})
    for fixture in PER_MODEL_FIXTURES:
        if fixture in params:
            return "model-" + params[fixture]
    path = item.nodeid.split("::")[0]
    path = SAME_GROUP.get(path, path)
    for key in SPLIT_BY:
        if key in params:
            return f"{path}:{params[key]}"  # no "]" or "@": xdist reads the group after the last "@"
    return path


class _Scheduling:
    """Runs before xdist's own hook, which appends each test's group to its id (--dist loadgroup)."""

    @pytest.hookimpl(tryfirst=True)
    def pytest_collection_modifyitems(self, items):
        for item in items:
            item.add_marker(pytest.mark.xdist_group(_group(item)))


# The default-size proofs (the tests of the default_pair fixture: published parameter counts of the built models,
# layer names, parity at the benchmarked input, keras.applications' counts) are in the quick tier for LeNet-5 only,
# which keeps the fixture and the tests' own code run there; for every other model they are slow. Each family's code
# is proven quick at its small size (parity both ways, stored outputs, gradients, the three FLOP counters,
# summaries), and each model's analytic parameter count is checked against the published one quick too
# (tests/test_registry.py). What the default size adds, a model built at its benchmarked input, cost 63 s of the
# CPU time of a 357 s `make test` on the 2-core Zen 3 VM (2026-12-07), more than any other kind of test
# (results/make-test-quick-tier-zen3-2026-12-07.json).
DEFAULT_SIZE_QUICK = ("lenet5",)


class _Tiers:
    """`make test` is the quick tier, `-m "not slow"`; `make test-all` (CI) runs every test (docs/testing.md,
    "Two tiers"). A model's own tests (its xdist group) are in the quick tier for the models of BLOCK_TYPES and
    marked slow for the rest, the depth and width variants of a family whose code the quick tier proves; of a
    family's other block types only BLOCK_TYPE_QUICK_TESTS are quick; the default-size tests are slow for every
    model but DEFAULT_SIZE_QUICK's.
    Runs before pytest's own -m selection, which reads the mark."""

    @pytest.hookimpl(tryfirst=True)
    def pytest_collection_modifyitems(self, items):
        for item in items:
            group = _group(item)
            model = group[len("model-"):] if group.startswith("model-") else None
            if model is None:
                continue
            default_size = "default_pair" in getattr(item, "fixturenames", ())
            if (model not in BLOCK_TYPES or (default_size and model not in DEFAULT_SIZE_QUICK)
                    or (model not in FAMILY_MODELS and item.originalname not in BLOCK_TYPE_QUICK_TESTS)):
                item.add_marker(pytest.mark.slow)


def pytest_configure(config):
    config.pluginmanager.register(_Tiers(), "cnnbench-tiers")
    if config.pluginmanager.hasplugin("xdist"):
        config.pluginmanager.register(_Scheduling(), "cnnbench-scheduling")


# About how many seconds each group takes, for the order only: the longest groups start first, so that no
# long group runs alone at the end (xdist hands groups out in this order with --no-loadscope-reorder). Read
# from a real `make test` by tools/group_seconds.py (its junit XML), never typed: tests/data/group_seconds.json
# says when and where. A model's group it does not know yet (a model added since) counts as the median
# model's; any other group as 0 s, after the known ones, in collection order.
GROUP_FILE = Path(__file__).parent / "data" / "group_seconds.json"
GROUP_SECONDS: dict[str, float] = json.loads(GROUP_FILE.read_text())["groups"]
_MODEL_MEDIAN = float(np.median([s for g, s in GROUP_SECONDS.items() if g.startswith("model-")] or [0.0]))


def group_seconds(group: str) -> float:
    return GROUP_SECONDS.get(group, _MODEL_MEDIAN if group.startswith("model-") else 0.0)


@pytest.hookimpl(trylast=True)  # after pytest's own reordering by fixture parameters
def pytest_collection_modifyitems(items):
    first_seen: dict[str, int] = {}
    for item in items:
        first_seen.setdefault(_group(item), len(first_seen))
    items.sort(key=lambda item: (-group_seconds(_group(item)), first_seen[_group(item)]))


def relative_error(actual: np.ndarray, reference: np.ndarray) -> float:
    """max |actual - reference| relative to the reference's output scale (max |reference|)."""
    scale = float(np.abs(reference).max())
    return float(np.abs(actual - reference).max()) / max(scale, 1e-12)


def randomize_torch_bn(model, seed: int = 0) -> None:
    """Give every BatchNorm non-trivial statistics, so a parity test can see them."""
    import torch

    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                n = m.num_features
                m.running_mean.copy_(torch.rand(n, generator=g) - 0.5)
                m.running_var.copy_(torch.rand(n, generator=g) + 0.5)
                m.weight.copy_(torch.rand(n, generator=g) + 0.5)
                m.bias.copy_(torch.rand(n, generator=g) - 0.5)


def randomize_keras_bn(model, seed: int = 0) -> None:
    import keras

    from cnnbench.zoo.transfer import keras_layers

    rng = np.random.default_rng(seed)
    for layer in keras_layers(model).values():
        if isinstance(layer, keras.layers.BatchNormalization):
            n = layer.gamma.shape[0]
            layer.set_weights([
                rng.random(n, dtype="float32") + 0.5,  # gamma
                rng.random(n, dtype="float32") - 0.5,  # beta
                rng.random(n, dtype="float32") - 0.5,  # moving mean
                rng.random(n, dtype="float32") + 0.5,  # moving variance
            ])


def torch_forward(model, x_nchw: np.ndarray) -> np.ndarray:
    import torch

    with torch.no_grad():
        return model(torch.from_numpy(x_nchw)).numpy()


def keras_forward(model, x_nchw: np.ndarray, traced: bool = False) -> np.ndarray:
    """Keras inference on NCHW data (transposed to NHWC); ``traced`` runs it inside tf.function,
    as the benchmark does, instead of eagerly."""
    x = x_nchw.transpose(0, 2, 3, 1)
    if traced:
        import tensorflow as tf

        return tf.function(lambda inp: model(inp, training=False))(x).numpy()
    return np.asarray(model(x, training=False))


def check_gradients(name: str, tm, km, x: np.ndarray, y: np.ndarray) -> tuple:
    """One training-mode forward and backward in each framework: every parameter gets a gradient. Returns the
    two training-mode outputs (PyTorch's, Keras'), for a caller that checks them too."""
    import tensorflow as tf
    import torch

    from cnnbench.models_tf.backend import classification_loss as keras_loss
    from cnnbench.models_torch.backend import classification_loss as torch_loss

    tm.train()
    out_t = tm(torch.from_numpy(x))
    torch_loss(out_t, torch.from_numpy(y), getattr(tm, "aux_weight", 0.0)).backward()
    missing = [n for n, p in tm.named_parameters() if p.grad is None or not bool(p.grad.abs().sum() > 0)]
    assert not missing, f"PyTorch {name}: no gradient for {missing[:5]}"
    with tf.GradientTape() as tape:
        out_k = km(x.transpose(0, 2, 3, 1), training=True)
        loss = keras_loss(out_k, y.astype("int32"), getattr(km, "aux_weight", 0.0))
    grads = tape.gradient(loss, km.trainable_variables)
    missing = [v.path for v, g in zip(km.trainable_variables, grads) if g is None or not float(tf.reduce_sum(tf.abs(g))) > 0]
    assert not missing, f"Keras {name}: no gradient for {missing[:5]}"
    assert len(grads) == len(list(tm.parameters()))  # the same trainable tensors in both
    return out_t, out_k


def gradient_batch(name: str, size: int, classes: int) -> tuple[np.ndarray, np.ndarray]:
    """Two samples; eight for a model with stochastic depth, whose residual branch gets no gradient when it
    drops every sample of the batch: with rates r_i that happens to some branch with probability at most
    sum_i r_i ** n, for EfficientNet-B0's nine branches (r up to 0.175) 0.124 at n = 2 and 1.7e-6 at n = 8
    (B3's nineteen: 4.7e-6)."""
    rng = np.random.default_rng(0)
    spec = cnnbench.get_spec(name)
    n = 8 if spec.config.get("stochastic_depth_prob") else 2
    x = rng.random((n, spec.in_channels, size, size), dtype="float32")
    return x, rng.integers(0, classes, n)
