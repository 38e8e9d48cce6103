"""Every runtime side by side (issue #18): per model x mode x batch x device x variant, each runtime's
median step time and its ratio against a reference runtime (default torch), with a 95% bootstrap
interval from the raw rounds and a winner or "tie".

Runtimes are torch, keras-tf, keras-jax and keras-torch (docs/keras-runtimes.md). Where a paired A/B verdict (``cnnbench ab``, kind "frameworks") measured the same pair on
the same machine, the winner comes from it and says so: interleaved rounds are a better test than two
stretches of one run.
"""
from __future__ import annotations

import pandas as pd

from cnnbench.core.stats import faster_side, pair_rule_text, ratio_of_medians
from cnnbench.reports.plausibility import doubted
from cnnbench.reports.rows import EXPORT_RUNTIMES, REFERENCE_RUNTIME, RUNTIMES, pair_spread, run_spread
from cnnbench.reports.tidy import raw_rounds

# "compiled": compilation requested (torch.compile, XLA); Keras on JAX always jit-compiles, that is its plain case
KEYS = ["run", "machine", "model", "mode", "batch", "device", "input_size", "precision", "compiled", "world_size"]
PER_RUNTIME = ["median_s", "images_per_s", "params", "macs", "peak_memory_bytes", "memory_method", "memory_kind",
               "compile_s", "pct_of_peak", "pct_of_peak_flag", "global_batch", "scaling_efficiency",
               "dist_backend", "flags", "plausibility"]
_SOURCE = {"median_s": "median_s", "images_per_s": "images_per_s", "params": "params", "macs": "macs",
           "peak_memory_bytes": "peak_memory_bytes", "memory_method": "peak_memory_method",
           "memory_kind": "peak_memory_kind", "compile_s": "compile_s", "pct_of_peak": "pct_of_peak",
           "pct_of_peak_flag": "pct_of_peak_flag", "global_batch": "global_batch",
           "scaling_efficiency": "scaling_efficiency", "dist_backend": "dist_backend", "flags": "flags",
           "plausibility": "plausibility"}
# Before runtimes, comparison.csv had TF-vs-PyTorch columns; they stay, filled from keras-tf vs torch
LEGACY = ["ratio_tf_over_torch", "ratio_ci_low", "ratio_ci_high", "faster", "faster_by"]


# an export runtime's columns beside its timing: parity with its framework and what the export made
_EXPORT_SOURCE = {"parity_rel": "export_parity_rel", "parity_ok": "export_parity_ok",
                  "export_nodes": "export_nodes", "export_file_bytes": "export_file_bytes", "export_s": "export_s",
                  "export_opset": "export_opset"}


def _per_runtime(r: str) -> dict:
    """Column suffix -> extra_info field of runtime ``r``'s figures."""
    return {**_SOURCE, **(_EXPORT_SOURCE if r in EXPORT_RUNTIMES else {})}


def ratio_col(r: str, ref: str) -> str:
    return f"ratio_{r}_over_{ref}"


def pair_columns(r: str, ref: str) -> list[str]:
    base = ratio_col(r, ref)
    return [base, f"{base}_ci_low", f"{base}_ci_high", f"faster_{r}_vs_{ref}", f"faster_by_{r}_vs_{ref}",
            f"verdict_{r}_vs_{ref}"]


def runtimes_present(results: pd.DataFrame, skipped: pd.DataFrame | None = None) -> list[str]:
    seen = set(results["runtime"].dropna()) if not results.empty else set()
    if skipped is not None and not skipped.empty:
        seen |= set(skipped["runtime"].dropna())
    return [r for r in RUNTIMES if r in seen]


def columns_for(runtimes: list[str], reference: str) -> list[str]:
    cols = KEYS + ["reference"]
    for r in runtimes:
        cols += [f"{r}_{k}" for k in PER_RUNTIME] + [f"{r}_{k}" for k in _EXPORT_SOURCE if r in EXPORT_RUNTIMES]
    for r in runtimes:
        if r != reference:
            cols += pair_columns(r, reference)
    # memory_comparable: every runtime's peak measured the same way (otherwise never set side by side)
    return cols + LEGACY + ["params_agree", "macs_agree", "memory_comparable", "note"]


def _compiled(row) -> bool:
    return bool(row.get("torch_compile") is True or row.get("tf_jit") is True)


def _agree(values: list) -> object:
    vals = [v for v in values if not pd.isna(v)]
    if len(vals) < 2:
        return pd.NA
    return bool(len(set(vals)) == 1)


def comparison_frame(results: pd.DataFrame, skipped: pd.DataFrame | None = None, *,
                     reference: str = REFERENCE_RUNTIME, paired: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per case group: each runtime's figures and its time ratio over ``reference``.

    ``faster_{r}_vs_{ref}`` names a runtime only when the 95% interval excludes 1; otherwise ``tie``.
    With a matching paired A/B verdict (``paired``, from cnnbench.reports.paired_rows.paired_frame) the
    faster column takes the paired decision, and ``verdict_{r}_vs_{ref}`` says where it came from.
    A disagreement in params or MACs between runtimes is a bug in the zoo and is flagged in ``note``.
    """
    runtimes = runtimes_present(results, skipped)
    if reference not in runtimes:
        runtimes = [reference] + runtimes
    columns = columns_for(runtimes, reference)
    if results.empty:
        return pd.DataFrame(_skipped_only_rows(results, skipped, runtimes), columns=columns)
    df = results.copy()
    df["compiled"] = [_compiled(r) for r in df.to_dict("records")]
    machine_of_run = dict(zip(df["run"], df["machine_id"]))
    # a runtime missing from a row is named only where its run measured or skipped that runtime
    # somewhere (or it is the reference): a torch-only run need not list three Keras runtimes per row
    in_run = {run: set(g["runtime"]) for run, g in df.groupby("run")}
    if skipped is not None and not skipped.empty:
        for run, g in skipped.groupby("run"):
            in_run.setdefault(run, set()).update(g["runtime"].dropna())
    out = []
    for key, group in df.groupby(KEYS, dropna=False, sort=True):
        row = dict(zip(KEYS, key), reference=reference)
        by_rt = {rt: g.iloc[0] for rt, g in group.groupby("runtime")}
        notes = []
        for rt in runtimes:
            r = by_rt.get(rt)
            if r is None:
                if rt == reference or rt in in_run.get(row["run"], ()):
                    notes.append(f"{rt}: {_skip_reason(skipped, row, rt)}")
                continue
            for col, src in _per_runtime(rt).items():
                value = r.get(src)
                row[f"{rt}_{col}"] = None if value is None or (not isinstance(value, str) and pd.isna(value)) else value
            if not r.get("timing_ok", True):
                notes.append(f"{rt}: timing unusable ({r.get('flags')}): not compared")
            elif r.get("flags"):
                notes.append(f"{rt}: flagged ({r.get('flags')})")
            figures = " and ".join(sorted(doubted(r.get("plausibility"))))  # the reasons: {rt}_plausibility
            if figures:
                notes.append(f"{rt}: {figures} implausible (why: Implausible figures)")
        ref = by_rt.get(reference)
        for rt in runtimes:
            if rt == reference or rt not in by_rt or ref is None:
                continue
            _pair(row, notes, ref, by_rt[rt], rt, reference)
        if paired is not None and not paired.empty and ref is not None:
            for rt in runtimes:
                if rt != reference and rt in by_rt:
                    _use_paired(row, paired, machine_of_run.get(row["run"]), rt, reference)
        _legacy(row, reference)
        row["params_agree"] = _agree([row.get(f"{rt}_params") for rt in by_rt])
        row["macs_agree"] = _agree([row.get(f"{rt}_macs") for rt in by_rt])
        if row["params_agree"] is False or row["macs_agree"] is False:
            notes.append("BUG: the runtimes disagree on params or MACs")
        measured = [rt for rt in by_rt if row.get(f"{rt}_peak_memory_bytes") is not None]
        methods = {row.get(f"{rt}_memory_method") or row.get(f"{rt}_memory_kind") for rt in measured}
        row["memory_comparable"] = (len(methods) == 1) if len(measured) > 1 else pd.NA
        row["note"] = "; ".join(notes)
        out.append(row)
    rows = out + _skipped_only_rows(results, skipped, runtimes)
    return pd.DataFrame(rows).reindex(columns=columns)


# where a winner came from, by cnnbench.core.stats.RatioEstimate.method
_METHOD = {"rounds": "bootstrap of the run's rounds",
           "processes, then rounds": "bootstrap of the run's worker processes, then their rounds",
           "processes' spread": "t interval on the processes' log medians, each side's spread moderated by the run's"}


def _pair(row: dict, notes: list, ref, other, rt: str, reference: str) -> None:
    """The ratio other/reference of median step times, its interval and the winner."""
    if not (ref.get("timing_ok", True) and other.get("timing_ok", True)):
        return
    a, b = raw_rounds(ref.get("data_s")), raw_rounds(other.get("data_s"))
    col = ratio_col(rt, reference)
    if a and b:
        est = ratio_of_medians(a, b, a_processes=raw_rounds(ref.get("process_rounds")) or None,
                               b_processes=raw_rounds(other.get("process_rounds")) or None,
                               spread=pair_spread(run_spread(ref), run_spread(other)))
        row.update({col: est.ratio, f"{col}_ci_low": est.low, f"{col}_ci_high": est.high})
        winner = faster_side(est, reference, rt)
        if not est.has_interval:
            notes.append(f"{rt}: a single round: no confidence interval")
        if est.processes_disagree:
            most = max(len(raw_rounds(side.get("process_rounds")) or [1]) for side in (ref, other))
            notes.append(f"{rt} against {reference}: {pair_rule_text(most)} on which is faster: no side named")
    else:  # a run saved without raw rounds: the ratio alone, no interval
        ratio = other["median_s"] / ref["median_s"]
        row[col] = ratio
        winner = reference if ratio > 1 else rt if ratio < 1 else "tie"
        notes.append(f"{rt}: no raw rounds saved: no confidence interval")
    ratio = row[col]
    row[f"faster_{rt}_vs_{reference}"] = winner
    row[f"faster_by_{rt}_vs_{reference}"] = max(ratio, 1.0 / ratio)
    row[f"verdict_{rt}_vs_{reference}"] = _METHOD[est.method if a and b else "rounds"]


def _use_paired(row: dict, paired: pd.DataFrame, machine_id, rt: str, reference: str) -> None:
    """Take the winner from the newest paired A/B verdict of exactly this comparison, if there is one."""
    want = {"model": row["model"], "mode": row["mode"], "batch": row["batch"], "device": row["device"],
            "input_size": row["input_size"], "precision": row["precision"], "compiled": row["compiled"],
            "world_size": row["world_size"], "machine_id": machine_id}
    hit = paired[(paired["kind"] == "frameworks")
                 & (((paired["a_runtime"] == reference) & (paired["b_runtime"] == rt))
                    | ((paired["a_runtime"] == rt) & (paired["b_runtime"] == reference)))]
    for k, v in want.items():
        hit = hit[hit[k] == v]
    if hit.empty:
        return
    p = hit.sort_values("datetime").iloc[-1]
    forward = p["a_runtime"] == reference  # B/A is then rt/reference, the orientation of this table
    ratio = p["ratio"] if forward else 1.0 / p["ratio"]
    low, high = (p["ci_low"], p["ci_high"]) if forward else (1.0 / p["ci_high"], 1.0 / p["ci_low"])
    side = {"a faster": p["a_runtime"], "b faster": p["b_runtime"], "tie": "tie"}[p["decision"]]
    row[f"faster_{rt}_vs_{reference}"] = side
    row[f"faster_by_{rt}_vs_{reference}"] = max(ratio, 1.0 / ratio)
    interval = "" if pd.isna(low) else f" [{low:.3f}, {high:.3f}]"
    row[f"verdict_{rt}_vs_{reference}"] = (f"paired A/B {p['file']} ({p['pair_id']}): {rt}/{reference} "
                                           f"{ratio:.3f}{interval}, {p['rounds']} interleaved rounds, "
                                           f"stopped: {p['stopped']}")


def _legacy(row: dict, reference: str) -> None:
    """ratio_tf_over_torch & co.: keras-tf over torch, as comparison.csv had them before runtimes."""
    if reference != "torch" or row.get(ratio_col("keras-tf", "torch")) is None:
        return
    col = ratio_col("keras-tf", "torch")
    row["ratio_tf_over_torch"] = row[col]
    row["ratio_ci_low"] = row.get(f"{col}_ci_low")
    row["ratio_ci_high"] = row.get(f"{col}_ci_high")
    row["faster"] = {"keras-tf": "tf"}.get(row["faster_keras-tf_vs_torch"], row["faster_keras-tf_vs_torch"])
    row["faster_by"] = row["faster_by_keras-tf_vs_torch"]


_SKIP_KEYS = ["run", "model", "mode", "batch", "device"]


def _skipped_only_rows(results: pd.DataFrame, skipped: pd.DataFrame | None, runtimes: list[str]) -> list[dict]:
    """A row for each case group that no runtime measured (all out of memory, say), with the reasons."""
    if skipped is None or skipped.empty:
        return []
    measured = set() if results.empty else set(map(tuple, results[_SKIP_KEYS].astype(str).values.tolist()))
    machines = {} if results.empty else dict(zip(results["run"], results["machine"]))
    rows = []
    for key, g in skipped.groupby(_SKIP_KEYS, dropna=False, sort=True):
        if tuple(map(str, key)) in measured:
            continue
        first = g.iloc[0]
        row = dict(zip(_SKIP_KEYS, key), machine=machines.get(key[0]), precision=first.get("precision"),
                   compiled=first.get("compiled"), world_size=first.get("world_size"))
        mine = set(g["runtime"].dropna()) | set(results.loc[results["run"] == key[0], "runtime"]
                                                 if not results.empty else [])
        row["note"] = "; ".join(f"{rt}: {_skip_reason(skipped, row, rt)}" for rt in runtimes if rt in mine)
        rows.append(row)
    return rows


def _skip_reason(skipped: pd.DataFrame | None, row: dict, runtime: str) -> str:
    if skipped is not None and not skipped.empty:
        hit = skipped[(skipped["run"] == row["run"]) & (skipped["runtime"] == runtime)
                      & (skipped["model"] == row["model"]) & (skipped["mode"] == row["mode"])
                      & (skipped["batch"] == row["batch"])]
        if not hit.empty:
            return f"skipped ({hit.iloc[0]['reason']})"
    return "not run"


def headline(comparison: pd.DataFrame, reference: str = REFERENCE_RUNTIME) -> list[str]:
    """Plain sentences for the top of the report: how often each runtime wins against the reference."""
    lines = []
    others = [rt for rt in RUNTIMES if rt != reference and ratio_col(rt, reference) in comparison.columns]
    for rt in others:
        col = ratio_col(rt, reference)
        both = comparison.dropna(subset=[col])
        for mode, g in both.groupby("mode"):
            wins = g[f"faster_{rt}_vs_{reference}"].value_counts()
            med = float(g[col].median())
            paired = int(g[f"verdict_{rt}_vs_{reference}"].astype(str).str.startswith("paired").sum())
            lead = reference if med > 1 else rt
            lines.append(
                f"{mode}, {rt} vs {reference}: {reference} faster in {wins.get(reference, 0)}, {rt} in "
                f"{wins.get(rt, 0)}, tie (95% interval includes 1) in {wins.get('tie', 0)} of {len(g)} cases"
                + (f" ({paired} decided by a paired A/B run)" if paired else "")
                + f"; median {rt}/{reference} time ratio {med:.2f} ({lead} ahead overall).")
    if not lines:
        lines.append(f"No case was measured in {reference} and another runtime, so there is no head-to-head "
                     "comparison.")
    bad = comparison[(comparison["params_agree"] == False) | (comparison["macs_agree"] == False)]  # noqa: E712
    if not bad.empty:
        lines.append(f"BUG: {len(bad)} case(s) where the runtimes disagree on params or MACs.")
    return lines
