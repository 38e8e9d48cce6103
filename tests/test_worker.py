"""Worker processes: the settings they apply, what they measure, and how they fail."""
from __future__ import annotations

import subprocess
import sys
import time

import pytest

from cnnbench.core.case import Case, split_runtime
from cnnbench.core.settings import Settings
from cnnbench.worker.client import Worker, WorkerDied, WorkerError
from conftest import ONE_THREAD

LENET = Case("lenet5", "torch", "train", 2, "cpu", 28)


@pytest.fixture(scope="module")
def torch_worker(torch_mod):
    with Worker("torch", "cpu", ONE_THREAD) as w:
        yield w


def test_settings_are_applied_before_the_framework_starts_and_read_back(torch_worker):
    s = torch_worker.info["settings"]
    assert s["setting_intra_op_threads"] == 1 and s["setting_inter_op_threads"] == 1
    assert s["setting_math_matmul"] == s["setting_math_conv"] == "fp32"  # the CPU has no TF32
    assert s["setting_onednn"] is True  # PyTorch's CPU convolutions run on oneDNN
    assert torch_worker.info["runtime_rss_bytes"] > 50 * 2**20  # a framework runtime: tens of MiB at least


def test_steps_are_timed_inside_the_worker(torch_worker):
    torch_worker.call("prepare", case=LENET.to_dict())
    torch_worker.call("warmup", rounds=3)
    start = time.perf_counter()
    times = torch_worker.call("time", rounds=5)["times"]
    wall = time.perf_counter() - start
    assert len(times) == 5 and all(t > 0 for t in times)
    assert sum(times) < wall  # the pipe and this process's work are outside every timing


def test_an_injected_delay_is_a_busy_wait_inside_the_timing(torch_worker):
    torch_worker.call("prepare", case=LENET.to_dict())
    before = min(torch_worker.call("time", rounds=5)["times"])
    assert torch_worker.call("inject_delay", amount=0.02, unit="s")["delay_s"] == 0.02
    after = min(torch_worker.call("time", rounds=5)["times"])
    # every timed step now holds the 20 ms wait (LeNet-5's own step, a few ms, varies by more than
    # "before + 20 ms" allows from one call to the next: it measured 2.7 ms, then 2.4 ms + 20 ms)
    assert before < 0.02 <= after


def test_an_injected_share_holds_each_step_that_much_longer(torch_worker):
    """A share is of each step's own time, not of a step probed once: with 50%, a third of every timed
    step is the wait (t = c + c/2), whatever the steps took. Step by step, median over the steps: a step
    preempted during its wait (the other test worker shares the 2 cores) takes longer than c + c/2, and
    one such step moved a mean over 20 steps by 2.5% in CI."""
    torch_worker.call("prepare", case=LENET.to_dict())
    torch_worker.call("inject_delay", amount=0.5, unit="fraction")
    timed = torch_worker.call("time", rounds=20)
    assert len(timed["injected"]) == len(timed["times"]) == 20
    shares = sorted(w / t for w, t in zip(timed["injected"], timed["times"]))
    assert (shares[9] + shares[10]) / 2 == pytest.approx(1 / 3, rel=0.02)
    assert timed["injected_s"] == pytest.approx(sum(timed["injected"]) / 20)
    torch_worker.call("inject_delay", amount=0.0, unit="s")
    assert "injected_s" not in torch_worker.call("time", rounds=2)


@pytest.mark.parametrize("case,kind,message", [
    (Case("vgg11", "torch", "inference", 1, "cpu", 16), "input_too_small", "minimum input size is 32"),
    (Case("lenet5", "torch", "inference", 13_000_000_000 // 784 + 1, "cpu", 28), "oom", "can't allocate memory"),
])
def test_failures_come_back_as_kinds_and_the_worker_goes_on(torch_worker, case, kind, message):
    with pytest.raises(WorkerError) as err:
        torch_worker.call("prepare", case=case.to_dict())
    assert err.value.kind == kind and message in err.value.message
    assert torch_worker.call("prepare", case=LENET.to_dict())["params"] == 61_706  # still serving


@pytest.fixture(scope="module")
def fork_server(torch_mod):
    """One PyTorch fork server for the tests below that are not about a worker's start-up (a forked worker
    starts in a fraction of a fresh interpreter's time); closed, it is gone."""
    from cnnbench.worker.client import ForkServer

    server = ForkServer("torch", "cpu", ONE_THREAD)
    yield server
    server.close()
    assert server.proc.poll() is not None


@pytest.mark.slow  # the quick tier's native crashes: a forked worker's (below) and a harness run's (test_faults.py)
def test_a_native_crash_kills_only_the_worker(torch_mod):
    w = Worker("torch", "cpu", Settings())
    with pytest.raises(WorkerDied, match="killed by SIGSEGV"):
        w.call("crash")
    w.close()


def test_a_worker_that_does_not_answer_is_killed_in_bounded_time(fork_server):
    w = Worker("torch", "cpu", ONE_THREAD, fork_server=fork_server)
    w.call("prepare", case=Case("resnet18", "torch", "train", 2, "cpu", 64).to_dict())
    start = time.monotonic()
    with pytest.raises(WorkerDied, match="did not answer within 0 s"):
        w.call("time", rounds=1000, timeout=0.5)
    assert time.monotonic() - start < 5
    w.close()


def test_an_unknown_runtime_environment_is_refused_in_one_line(monkeypatch):
    from cnnbench.zoo.dispatch import runtime_backend

    monkeypatch.setenv("KERAS_BACKEND", "jax")
    with pytest.raises(RuntimeError, match="run it in a worker process"):
        runtime_backend("keras-tf")


def test_leaving_out_makes_an_import_fail_inside_the_block_only():
    import importlib
    from cnnbench.worker.lean_imports import leaving_out

    absent = next(n for n in ("wave", "colorsys", "netrc", "sndhdr") if n not in sys.modules)  # small stdlib modules
    with leaving_out((absent, "json")) as left:
        assert left == (absent,)  # json is imported already: kept
        with pytest.raises(ModuleNotFoundError):
            importlib.import_module(absent)
        assert importlib.util.find_spec(absent) is None  # "not installed", to code that asks first
        assert importlib.import_module("json") is sys.modules["json"]
    assert importlib.import_module(absent).__name__ == absent  # importable again after the block
    sys.modules.pop(absent)


def test_what_each_runtime_leaves_out(monkeypatch):
    from cnnbench.worker.lean_imports import FULL_IMPORT_ENV, left_out

    monkeypatch.delenv(FULL_IMPORT_ENV, raising=False)
    assert left_out("keras-tf") == left_out("keras-torch") == left_out("torch") == ("sklearn", "pandas", "matplotlib",
                                                                                    "jax")
    assert left_out("keras-jax") == ("sklearn", "pandas", "matplotlib")  # it computes with JAX
    monkeypatch.setenv(FULL_IMPORT_ENV, "1")
    assert left_out("keras-tf") == ()


# a shared library each package's import maps (scikit-learn's and pandas' C extensions, matplotlib's, jaxlib's)
LIBRARY_OF = {"sklearn": "/sklearn/", "pandas": "/pandas/_libs/", "matplotlib": "/matplotlib/", "jax": "/jaxlib/"}


@pytest.mark.parametrize("runtime", ["keras-tf", pytest.param("keras-jax", marks=pytest.mark.slow),
                                     pytest.param("keras-torch", marks=pytest.mark.slow)])
def test_a_keras_worker_leaves_the_unused_optional_packages_out(runtime, torch_mod):
    """Keras and TensorFlow import scikit-learn, pandas, matplotlib and JAX where installed, for integrations a
    worker never uses (cnnbench.worker.lean_imports): a worker's import leaves them out, and maps none of their
    libraries, and still runs a training step."""
    pytest.importorskip({"keras-tf": "tensorflow", "keras-jax": "jax", "keras-torch": "keras"}[runtime])
    expected = ["sklearn", "pandas", "matplotlib"] + ([] if runtime == "keras-jax" else ["jax"])
    framework, keras_backend = split_runtime(runtime)
    case = Case("lenet5", framework, "train", 2, "cpu", 28, layout="nhwc", keras_backend=keras_backend)
    with Worker(runtime, "cpu", ONE_THREAD) as w:
        w.call("prepare", case=case.to_dict())
        assert len(w.call("time", rounds=1)["times"]) == 1
        maps = open(f"/proc/{w.pid}/maps").read()
        assert w.info["imports_left_out"] == expected
    assert not [p for p in expected if LIBRARY_OF[p] in maps]
    if runtime == "keras-jax":
        assert LIBRARY_OF["jax"] in maps


@pytest.mark.slow  # a whole time-to-accuracy round of LeNet-5 in Keras (make bench's tta case)
def test_a_keras_worker_loads_scikit_learn_later_for_time_to_accuracy(torch_mod):
    """What the runtime's import left out is importable afterwards: the time-to-accuracy round reads
    scikit-learn's digits in the worker, and reaches the target."""
    pytest.importorskip("tensorflow")
    pytest.importorskip("sklearn")
    from cnnbench.train.loop import DEFAULTS

    with Worker("keras-tf", "cpu", ONE_THREAD) as w:
        assert "sklearn" in w.info["imports_left_out"]
        result = w.call("train_to_accuracy", model="lenet5", timeout=600)
    assert result["epochs_to_target"] is not None and result["test_accuracy"] >= DEFAULTS["target"]


@pytest.mark.parametrize("runtime,settings", [
    ("torch", Settings()), ("keras-tf", Settings()),  # the fair default: TF32 and autotuning in both
    # strict FP32 without autotuning, and Keras on JAX and on torch: the slow tier (the quick tier reads back
    # PyTorch's and Keras/TF's fair default)
    pytest.param("torch", Settings(math="fp32", autotune=False), marks=pytest.mark.slow),
    pytest.param("keras-tf", Settings(math="fp32", autotune=False), marks=pytest.mark.slow),
    pytest.param("keras-jax", Settings(math="fp32", autotune=False), marks=pytest.mark.slow),
    pytest.param("keras-torch", Settings(math="fp32", autotune=False), marks=pytest.mark.slow),
])
def test_gpu_settings_are_the_same_in_every_runtime(runtime, settings, torch_mod):
    """On a GPU TensorFlow's default is TF32 for convolutions and matmuls with autotuning, PyTorch's is TF32
    convolutions, strict FP32 matmuls and no autotuning: the worker applies one rule to both and reads
    back what is in force. (The flags are read on any machine: no GPU is needed to check them.)"""
    pytest.importorskip({"torch": "torch", "keras-tf": "tensorflow", "keras-jax": "jax", "keras-torch": "keras"}[runtime])
    with Worker(runtime, "cuda", settings) as w:
        s = w.info["settings"]
        assert s["setting_math_matmul"] == s["setting_math_conv"] == settings.math
        assert s["setting_autotune"] is settings.autotune  # JAX: XLA's GPU autotuning flag in XLA_FLAGS


def test_the_pytorch_fork_servers_preload_imports_dynamo_and_starts_no_thread(torch_mod):
    """A fork server calls its backend's preload before forking (cnnbench.worker.forkserver): for PyTorch it
    imports torch._dynamo, which the first optimizer of every forked worker imported otherwise (about 1 s
    each), and it must start no thread, which a forked child would not inherit."""
    code = ("import os, sys\n"
            "from cnnbench.models_torch import backend\n"
            "before = len(os.listdir('/proc/self/task'))\n"
            "backend.preload()\n"
            "print(before, len(os.listdir('/proc/self/task')), 'torch._dynamo' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    before, after, dynamo = out.stdout.split()
    assert after == before and dynamo == "True"


def test_a_forked_workers_memory_baseline_is_a_fresh_workers(torch_worker, fork_server):
    """The runtime's own resident memory, which every CPU memory figure is measured from: a forked worker
    maps the server's resident library pages again first (cnnbench.worker.forkserver), or its baseline
    would lack them (PyTorch: 267 MB forked against 329 MB fresh, Keras on TensorFlow 400 against 782 MB,
    measured 2026-12-06) and library pages touched later would count as the case's memory. With them the
    two differed by 0.2% (PyTorch) and 0.1% (TensorFlow) in the same measurement."""
    with Worker("torch", "cpu", ONE_THREAD, fork_server=fork_server) as w:
        forked, populated = w.info["runtime_rss_bytes"], w.info["populated"]
    fresh = torch_worker.info["runtime_rss_bytes"]
    assert populated["bytes"] > 50 * 2**20 and populated["s"] < torch_worker.info["import_s"]  # < a fresh start
    assert abs(forked - fresh) <= 0.05 * fresh, (forked, fresh)


def test_a_forked_worker_is_a_worker_and_dies_alone(fork_server):
    """Workers forked from a fork server (cnnbench.worker.forkserver): the same settings read back as a fresh
    worker's, a case measured, a native crash reported as the signal that ended it (the server, their parent,
    reaps them and tells), and the server still forks after one of its children died (here also after the
    worker killed for not answering, above). Closing the server ends it: the fixture's teardown checks."""
    server, settings = fork_server, ONE_THREAD
    assert server.info["import_s"] > 0
    with Worker("torch", "cpu", settings, fork_server=server) as w:
        assert w.info["forked"] is True and w.pid != server.proc.pid
        assert w.info["settings"]["setting_intra_op_threads"] == 1
        w.call("prepare", case=LENET.to_dict())
        assert len(w.call("time", rounds=3)["times"]) == 3
    crashed = Worker("torch", "cpu", settings, fork_server=server)
    with pytest.raises(WorkerDied, match="killed by SIGSEGV"):
        crashed.call("crash", timeout=60)
    crashed.close()
    with Worker("torch", "cpu", settings, fork_server=server) as again:
        assert again.info["forked"] is True
    with pytest.raises(ValueError, match="from its fork server"):
        Worker("keras-tf", "cpu", settings, fork_server=server)
