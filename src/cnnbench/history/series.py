"""The store's measurements as series, one per case, metric and machine, each with its steps.

A series never mixes machines: its key holds the machine fingerprint (cnnbench.reports.tidy.machine_id,
the hash of the hardware the run's machine_info describes), the named series (``history add
--series``), the bench profile and the input size, so runs that measured something else under the same
case id are never drawn as one line. Several runs of one commit are one point (the median of their
values, as asv shows one value per commit); a run without a commit id is a point of its own.
"""
from __future__ import annotations

import fnmatch
import statistics
from dataclasses import dataclass, field

from cnnbench.history import changes


@dataclass(frozen=True)
class SeriesKey:
    series: str  # the name given with --series, "" for none
    machine_id: str
    machine: str
    profile: str
    case_id: str
    input_size: int
    metric: str

    @property
    def title(self) -> str:
        size = f" @ {self.input_size} px" if self.input_size else ""
        named = f", series {self.series}" if self.series else ""
        return f"{self.case_id}{size} [{self.metric}] on {self.machine} ({self.machine_id}{named})"


@dataclass
class Series:
    key: SeriesKey
    commits: list[str | None] = field(default_factory=list)  # one per point
    dates: list[str] = field(default_factory=list)
    values: list[float] = field(default_factory=list)
    run_ids: list[list[int]] = field(default_factory=list)
    steps: list[changes.Step] = field(default_factory=list)

    def label(self, i: int) -> str:
        """A point's name: its commit's first 10 characters, or the run's id where it has no commit."""
        return self.commits[i][:10] if self.commits[i] else f"run {self.run_ids[i][0]}"


def build_series(points: list[tuple], *, cases: str | None = None) -> list[Series]:
    """``points``: rows of cnnbench.history.store.points, in run order; ``cases``: a case id pattern."""
    grouped: dict[SeriesKey, dict] = {}
    for name, mid, machine, profile, cid, size, metric, value, commit, _, date, run_id in points:
        if cases and not fnmatch.fnmatchcase(cid, cases):
            continue
        key = SeriesKey(name, mid, machine, profile, cid, size, metric)
        per_point = grouped.setdefault(key, {})
        slot = per_point.setdefault(commit or f"run:{run_id}",
                                    {"commit": commit, "date": date, "values": [], "runs": []})
        slot["values"].append(value)
        slot["runs"].append(run_id)
    out = []
    for key, per_point in grouped.items():
        s = Series(key)
        for slot in per_point.values():  # insertion order: the run order of each point's first run
            s.commits.append(slot["commit"])
            s.dates.append(slot["date"])
            s.values.append(statistics.median(slot["values"]))
            s.run_ids.append(slot["runs"])
        out.append(s)
    out.sort(key=lambda s: (s.key.metric, s.key.machine_id, s.key.series, s.key.profile, s.key.case_id,
                            s.key.input_size))
    return out


def detect_all(found: list[Series], *, alpha: float = changes.DEFAULT_ALPHA,
               min_change: float = changes.DEFAULT_MIN_CHANGE) -> list[Series]:
    for s in found:
        s.steps = changes.detect(s.values, alpha=alpha, min_change=min_change)
    return found


def step_dict(s: Series, step: changes.Step) -> dict:
    """A step as plain data: its size, the commit range (last before, first after) and its p-value."""
    return {"case_id": s.key.case_id, "input_size": s.key.input_size, "metric": s.key.metric,
            "machine_id": s.key.machine_id, "machine": s.key.machine, "series": s.key.series,
            "profile": s.key.profile, "index": step.index, "ratio": step.ratio, "p_value": step.p_value,
            "last_before": s.commits[step.index - 1], "first_after": s.commits[step.index],
            "last_before_label": s.label(step.index - 1), "first_after_label": s.label(step.index),
            "points_before": step.before, "points_after": step.after}


def trend_view(found: list[Series], *, metric: str = "median_s") -> list[dict]:
    """What the report's history view draws (cnnbench.reports.report.render_html's ``history_view``):
    plain data, so the reports never import this package. Series of two points or more only."""
    view = []
    for s in found:
        if s.key.metric != metric or len(s.values) < 2:
            continue
        view.append({"id": f"history-{len(view)}", "title": s.key.title, "case_id": s.key.case_id,
                     "machine": s.key.machine, "machine_id": s.key.machine_id,
                     "labels": [s.label(i) for i in range(len(s.values))], "dates": list(s.dates),
                     "values": list(s.values), "steps": [step_dict(s, st) for st in s.steps]})
    return view
