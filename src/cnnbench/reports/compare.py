"""Run-to-run comparison: exact metrics gated exactly, timings by statistics, memory by a threshold.

A timing regression needs both a ratio of medians above 1 + threshold and a Mann-Whitney p-value
below alpha on the raw rounds, so a noisy machine does not raise false alarms and a small real
slowdown with few rounds is not called significant. Timings from different machines are not compared
unless asked (``cross_machine``), and then only after dividing out each machine's measured GEMM peak.
"""
from __future__ import annotations

import fnmatch
import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from cnnbench.core import callgrind
from cnnbench.core.stats import mann_whitney_p, ratio_of_medians
from cnnbench.reports.errors import ReportError
from cnnbench.reports.load import Run
from cnnbench.reports.tidy import newest_per_case, raw_rounds, results_frame, runs_in_order

EXACT_METRICS = ("params", "params_with_buffers", "macs", "flops", "analytic_memory_bytes")
KEY = ["case_id", "input_size"]

OK, REGRESSION, IMPROVEMENT, INVALID = "ok", "regression", "improvement", "invalid"


@dataclass(frozen=True)
class Thresholds:
    time: float = 0.10  # a slowdown must exceed 10% ...
    alpha: float = 0.01  # ... and be significant at this level
    memory: float = 0.05  # measured peak memory: relative change that counts


# option -> (attribute, test, what would be right); one wording for every command that takes them
_THRESHOLD_RULES = {
    "--time-threshold": ("time", lambda v: v >= 0, "a finite number >= 0 (0.10 = 10% slower)"),
    "--memory-threshold": ("memory", lambda v: v >= 0, "a finite number >= 0 (0.05 = 5% more memory)"),
    "--alpha": ("alpha", lambda v: 0 < v < 1, "a significance level between 0 and 1, exclusive (0.01)"),
}


def checked_thresholds(**given: float) -> Thresholds:
    """Thresholds from command-line values (``time=``, ``alpha=``, ``memory=``); a NaN, inf or
    out-of-range value raises ReportError, with the same message whichever command was given it."""
    for option, (attr, test, right) in _THRESHOLD_RULES.items():
        if attr in given:
            v = given[attr]
            if not (isinstance(v, (int, float)) and math.isfinite(v) and test(v)):
                raise ReportError(f"{option} must be {right}, got {v}")
    return Thresholds(**given)


@dataclass
class CaseComparison:
    case_id: str
    input_size: int | None
    status: str = "ok"  # ok | regression | improvement | changed (allowed) | exact ok
    exact_changes: list[str] = field(default_factory=list)  # "params 11689512 -> 11689513"
    exact_failures: list[str] = field(default_factory=list)  # the changes not allowed
    base_median_s: float | None = None
    current_median_s: float | None = None
    time_ratio: float | None = None
    time_ci_low: float | None = None
    time_ci_high: float | None = None
    time_p: float | None = None
    time_status: str = "not compared"
    memory_change: float | None = None
    memory_status: str = "not compared"
    instructions_change: float | None = None  # Callgrind's count of a step (pytest bench --instructions)
    instructions_status: str = "not compared"
    notes: list[str] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        """A regression, or a timing/memory that cannot be rated (NaN/inf): a gate must not pass it."""
        return bool(self.exact_failures) or bool(
            {REGRESSION, INVALID} & {self.time_status, self.memory_status, self.instructions_status})

    @property
    def flagged_by(self) -> list[str]:
        """What made the status: "exact", "time", "memory" (a case can be slower and leaner at once)."""
        if self.status not in (REGRESSION, IMPROVEMENT, INVALID):
            return []
        exact = ["exact"] if self.status == REGRESSION and self.exact_failures else []
        return exact + [kind for kind, st in (("time", self.time_status), ("memory", self.memory_status),
                                              ("instructions", self.instructions_status)) if st == self.status]

    @property
    def label(self) -> str:
        """The status with what flagged it, e.g. "improvement (memory)" for a case whose time did not gate."""
        return f"{self.status} ({', '.join(self.flagged_by)})" if self.flagged_by else self.status


@dataclass
class Comparison:
    cases: list[CaseComparison]
    only_in_baseline: list[str]
    only_in_current: list[str]
    same_machine: bool
    cross_machine: bool
    timing_compared: bool
    baseline_machine: str
    current_machine: str
    thresholds: Thresholds
    notes: list[str] = field(default_factory=list)
    allow_missing: bool = False  # a baseline case absent from the current run fails unless this is set
    missing_reasons: dict[str, str] = field(default_factory=dict)  # case -> why the current run lacks it

    @property
    def regressions(self) -> list[CaseComparison]:
        """Cases that fail: regressions and cases whose timing or memory is not a finite number."""
        return [c for c in self.cases if c.failed]

    @property
    def missing_fails(self) -> bool:
        return bool(self.only_in_baseline) and not self.allow_missing

    @property
    def exit_status(self) -> int:
        return 1 if self.regressions or self.missing_fails else 0


def _allowed(allow: list[str], case_id: str, model: str, metric: str) -> bool:
    for pattern in allow:
        target, _, want_metric = pattern.partition(":")
        if want_metric:  # "resnet50:params" or "resnet50-torch-*:macs"
            if fnmatch.fnmatchcase(metric, want_metric) and (
                    fnmatch.fnmatchcase(model, target) or fnmatch.fnmatchcase(case_id, target)):
                return True
        elif target in EXACT_METRICS:  # "params": any change of params
            if target == metric:
                return True
        elif fnmatch.fnmatchcase(model, target) or fnmatch.fnmatchcase(case_id, target):
            return True
    return False


def _num(v):
    return None if v is None or (isinstance(v, float) and math.isnan(v)) or pd.isna(v) else v


def compare_runs(baseline: list[Run], current: list[Run], *, thresholds: Thresholds = Thresholds(),
                 allow_changes: list[str] | None = None, cross_machine: bool = False,
                 allow_missing: bool = False) -> Comparison:
    """Compare saved runs; runs that share no case at all raise ReportError (nothing would be checked)."""
    base_df, cur_df = results_frame(baseline), results_frame(current)
    comp = compare_frames(base_df, cur_df, thresholds=thresholds, allow_changes=allow_changes,
                          cross_machine=cross_machine)
    if not comp.cases:
        def some(ids):
            return ", ".join(sorted(ids)[:2]) + (", ..." if len(ids) > 2 else "")
        raise ReportError(
            f"nothing to compare: the baseline ({len(comp.only_in_baseline)} cases, e.g. "
            f"{some(comp.only_in_baseline)}) and the current run ({len(comp.only_in_current)} cases, e.g. "
            f"{some(comp.only_in_current)}) have no case (id and input size) in common; compare runs of the same cases")
    comp.allow_missing = allow_missing
    skipped = {s.get("id"): s.get("reason") for run in current for s in run.skipped}
    unfinished = {u.get("id"): u.get("reason") for run in current for u in run.cnnbench.get("unfinished") or []}
    comp.missing_reasons = {c: (f"skipped: {skipped[c]}" if c in skipped else f"did not finish: {unfinished[c]}"
                                if c in unfinished else "not in the current run") for c in comp.only_in_baseline}
    return comp


def compare_frames(base_df: pd.DataFrame, cur_df: pd.DataFrame, *, thresholds: Thresholds = Thresholds(),
                   allow_changes: list[str] | None = None, cross_machine: bool = False) -> Comparison:
    allow = list(allow_changes or [])
    base, cur = (newest_per_case(df, KEY).set_index(KEY) for df in (base_df, cur_df))
    several = _baseline_runs(base_df)
    base_machines, cur_machines = set(base["machine_id"]), set(cur["machine_id"])
    same_machine = base_machines == cur_machines and len(base_machines) == 1
    timing = same_machine or cross_machine
    notes = []
    if not same_machine:
        notes.append(
            "the runs come from different machines "
            f"({'; '.join(sorted(set(base['machine'])))} vs {'; '.join(sorted(set(cur['machine'])))}): "
            + ("timings compared after normalizing by each machine's measured GEMM peak (--cross-machine)"
               if cross_machine else "exact metrics compared, timings and measured memory NOT compared "
                                     "(give --cross-machine to compare peak-normalized timings)"))
    common = [k for k in base.index if k in cur.index]
    cases = []
    for key in common:
        b, c = base.loc[key], cur.loc[key]
        cc = CaseComparison(case_id=key[0], input_size=_num(key[1]))
        for metric in EXACT_METRICS:
            bv, cv = _num(b.get(metric)), _num(c.get(metric))
            if bv is None or cv is None:
                if (bv is None) != (cv is None):
                    cc.notes.append(f"{metric} recorded in only one run")
                continue
            if int(bv) != int(cv):
                change = f"{metric} {int(bv):,} -> {int(cv):,}"
                cc.exact_changes.append(change)
                if not _allowed(allow, cc.case_id, str(c.get("model")), metric):
                    cc.exact_failures.append(change)
        if timing:
            _compare_time(cc, b, c, thresholds, normalize=not same_machine,
                          baseline=several.get(key) if same_machine else None)
            if same_machine:
                _compare_memory(cc, b, c, thresholds)
        _compare_instructions(cc, b, c)
        statuses = (cc.time_status, cc.memory_status, cc.instructions_status)
        cc.status = (REGRESSION if cc.exact_failures or REGRESSION in statuses else INVALID if cc.failed
                     else IMPROVEMENT if IMPROVEMENT in statuses
                     else "changed (allowed)" if cc.exact_changes else OK if timing else "exact ok")
        cases.append(cc)
    return Comparison(
        cases=cases,
        only_in_baseline=[k[0] for k in base.index if k not in cur.index],
        only_in_current=[k[0] for k in cur.index if k not in base.index],
        same_machine=same_machine, cross_machine=cross_machine, timing_compared=timing,
        baseline_machine="; ".join(sorted(set(base["machine"]))),
        current_machine="; ".join(sorted(set(cur["machine"]))),
        thresholds=thresholds, notes=notes,
    )


def _baseline_runs(base_df: pd.DataFrame) -> dict:
    """Per case with several baseline runs on one machine: (pooled rounds, noise floor, number of runs).

    Rounds within one process are far more alike than rounds of two processes (CPU placement,
    clocks, allocator state, neighbours on the host), so a Mann-Whitney test on the rounds of one run
    each is overconfident. Where the baseline holds several runs of the same code, their rounds are
    pooled, so the baseline stands for the machine's typical speed rather than for one run that may
    have been unusually fast or slow; and a slowdown must also exceed the noise floor, the slowest of
    those runs' medians over the pooled median.
    """
    out = {}
    for key, g in base_df.groupby(KEY, dropna=False):
        if len(g) < 2 or g["machine_id"].nunique() != 1:
            continue
        if not g["timing_ok"].fillna(True).astype(bool).all():
            continue  # a baseline run with an unusable timing is not pooled; the newest run decides alone
        rounds = [t for v in g["data_s"] for t in raw_rounds(v)]
        medians = g["median_s"].dropna()
        if rounds and len(medians) >= 2:
            out[tuple(key)] = (rounds, float(medians.max() / np.median(rounds)), len(g))
    return out


def _compare_time(cc: CaseComparison, b, c, th: Thresholds, *, normalize: bool, baseline=None) -> None:
    """``baseline``: (pooled rounds, noise floor, runs) when the baseline has several runs of this case."""
    a_rounds, b_rounds = raw_rounds(b.get("data_s")), raw_rounds(c.get("data_s"))
    cc.base_median_s, cc.current_median_s = _num(b.get("median_s")), _num(c.get("median_s"))
    bad = [f"{side}: {row.get('flags')}" for side, row in (("baseline", b), ("current", c))
           if not row.get("timing_ok", True)]
    if bad:
        cc.time_status = INVALID
        cc.notes.append("timing not a finite number (" + "; ".join(bad) + "): cannot be rated")
        return
    floor = None
    if baseline is not None:
        a_rounds, floor, n_runs = baseline
        cc.base_median_s = float(np.median(a_rounds))
        cc.notes.append(f"baseline: {len(a_rounds)} rounds pooled from {n_runs} runs")
    if not a_rounds or not b_rounds:
        cc.notes.append("raw rounds not saved: timing not compared (save runs with --benchmark-save-data)")
        return
    if normalize:  # seconds x FLOP/s of the machine's GEMM peak: time in units of 'peak FLOPs'
        pa, pb = _num(b.get("gemm_peak_gflops_per_s")), _num(c.get("gemm_peak_gflops_per_s"))
        if not pa or not pb:
            cc.notes.append("no GEMM peak recorded: cross-machine timing not compared")
            return
        a_rounds = [t * pa for t in a_rounds]
        b_rounds = [t * pb for t in b_rounds]
        cc.notes.append(f"normalized by GEMM peak {pa:.0f} -> {pb:.0f} GFLOP/s")
    est = ratio_of_medians(a_rounds, b_rounds)
    p = mann_whitney_p(a_rounds, b_rounds)
    cc.time_ratio, cc.time_ci_low, cc.time_ci_high, cc.time_p = est.ratio, est.low, est.high, p
    significant = not math.isnan(p) and p < th.alpha
    limit = 1.0 + th.time
    if floor is not None and floor > limit:
        limit = floor
        cc.notes.append(f"noise floor x{limit:.3f} (slowest baseline run / pooled median)")
    if est.ratio > limit and significant:
        cc.time_status = REGRESSION
    elif est.ratio < 1.0 / limit and significant:
        cc.time_status = IMPROVEMENT
    else:
        cc.time_status = OK


def _compare_memory(cc: CaseComparison, b, c, th: Thresholds) -> None:
    bad = [side for side, row in (("baseline", b), ("current", c)) if "peak_memory_bytes is" in str(row.get("flags"))]
    if bad:
        cc.memory_status = INVALID
        cc.notes.append(f"peak memory not a finite number in the {' and '.join(bad)} run: cannot be rated")
        return
    mb, mc = _num(b.get("peak_memory_bytes")), _num(c.get("peak_memory_bytes"))
    if not mb or not mc:
        return
    if (b.get("peak_memory_kind") != c.get("peak_memory_kind")
            or _num(b.get("peak_memory_method")) != _num(c.get("peak_memory_method"))):
        cc.notes.append("memory measured differently in the two runs: not compared")
        return
    cc.memory_change = mc / mb - 1.0
    if "RSS" in str(c.get("peak_memory_kind")) or str(c.get("peak_memory_method")).startswith("rss"):
        # a process's peak RSS depends on everything that ran before in that process (which cases,
        # in which order), so it changes with the selection, not with the model: shown, never gated
        cc.notes.append("memory is process peak RSS: shown, not gated")
        return
    cc.memory_status = (REGRESSION if cc.memory_change > th.memory
                        else IMPROVEMENT if cc.memory_change < -th.memory else OK)


def _compare_instructions(cc: CaseComparison, b, c) -> None:
    """Callgrind's instructions a step, where both runs counted them under the same Valgrind: a rise
    beyond ``cnnbench.core.callgrind.DEFAULT_THRESHOLD`` (0.5%) is a regression (docs/instructions.md)."""
    ib, ic = _num(b.get("instructions")), _num(c.get("instructions"))
    if not ib or not ic:
        return
    if b.get("instructions_valgrind") != c.get("instructions_valgrind"):
        cc.notes.append("instructions counted under different Valgrind versions: not compared")
        return
    cc.instructions_change = callgrind.relative_change(ib, ic)
    cc.instructions_status = {"regression": REGRESSION, "improvement": IMPROVEMENT}.get(
        callgrind.decision(ib, ic), OK)
    cc.notes.append(f"instructions {ib:,.0f} -> {ic:,.0f} ({cc.instructions_change:+.2%})")


def regressions_between_consecutive_runs(results: pd.DataFrame, thresholds: Thresholds = Thresholds()
                                         ) -> set[tuple[str, str]]:
    """(case_id, run) pairs that compare would flag against the previous run on the same machine."""
    flagged: set[tuple[str, str]] = set()
    for _, per_machine in results.groupby("machine_id"):
        runs = runs_in_order(per_machine)
        for prev, now in zip(runs, runs[1:]):
            comp = compare_frames(per_machine[per_machine["run"] == prev], per_machine[per_machine["run"] == now],
                                  thresholds=thresholds)
            flagged |= {(c.case_id, now) for c in comp.cases if c.failed}
    return flagged
