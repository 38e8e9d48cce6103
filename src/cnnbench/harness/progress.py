"""One line per finished case, with an estimate of the time left.

The estimate is what the cases still to run are expected to cost, from what each of them is, not
the average of the first cases (the first cases are LeNet-5's; a run's big models come later):

* its **step time**: a fixed cost per step plus the case's analytic FLOPs (``cnnbench.core.flops.step_cost``
  for its model, mode and batch) at its runtime's rate. The fixed cost is the shortest step its runtime
  has taken (LeNet-5 inference: launching the ops, not computing them). The rate is the finished cases'
  FLOPs over their steps less that fixed cost, counting only cases whose steps are FLOP-bound (at least
  FLOP_BOUND times the fixed cost); until one has finished, PRIOR_FRACTION of the runtime's GEMM peak
  (measured in the first case's worker), which is about what a large CNN step reaches on a CPU (VGG
  training: about 20% on the 2-core VM). A small model's speed per FLOP says nothing about a large one's:
  taking it as the rate made the first estimate of a ``make bench`` run 87 hours.
* its **steps**: as many as the harness will take at that step time (warm-up, ``rounds_for``'s timed
  rounds, the memory step; for time to accuracy, every step of its trainings at most);
* its runtime's **start-up**: the finished cases' wall time minus their stepping (worker start,
  build, first step and compile, the GEMM peak), on average.

A runtime with no finished case yet borrows from the others. With several worker processes per case
(``cnnbench.harness.replication``), each later process of a case is expected to take what the case's
first process took, measured, and the first pass's estimate adds that many more of each case.
Quiet with ``-q``.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cnnbench.harness.journal import Journal
    from cnnbench.harness.state import HarnessState

TTA_TRAIN_IMAGES = 1347  # cnnbench.train.digits: the fixed split's training images (its docstring)
PRIOR_FRACTION = 0.2  # of the GEMM peak: a large CNN step's rate before one has been measured
FLOP_BOUND = 10  # a step this many times the runtime's fixed cost is taken to be FLOP-bound


def _duration(seconds: float) -> str:
    """``42 s``, ``6 min 05 s``, ``1 h 03 min``: rounded once, then split (never "5 min 60 s")."""
    whole = math.floor(max(0.0, seconds) + 0.5)
    if whole < 60:
        return f"{whole} s"
    if whole < 3600:
        return f"{whole // 60} min {whole % 60:02d} s"
    minutes = math.floor(max(0.0, seconds) / 60 + 0.5)
    return f"{minutes // 60} h {minutes % 60:02d} min"


@dataclass(frozen=True)
class Finished:
    """What a finished case tells about the cases left: its runtime's speed and start-up."""

    kind: tuple[str, bool]  # (runtime, data-parallel)
    flops: float  # of one step; 0 for a case that is not a step (time to accuracy)
    step_s: float | None  # its median step
    startup_s: float  # wall time minus stepping


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


class Progress:
    def __init__(self, state: HarnessState, quiet: bool = False):
        self.state, self.quiet = state, quiet
        self.journal: Journal | None = None  # rewritten after each case (the plugin sets it at session start)
        self.order: list[str] = []
        self.done: dict[str, str] = {}  # case id -> outcome
        self.finished: list[Finished] = []  # the passed cases
        self._flops_of: dict[str, float] = {}  # case id -> FLOPs of one step (_flops)
        self.tr = None
        self.started = time.monotonic()
        self.walls: dict[str, float] = {}  # case id -> wall seconds of its first (pytest-run) process
        self.planned: list[str] = []  # later processes still to measure, one entry each (replication)
        self.replicas_done = 0

    def start(self, ids: list[str], terminal=None) -> None:
        self.order = [i for i in ids if i in self.state.by_id]
        self.tr = terminal
        self.started = time.monotonic()

    @staticmethod
    def _kind(case) -> tuple[str, bool]:
        return case.runtime, case.distributed

    def _flops(self, case_id: str) -> float:
        """FLOPs of one step of the case (per worker for a data-parallel job; a LeNet-5 training step at
        the training batch for time to accuracy); 0 where the case is skipped at once. Computed once per
        case: the estimate asks for every case left after every case."""
        if case_id not in self._flops_of:
            self._flops_of[case_id] = self._step_flops(case_id)
        return self._flops_of[case_id]

    def _step_flops(self, case_id: str) -> float:
        from cnnbench.core.flops import step_cost

        case = self.state.by_id[case_id]
        mode = "train" if case.mode not in ("inference", "train") else case.mode
        try:
            return float(step_cost(case.model, mode, case.batch, input_size=case.input_size,
                                   **dict(case.options)).flops)
        except Exception:  # too small an input: the case is skipped at once, no time to predict
            return 0.0

    def _steps(self, case, step_s: float) -> float:
        """How many steps the harness takes for ``case`` at this step time."""
        from cnnbench.harness.harness import rounds_for

        profile = self.state.profile
        if case.mode not in ("inference", "train"):  # time to accuracy: every epoch, at most
            from cnnbench.train.loop import DEFAULTS

            per_epoch = math.ceil(TTA_TRAIN_IMAGES / DEFAULTS["batch"])
            return profile.tta_rounds * DEFAULTS["epochs"] * per_epoch
        warmup = max(profile.warmup_rounds, math.ceil(profile.warmup_seconds / max(step_s, 1e-9)))
        return warmup + rounds_for(profile, step_s, self.state.processes_wanted) + 1  # + the memory step

    def _pick(self, case, values) -> list[Finished]:
        """The finished cases to learn from: of the same kind, else of the same runtime, else all."""
        kind = self._kind(case)
        for chosen in ([f for f in values if f.kind == kind], [f for f in values if f.kind[0] == kind[0]]):
            if chosen:
                return chosen
        return list(values)

    def _gemm_peak(self, case) -> float | None:
        """The best GEMM FLOP/s measured so far for the case's runtime and device (any math mode)."""
        found = [v for k, v in self.state.gemm_peak.items() if k.startswith(f"{case.runtime}:{case.device}:")]
        return max(found) if found else None

    def step_model(self, case) -> tuple[float, float]:
        """(fixed seconds per step, FLOP/s) of ``case``'s runtime, from the finished cases (module docstring)."""
        like = self._pick(case, [f for f in self.finished if f.step_s is not None and f.flops > 0])
        fixed = min(f.step_s for f in like)
        bound = [f for f in like if f.step_s >= FLOP_BOUND * fixed]
        if bound:
            return fixed, sum(f.flops for f in bound) / sum(f.step_s - fixed for f in bound)
        peak = self._gemm_peak(case)
        if peak:
            return fixed, PRIOR_FRACTION * peak
        return fixed, sum(f.flops for f in like) / sum(f.step_s for f in like)  # no peak known: what there is

    def expected_s(self, case_id: str) -> float | None:
        """The seconds ``case_id`` is expected to take, from the cases finished so far; None before any."""
        case = self.state.by_id[case_id]
        if not any(f.step_s is not None and f.flops > 0 for f in self.finished):
            return None
        flops = self._flops(case_id)
        if flops <= 0:
            return 0.0
        fixed, rate = self.step_model(case)
        step = fixed + flops / rate
        startup = _mean([f.startup_s for f in self._pick(case, self.finished)])
        return startup + step * self._steps(case, step)

    def _replicated(self, case_id: str) -> bool:
        case = self.state.by_id[case_id]
        return case.mode in ("inference", "train") and not case.distributed

    def eta(self) -> float | None:
        """Seconds left: the first pass's cases still to run, then every later process of every case."""
        if self.planned:
            return sum(self._process_s(i) for i in self.planned)
        left = [i for i in self.order if i not in self.done]
        expected = {i: self.expected_s(i) for i in left}
        if None in expected.values():
            return None if left else 0.0
        later = max(0, self.state.processes_wanted - 1)
        again = sum(w for i, w in self.walls.items() if self._replicated(i) and self.done.get(i) == "passed")
        again += sum(e for i, e in expected.items() if self._replicated(i))
        return sum(expected.values()) + later * again

    def _process_s(self, case_id: str) -> float:
        """A later process of ``case_id``: what its first process took."""
        return self.walls.get(case_id, 0.0)

    def plan_replication(self, ids: list[str]) -> None:
        self.planned = list(ids)

    def process_done(self, case_id: str, measured: dict, reason: str) -> None:
        """One later worker process of a case measured (cnnbench.harness.replication)."""
        if case_id in self.planned:
            self.planned.remove(case_id)
        self.replicas_done += 1
        if self.quiet or self.tr is None:
            return
        record = measured["record"]
        processes = self.state.processes.get(case_id, [])
        if record.get("failed"):
            what = f"failed: {record['failed'][:100]}"
        else:
            medians = ", ".join(f"{1e3 * p['record']['median_s']:.2f}" for p in processes if p.get("times"))
            what = f"{1e3 * record['median_s']:9.2f} ms  (processes {medians} ms)"
            if record["busy"]:
                what += f"  busy: others {record['other_cores']:.2f} + steal {record['steal_cores']:.2f} cores"
        why = "" if reason.startswith("process ") else f"  again: {reason[:100]}"
        eta = self.eta()
        left = f"  ETA {_duration(eta)}" if self.planned else ""
        self.tr.ensure_newline()
        self.tr.write_line(f"[p{len(processes)} +{self.replicas_done}] {case_id:<44} {what}"
                           f"  ({_duration(record.get('wall_s', 0.0))}){left}{why}")

    def _learn(self, case_id: str, wall: float) -> None:
        result = self.state.results.get(case_id) or {}
        if "stepping_s" not in result:
            return
        case = self.state.by_id[case_id]
        self.finished.append(Finished(self._kind(case), self._flops(case_id) if "median_s" in result else 0.0,
                                      result.get("median_s"), max(0.0, wall - result["stepping_s"])))

    def case_done(self, report) -> None:
        case_id = getattr(report, "nodeid", "")
        case_id = case_id[case_id.find("[") + 1:-1] if "[" in case_id else case_id
        if case_id not in self.state.by_id or case_id in self.done:
            return
        outcome = "skipped" if report.skipped else ("failed" if report.failed else "passed")
        self.done[case_id] = outcome
        wall = getattr(report, "duration", 0.0)
        self.walls[case_id] = wall
        if outcome == "passed":
            self._learn(case_id, wall)
        if self.journal is not None:
            self.journal.write()
        if self.quiet or self.tr is None:
            return
        n, total = len(self.done), len(self.order)
        result = self.state.results.get(case_id) or {}
        if outcome == "passed" and "median_s" in result:
            what = f"{1e3 * result['median_s']:9.2f} ms  {result.get('images_per_s', 0):10.1f} img/s"
        elif outcome == "passed":
            what = result.get("summary", "done")  # a LoadGen scenario case's: its validity and figure
        else:
            reason = report.longrepr[2] if outcome == "skipped" and isinstance(report.longrepr, tuple) else \
                str(getattr(report, "longreprtext", "") or "").strip().splitlines()[-1:] or [""]
            reason = reason if isinstance(reason, str) else reason[0]
            what = f"{outcome}: {reason.removeprefix('Skipped: ')[:120]}"
        eta = self.eta()
        left = "" if n == total else (f"  ETA {_duration(eta)}" if eta is not None else "")
        self.tr.ensure_newline()
        self.tr.write_line(f"[{n}/{total}] {case_id:<44} {what}  ({_duration(wall)}){left}")

    def mark_not_run(self) -> None:
        """Cases that never reported (the session was interrupted) are unfinished, with why."""
        why = self.state.interrupted or "an interrupt"
        known = {u["id"] for u in self.state.unfinished}
        for case_id in self.order:
            if case_id not in self.done and case_id not in known:
                self.state.unfinished.append({"id": case_id, "reason": f"not run: the session ended first ({why})"})
