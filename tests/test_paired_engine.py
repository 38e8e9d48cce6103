"""The paired engine's scheduling, with fake workers that record a timeline (no framework, no process)."""
from __future__ import annotations

import random
import threading

import pytest

from cnnbench.ab.engine import Plan, Side, measure_pair, steps_per_turn, turn_order
from cnnbench.core.case import Case

CASE = Case("lenet5", "torch", "inference", 2, "cpu", 28)
ENDLESS = {"target": -1.0, "budget_s": 1e9}  # rounds until max_rounds (identical samples are "precise")


class Timeline:
    """What every fake worker did, in order; fails when two sides step at once."""

    def __init__(self):
        self.events: list[tuple[str, str, dict]] = []  # (side, command, args)
        self.stepping: set[str] = set()
        self.lock = threading.Lock()
        self.now = 0.0  # the fake clock: advanced by the steps the workers 'run'
        self.started: list[str] = []
        self.closed: list[str] = []

    def clock(self) -> float:
        return self.now


class FakeWorker:
    """Answers the worker protocol; a step of side X takes ``step_s[X]`` (times ``slow_first`` for the
    first step of each turn, as after the other side's turn on a real machine)."""

    def __init__(self, side: Side, timeline: Timeline, step_s: dict, slow_first: float = 1.0, fail_prepare=None,
                 noise: float = 0.0, seed: int = 0):
        self.name = side.label
        self.t, self.step_s, self.slow_first = timeline, step_s, slow_first
        self.fail_prepare, self.noise = fail_prepare, noise
        self.rng = random.Random(seed + (0 if self.name == "a" else 1))
        self.delay, self.share = 0.0, 0.0  # a TEST-ONLY wait after each step: seconds, or a share of it
        self.waits: list[float] = []
        self.info = {"protocol": 1, "versions": {}, "settings": {}}
        timeline.started.append(self.name)

    def _step(self) -> float:
        s = self.step_s[self.name] * (1 + self.rng.uniform(-self.noise, self.noise))
        wait = self.delay + self.share * s
        if wait:
            self.waits.append(wait)
        s += wait
        self.t.now += s
        return s

    def call(self, cmd: str, timeout=None, **args):
        t = self.t
        steps = cmd in ("warmup", "time", "inject_delay")
        with t.lock:
            if steps:
                assert not t.stepping, f"{self.name} told to step while {t.stepping} is stepping"
                t.stepping.add(self.name)
            t.events.append((self.name, cmd, args))
        try:
            if cmd == "prepare":
                if self.fail_prepare == self.name:
                    from cnnbench.worker.client import WorkerError

                    raise WorkerError("error", "build failed")
                return {"build_s": 0.0, "first_step_s": 0.0}
            if cmd == "warmup":
                return {"steps": 2, "last_s": self._step()}
            if cmd == "inject_delay":
                fraction = args["unit"] == "fraction"
                self.delay, self.share = (0.0, args["amount"]) if fraction else (args["amount"], 0.0)
                return {"delay_s": self.delay, "delay_fraction": self.share}
            if cmd == "time":
                self.waits = []
                times = [self._step() for _ in range(args["rounds"])]
                times[0] *= self.slow_first
                if self.waits:
                    return {"times": times, "injected_s": sum(self.waits) / len(self.waits)}
                return {"times": times}
            raise AssertionError(f"unexpected command {cmd}")
        finally:
            t.stepping.discard(self.name)

    def close(self):
        self.t.closed.append(self.name)


def _run(plan: Plan, step_s=None, b_delay=None, **fake):
    timeline = Timeline()
    step_s = step_s or {"a": 0.001, "b": 0.001}

    def factory(side, plan):
        return FakeWorker(side, timeline, step_s, **fake)

    a, b = Side(CASE, label="a"), Side(CASE, label="b", delay=b_delay)
    out = measure_pair(a, b, plan, factory=factory, clock=timeline.clock, sleep=lambda s: None)
    return out, timeline


def _turns(timeline: Timeline, plan: Plan = Plan()) -> str:
    """The sides of the timed turns after the probe (its first 2 x probe_rounds turns), as a string."""
    timed = [side for side, cmd, args in timeline.events if cmd == "time"]
    return "".join(timed[2 * plan.probe_rounds:])


def test_abba_order_strict_alternation_and_never_two_at_once():
    out, t = _run(Plan(order="abba", max_rounds=8, **ENDLESS))
    assert out.orders == ["ab", "ba"] * 4
    assert _turns(t) == "abbaabbaabbaabba"
    # warm-up: each side alone, then the probe, then the rounds; nothing before both are prepared
    cmds = [(s, c) for s, c, _ in t.events]
    # each side builds its case twice (the first build of a case in a process is biased: cnnbench/ab/engine.py)
    assert sorted(cmds[:4]) == [("a", "prepare")] * 2 + [("b", "prepare")] * 2
    assert cmds[4:10] == [("a", "warmup"), ("b", "warmup")] + [("a", "time"), ("b", "time")] * 2  # warm-up, probe
    assert sorted(t.closed) == ["a", "b"] and out.stopped == "max_rounds"


def test_builds_sets_how_often_each_side_builds_its_case_before_it_is_measured():
    for builds in (1, 3):
        _, t = _run(Plan(builds=builds, max_rounds=4, **ENDLESS))
        prepares = [s for s, c, _ in t.events if c == "prepare"]
        assert sorted(prepares) == ["a"] * builds + ["b"] * builds
        first_step = next(i for i, (_, c, _) in enumerate(t.events) if c != "prepare")
        assert first_step == 2 * builds  # every build before any step
    with pytest.raises(ValueError, match="builds must be at least 1"):
        Plan(builds=0)


def test_both_sides_workers_are_pinned_to_the_plan_cpus(monkeypatch):
    """start_worker hands plan.cpus to each side's Worker (it pins the process before its framework starts,
    through CNNBENCH_CPU_AFFINITY, which CI's baseline commit efa5114 reads too)."""
    import cnnbench.worker.client
    from cnnbench.ab.engine import start_worker

    seen = []

    class Recorder:
        def __init__(self, runtime, device, settings, **kw):
            seen.append(kw["affinity"])

    monkeypatch.setattr(cnnbench.worker.client, "Worker", Recorder)
    start_worker(Side(CASE, label="a"), Plan(cpus=(1,)))
    start_worker(Side(CASE, label="b", pythonpath="/elsewhere", cwd="/elsewhere"), Plan(cpus=(1,)))
    start_worker(Side(CASE, label="a"), Plan())
    assert seen == [[1], [1], None]


def test_random_order_is_seeded_and_balanced():
    first, _ = _run(Plan(order="random", seed=7, max_rounds=400, **ENDLESS))
    again, _ = _run(Plan(order="random", seed=7, max_rounds=400, **ENDLESS))
    other, _ = _run(Plan(order="random", seed=8, max_rounds=400, **ENDLESS))
    assert first.orders == again.orders != other.orders
    # 400 fair coins: 'ab' first between 160 and 240 times (a 5-sigma band: sqrt(400 * 0.25) = 10)
    assert 150 <= first.orders.count("ab") <= 250


def test_turn_order_table():
    rng = random.Random(0)
    assert [turn_order(i, "abba", rng) for i in range(4)] == ["ab", "ba", "ab", "ba"]


@pytest.mark.parametrize("step_s, device, k", [
    (0.0007, "cpu", 29),  # LeNet-5 inference on the reference VM: 29 steps make a 20 ms turn
    (0.025, "cpu", 1),  # ResNet-18 at 64 px: one step is already longer than 20 ms
    (0.020, "cpu", 1),
    (1e-7, "cpu", 10_000),  # capped
    (0.0001, "cuda", 10),  # GPU: a fixed count
])
def test_steps_per_turn(step_s, device, k):
    assert steps_per_turn(step_s, device, Plan()) == k


def test_first_step_of_each_turn_is_timed_but_not_counted():
    # the first step of every turn takes 5x as long; the samples never see it
    out, t = _run(Plan(max_rounds=12, **ENDLESS), step_s={"a": 0.002, "b": 0.002}, slow_first=5.0)
    assert set(out.a_samples) == {0.002} and set(out.b_samples) == {0.002}
    k = out.steps_per_round
    turns = [args["rounds"] for s, c, args in t.events if c == "time"][2 * Plan().probe_rounds:]
    assert k == 10 and set(turns) == {k + 1}


def test_stops_on_precision_once_min_rounds_are_in():
    out, _ = _run(Plan(min_rounds=10, target=0.02, budget_s=1e9), step_s={"a": 0.001, "b": 0.0012})
    assert out.stopped == "precision" and len(out.a_samples) == 10
    assert out.estimate.ratio == pytest.approx(1.2)


def test_stops_on_the_budget_of_fake_time():
    # +-30% noise per step never narrows to 0.1% within 2 s of (fake) time: the budget ends it
    out, _ = _run(Plan(target=0.001, budget_s=2.0, max_rounds=10**6), step_s={"a": 0.04, "b": 0.04}, noise=0.3)
    assert out.stopped == "budget" and out.steps_per_round == 1
    # a round: 2 sides x (1 discarded + 1) steps of 40 +- 12 ms, about 160 ms: some 12 rounds in 2 s, and
    # the rounds stop within one round of the budget
    assert 2.0 <= out.rounds_s < 2.0 + 0.16 * 1.3 and 9 <= len(out.a_samples) <= 17


def test_injected_delay_goes_to_b_only():
    out, t = _run(Plan(max_rounds=10, **ENDLESS), b_delay=(0.15, "fraction"))
    assert [s for s, c, _ in t.events if c == "inject_delay"] == ["b"]
    assert out.injected_delay_s == pytest.approx(0.00015)
    assert out.estimate.ratio == pytest.approx(1.15)


def test_process_pairs_start_fresh_workers_and_pool_rounds():
    out, t = _run(Plan(process_pairs=3, max_rounds=30, **ENDLESS))
    assert sorted(t.started) == ["a"] * 3 + ["b"] * 3 and sorted(t.closed) == sorted(t.started)
    assert out.blocks == [0] * 10 + [1] * 10 + [2] * 10 and len(out.block_estimates) == 3
    assert out.estimate.n == 30


def test_measured_builds_spread_the_rounds_over_builds_in_the_same_workers():
    """--measured-builds R: after each block of rounds but the last, both workers build the case once more
    (at the same time, nothing stepping) and warm up alone; the probe, k and the TEST-ONLY delay come
    once; every block gets its share of the rounds; the estimate pools the rounds of every block."""
    plan = Plan(measured_builds=3, max_rounds=30, **ENDLESS)
    out, t = _run(plan, b_delay=(0.15, "fraction"))
    assert sorted(t.started) == ["a", "b"] and sorted(t.closed) == ["a", "b"]  # one pair of workers
    cmds = [(side, c) for side, c, _ in t.events]
    assert sorted(cmds[:4]) == [("a", "prepare")] * 2 + [("b", "prepare")] * 2  # builds=2 before the first block
    assert [s for s, c in cmds if c == "prepare"].count("a") == 2 + 2  # ... and once more before blocks 2, 3
    assert [c for _, c in cmds].count("inject_delay") == 1
    assert out.blocks == [0] * 10 + [1] * 10 + [2] * 10 and len(out.block_estimates) == 3
    # what happens between the blocks: both rebuild, then each warms up alone, then the rounds go on
    rebuilds = [i for i, (_, c) in enumerate(cmds) if c == "prepare" and i >= 4]
    assert len(rebuilds) == 4
    for i in (rebuilds[0], rebuilds[2]):
        assert sorted(cmds[i:i + 2]) == [("a", "prepare"), ("b", "prepare")]
        assert cmds[i + 2:i + 4] == [("a", "warmup"), ("b", "warmup")]
    probes = [c for _, c in cmds[4:]].count("time") - 2 * 30
    assert probes == 2 * plan.probe_rounds  # probed once, in the first block only
    assert out.estimate.n == 30 and out.estimate.ratio == pytest.approx(1.15)
    with pytest.raises(ValueError, match="measured_builds must be at least 1"):
        Plan(measured_builds=0)


def test_measured_builds_share_the_time_budget():
    # 3 builds of 2 s of (fake) rounds each: about 6 s of rounds in all, as one build of 6 s would take
    out, _ = _run(Plan(measured_builds=3, target=0.001, budget_s=6.0, max_rounds=10**6),
                  step_s={"a": 0.04, "b": 0.04}, noise=0.3)
    assert 6.0 <= out.rounds_s < 6.0 + 3 * 0.16 * 1.3 and set(out.blocks) == {0, 1, 2}


def test_a_side_that_fails_to_build_closes_both():
    from cnnbench.worker.client import WorkerError

    timeline = Timeline()
    a, b = Side(CASE, label="a"), Side(CASE, label="b")
    with pytest.raises(WorkerError):
        measure_pair(a, b, Plan(), factory=lambda s, p: FakeWorker(s, timeline, {"a": 1e-3, "b": 1e-3},
                                                                   fail_prepare="b"), clock=timeline.clock)
    assert sorted(timeline.closed) == ["a", "b"]
    assert not [c for _, c, _ in timeline.events if c in ("warmup", "time")]  # nothing was stepped


def test_a_pool_reuses_both_workers_for_pairs_that_start_alike():
    from cnnbench.ab.engine import WorkerPool

    timeline = Timeline()

    def factory(side, plan):
        return FakeWorker(side, timeline, {"a": 1e-3, "b": 1e-3})

    pool = WorkerPool()
    plan = Plan(max_rounds=4, **ENDLESS)
    other = Case("resnet18", "torch", "train", 2, "cpu", 64)
    for case, delay in ((CASE, (0.15, "fraction")), (other, None)):  # two cases, one torch pair of workers
        measure_pair(Side(case, label="a"), Side(case, label="b", delay=delay), plan, factory=factory,
                     clock=timeline.clock, pool=pool)
    assert timeline.started == ["a", "b"] and timeline.closed == []
    prepared = [args["case"]["model"] for side, c, args in timeline.events if c == "prepare"]
    assert sorted(prepared) == ["lenet5"] * 4 + ["resnet18"] * 4  # each case built twice on each side
    # the second case starts by clearing the first one's delay on B
    delays = [(args["amount"], args["unit"]) for side, c, args in timeline.events if c == "inject_delay"]
    assert delays == [(0.15, "fraction"), (0.0, "s")]
    keras = Case("lenet5", "tf", "inference", 2, "cpu", 28, layout="nhwc")  # another runtime: fresh workers
    measure_pair(Side(keras, label="a"), Side(keras, label="b"), plan, factory=factory, clock=timeline.clock,
                 pool=pool)
    assert timeline.started == ["a", "b", "a", "b"] and sorted(timeline.closed) == ["a", "b"]
    pool.close()
    assert sorted(timeline.closed) == ["a", "a", "b", "b"]
