"""What the harness knows about one ``pytest bench`` session, as one typed object.

The plugin builds it when pytest configures (``plugin.STATE`` on the config's stash): what the
command line selected, under which settings, on which device. The case runners (``harness``,
``distributed``) record into it what happened to each case; the progress line, the journal's
partial files and the closing summary read it, and ``pytest_benchmark_update_json`` turns it into
the saved JSON's ``cnnbench`` block.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from cnnbench.core.case import Case
from cnnbench.core.settings import Settings
from cnnbench.harness.cases import Profile

# other processes' CPU + steal, in cores, above which a process's rounds were timed on a busy machine (--busy-cores;
# cnnbench.harness.replication, which uses it, imports it from here: the state may not import that module)
BUSY_CORES = 0.2


@dataclass
class HarnessState:
    # ---- what the command line selected (fixed for the session)
    cases: list[Case]  # the step cases, in their stable order (model, mode, batch, runtime, world size)
    tta_cases: list[Case]  # the time-to-accuracy cases (LeNet-5 trainings), one per framework
    profile: Profile  # --bench-profile: rounds, warm-up, time-to-accuracy rounds
    settings: Settings  # applied equally to every framework: math, autotuning, threads, oneDNN
    device: str  # "cpu" or "cuda": --device resolved
    device_note: str  # why that device ("auto: no GPU found, ..."), for the header and the JSON
    worker_timeout: float  # seconds a worker may stay silent before its case is ended (--worker-timeout)
    rendezvous: dict  # data-parallel jobs' meeting point: distributed.rendezvous_options (nnodes, node_rank, ...)
    threads_per_worker: int  # CPU threads of each data-parallel worker, the same at every world size of the run
    no_memory_check: bool = False  # --no-memory-check: run CPU cases whose analytic bound exceeds free memory
    delay: list[tuple[str, float, str]] = field(default_factory=list)  # TEST ONLY --inject-delay: target, amount, unit
    processes_wanted: int = 2  # --processes: worker processes per single-device case (cnnbench.harness.replication)
    max_processes: int = 4  # --max-processes: at most this many, re-measurements included
    busy_cores: float = BUSY_CORES  # --busy-cores: other processes' CPU + steal above which a process was timed busy
    fork_workers: bool = True  # workers forked from a fork server per runtime (--no-fork-server: fresh interpreters)
    scenario_cases: list[Case] = field(default_factory=list)  # --scenarios: LoadGen scenario cases (harness.loadgen)
    loadgen: object = None  # --scenarios: the session's harness.loadgen.LoadgenOptions; None: no LoadGen cases
    # ---- derived from the cases
    by_id: dict[str, Case] = field(init=False)  # every case, step and time to accuracy, by its id
    distributed_index: dict[str, int] = field(init=False)  # data-parallel case -> its number (ports on several hosts)
    # ---- what happened so far (recorded by the case runners and the plugin)
    gemm_peak: dict[str, float] = field(default_factory=dict)  # "runtime:device:math[suffix]" -> best GEMM FLOP/s
    gemm_peak_busy: set[str] = field(default_factory=set)  # peaks last measured on a busy machine: measured again
    skipped: list[dict] = field(default_factory=list)  # {"id", "group", "reason"}: no memory, no framework, too small
    unfinished: list[dict] = field(default_factory=list)  # {"id", "reason"}: a crash, an error, the session ending
    interrupted: str | None = None  # the signal that ended the session early ("SIGTERM"), None otherwise
    results: dict[str, dict] = field(default_factory=dict)  # case id -> median_s, images_per_s, stepping_s
    processes: dict[str, list[dict]] = field(default_factory=dict)  # case id -> each worker process's measurement
    rows: dict[str, object] = field(default_factory=dict)  # case id -> its pytest-benchmark row (Metadata), rewritten
    remeasured: dict[str, list[str]] = field(default_factory=dict)  # case id -> why it was measured again
    process_noise: dict | None = None  # replication.noise: this run's per-process spread and threshold
    # cnnbench.core.stats.process_spread of the counted processes: (s0, d0: the prior of a case's spread)
    process_spread: tuple[float, float] | None = None
    fork_servers: dict[str, object] = field(default_factory=dict)  # runtime -> its cnnbench.worker.client.ForkServer
    fork_servers_failed: dict[str, str] = field(default_factory=dict)  # runtime -> why its server could not start

    def __post_init__(self) -> None:
        self.by_id = {c.id: c for c in (*self.cases, *self.tta_cases, *self.scenario_cases)}
        self.distributed_index = {c.id: i for i, c in enumerate(c for c in self.cases if c.distributed)}

    @property
    def complete(self) -> bool:
        """Every selected case finished (passed, failed on its own measurement, or skipped with a reason)."""
        return not self.unfinished and self.interrupted is None
