"""Paired A/B results (``cnnbench ab --format json``, issue #16) -> one row per pair.

A paired run interleaves A and B rounds in time, so drift of the machine hits both; its verdict is
the better evidence where it exists. The report lists every pair ("Paired verdicts"), and the
runtime comparison takes its winner from a "frameworks" pair of the same case (cnnbench.reports.frameworks).
"""
from __future__ import annotations

import pandas as pd

from cnnbench.reports.load import PairedResult
from cnnbench.reports.rows import parse_case_id
from cnnbench.reports.tidy import machine_id

COLUMNS = ["file", "datetime", "machine_id", "kind", "a_label", "b_label", "pair_id", "model", "mode", "batch",
           "device", "input_size", "precision", "compiled", "world_size", "a_case", "b_case", "a_runtime",
           "b_runtime", "rounds", "steps_per_round", "a_median_s", "b_median_s", "ratio", "ci_low", "ci_high",
           "p_value", "stopped", "seconds", "decision", "injected_delay_s", "method", "confirmations", "pooled_ratio",
           "first_decision"]


def paired_frame(results: list[PairedResult]) -> pd.DataFrame:
    rows = []
    for doc in results:
        data = doc.data
        for case in data["cases"]:
            # compile and world size are not fields of a pair; its case ids spell them (-xla, -compiled, -wsN)
            spelled = parse_case_id(case.get("a_case") or "")
            row = {"file": doc.path.name, "datetime": doc.datetime,
                   "machine_id": machine_id(data.get("machine_info") or {}), "kind": data["kind"],
                   "a_label": data["a_label"], "b_label": data["b_label"], "method": data.get("method"),
                   "compiled": spelled.get("compiled", False), "world_size": spelled.get("world_size", 1)}
            row.update({k: case.get(k) for k in COLUMNS if k in case})
            # `cnnbench ab --confirm N`: a case that may have regressed measured again in fresh processes ("" when
            # it was not); files written before 2026-12-04 re-measured first-pass regressions only
            row["confirmations"] = "; ".join(f"{c['ratio']:.3f} {c['decision']}"
                                             for c in case.get("confirmations") or [])
            rows.append(row)
    return pd.DataFrame(rows, columns=COLUMNS)


def _first(r: dict) -> str:
    first = r.get("first_decision")
    return "a regression" if not isinstance(first, str) or first == "regression" else first


def display_rows(paired: pd.DataFrame, used: set[tuple[str, str]]) -> list[dict]:
    """Rows of the report's "Paired verdicts" table; ``used``: (file, pair_id) that decided a comparison row."""
    out = []
    for r in paired.to_dict("records"):
        ci = "" if pd.isna(r["ci_low"]) else f"[{r['ci_low']:.3f}, {r['ci_high']:.3f}]"
        steps = "" if pd.isna(r["steps_per_round"]) else f" x {int(r['steps_per_round'])} steps"
        out.append({
            "file": r["file"], "kind": r["kind"], "pair": r["pair_id"],
            "case": f"{r['model']} {r['mode']} bs{r['batch']} {r['device']} {r['input_size']}px {r['precision']}",
            "a": f"{r['a_label']}: {r['a_case'] or r['a_runtime']}", "b": f"{r['b_label']}: {r['b_case'] or r['b_runtime']}",
            "ratio": f"{r['ratio']:.3f}", "ci": ci,
            "p": "" if pd.isna(r["p_value"]) else f"{r['p_value']:.2g}",
            "rounds": f"{int(r['rounds'])}{steps}", "stopped": r["stopped"],
            "decision": r["decision"] + (f" (first pass {_first(r)}; again in fresh processes: {r['confirmations']}"
                                         + ("" if pd.isna(r["pooled_ratio"]) else
                                            f"; pooled {r['pooled_ratio']:.3f}") + ")"
                                         if r["confirmations"] else ""),
            "delay": "" if pd.isna(r["injected_delay_s"]) or not r["injected_delay_s"] else
            f"TEST-ONLY delay {r['injected_delay_s']:g} s",
            "used": "yes" if (r["file"], r["pair_id"]) in used else "",
        })
    return out
