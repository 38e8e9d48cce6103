"""Several worker processes per case, interleaved, and measured again before anything is judged.

A worker process draws a bias of its own (memory layout, thread placement, what the kernel did at
its start: about 5.7% per process on the 2-core VMs, docs/history.md), and one busy moment can slow
every round of one process. One process per case cannot tell either from the model, so every
single-device case of ``pytest bench`` is measured in ``--processes`` worker processes (default 2),
as asv's ``processes`` and pyperf's worker processes do:

* **interleaved**: pytest runs each case once (its first process); then pass 2 measures every case
  again, then pass 3, ... (asv's ``--interleave-processes``), so a case's processes are minutes apart
  and one slow moment reaches one process of a case, not all of them. Every process builds, warms up
  and times its own rounds; later processes time as many rounds as the first, so each weighs the same.
* **the machine's load is measured**: while a process times its rounds, the CPU time that *other*
  processes used (``/proc/stat`` less the worker's and the harness's own) and the hypervisor's steal
  time (``cnnbench.core.procfs.LoadMeter``). A process timed while they took more than BUSY_CORES of
  the machine (``--busy-cores``) does not count while enough quiet processes exist; the case is measured again instead.
* **re-measured, then judged**: a case gets another process (up to ``--max-processes`` quiet ones: a busy
  process does not use one up, ``has_room``) when its
  counted processes disagree by more than this run's per-process noise (NOISE_FACTOR times the median
  spread between two processes of the run's cases, at least MIN_DISAGREEMENT) and no ``--processes`` of
  them agree within it yet (``quorum``: one outlying process out-voted), or when a plausibility
  rule doubts it (``cnnbench.reports.plausibility``: an inference step slower than its training step, a
  time per FLOP far from its like-built siblings'). Only what survives is flagged, with the processes'
  medians as evidence.
* **undecided comparisons measured again**: then, where a case's comparison with the reference runtime
  names no side (its interval holds 1), the side whose next process narrows the interval more gets one
  while it has fewer than ``--max-processes``, so that the verdict rests on as many processes as the run
  allows wherever two are not enough to tell. A comparison whose interval lies within +-MIN_DISAGREEMENT
  is settled as it is (no side is worth naming there), and so is one that the processes still allowed
  could not decide were its ratio and spread to stay as they are (``decidable``: a futility rule, as
  sequential trials stop early).

The row stays one pytest-benchmark entry per case: the counted processes' rounds pooled, in process
order, with ``extra_info["process_rounds"]`` saying how many each gave (``cnnbench.core.stats.ratio_of_medians``
cuts them back into processes) and ``extra_info["processes"]`` holding each process's start time, median,
load and whether it counted.

Each row records the run's spread between processes of a case (``run_process_sd``, ``run_process_df``:
``cnnbench.core.stats.process_spread``), the prior by which the verdict's interval moderates each side's
own spread between processes.

This module is the policy (which processes count, why a case needs another); the passes themselves are
``cnnbench.harness.harness.replicate``'s.
"""
from __future__ import annotations

import math
import statistics

from cnnbench.harness.state import BUSY_CORES, HarnessState  # BUSY_CORES: the default of --busy-cores

MIN_DISAGREEMENT = 0.05  # processes of one case this far apart are always worth another look...
NOISE_FACTOR = 3.0  # ... and so is a spread this many times the run's median spread between two processes
DEFAULT_PROCESSES, FAST_PROCESSES, RIGOROUS_PROCESSES = 2, 1, 4
BUSY_ALLOWANCE = 2  # processes in all, busy ones included, at most this many times --max-processes


def is_busy(load: dict | None, threshold: float = BUSY_CORES) -> bool:
    """Whether a process's timed rounds ran while other processes (or the hypervisor) took more than
    ``threshold`` cores of the machine (``--busy-cores``, default BUSY_CORES); False where the load could not be
    read (not Linux)."""
    return bool(load) and load["other_cores"] + load["steal_cores"] > threshold


def has_room(processes: list[dict], most: int) -> bool:
    """Whether a case may have another process: fewer than ``most`` that were not timed while the machine was
    busy (a busy process is replaced, not counted against the case: a hog must not leave a case fewer quiet
    processes than a quiet run gives it), and fewer than BUSY_ALLOWANCE times ``most`` in all, so that a
    machine busy throughout still ends the run."""
    spent = sum(1 for p in processes if not p["record"].get("busy"))
    return spent < most and len(processes) < BUSY_ALLOWANCE * most


def with_rounds(processes: list[dict]) -> list[dict]:
    return [p for p in processes if p.get("times")]


def counted(processes: list[dict], wanted: int) -> list[dict]:
    """The processes whose rounds make the row: every quiet one; busy ones only while fewer than
    ``wanted`` quiet ones exist (the least busy first), so that a busy machine still gives a row, marked."""
    measured = with_rounds(processes)
    quiet = [p for p in measured if not p["record"]["busy"]]
    if len(quiet) >= min(wanted, len(measured)):
        return quiet or measured
    busy = sorted((p for p in measured if p["record"]["busy"]),
                  key=lambda p: (p["record"]["other_cores"] or 0) + (p["record"]["steal_cores"] or 0))
    chosen = {id(p) for p in quiet + busy[:wanted - len(quiet)]}
    return [p for p in measured if id(p) in chosen]  # in the order measured


def spread(processes: list[dict]) -> float | None:
    """max / min - 1 of the processes' medians; None with fewer than two."""
    medians = [p["record"]["median_s"] for p in processes]
    return max(medians) / min(medians) - 1 if len(medians) > 1 else None


def quorum(processes: list[dict], wanted: int, threshold: float) -> bool:
    """Whether ``wanted`` of the processes agree within ``threshold`` (their medians' spread): then one
    outlying process has been out-voted and another process would not change the picture; the row keeps
    every counted process all the same, and the interval and the verdict see the outlier."""
    medians = sorted(p["record"]["median_s"] for p in processes)
    k = max(wanted, 2)  # agreeing processes needed; only once more than ``wanted`` were measured
    return len(medians) > wanted and any(medians[i + k - 1] / medians[i] - 1 <= threshold
                                         for i in range(len(medians) - k + 1))


def row_fields(processes: list[dict], state: HarnessState, case_id: str) -> dict:
    """What a row records of its processes (module docstring)."""
    use = counted(processes, state.processes_wanted)
    chosen = {id(p) for p in use}
    records = []
    for p in processes:
        record = dict(p["record"])
        record["counted"] = id(p) in chosen
        records.append(record)
    busy_counted = [p for p in use if p["record"]["busy"]]
    return {
        "processes": records,
        "processes_counted": len(use),
        "process_rounds": [len(p["times"]) for p in use],
        "process_medians_s": [p["record"]["median_s"] for p in use],
        "process_spread": spread(use),
        "remeasured": list(state.remeasured.get(case_id, [])) or None,
        "timed_while_busy": (f"{len(busy_counted)} of its {len(use)} processes were timed while other processes "
                             f"took more than {state.busy_cores:g} cores, and no quiet process replaced them")
        if busy_counted else None,
    }


def noise(state: HarnessState) -> dict | None:
    """This run's per-process noise: the median spread between the counted processes of its cases (at
    least two each), and the spread above which a case's processes are taken to disagree."""
    spreads = [s for cid in state.rows
               if (s := spread(counted(state.processes[cid], state.processes_wanted))) is not None]
    if not spreads:
        return None
    typical = statistics.median(spreads)
    return {"median_spread": typical, "cases": len(spreads),
            "threshold": max(MIN_DISAGREEMENT, NOISE_FACTOR * typical)}


def doubts(state: HarnessState) -> dict[str, list[str]]:
    from cnnbench.reports.plausibility import of_benchmarks

    rows = [m.as_dict(include_data=True) for m in state.rows.values()]
    return of_benchmarks(rows)


def spread_of_run(state: HarnessState) -> tuple[float, float] | None:
    """``cnnbench.core.stats.process_spread`` of the counted processes of every case so far."""
    from cnnbench.core.stats import process_spread

    return process_spread([p["record"]["median_s"] for p in counted(state.processes[cid], state.processes_wanted)]
                          for cid in state.rows)


def undecided(state: HarnessState) -> dict[str, str]:
    """Case id -> why it needs another process because its comparison with the reference runtime names no
    side yet (module docstring). Of the two cases, the one whose next process narrows the interval more (the
    side with the larger share of the log ratio's variance per process: Neyman's allocation); a comparison
    that the processes still allowed could not decide at its present ratio and spread is left as it is."""
    from cnnbench.reports.verdict import comparisons

    found: dict[str, str] = {}
    rows = [m.as_dict(include_data=True) for m in state.rows.values()]
    for ref, other, est, side in comparisons(rows):
        if side != "tie" or not est.has_interval:
            continue
        if 1 - MIN_DISAGREEMENT <= est.low and est.high <= 1 + MIN_DISAGREEMENT:
            continue  # about equal: within what a process's own bias can be
        room = [cid for cid in (ref, other) if cid in state.processes
                and has_room(state.processes[cid], state.max_processes)]
        if est.parts is not None and room:
            if not decidable(est, state.max_processes):
                continue
            (na, nb), ((va, _), (vb, _)) = est.processes, est.parts
            gain = {ref: va / (na + 1), other: vb / (nb + 1)}  # how much the next process shrinks the variance
            room = [max(room, key=gain.get)]
        why = (f"its comparison {other} / {ref} names no side: {est.ratio:.2f} [{est.low:.2f}, {est.high:.2f}]"
               + (", its processes disagree" if est.processes_disagree else ""))
        for cid in room:
            found.setdefault(cid, why)
    return found


def decidable(est, most: int) -> bool:
    """Whether ``most`` processes a side could make the interval exclude 1, were the ratio and each side's
    spread between processes to stay as they are: each side's variance over ``most`` processes instead of its
    present ones, and its degrees of freedom that many more (cnnbench.core.stats.t_half_width)."""
    from cnnbench.core.stats import t_half_width

    (na, nb), ((va, da), (vb, db)) = est.processes, est.parts
    ma, mb = max(most, na), max(most, nb)
    return abs(math.log(est.ratio)) > t_half_width(va * na / ma, da + ma - na, vb * nb / mb, db + mb - nb)


def why_another(case_id: str, state: HarnessState, threshold: float | None, doubts: dict) -> str | None:
    """Why ``case_id`` needs another worker process now, or None (module docstring)."""
    processes = state.processes[case_id]
    if not has_room(processes, state.max_processes):
        return None
    measured = with_rounds(processes)
    quiet = [p for p in measured if not p["record"]["busy"]]
    if len(quiet) < state.processes_wanted:
        if len(measured) < state.processes_wanted:
            return f"process {len(processes) + 1} of {state.processes_wanted}"
        return (f"a process was timed while the machine was busy (other processes and the hypervisor took more "
                f"than {state.busy_cores:g} cores)")
    use = counted(processes, state.processes_wanted)
    gap = spread(use)
    if threshold is not None and gap is not None and gap > threshold and not quorum(use, state.processes_wanted,
                                                                                    threshold):
        medians = ", ".join(f"{1e3 * p['record']['median_s']:.3g}" for p in use)
        return (f"its processes disagree: medians {medians} ms "
                f"({100 * gap:.0f}% apart, this run's noise threshold {100 * threshold:.0f}%)")
    if case_id in doubts:
        return "implausible: " + "; ".join(doubts[case_id])
    return None
