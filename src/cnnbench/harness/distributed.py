"""Data-parallel training cases (``--world-sizes 1,2,...``) on the frameworks' own engines.

A case of world size N is the single-device training step wrapped by the framework's engine and run by
N worker processes: PyTorch ``DistributedDataParallel`` over ``torch.distributed`` (NCCL on GPUs, gloo
on CPUs), each worker started the way torchrun starts its workers (``MASTER_ADDR``, ``MASTER_PORT``,
``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``LOCAL_WORLD_SIZE``); TensorFlow's
``MultiWorkerMirroredStrategy`` configured through ``TF_CONFIG`` (collective ops: ring over gRPC on
CPUs, NCCL on GPUs). No all-reduce of our own.

Weak scaling: the per-worker batch stays fixed, the global batch is N times it. Workers are placed one
per GPU, or on a CPU with the same number of cores (threads) each at every world size of the run, so
that scaling efficiency compares like with like: images/s at N workers / (N x images/s at 1 worker).

Several hosts: every host runs the same ``pytest bench`` command with ``--nnodes``, its own
``--node-rank`` and the rendezvous of node 0 (``--master-addr``/``--master-port`` or ``MASTER_ADDR``/
``MASTER_PORT``; ``TF_CONFIG``'s worker list for TensorFlow); each host starts its share of the
workers, and node 0 records the job (its rank 0 times a step that cannot end before the all-reduce of
every rank), with every rank's memory and settings gathered through the framework's collective.
"""
from __future__ import annotations

import json
import math
import os
import socket
import statistics
import time

from cnnbench.core.case import Case
from cnnbench.core.flops import step_cost
from cnnbench.harness.cases import positive_int, seconds
from cnnbench.harness.harness import (
    apply_peak, case_info, fail_from_worker, gemm_peak, gemm_peak_key, precheck, record_skip, record_unfinished,
    replay, rounds_for,
)
from cnnbench.worker.client import WorkerDied, WorkerError
from cnnbench.core.settings import Settings, allowed_cpus, cores_available
from cnnbench.harness.state import HarnessState


def free_ports(n: int) -> list[int]:
    """n ports that are free on this host now (the OS picks them)."""
    socks, ports = [], []
    for _ in range(n):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        socks.append(s)
        ports.append(s.getsockname()[1])
    for s in socks:
        s.close()
    return ports


def threads_per_worker(world_sizes: list[int], nnodes: int = 1, threads: int | None = None) -> int:
    """CPU cores for each worker: the same at every world size of the run (the largest job's share),
    or ``threads`` (``--threads``) where the user gives fewer: several "hosts" sharing one machine's
    cores (a test, a rehearsal) must not each spin a full set of OpenMP threads on the same cores."""
    local = max(1, max(world_sizes) // max(1, nnodes))
    share = max(1, cores_available() // local)
    return min(share, threads) if threads else share


def worker_cpus(local_rank: int, threads: int, cpus: list[int] | None = None) -> list[int]:
    """The CPUs a job's ``local_rank``-th worker on this host is pinned to: the next ``threads`` of the CPUs this
    process may run on (``allowed_cpus``), not CPU numbers counted from 0. Under ``taskset``, a container's or a
    batch scheduler's cpuset (Slurm's cgroups), CPU 0 may be none of them, and pinning to it fails (EINVAL) or
    runs on another job's cores. More workers than cores wrap around: they share cores, as their threads would."""
    cpus = allowed_cpus() if cpus is None else cpus
    return [cpus[(local_rank * threads + k) % len(cpus)] for k in range(threads)]


STARTUP_S = 20.0  # a worker's start-up (imports, settings) allowed on top of the rendezvous timeout


class Job:
    """This host's workers of one data-parallel case, started together and stepped in lockstep."""

    def __init__(self, case: Case, settings: Settings, placement: dict, rendezvous: dict, timeout: float):
        from cnnbench.worker.client import Worker, WorkerDied, WorkerError

        self.case, self.timeout = case, timeout
        self.workers: list = []
        world, nnodes, node = case.world_size, rendezvous["nnodes"], rendezvous["node_rank"]
        local = world // nnodes
        threads = placement["threads_per_worker"]
        per_worker = Settings(settings.math, settings.autotune, threads if case.device == "cpu" else settings.threads,
                              threads if case.device == "cpu" else settings.interop_threads, settings.onednn)
        cluster = rendezvous["tf_cluster"]
        try:
            for i in range(local):
                rank = node * local + i
                env = {"CNNBENCH_DISTRIBUTED": "1", "CNNBENCH_RENDEZVOUS_TIMEOUT": str(rendezvous["timeout"]),
                       "MASTER_ADDR": rendezvous["master_addr"], "MASTER_PORT": str(rendezvous["master_port"]),
                       "RANK": str(rank), "WORLD_SIZE": str(world), "LOCAL_RANK": str(i),
                       "LOCAL_WORLD_SIZE": str(local), "GROUP_RANK": str(node)}
                if case.runtime == "keras-tf":
                    env["TF_CONFIG"] = json.dumps({"cluster": {"worker": cluster},
                                                   "task": {"type": "worker", "index": rank}})
                    if case.device == "cuda":
                        env["CUDA_VISIBLE_DEVICES"] = str(i)  # one GPU per TensorFlow worker
                affinity = worker_cpus(i, threads) if case.device == "cpu" else None
                self.workers.append(Worker(case.runtime, case.device, per_worker, env=env, affinity=affinity,
                                           wait=False))
            # TensorFlow waits for its cluster without a timeout: the job waits for the rendezvous timeout plus
            # the workers' start-up (STARTUP_S; a test that only checks the bound may give a shorter one)
            startup = rendezvous.get("startup_s", STARTUP_S)
            for w in self.workers:  # each waits at the rendezvous until every rank has joined
                w.wait_ready(rendezvous["timeout"] + startup)
        except (WorkerDied, WorkerError) as exc:
            self.close()
            where = f"{rendezvous['master_addr']}:{rendezvous['master_port']}"
            raise type(exc)(*((exc.kind, f"the job's rendezvous at {where} failed or was not reached within "
                                          f"{rendezvous['timeout']:.0f} s: {exc.message}")
                              if isinstance(exc, WorkerError) else
                              (f"a worker of the job died while joining the rendezvous at {where}: {exc.how}",
                               exc.log_tail))) from None

    @property
    def info(self) -> dict:
        return self.workers[0].info

    def call(self, cmd: str, **args) -> list[dict]:
        """Send ``cmd`` to every worker, then read every reply; a failure anywhere ends the whole job
        (the others would wait forever in the next all-reduce)."""
        from cnnbench.worker.client import WorkerDied, WorkerError

        for w in self.workers:
            w.send(cmd, **args)
        replies = []
        try:
            for w in self.workers:
                replies.append(w.receive(self.timeout))
        except (WorkerDied, WorkerError):
            self.kill()
            raise
        return replies

    def kill(self) -> None:
        for w in self.workers:
            w.kill()

    def close(self) -> None:
        for w in self.workers:
            if w.proc.poll() is not None or not w.info:
                w.kill()
        for w in self.workers:
            w.close()


def rendezvous_for(case: Case, state: HarnessState) -> dict:
    """Where this case's workers meet: node 0's address and a port, per case (a fresh port each time on
    one host; on several hosts, --master-port + the case's number, the same on every host)."""
    r = state.rendezvous
    world = case.world_size
    if r["nnodes"] == 1:
        ports = free_ports(1 + world)
        master_port, tf_ports = ports[0], ports[1:]
        cluster = [f"127.0.0.1:{p}" for p in tf_ports]
    else:
        index = state.distributed_index[case.id]
        master_port = r["master_port"] + 2 * index * (world + 1)
        cluster = r["tf_workers"] or [f"{r['master_addr']}:{master_port + 1 + i}" for i in range(world)]
        if len(cluster) != world:
            raise ValueError(f"TF_CONFIG lists {len(cluster)} workers; the case needs {world}")
    return {**r, "master_port": master_port, "tf_cluster": cluster}


def agreed_max(job: "Job", nnodes: int, local: list[float]) -> float:
    """The largest of ``local`` over every node of the job (a collective: every rank calls it)."""
    value = max(local)
    if nnodes > 1:
        value = max(job.call("gather", value=value)[0]["values"])
    return value


def run_distributed_case(benchmark, case: Case, state: HarnessState) -> None:

    precheck(case, state)
    r = state.rendezvous
    if case.world_size % r["nnodes"]:
        record_skip(state, case, f"world size {case.world_size} does not divide over {r['nnodes']} nodes")
    profile, timeout = state.profile, state.worker_timeout
    placement = {"hosts": r["nnodes"], "processes_per_host": case.world_size // r["nnodes"],
                 "devices_per_worker": 1 if case.device == "cuda" else 0,
                 "threads_per_worker": state.threads_per_worker if case.device == "cpu" else None}
    try:
        job = Job(case, state.settings, placement, rendezvous_for(case, state), timeout)
    except WorkerError as exc:
        record_unfinished(state, case, exc.message)
    except WorkerDied as exc:
        record_unfinished(state, case, str(exc))
    try:
        prep = job.call("prepare", case=case.to_dict())[0]
        # Every rank must take the same number of steps, or one waits forever in an all-reduce the
        # others never join: warm-up and timing go by round counts agreed over all nodes, never by a
        # clock each process reads on its own.
        stepping = time.perf_counter()  # warm-up, timed rounds, memory step: what the progress ETA scales
        estimate = agreed_max(job, r["nnodes"], [w["last_s"] for w in job.call("warmup", rounds=1)])
        more = max(profile.warmup_rounds, math.ceil(profile.warmup_seconds / max(estimate, 1e-9))) - 1
        if more > 0:
            estimate = agreed_max(job, r["nnodes"], [w["last_s"] for w in job.call("warmup", rounds=more)])
        per_rank = [w["times"] for w in job.call("time", rounds=rounds_for(profile, estimate))]
        memory = job.call("memory")
        stepping = time.perf_counter() - stepping
        math_mode = case.precision if case.precision != "fp32" else (
            state.settings.math if case.device == "cuda" else "fp32")
        gathered, peak = None, None
        suffix = f":threads={placement['threads_per_worker']}" if case.device == "cpu" else ""
        if r["node_rank"] == 0:
            peak = gemm_peak(job.workers[0], state, case, math_mode, key_suffix=suffix)
        if r["nnodes"] > 1:
            gathered = job.call("gather", value={"memory": memory[0], "settings": job.info["settings"]})[0]["values"]
    except (WorkerError, WorkerDied) as exc:
        job.kill()
        fail_from_worker(case, state, exc)
    finally:
        job.close()
    if r["node_rank"] != 0:
        record_skip(state, case, f"node {r['node_rank']} of {r['nnodes']}: served ranks of this job; node 0 "
                                 "records it")
    # a step of the job ends when its slowest local rank ends (every rank waits in the all-reduce)
    times = [max(ts) for ts in zip(*per_rank)]

    replay(benchmark, times, case.group)
    median = benchmark.stats.stats.median
    cost = step_cost(case.model, case.mode, case.batch, input_size=case.input_size, **dict(case.options))
    global_batch = case.batch * case.world_size
    peaks = [m.get("peak_memory_bytes") for m in (gathered and [g["memory"] for g in gathered] or memory)]
    benchmark.extra_info.update(case_info(case, state))
    dist = job.info.get("distributed") or {}
    benchmark.extra_info.update({
        "params": prep["trainable_params"], "params_with_buffers": prep["params"],
        "macs": cost.macs, "flops": cost.flops, "flops_rule": cost.rule + " (per worker)",
        "peak_memory_bytes": max(p for p in peaks if p is not None) if any(p is not None for p in peaks) else None,
        "peak_memory_method": memory[0].get("peak_memory_method"),
        "peak_memory_kind": "per worker (the largest of the ranks): " + str(memory[0].get("peak_memory_kind")),
        "runtime_rss_bytes": memory[0].get("runtime_rss_bytes"),
        "world_size": case.world_size, "per_worker_batch": case.batch, "global_batch": global_batch,
        "images_per_s": global_batch / median,
        "gflops_per_s": cost.flops / median / 1e9,  # per worker
        "gemm_peak_math": math_mode,
        "gemm_peak_key": gemm_peak_key(case, math_mode, suffix),
        "dist_backend": dist.get("dist_backend"),
        "placement": placement,
        "rank_median_s": [statistics.median(ts) for ts in per_rank],
        "build_s": prep["build_s"], "first_step_s": prep["first_step_s"],
        "compile_s": max(0.0, prep["first_step_s"] - median),
        **job.info["versions"], **job.info["settings"],
        "setting_cpu_affinity": job.info.get("cpu_affinity"),
    })
    apply_peak(benchmark.extra_info, peak)
    state.results[case.id] = {"median_s": median, "images_per_s": global_batch / median,
                                                "stepping_s": stepping}


def rendezvous_options(opt) -> dict:
    """The run's rendezvous settings, from the command line or torchrun's / TensorFlow's variables."""
    nnodes = positive_int("--nnodes", opt.nnodes, allow_none=False)
    try:
        node_rank = int(str(opt.node_rank))
    except ValueError:
        raise ValueError(f"--node-rank: expected a whole number, got {opt.node_rank!r}") from None
    if not 0 <= node_rank < nnodes:
        raise ValueError(f"--node-rank {node_rank} must be between 0 and --nnodes - 1 ({nnodes - 1})")
    addr = opt.master_addr or os.environ.get("MASTER_ADDR") or "127.0.0.1"
    port = opt.master_port or os.environ.get("MASTER_PORT")
    if nnodes > 1 and not port:
        raise ValueError("--nnodes > 1 needs --master-port (or MASTER_PORT): the port base on node 0 that every "
                         "node uses")
    tf_workers = None
    if os.environ.get("TF_CONFIG"):
        try:
            tf_workers = list(json.loads(os.environ["TF_CONFIG"])["cluster"]["worker"])
        except (ValueError, KeyError, TypeError):
            raise ValueError("TF_CONFIG is set but is not JSON with cluster.worker (a list of host:port)") from None
    timeout = seconds("--rendezvous-timeout", opt.rendezvous_timeout)
    if port and not (str(port).isdigit() and 1 <= int(port) <= 65535):
        raise ValueError(f"--master-port: expected a port number 1..65535, got {port!r}")
    return {"nnodes": nnodes, "node_rank": node_rank, "master_addr": addr, "master_port": int(port) if port else None,
            "tf_workers": tf_workers, "timeout": timeout}
