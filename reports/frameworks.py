"""Cross-framework comparison: per model x mode x batch x device, TensorFlow beside PyTorch."""
from __future__ import annotations

import pandas as pd

from cnnbench.core.stats import ratio_of_medians
from cnnbench.reports.tidy import raw_rounds

KEYS = ["run", "machine", "model", "mode", "batch", "device", "input_size", "precision", "compiled"]
COLUMNS = KEYS + [
    "torch_median_s", "tf_median_s", "torch_images_per_s", "tf_images_per_s",
    "ratio_tf_over_torch", "ratio_ci_low", "ratio_ci_high", "faster", "faster_by",
    "torch_params", "tf_params", "params_agree", "torch_macs", "tf_macs", "macs_agree",
    "torch_peak_memory_bytes", "tf_peak_memory_bytes", "torch_memory_kind", "tf_memory_kind",
    "torch_compile_s", "tf_compile_s", "note",
]


def _compiled(row) -> bool:
    return bool(row.get("torch_compile") is True or row.get("tf_jit") is True)


def _same(a, b):
    if pd.isna(a) or pd.isna(b):
        return pd.NA
    return bool(a == b)


def comparison_frame(results: pd.DataFrame, skipped: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per case group; the ratio TF/PyTorch of median step times with a 95% bootstrap interval.

    ``faster`` names a framework only when the interval excludes 1; otherwise it is ``tie``. A
    disagreement in params or MACs is a bug in the zoo (the two must be the same network) and is
    flagged in ``note``.
    """
    if results.empty:
        return pd.DataFrame(_skipped_only_rows(results, skipped), columns=COLUMNS)
    df = results.copy()
    df["compiled"] = [_compiled(r) for r in df.to_dict("records")]
    out = []
    for key, group in df.groupby(KEYS, dropna=False, sort=True):
        row = dict(zip(KEYS, key))
        by_fw = {fw: g.iloc[0] for fw, g in group.groupby("framework")}
        notes = []
        for fw in ("torch", "tf"):
            r = by_fw.get(fw)
            if r is None:
                reason = _skip_reason(skipped, row, fw)
                notes.append(f"{fw}: {reason}")
                continue
            row[f"{fw}_median_s"] = r["median_s"]
            row[f"{fw}_images_per_s"] = r.get("images_per_s")
            row[f"{fw}_params"] = r.get("params")
            row[f"{fw}_macs"] = r.get("macs")
            row[f"{fw}_peak_memory_bytes"] = r.get("peak_memory_bytes")
            row[f"{fw}_memory_kind"] = r.get("peak_memory_kind")
            row[f"{fw}_compile_s"] = r.get("compile_s")
        if "torch" in by_fw and "tf" in by_fw:
            t, f = raw_rounds(by_fw["torch"].get("data_s")), raw_rounds(by_fw["tf"].get("data_s"))
            if t and f:
                est = ratio_of_medians(t, f)
                row.update(ratio_tf_over_torch=est.ratio, ratio_ci_low=est.low, ratio_ci_high=est.high)
            else:  # a run saved without raw rounds: the ratio alone, no interval
                est = None
                row["ratio_tf_over_torch"] = row["tf_median_s"] / row["torch_median_s"]
                notes.append("no raw rounds saved: no confidence interval")
            ratio = row["ratio_tf_over_torch"]
            if est is not None and est.low <= 1.0 <= est.high:
                row["faster"] = "tie"
            else:
                row["faster"] = "torch" if ratio > 1 else "tf"
            row["faster_by"] = max(ratio, 1.0 / ratio)
            row["params_agree"] = _same(row.get("torch_params"), row.get("tf_params"))
            row["macs_agree"] = _same(row.get("torch_macs"), row.get("tf_macs"))
            if row["params_agree"] is False or row["macs_agree"] is False:
                notes.append("BUG: the frameworks disagree on params or MACs")
        row["note"] = "; ".join(notes)
        out.append(row)
    return pd.DataFrame(out + _skipped_only_rows(results, skipped)).reindex(columns=COLUMNS)


_SKIP_KEYS = ["run", "model", "mode", "batch", "device"]


def _skipped_only_rows(results: pd.DataFrame, skipped: pd.DataFrame | None) -> list[dict]:
    """A row for each case group that no framework measured (both out of memory, say), with the reasons."""
    if skipped is None or skipped.empty:
        return []
    measured = set() if results.empty else set(map(tuple, results[_SKIP_KEYS].astype(str).values.tolist()))
    machines = {} if results.empty else dict(zip(results["run"], results["machine"]))
    rows = []
    for key, _ in skipped.groupby(_SKIP_KEYS, dropna=False, sort=True):
        if tuple(map(str, key)) in measured:
            continue
        row = dict(zip(_SKIP_KEYS, key), machine=machines.get(key[0]))
        row["note"] = "; ".join(f"{fw}: {_skip_reason(skipped, row, fw)}" for fw in ("torch", "tf"))
        rows.append(row)
    return rows


def _skip_reason(skipped: pd.DataFrame | None, row: dict, framework: str) -> str:
    if skipped is not None and not skipped.empty:
        hit = skipped[(skipped["run"] == row["run"]) & (skipped["framework"] == framework)
                      & (skipped["model"] == row["model"]) & (skipped["mode"] == row["mode"])
                      & (skipped["batch"] == row["batch"])]
        if not hit.empty:
            return f"skipped ({hit.iloc[0]['reason']})"
    return "not run"


def headline(comparison: pd.DataFrame) -> list[str]:
    """Plain sentences for the top of the report: how often each framework wins, by a median factor."""
    both = comparison.dropna(subset=["ratio_tf_over_torch"])
    if both.empty:
        return ["Only one framework was measured, so there is no head-to-head comparison."]
    lines = []
    for mode, g in both.groupby("mode"):
        wins = g["faster"].value_counts()
        med = float(g["ratio_tf_over_torch"].median())
        lead = "PyTorch" if med > 1 else "TensorFlow"
        lines.append(
            f"{mode}: PyTorch faster in {wins.get('torch', 0)}, TensorFlow in {wins.get('tf', 0)}, "
            f"tie (95% interval includes 1) in {wins.get('tie', 0)} of {len(g)} cases; "
            f"median TF/PyTorch time ratio {med:.2f} ({lead} ahead overall)."
        )
    bad = comparison[(comparison["params_agree"] == False) | (comparison["macs_agree"] == False)]  # noqa: E712
    if not bad.empty:
        lines.append(f"BUG: {len(bad)} case(s) where the frameworks disagree on params or MACs.")
    return lines
