"""Render a Comparison as a text table, CSV, JSON or pull-request-ready markdown."""
from __future__ import annotations

import io
import json
import math

import pandas as pd

from cnnbench.reports.compare import Comparison


def comparison_rows(comp: Comparison) -> pd.DataFrame:
    rows = []
    for c in comp.cases:
        rows.append({
            "case": c.case_id, "input_size": c.input_size, "status": c.status, "flagged_by": ", ".join(c.flagged_by),
            "exact_changes": "; ".join(c.exact_changes),
            "base_median_ms": None if c.base_median_s is None else 1e3 * c.base_median_s,
            "current_median_ms": None if c.current_median_s is None else 1e3 * c.current_median_s,
            "time_ratio": c.time_ratio, "ratio_ci_low": c.time_ci_low, "ratio_ci_high": c.time_ci_high,
            "p_value": c.time_p, "time": c.time_status,
            "memory_change_pct": None if c.memory_change is None else 100 * c.memory_change,
            "memory": c.memory_status,
            "instructions_change_pct": None if c.instructions_change is None else 100 * c.instructions_change,
            "instructions": c.instructions_status, "notes": "; ".join(c.notes),
        })
    for name in comp.only_in_baseline:
        rows.append({"case": name, "status": _missing_status(comp), "notes": comp.missing_reasons.get(name, "")})
    for name in comp.only_in_current:
        rows.append({"case": name, "status": "only in current"})
    return pd.DataFrame(rows)


def _missing_status(comp: Comparison) -> str:
    return "only in baseline (allowed)" if comp.allow_missing else "MISSING from current"


def _fmt(v, spec: str) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-"
    return format(v, spec)


def _ratio(c) -> str:
    if c.time_ratio is None:
        return "-"
    return f"{c.time_ratio:.3f} [{_fmt(c.time_ci_low, '.3f')}, {_fmt(c.time_ci_high, '.3f')}]"


def _header_lines(comp: Comparison) -> list[str]:
    th = comp.thresholds
    lines = [
        f"baseline machine: {comp.baseline_machine}",
        f"current machine:  {comp.current_machine}",
        f"rules: exact metrics must not change; timing regression = median ratio > {1 + th.time:.2f} "
        f"and Mann-Whitney p < {th.alpha}; measured memory beyond {th.memory:.0%}",
    ]
    if comp.same_machine:
        lines.append("same machine: timings and measured memory are compared and gate")
    lines += comp.notes
    return lines


def _verdict(comp: Comparison) -> str:
    regressions = [c for c in comp.regressions if c.status == "regression"]
    invalid = [c for c in comp.regressions if c.status == "invalid"]
    text = (f"RESULT: {len(regressions)} regression(s) in {len(comp.cases)} compared case(s)" if regressions
            else f"RESULT: no regression in {len(comp.cases)} compared case(s)")
    if invalid:
        text += f"; {len(invalid)} case(s) with a NaN/inf timing or memory (invalid: fails)"
    if comp.only_in_baseline:
        text += (f"; {len(comp.only_in_baseline)} baseline case(s) missing from the current run"
                 + (" (allowed by --allow-missing)" if comp.allow_missing else " (fails; --allow-missing accepts it)"))
    return text


def render(comp: Comparison, fmt: str = "table") -> str:
    if fmt == "csv":
        buf = io.StringIO()
        comparison_rows(comp).to_csv(buf, index=False)
        return buf.getvalue()
    if fmt == "json":
        doc = {
            "exit_status": comp.exit_status, "same_machine": comp.same_machine,
            "cross_machine": comp.cross_machine, "timing_compared": comp.timing_compared,
            "baseline_machine": comp.baseline_machine, "current_machine": comp.current_machine,
            "thresholds": vars(comp.thresholds), "notes": comp.notes,
            "missing_from_current": comp.missing_reasons or {n: "" for n in comp.only_in_baseline},
            "allow_missing": comp.allow_missing,
            "cases": json.loads(comparison_rows(comp).to_json(orient="records")),
        }
        return json.dumps(doc, indent=2)
    if fmt == "markdown":
        return _markdown(comp)
    return _table(comp)


def _table(comp: Comparison) -> str:
    head = ["case", "status", "median ms (base -> cur)", "ratio [95% CI]", "p", "memory", "exact / notes"]
    body = []
    for c in comp.cases:
        times = f"{_fmt(c.base_median_s and 1e3 * c.base_median_s, '.3f')} -> " \
                f"{_fmt(c.current_median_s and 1e3 * c.current_median_s, '.3f')}"
        mem = "-" if c.memory_change is None else f"{100 * c.memory_change:+.1f}%"
        body.append([c.case_id, c.label.upper() if c.failed else c.label, times, _ratio(c),
                     _fmt(c.time_p, ".2g"), mem, "; ".join(c.exact_changes + c.notes)])
    body += [[n, _missing_status(comp), "", "", "", "", comp.missing_reasons.get(n, "")]
             for n in comp.only_in_baseline]
    body += [[n, "only in current", "", "", "", "", ""] for n in comp.only_in_current]
    widths = [max(len(str(r[i])) for r in [head] + body) for i in range(len(head))]
    line = lambda r: "  ".join(str(v).ljust(w) for v, w in zip(r, widths)).rstrip()  # noqa: E731
    out = _header_lines(comp) + ["", line(head), line(["-" * w for w in widths])] + [line(r) for r in body]
    return "\n".join(out + ["", _verdict(comp)]) + "\n"


def _markdown(comp: Comparison) -> str:
    icon = "❌" if comp.exit_status else "✅"
    out = [f"### {icon} cnnbench compare: {_verdict(comp)[8:]}", ""]
    out += [f"- {line}" for line in _header_lines(comp)] + [""]
    out += ["| case | status | median ms (base → cur) | ratio [95% CI] | p | memory | exact / notes |",
            "|---|---|---|---|---|---|---|"]
    esc = lambda s: str(s).replace("|", "\\|")  # noqa: E731
    for c in comp.cases:
        status = f"**{c.label}**" if c.failed else c.label
        times = f"{_fmt(c.base_median_s and 1e3 * c.base_median_s, '.3f')} → " \
                f"{_fmt(c.current_median_s and 1e3 * c.current_median_s, '.3f')}"
        mem = "-" if c.memory_change is None else f"{100 * c.memory_change:+.1f}%"
        out.append(f"| `{c.case_id}` | {status} | {times} | {_ratio(c)} | {_fmt(c.time_p, '.2g')} | {mem} | "
                   f"{esc('; '.join(c.exact_changes + c.notes))} |")
    for n in comp.only_in_baseline:
        out.append(f"| `{n}` | {_missing_status(comp)} | | | | | {esc(comp.missing_reasons.get(n, ''))} |")
    for n in comp.only_in_current:
        out.append(f"| `{n}` | only in current | | | | | |")
    return "\n".join(out) + "\n"
