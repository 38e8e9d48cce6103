"""The result of ``cnnbench ab``: the paired A/B JSON document (its fields: case_row and document
below) and its renderings (table, csv, markdown). Pure Python: rendering is tested on documents,
without measuring."""
from __future__ import annotations

import csv
import io
import json
import math

from cnnbench.ab.pairing import Pair
from cnnbench.ab.engine import Plan, PairOutcome
from cnnbench.core.paired_stats import decide_change, decide_frameworks

FORMATS = ("table", "json", "csv", "markdown")
COLUMNS = ("pair_id", "a_case", "b_case", "rounds", "steps_per_round", "a_median_s", "b_median_s", "ratio",
           "ci_low", "ci_high", "p_value", "stopped", "seconds", "decision", "injected_delay_s")


def _finite(x: float | None) -> float | None:
    """JSON has no infinity: an unbounded interval end (too few rounds) is written as null (a lower end of
    0, unbounded too, as well: stored_estimate reads null back as 0, and the reports want a bound > 0)."""
    return None if x is None or not math.isfinite(x) else float(x)


def method_text(plan: Plan) -> str:
    pairs = f"{plan.process_pairs} fresh pairs of worker processes per case, rounds pooled; " \
        if plan.process_pairs > 1 else ""
    order = "balanced order (A B, B A, A B, ...)" if plan.order == "abba" else f"random order (seed {plan.seed})"
    settle = f", {1e3 * plan.settle_s:g} ms pause before each turn" if plan.settle_s else ""
    pinned = f"both pinned to CPU {','.join(map(str, plan.cpus))}" if plan.cpus else "not pinned to CPUs"
    builds = f"each case built {plan.builds} times, the last build measured" if plan.builds > 1 else \
        "each case built once"
    if plan.measured_builds > 1:
        builds += (f", then built again before each further share of the rounds: {plan.measured_builds} builds "
                   "measured in turn, rounds pooled")
    return (f"paired: each side in its own worker process ({pinned}; {builds}), stepped strictly alternately in "
            f"rounds, {order}{settle}; "
            f"{pairs}a side's sample per round is the median of k timed steps after {plan.discard_steps} discarded "
            f"(k: a turn of at least {1e3 * plan.turn_s:g} ms on a CPU, {plan.gpu_steps} steps on a GPU); ratio B/A: "
            f"Hodges-Lehmann estimate of the per-round log ratios, Wilcoxon signed-rank {plan.confidence:.0%} "
            f"interval and p-value; stops at a log half-width <= {plan.target:g}, after {plan.budget_s:g} s of "
            f"rounds, or after {plan.max_rounds} rounds")


def case_row(pair: Pair, outcome: PairOutcome, kind: str, threshold: float) -> dict:
    a, b = pair.a.case, pair.b.case
    est = outcome.estimate
    decision = decide_frameworks(est) if kind == "frameworks" else decide_change(est, threshold)
    return {
        "pair_id": pair.pair_id, "model": a.model, "mode": a.mode, "batch": a.batch, "device": a.device,
        "input_size": a.input_size, "precision": a.precision, "a_case": a.id, "b_case": b.id,
        "a_runtime": a.runtime, "b_runtime": b.runtime, "rounds": len(outcome.a_samples),
        "steps_per_round": outcome.steps_per_round,
        "a_median_s": float(_median(outcome.a_samples)), "b_median_s": float(_median(outcome.b_samples)),
        "ratio": est.ratio, "ci_low": _finite(est.low) if est.low > 0 else None, "ci_high": _finite(est.high), "p_value": est.p_value,
        "stopped": outcome.stopped, "seconds": round(outcome.seconds, 2), "decision": decision,
        "a_rounds_s": list(outcome.a_samples), "b_rounds_s": list(outcome.b_samples),
        "injected_delay_s": outcome.injected_delay_s,
    }


def _median(xs: list[float]) -> float:
    s = sorted(xs)
    n = len(s)
    return (s[n // 2] + s[(n - 1) // 2]) / 2.0


def document(*, kind: str, a_label: str, b_label: str, plan: Plan, threshold: float, cases: list[dict],
             machine_info: dict, commit_info: dict, datetime: str, skipped: list[dict],
             unfinished: list[dict], interrupted: str | None = None) -> dict:
    """The paired A/B JSON document; ``skipped`` and ``unfinished`` ({pair_id, reason}) say
    which pairs have no row and why, as a benchmark run's ``cnnbench`` block does; ``interrupted``: the
    signal that ended the run early (``complete`` is then false)."""
    return {"cnnbench_ab": 1, "datetime": datetime, "machine_info": machine_info, "commit_info": commit_info,
            "kind": kind, "a_label": a_label, "b_label": b_label, "method": method_text(plan),
            "thresholds": {"time": threshold, "confidence": plan.confidence},
            "plan": {"cpus": list(plan.cpus) if plan.cpus else None, "builds": plan.builds,
                     "measured_builds": plan.measured_builds,
                     "process_pairs": plan.process_pairs, "budget_s": plan.budget_s, "target": plan.target},
            "cases": cases,
            "skipped": skipped, "unfinished": unfinished, "interrupted": interrupted,
            "complete": interrupted is None}


def _fmt_s(x: float) -> str:
    return f"{1e3 * x:.2f} ms"


def _ci(row: dict) -> str:
    lo = "0" if row["ci_low"] is None else f"{row['ci_low']:.3f}"
    hi = "inf" if row["ci_high"] is None else f"{row['ci_high']:.3f}"
    return f"[{lo}, {hi}]"


def progress_line(i: int, total: int, row: dict | None, pair_id: str, note: str = "") -> str:
    """One line per finished pair, with its verdict (or why it has none)."""
    head = f"[{i}/{total}] {pair_id}"
    if row is None:
        return f"{head}  {note}"
    return (f"{head}  B/A {row['ratio']:.3f} {_ci(row)}  p {row['p_value']:.2g}  {row['rounds']} rounds x "
            f"{row['steps_per_round']} ({row['stopped']})  {row['decision'].upper()}  ({row['seconds']:.0f} s)")


def _rows(doc: dict) -> list[list[str]]:
    rows = []
    for r in doc["cases"]:
        rows.append([r["pair_id"], str(r["rounds"]), str(r["steps_per_round"]), _fmt_s(r["a_median_s"]),
                     _fmt_s(r["b_median_s"]), f"{r['ratio']:.3f}", _ci(r), f"{r['p_value']:.2g}", r["stopped"],
                     f"{r['seconds']:.0f}", r["decision"] + _confirmed(r)])
    return rows


def _confirmed(r: dict) -> str:
    """What the re-measurements of a case that may have regressed (--confirm) said, after the decision."""
    again = r.get("confirmations")
    if not again:
        return ""
    ratios = ", ".join(f"{c['ratio']:.3f} {_ci(c)}" for c in again)
    if "pooled_ratio" in r:  # absent from files written before the pooled rule
        ratios += f"; pooled over {len(again) + 1} pairs of processes {r['pooled_ratio']:.3f}"
    pairs = f"{len(again)} fresh pair{'s' * (len(again) > 1)}"
    first = r.get("first_decision", "regression")  # files before 2026-12-04 re-measured regressions only
    if r["decision"] == "regression" and first == "regression":
        return f" (confirmed in {pairs}: {ratios})"
    verdict = "a regression" if r["decision"] == "regression" else "not a regression"
    return f" (first pair: {first} at {r['ratio']:.3f}; {verdict} with {pairs}: {ratios})"


_HEAD = ["pair", "rounds", "k", "A median", "B median", "B/A", "95% CI", "p", "stopped", "s", "decision"]


def _footer(doc: dict) -> list[str]:
    lines = [f"A: {doc['a_label']}   B: {doc['b_label']}",
             f"thresholds: time {doc['thresholds']['time']:.0%}, confidence {doc['thresholds']['confidence']:.0%}"]
    lines += [f"skipped {s['pair_id']}: {s['reason']}" for s in doc["skipped"]]
    lines += [f"NOT MEASURED {u['pair_id']}: {u['reason']}" for u in doc["unfinished"]]
    if doc.get("interrupted"):
        lines.append(f"INCOMPLETE: interrupted by {doc['interrupted']}; the rows above are the pairs measured before")
    return lines


def render(doc: dict, fmt: str) -> str:
    if fmt == "json":
        return json.dumps(doc, indent=1) + "\n"
    if fmt == "csv":
        out = io.StringIO()
        w = csv.writer(out)
        w.writerow(COLUMNS)
        for r in doc["cases"]:
            w.writerow(["" if r[c] is None else r[c] for c in COLUMNS])
        return out.getvalue()
    rows = _rows(doc)
    if fmt == "markdown":
        lines = ["| " + " | ".join(_HEAD) + " |", "|" + "---|" * len(_HEAD)]
        lines += ["| " + " | ".join(f"`{c}`" if i == 0 else c for i, c in enumerate(r)) + " |" for r in rows]
        return "\n".join(lines + [""] + [f"- {x}" for x in _footer(doc)]) + "\n"
    cells = [_HEAD] + rows
    widths = [max(len(r[i]) for r in cells) for i in range(len(_HEAD))]
    line = lambda r: "  ".join(c.ljust(w) if i in (0, 8, 10) else c.rjust(w)  # noqa: E731
                               for i, (c, w) in enumerate(zip(r, widths)))
    return "\n".join([line(_HEAD), "  ".join("-" * w for w in widths)] + [line(r) for r in rows]
                     + [""] + _footer(doc)) + "\n"


def exit_status(doc: dict) -> int:
    """1 when a pair regressed or could not be measured, else 0."""
    return 1 if doc["unfinished"] or any(r["decision"] == "regression" for r in doc["cases"]) else 0
