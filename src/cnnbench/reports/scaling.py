"""Data-parallel scaling (issue #17): images/s and scaling efficiency against world size.

Weak scaling: the batch is per worker, so N workers process N x batch images per step. Efficiency is
images/s at N workers over N x images/s at one worker of the same case in the same run (the harness
records it as ``scaling_efficiency``; where a row lacks it and the run has the world-size-1 row, it
is computed here the same way).
"""
from __future__ import annotations

import pandas as pd

CASE = ["run", "machine", "machine_id", "model", "runtime", "mode", "batch", "device", "input_size", "precision",
        "layout", "compiled_requested"]
COLUMNS = ["run", "machine", "model", "runtime", "mode", "batch", "device", "input_size", "precision", "world_size",
           "global_batch", "images_per_s", "scaling_efficiency", "efficiency_source", "dist_backend"]


def _num(v):
    return None if v is None or pd.isna(v) else float(v)


def scaling_frame(results: pd.DataFrame) -> pd.DataFrame:
    """One row per world size of every case that ran at more than one world size (usable timings only)."""
    if results.empty or "world_size" not in results.columns:
        return pd.DataFrame(columns=COLUMNS)
    df = results[results["timing_ok"].fillna(True).astype(bool)].copy()
    df["compiled_requested"] = (df.get("torch_compile", pd.Series(index=df.index, dtype=object)).eq(True)
                                | df.get("tf_jit", pd.Series(index=df.index, dtype=object)).eq(True))
    rows = []
    for _, g in df.groupby(CASE, dropna=False, sort=True):
        if g["world_size"].nunique() < 2:
            continue
        single = g[g["world_size"] == 1]
        base = single.iloc[-1] if not single.empty else None
        base_ips = None if base is None else _num(base.get("images_per_s"))
        for r in g.sort_values("world_size").to_dict("records"):
            ips = _num(r.get("images_per_s"))
            if ips is None and _num(r.get("median_s")):
                ips = r["global_batch"] / r["median_s"]
            eff, source = _num(r.get("scaling_efficiency")), "recorded"
            if r["world_size"] == 1:
                eff, source = 1.0, "by definition"
            elif eff is None:
                source = ""
                if base_ips and ips:
                    eff, source = ips / (r["world_size"] * base_ips), "computed"
            rows.append({k: r.get(k) for k in COLUMNS} | {"images_per_s": ips, "scaling_efficiency": eff,
                                                          "efficiency_source": source})
    return pd.DataFrame(rows, columns=COLUMNS)
