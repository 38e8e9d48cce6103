"""The paired A/B engine: two sides measured alternately, each in its own worker process.

Two runs of the same code in two processes at two times differ far more than the rounds of one run
(docs/ab.md, "Does the detector work?": 0.2x to 45x on the reference VM), so a paired comparison never
compares measurements taken at different times (pyperf, asv ``--interleave-rounds``):

1. both sides' workers start, pinned to the same CPUs, and build their cases at once (framework
   imported once, model built, first step done: nothing is timed yet), each case twice, the second
   build measured (below);
2. each side warms up, alone; then a few short alternating turns probe each side's steady step time;
3. rounds: in each, A takes a turn and B takes a turn, strictly one after the other (the parent waits
   for one side's reply before commanding the other), in an order balanced over rounds (A B, B A,
   A B, ...: ABBA) or drawn by a seeded coin. A turn is 1 + k steps timed inside the worker; the
   first is dropped (right after the other side's turn, a PyTorch LeNet-5 step took 1.5x its steady
   time at one thread on the reference VM, with or without a pause between turns; 15x at two
   threads, 3-4x with a 50 ms pause: the other side's pool still spinning, this one's parked) and
   the side's sample is the median of the other k; k makes a turn last at least ``turn_s`` on a
   CPU (a fixed ``gpu_steps`` on a GPU);
4. after every round the ratio B/A and its interval are re-estimated (``cnnbench.core.paired_stats``) and
   the rounds stop once the interval is narrow enough, the time budget is spent or the round limit
   is reached.

Two sources of a bias that lasts a worker's whole life, each measured on the 2-core reference VM
on 2026-12-02 with A/A pairs (docs/ab.md), and what the engine does about them:

* **the first build of a case in a process**: PyTorch ResNet-18 training (64 px, batch 2, one thread)
  measured B/A from 0.86 to 1.21 over 37 fresh pairs of processes, every round of a pair agreeing; the
  same processes, after building the same case again, 0.98 to 1.03. A 5 s warm-up of the first build
  did not remove it, nor did building another model first, nor a fixed glibc mmap threshold. So each
  worker builds each case ``builds`` times (default 2) and measures the last build;
* **where the threads run**: Keras-on-TensorFlow ResNet-18 training, rebuilt, with the workers free to
  move between the CPUs, measured 0.84 to 0.92 in 4 pairs of 4 (B faster every time); pinned to one
  CPU, 0.995 to 1.02; LeNet-5 inference (0.2 ms steps) 0.97 to 1.07 free, 0.997 to 1.013 pinned. So
  both sides' workers are pinned to the same ``cpus`` (``cnnbench ab --cpus``; by default the last
  ``--threads`` CPUs); they never run at once, so sharing costs nothing.

* **the build itself**: the bias above is drawn again by every build, not only by the first. Keras-on-
  TensorFlow ResNet-18 training (one thread, both sides pinned to CPU 1; 2026-12-04,
  results/per-build-bias-2026-12-04.json) measured 1.145, 1.143, 1.155, 1.088, 1.123 and 1.093 in six consecutive blocks of 60 A/A rounds
  on one build in one pair of workers (each block's interval about +-4%), and 1.101, 1.023, 1.022,
  1.035, 0.961 and 0.951 when both workers built the case again before each block. A pair's estimate
  from one build carries that build's bias (here a spread of about 5%) whatever its number of rounds;
  so with ``measured_builds`` R > 1 the rounds are spread over R builds in the same workers (after each
  block both build the case again and warm up; k and the TEST-ONLY delay are kept), the per-round
  ratios stay within their build, and the pooled estimate carries about 1/sqrt(R) of that spread.

With ``process_pairs`` > 1 the whole sequence runs again in fresh workers and the rounds are pooled
(each round's ratio is within one pair of processes): two pairs of processes of the same code differ
by a median 1% and up to 6% on the reference VM (docs/ab.md), which one
pair's interval cannot show. With one pair, a ``WorkerPool`` keeps the two workers for the next pair
that starts alike.
"""
from __future__ import annotations

import math
import random
import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Callable

from cnnbench.core.case import Case
from cnnbench.core.paired_stats import PairedEstimate, paired_ratio, stop_reason
from cnnbench.core.settings import Settings

ORDERS = ("abba", "random")


@dataclass(frozen=True)
class Side:
    """One side of a comparison: a case, the settings its worker runs under, and which checkout."""

    case: Case
    settings: Settings = Settings()
    label: str = ""
    pythonpath: str | None = None  # another checkout first on the worker's path (the baseline worktree)
    cwd: str | None = None  # the worker's working directory (that checkout, so `-m` finds it first)
    delay: tuple[float, str] | None = None  # TEST ONLY: (amount, "s" | "fraction") busy wait after each step


@dataclass(frozen=True)
class Plan:
    """How long and how to measure one pair."""

    target: float = 0.02  # stop once the interval's log half-width is at most this (about +-2%)
    budget_s: float = 30.0  # ... or once this many seconds of rounds are spent (per process pair: a share)
    max_rounds: int = 400  # ... or after this many rounds
    min_rounds: int = 10  # the precision rule waits for this many rounds
    turn_s: float = 0.02  # CPU: a side's turn lasts at least this long
    gpu_steps: int = 10  # GPU: steps per turn (steps are synchronized and short)
    discard_steps: int = 1  # steps at the start of each turn that are timed but not counted
    probe_rounds: int = 2  # after warm-up: alternating turns that measure each side's steady step ...
    probe_steps: int = 4  # ... of this many steps (k and a TEST-ONLY delay's share come from them)
    order: str = "abba"  # "abba": A B, B A, A B, ... | "random": a seeded coin per round
    seed: int = 0
    settle_s: float = 0.0  # pause before each turn (lets the other side's thread pools go idle)
    process_pairs: int = 1  # fresh pairs of workers per case, rounds pooled
    builds: int = 2  # each worker builds each case this many times and measures the last (module docstring)
    measured_builds: int = 1  # the rounds are spread over this many builds, each measured in turn (docstring)
    cpus: tuple[int, ...] | None = None  # both sides' workers pinned to these CPUs (None: not pinned)
    warmup_rounds: int = 2
    warmup_s: float = 0.5
    confidence: float = 0.95
    worker_timeout: float = 1800.0
    max_steps_per_turn: int = 10_000

    def __post_init__(self):
        if self.order not in ORDERS:
            raise ValueError(f"order must be one of {', '.join(ORDERS)}, got {self.order!r}")
        if self.builds < 1:
            raise ValueError(f"builds must be at least 1, got {self.builds}")
        if self.measured_builds < 1:
            raise ValueError(f"measured_builds must be at least 1, got {self.measured_builds}")


@dataclass
class PairOutcome:
    a_samples: list[float]  # per round: the median of A's k steps (seconds)
    b_samples: list[float]
    blocks: list[int]  # per round: which block measured it (0-based; process pair x measured build, in order)
    steps_per_round: int
    estimate: PairedEstimate | None
    stopped: str  # "precision" | "budget" | "max_rounds"
    seconds: float  # wall time of the whole pair: start, build, warm-up, rounds
    rounds_s: float  # wall time of the rounds alone
    injected_delay_s: float | None
    block_estimates: list[PairedEstimate | None] = field(default_factory=list)
    a_info: dict = field(default_factory=dict)  # the workers' start-up replies (versions, settings)
    b_info: dict = field(default_factory=dict)
    orders: list[str] = field(default_factory=list)  # per round: "ab" or "ba"


def turn_order(round_index: int, order: str, rng: random.Random) -> str:
    """Which side goes first in this round: ``"ab"`` or ``"ba"``."""
    if order == "abba":
        return "ab" if round_index % 2 == 0 else "ba"
    return "ab" if rng.random() < 0.5 else "ba"


def steps_per_turn(step_s: float, device: str, plan: Plan) -> int:
    """k steps per turn: enough for ``plan.turn_s`` on a CPU, ``plan.gpu_steps`` on a GPU."""
    if device == "cuda":
        return plan.gpu_steps
    return max(1, min(plan.max_steps_per_turn, math.ceil(plan.turn_s / max(step_s, 1e-9))))


def start_worker(side: Side, plan: Plan):
    """A worker for ``side``, pinned to ``plan.cpus``; one without a checkout of its own runs in the checkout
    this process imported ``cnnbench`` from (``python -m`` searches the working directory first, which may
    hold another one). A baseline checkout's worker reads the pinning from the same variable (since
    efa5114, CI's baseline)."""
    from cnnbench.ab.checkout import checkout_root, import_root
    from cnnbench.worker.client import Worker

    cwd = side.cwd or str(checkout_root())
    pythonpath = side.pythonpath or str(import_root())
    return Worker(side.case.runtime, side.case.device, side.settings, pythonpath=pythonpath, cwd=cwd,
                  affinity=list(plan.cpus) if plan.cpus else None, start_timeout=plan.worker_timeout)


def _start_and_prepare(side: Side, plan: Plan, factory: Callable, seed: int, worker=None):
    worker = worker or factory(side, plan)
    try:
        for _ in range(plan.builds):  # the last build is the one measured (module docstring)
            worker.call("prepare", case=side.case.to_dict(), seed=seed, timeout=plan.worker_timeout)
    except BaseException:
        worker.close()
        raise
    return worker


def start_pair(a: Side, b: Side, plan: Plan, factory: Callable = start_worker, seed: int = 0, reuse=(None, None)):
    """Start both workers (or take the ``reuse`` ones) and build both cases at the same time (nothing is
    timed yet); both or none."""
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = [pool.submit(_start_and_prepare, s, plan, factory, seed, w) for s, w in zip((a, b), reuse)]
        workers, error = [], None
        for f in futures:
            try:
                workers.append(f.result())
            except BaseException as exc:  # noqa: BLE001  (re-raised below, after the other side is closed)
                error = error or exc
    if error is not None:
        for w in workers:
            w.close()
        raise error
    return workers[0], workers[1]


def side_key(side: Side) -> tuple:
    """What a worker is bound to when it starts: runtime, device, settings, checkout (the case is not:
    a worker builds whatever case it is sent next)."""
    return side.case.runtime, side.case.device, side.settings.resolved(), side.pythonpath, side.cwd


class WorkerPool:
    """Keeps the last pair's two workers for the next pair whose sides start the same way, so that a
    comparison of many cases imports each side's framework once per runtime rather than once per case
    (on the reference VM a TensorFlow worker took 7 to 15 s to start). A worker that failed is never
    kept; a kept B worker's TEST-ONLY delay is reset before its next case."""

    def __init__(self):
        self.key = None
        self.workers = None

    def take(self, a: Side, b: Side):
        key = (side_key(a), side_key(b))
        if self.workers is not None and key == self.key:
            workers, self.workers = self.workers, None
            return workers
        self.close()
        return None, None

    def keep(self, a: Side, b: Side, wa, wb) -> None:
        self.close()
        self.key, self.workers = (side_key(a), side_key(b)), (wa, wb)

    def close(self) -> None:
        if self.workers is not None:
            for w in self.workers:
                w.close()
        self.workers = None


def probe_steps(workers: dict, plan: Plan) -> dict[str, float]:
    """Each side's steady step time: alternating short turns, the fastest turn's median per side (a
    neighbour's burst only ever slows a turn down, so the fastest is the least disturbed)."""
    best = {name: float("inf") for name in workers}
    for _ in range(plan.probe_rounds):
        for name, w in workers.items():
            times = w.call("time", rounds=plan.probe_steps, timeout=plan.worker_timeout)["times"]
            best[name] = min(best[name], statistics.median(times[plan.discard_steps:] or times))
    return best


def _warm_up(workers: dict, plan: Plan) -> None:
    for w in workers.values():  # each alone, one after the other
        w.call("warmup", rounds=plan.warmup_rounds, seconds=plan.warmup_s, timeout=plan.worker_timeout)


def rebuild_pair(a: Side, b: Side, wa, wb, plan: Plan) -> None:
    """Both workers build their case once more, at the same time (nothing is timed); the new build is the
    one measured next. A worker that fails raises, as in ``start_pair``; the caller closes both."""
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = [pool.submit(w.call, "prepare", case=s.case.to_dict(), seed=plan.seed, timeout=plan.worker_timeout)
                   for s, w in ((a, wa), (b, wb))]
        for f in futures:
            f.result()


def measure_pair(a: Side, b: Side, plan: Plan = Plan(), *, factory: Callable = start_worker,
                 clock: Callable[[], float] = time.perf_counter, sleep: Callable[[float], None] = time.sleep,
                 on_block: Callable[[int], None] | None = None, pool: WorkerPool | None = None) -> PairOutcome:
    """Measure B against A (see the module's docstring). Worker failures propagate as
    ``WorkerError`` / ``WorkerDied``; every worker started here is closed, or kept in ``pool`` (with one
    process pair per case) for the next pair."""
    if a.case.device != b.case.device:
        raise ValueError("a paired comparison runs both sides on the same device")
    started = clock()
    rng = random.Random(plan.seed)
    a_samples: list[float] = []
    b_samples: list[float] = []
    blocks: list[int] = []
    orders: list[str] = []
    block_estimates: list[PairedEstimate | None] = []
    k = None
    injected: list[float] = []  # TEST ONLY: B's mean injected wait per step, per turn
    rounds_s = 0.0
    stopped = None
    infos: tuple[dict, dict] = ({}, {})
    pairs = max(1, plan.process_pairs)
    per_pair = plan.measured_builds
    n_blocks = pairs * per_pair
    share_budget = plan.budget_s / n_blocks
    share_rounds = math.ceil(plan.max_rounds / n_blocks)
    for pair_index in range(pairs):
        if on_block:
            on_block(pair_index * per_pair)
        keep = pool is not None and pairs == 1
        reuse = pool.take(a, b) if keep else (None, None)
        wa, wb = start_pair(a, b, plan, factory, seed=plan.seed, reuse=reuse)
        finished = False
        try:
            if reuse[1] is not None:  # a kept B worker may still hold the last case's TEST-ONLY delay
                wb.call("inject_delay", amount=0.0, unit="s", timeout=plan.worker_timeout)
            infos = (dict(getattr(wa, "info", {}) or {}), dict(getattr(wb, "info", {}) or {}))
            workers = {"a": wa, "b": wb}
            _warm_up(workers, plan)
            steady = probe_steps(workers, plan)
            if k is None:  # one k for every round and block, from both sides' steady steps
                k = steps_per_turn(min(steady.values()), a.case.device, plan)
            if b.delay:  # TEST ONLY: a wait after each of B's steps, of seconds or a share of that step's time
                amount, unit = b.delay
                wb.call("inject_delay", amount=amount, unit=unit, timeout=plan.worker_timeout)
            for build_index in range(per_pair):
                block = pair_index * per_pair + build_index
                if build_index:  # the same workers build the case again: another draw of the build's bias
                    if on_block:
                        on_block(block)
                    rebuild_pair(a, b, wa, wb, plan)
                    _warm_up(workers, plan)
                block_start = clock()
                n_block = 0
                est = None
                while True:
                    first = turn_order(len(orders), plan.order, rng)
                    sample = {}
                    for name in first:
                        if plan.settle_s:
                            sleep(plan.settle_s)
                        timed = workers[name].call("time", rounds=plan.discard_steps + k,
                                                   timeout=plan.worker_timeout)
                        sample[name] = statistics.median(timed["times"][plan.discard_steps:])
                        if "injected_s" in timed:
                            injected.append(timed["injected_s"])
                    a_samples.append(sample["a"])
                    b_samples.append(sample["b"])
                    blocks.append(block)
                    orders.append(first)
                    n_block += 1
                    last = block == n_blocks - 1
                    # the last block stops on the pooled interval; earlier blocks on their own
                    pool_from = 0 if last else len(a_samples) - n_block
                    est = _estimate(a_samples[pool_from:], b_samples[pool_from:], plan, n_block)
                    stopped = stop_reason(est, rounds=n_block, elapsed_s=clock() - block_start, target=plan.target,
                                          budget_s=share_budget, max_rounds=share_rounds, min_rounds=plan.min_rounds)
                    if stopped:
                        break
                rounds_s += clock() - block_start
                block_estimates.append(_estimate(a_samples[-n_block:], b_samples[-n_block:], plan, n_block,
                                                 force=True))
            finished = True
        finally:
            if finished and keep:
                pool.keep(a, b, wa, wb)
            else:
                wa.close()
                wb.close()
    estimate = paired_ratio(a_samples, b_samples, plan.confidence) if a_samples else None
    return PairOutcome(a_samples=a_samples, b_samples=b_samples, blocks=blocks, steps_per_round=k or 0,
                       estimate=estimate, stopped=stopped or "max_rounds", seconds=clock() - started,
                       rounds_s=rounds_s, injected_delay_s=statistics.mean(injected) if injected else None,
                       block_estimates=block_estimates,
                       a_info=infos[0], b_info=infos[1], orders=orders)


def _estimate(a: list[float], b: list[float], plan: Plan, n_block: int, force: bool = False):
    """The estimate for the stopping rule; skipped while too few rounds for it to matter, and then only
    every 10th round past 100 rounds (each costs a sort of n(n+1)/2 Walsh averages)."""
    if not force and (n_block < plan.min_rounds or (len(a) > 100 and len(a) % 10)):
        return None
    return paired_ratio(a, b, plan.confidence) if a else None
