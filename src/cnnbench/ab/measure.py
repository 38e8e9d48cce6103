"""The A/B engine's run over a selection of pairs: each pair measured alternately in its two workers
(``cnnbench.ab.engine``), pairs of the same workers one after the other, and a case that may have
regressed measured again in fresh workers until its verdict is settled. ``cnnbench ab`` and
``cnnbench bisect`` both run their pairs through ``measure_all``."""
from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field

from cnnbench.ab import output


def _why_not(pair) -> str | None:
    """Why a pair cannot run here (a missing runtime, too small an input), checked before starting it."""
    from cnnbench.zoo.dispatch import runtime_missing
    from cnnbench.core.errors import InputTooSmallError
    from cnnbench.core.build_args import check_build_args

    if pair.skip:
        return pair.skip
    for side in (pair.a, pair.b):
        missing = runtime_missing(side.case.runtime)
        if missing:
            return missing
    try:
        c = pair.a.case
        check_build_args(c.model, None, c.input_size, dict(c.options))
    except InputTooSmallError as exc:
        return str(exc)
    return None


@dataclass
class Measured:
    """What a run of pairs has given so far: kept by the caller, so that an interrupted run still has it."""
    rows: list = field(default_factory=list)  # (the pair's place in the selection, its row)
    skipped: list = field(default_factory=list)
    unfinished: list = field(default_factory=list)

    def in_order(self) -> list[dict]:
        return [row for _, row in sorted(self.rows, key=lambda jr: jr[0])]



def measure_all(opts: dict, pairs: list, *, log=None, into: Measured | None = None) -> tuple[list, list, list]:
    """Measure every pair in turn; one progress line each. Returns (rows, skipped, unfinished); ``into``
    receives them as they come (an interrupt leaves there what was measured)."""
    from cnnbench.ab.engine import WorkerPool, side_key
    from cnnbench.core.paired_stats import may_have_regressed, stored_estimate

    log = log or (lambda line: print(line, file=sys.stderr, flush=True))
    found = into if into is not None else Measured()
    rows, skipped, unfinished = found.rows, found.skipped, found.unfinished
    # pairs whose workers start alike run one after the other, on the same two workers (WorkerPool);
    # the rows keep the selection's order
    first_seen: dict = {}
    for pair in pairs:
        first_seen.setdefault((side_key(pair.a), side_key(pair.b)), len(first_seen))
    order = sorted(range(len(pairs)), key=lambda j: first_seen[(side_key(pairs[j].a), side_key(pairs[j].b))])
    pool = WorkerPool()
    try:
        for i, j in enumerate(order, 1):
            row = _measure_one(opts, pairs[j], i, len(pairs), pool, skipped, unfinished, log)
            if row is not None:
                rows.append((j, row))
    finally:
        pool.close()
    for j, row in rows:
        if opts.get("confirm") and opts["kind"] != "frameworks" and may_have_regressed(
                stored_estimate(row), opts["threshold"]):
            _confirm(opts, pairs[j], row, unfinished, log)
    return found.in_order(), skipped, unfinished


CONFIRMATION_FIELDS = ("rounds", "steps_per_round", "a_median_s", "b_median_s", "ratio", "ci_low", "ci_high",
                       "p_value", "stopped", "seconds", "decision")



def _confirm(opts: dict, pair, row: dict, unfinished: list, log) -> None:
    """A case that may have regressed (``cnnbench.core.paired_stats.may_have_regressed``) measured again, up to
    ``opts["confirm"]`` times, each in a fresh pair of worker processes (the first pass shares its workers
    between the cases of a runtime): two processes, or two builds, of the same code can differ by several
    percent for their whole life, every round agreeing, which no interval over rounds sees. The row keeps
    its first measurement, lists the others and their ``pooled_ratio``; its decision is
    ``confirmed_decision``'s. No more pairs are run once the verdict is settled (``confirmation_settled``)."""
    from cnnbench.ab.engine import WorkerPool
    from cnnbench.core.paired_stats import confirmation_settled, confirmed_decision, pooled_ratio, stored_estimate

    row["first_decision"], row["confirmations"] = row["decision"], []
    first = stored_estimate(row)
    for k in range(1, opts["confirm"] + 1):
        pool, lost = WorkerPool(), []
        try:
            again = _measure_one(opts, pair, k, opts["confirm"], pool, lost, lost, log,
                                 label=f"confirm {pair.pair_id}")
        finally:
            pool.close()
        if again is None:  # a confirmation that could not be measured leaves the pair unfinished
            unfinished.extend({"pair_id": pair.pair_id, "reason": f"confirmation {k}: {x['reason']}"} for x in lost)
            return
        row["confirmations"].append({key: again[key] for key in CONFIRMATION_FIELDS})
        if confirmation_settled(first, [stored_estimate(c) for c in row["confirmations"]], opts["threshold"]):
            break
    fresh = [stored_estimate(c) for c in row["confirmations"]]
    row["pooled_ratio"] = pooled_ratio([row["ratio"], *(e.ratio for e in fresh)])
    row["decision"] = confirmed_decision(first, fresh, opts["threshold"])



def _measure_one(opts: dict, pair, i: int, total: int, pool, skipped: list, unfinished: list, log,
                 label: str | None = None):
    from cnnbench.ab.engine import measure_pair
    from cnnbench.worker.client import WorkerDied, WorkerError

    label = label or pair.pair_id  # what the progress line names
    why = _why_not(pair)
    if why:
        skipped.append({"pair_id": pair.pair_id, "reason": why})
        log(output.progress_line(i, total, None, label, f"skipped: {why}"))
        return None
    start = time.perf_counter()
    try:
        outcome = measure_pair(pair.a, pair.b, opts["plan"], pool=pool)
    except WorkerError as exc:
        reason = f"{exc.error_type}: {exc.message}"
        (skipped if exc.kind in ("oom", "input_too_small", "unsupported") else unfinished).append(
            {"pair_id": pair.pair_id, "reason": reason})
        log(output.progress_line(i, total, None, label, f"not measured: {reason[:200]}"))
        return None
    except WorkerDied as exc:
        unfinished.append({"pair_id": pair.pair_id, "reason": str(exc)})
        log(output.progress_line(i, total, None, label, f"not measured: {str(exc)[:200]}"))
        return None
    row = output.case_row(pair, outcome, opts["kind"], opts["threshold"])
    row["seconds"] = round(time.perf_counter() - start, 2)
    log(output.progress_line(i, total, row, label))
    return row
