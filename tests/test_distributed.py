"""Data-parallel training on the frameworks' own engines: the same step, the same gradients everywhere,
clear failures in bounded time. Two workers on this 2-core CPU (gloo, TensorFlow's ring collectives)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from cnnbench.core.settings import allowed_cpus
from cnnbench.harness.distributed import Job
from cnnbench.core.case import NATIVE_LAYOUT, Case
from cnnbench.worker.client import WorkerDied, WorkerError
from conftest import ONE_THREAD

ROOT = Path(__file__).resolve().parents[1]


def _rendezvous(timeout: float = 60.0, nnodes: int = 1, **extra) -> dict:
    from cnnbench.harness.distributed import free_ports

    ports = free_ports(3)
    return {"nnodes": nnodes, "node_rank": 0, "master_addr": "127.0.0.1", "master_port": ports[0],
            "tf_cluster": [f"127.0.0.1:{p}" for p in ports[1:]], "timeout": timeout, **extra}


def _case(framework: str, model: str, batch: int, size: int, world: int) -> Case:
    return Case(model, framework, "train", batch, "cpu", size, layout=NATIVE_LAYOUT[framework], world_size=world,
                distributed=True)


def _job(case: Case, **kw) -> Job:
    return Job(case, ONE_THREAD, {"threads_per_worker": 1}, _rendezvous(**kw), timeout=300)


@pytest.fixture(scope="module", params=["torch", pytest.param("tf", marks=pytest.mark.slow)])  # TF's: the slow tier
def parity(request, torch_mod, keras_mod):
    """One 2-worker job per framework (worker start-up and the engine's rendezvous once) takes two training
    steps: LeNet-5 on a global batch of 8 (4 images each) and a small ResNet-18; the step of one worker on
    LeNet-5's whole batch is taken in this process, by the same backend function without a job."""
    from cnnbench.zoo.dispatch import runtime_backend

    framework = request.param
    lenet, resnet = _case(framework, "lenet5", 4, 28, 2), _case(framework, "resnet18", 2, 32, 2)
    job = _job(lenet)
    try:
        placed = (allowed_cpus(), [sorted(os.sched_getaffinity(w.pid)) for w in job.workers])
        two = job.call("parity_step", case=lenet.to_dict(), seed=3)
        small_resnet = job.call("parity_step", case=resnet.to_dict(), seed=5, with_weights=False)
    finally:
        job.close()
    backend = runtime_backend("torch" if framework == "torch" else "keras-tf")
    one = backend.parity_step(Case("lenet5", framework, "train", 8, "cpu", 28, layout=NATIVE_LAYOUT[framework]), 3)
    return framework, two, one, small_resnet, placed


def test_workers_are_pinned_to_the_cpus_this_process_may_use(parity):
    """Each worker of a job on the next of the CPUs this process may run on, not on CPUs counted from 0: under
    `make test` the xdist worker on the second core is pinned to CPU 1 (tests/conftest.py), and its job's two
    workers then share CPU 1; pinned to CPU 0 (it once was), one would run on the other xdist worker's core, and
    under a cpuset without CPU 0 (a container, a Slurm job) it would not start."""
    allowed, workers = parity[4]
    assert all(set(cpus) <= set(allowed) for cpus in workers), (allowed, workers)
    assert workers == [[allowed[i % len(allowed)]] for i in range(2)]  # one thread each (_job)


def test_worker_cpus_by_hand():
    from cnnbench.harness.distributed import worker_cpus

    assert worker_cpus(0, 1, [1]) == [1]  # the xdist worker pinned to CPU 1: never CPU 0
    assert [worker_cpus(i, 2, [4, 5, 6, 7]) for i in range(2)] == [[4, 5], [6, 7]]  # a cpuset of CPUs 4-7
    assert [worker_cpus(i, 1, [0, 1]) for i in range(4)] == [[0], [1], [0], [1]]  # more workers than cores share


def test_every_worker_applies_the_same_gradients(parity):
    _, (rank0, rank1), _, _, _ = parity
    assert (rank0["rank"], rank1["rank"]) == (0, 1)
    assert rank0["loss"] != rank1["loss"]  # each worker saw its own half of the batch ...
    assert rank0["grads"] == rank1["grads"]  # ... and both apply the same all-reduced gradients, to the bit
    assert np.array_equal(rank0["weights"], rank1["weights"])


def test_two_workers_take_the_step_of_one_worker_on_the_whole_batch(parity):
    """Mean loss over 8 images = mean of the two workers' mean losses over 4; the SGD step from the same
    initial weights is then the same up to float summation order."""
    framework, (rank0, rank1), one, _, _ = parity
    assert (rank0["loss"] + rank1["loss"]) / 2 == pytest.approx(one["loss"], rel=1e-5)
    w2, w1 = np.asarray(rank0["weights"]), np.asarray(one["weights"])
    assert w2.shape == w1.shape == (61_706,)  # LeNet-5's parameters (seed 000's Keras summary)
    assert np.abs(w2 - w1).max() <= 1e-6 * max(1.0, np.abs(w1).max()), framework
    g2, g1 = np.asarray(rank0["grads"]), np.asarray(one["grads"])
    # per-tensor sum and sum of squares; a bias gradient sums to ~0, where float32 order leaves ~1e-7
    assert np.allclose(g2, g1, rtol=1e-4, atol=1e-6)


def test_a_small_resnet_gets_the_same_gradients_on_every_worker(parity):
    """BatchNorm statistics stay per worker in both engines (no SyncBatchNorm, no synchronized BN), so
    the 2-worker step is not the 1-worker step on the whole batch here; the applied gradients agree."""
    _, _, _, (rank0, rank1), _ = parity
    assert len(rank0["grads"]) == 62 and rank0["grads"] == rank1["grads"]  # conv, BN (x2), fc tensors of ResNet-18


def test_a_worker_that_dies_ends_the_job_in_bounded_time(torch_mod):
    case = _case("torch", "lenet5", 2, 28, 2)
    job = _job(case)
    job.workers[1].send("crash")
    start = time.monotonic()
    with pytest.raises(WorkerDied, match="SIGSEGV"):
        job.workers[1].receive(30)
    job.kill()  # what the harness does: the other rank would wait in the next all-reduce
    job.close()
    assert time.monotonic() - start < 30


@pytest.mark.parametrize("framework", ["torch", "tf"])
def test_a_rendezvous_that_is_never_reached_fails_in_bounded_time(framework, torch_mod, keras_mod):
    """Node 0 of a 2-node job whose node 1 never comes: a clear error after the rendezvous timeout.
    PyTorch's gloo ends its own wait at the timeout (the parent's start-up margin, STARTUP_S, is not reached);
    TensorFlow waits for its cluster without a timeout, so there the parent's bound ends it: the bound is what
    is checked, so a 5 s start-up margin stands in for the default 20 s (TensorFlow's import takes ~5 s)."""
    from cnnbench.harness.distributed import STARTUP_S

    case = _case(framework, "lenet5", 2, 28, 2)
    startup = STARTUP_S if framework == "torch" else 5.0
    start = time.monotonic()
    with pytest.raises((WorkerError, WorkerDied), match="rendezvous at 127.0.0.1"):
        _job(case, timeout=2, nnodes=2, startup_s=startup)
    assert time.monotonic() - start < 2 + startup + 10  # the timeout, the parent's margin, start-up


@pytest.mark.slow  # the quick tier starts jobs on one node
def test_two_nodes_on_one_host_record_one_job(tmp_path, torch_mod):
    """The multi-host path for real: two harness processes, node 0 and node 1, meet at node 0's port;
    node 0's JSON holds the job (world size 2), node 1 records that it served."""
    from cnnbench.harness.distributed import free_ports

    port = free_ports(1)[0]
    common = [sys.executable, "-m", "pytest", "bench", "--benchmark-only", "-q", "-p", "no:cacheprovider",
              "--bench-profile", "smoke", "--models", "lenet5", "--frameworks", "torch", "--modes", "train",
              "--world-sizes", "2", "--nnodes", "2", "--master-port", str(port), "--no-time-to-accuracy",
              "--threads", "1"]  # both "hosts" share this machine's cores: one thread each, not two each
    procs = [subprocess.Popen(common + ["--node-rank", str(k), f"--benchmark-json={tmp_path / f'node{k}.json'}"],
                              cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for k in (0, 1)]
    outs = [p.communicate(timeout=300)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    node0 = json.loads((tmp_path / "node0.json").read_text())
    (row,) = node0["benchmarks"]
    info = row["extra_info"]
    assert row["param"] == "lenet5-torch-train-bs2-cpu-ws2"
    assert info["world_size"] == 2 and info["global_batch"] == 4 and info["placement"]["hosts"] == 2
    assert "gloo" in info["dist_backend"]
    node1 = json.loads((tmp_path / "node1.json").read_text())
    assert node1["benchmarks"] == [] and "node 0 records it" in node1["cnnbench"]["skipped"][0]["reason"]
