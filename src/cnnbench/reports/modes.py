"""The mode view (issue #19 item 3): one model, every way it was run, side by side.

When the runs given to the report measured the same model, mode and batch in several variants
(precision, layout, torch.compile / XLA, world size) or on runtimes measured in different runs (a
run per Keras backend, say), the comparison table, which pairs runtimes within one run, cannot show
them together. This view does: each variant's images/s and its speed-up over the *plain* case of the
same runtime (fp32, no compilation requested, native layout: NCHW for torch, NHWC for Keras, one
worker), with a 95% bootstrap interval from the raw rounds, and the fastest variant per runtime and
per model (among one-worker variants: more workers is more hardware, shown by the scaling view).
"""
from __future__ import annotations

import pandas as pd

from cnnbench.core.stats import ratio_of_medians
from cnnbench.reports.rows import NATIVE_LAYOUT, RUNTIMES
from cnnbench.reports.tidy import newest_per_case, raw_rounds

GROUP = ["machine_id", "machine", "model", "mode", "batch", "device", "input_size"]
VARIANT = ["precision", "layout", "compiled_requested", "world_size"]
COLUMNS = GROUP[1:] + ["runtime", "variant", "plain", "run", "median_s", "global_batch", "images_per_s",
                       "speedup", "speedup_ci_low", "speedup_ci_high", "fastest_of_runtime", "fastest_of_model",
                       "note"]
_COMPILE_NAME = {"torch": "torch.compile", "keras-tf": "XLA", "keras-torch": "torch.compile", "keras-jax": "jit"}


def variant_label(runtime: str, precision, layout, compiled: bool, world_size) -> str:
    parts = []
    if precision and precision != "fp32":
        parts.append(str(precision))
    if layout and layout != NATIVE_LAYOUT.get(runtime):
        parts.append(str(layout).upper())
    if compiled:
        parts.append(_COMPILE_NAME.get(runtime, "compiled"))
    if world_size and int(world_size) > 1:
        parts.append(f"{int(world_size)} workers")
    return " + ".join(parts) if parts else "plain fp32" + (" (always jit)" if runtime == "keras-jax" else " eager")


def _is_plain(r: dict) -> bool:
    return (r["precision"] in ("fp32", None) and not r["compiled_requested"] and int(r["world_size"] or 1) == 1
            and (r["layout"] in (None, NATIVE_LAYOUT.get(r["runtime"]))))


def mode_frame(results: pd.DataFrame) -> pd.DataFrame:
    """The rows of the mode view; empty when no model was run in more than one way that the
    comparison table cannot already show."""
    if results.empty:
        return pd.DataFrame(columns=COLUMNS)
    df = newest_per_case(results[results["timing_ok"].fillna(True).astype(bool)],
                         ["machine_id", "case_id", "input_size"]).copy()
    df["compiled_requested"] = [r.get("torch_compile") is True or r.get("tf_jit") is True
                                for r in df.to_dict("records")]
    out = []
    for key, g in df.groupby(GROUP, dropna=False, sort=True):
        combos = g.groupby(["runtime"] + VARIANT, dropna=False).ngroups
        several_variants = any(len(x[VARIANT].astype(str).drop_duplicates()) > 1 for _, x in g.groupby("runtime"))
        if combos < 2 or not (several_variants or g["run"].nunique() > 1):
            continue
        rows = []
        for rt in [r for r in RUNTIMES if r in set(g["runtime"])]:
            sub = g[g["runtime"] == rt].to_dict("records")
            plain = next((r for r in sub if _is_plain(r)), None)
            for r in sub:
                row = dict(zip(GROUP, key))
                row.update(runtime=rt, run=r["run"], median_s=r["median_s"], global_batch=r["global_batch"],
                           plain=_is_plain(r),
                           variant=variant_label(rt, r["precision"], r["layout"], r["compiled_requested"],
                                                 r["world_size"]))
                row["images_per_s"] = r["global_batch"] / r["median_s"]
                if r is plain:
                    row["speedup"] = 1.0
                elif plain is None:
                    row["note"] = f"no plain fp32 {rt} case to compare with"
                else:
                    _speedup(row, r, plain)
                rows.append(row)
        _mark_fastest(rows)
        out += rows
    return pd.DataFrame(out, columns=COLUMNS)


def _speedup(row: dict, r: dict, plain: dict) -> None:
    """images/s of the variant over images/s of the plain case; rounds give the interval."""
    scale = r["global_batch"] / plain["global_batch"]  # a step of N workers processes N x the images
    a, b = raw_rounds(r.get("data_s")), raw_rounds(plain.get("data_s"))
    if a and b:
        est = ratio_of_medians(a, b)  # median(plain) / median(variant): > 1 when the variant is faster
        row.update(speedup=est.ratio * scale, speedup_ci_low=est.low * scale, speedup_ci_high=est.high * scale)
    else:
        row["speedup"] = plain["median_s"] / r["median_s"] * scale
        row["note"] = "no raw rounds saved: no interval"


def _mark_fastest(rows: list[dict]) -> None:
    """Winners on the same hardware only: a run with more workers uses more of it (the scaling view)."""
    rows = [r for r in rows if "workers" not in r["variant"]]
    if not rows:
        return
    best = max(rows, key=lambda r: r["images_per_s"])
    best["fastest_of_model"] = True
    for rt in {r["runtime"] for r in rows}:
        mine = [r for r in rows if r["runtime"] == rt]
        if len(mine) > 1:
            max(mine, key=lambda r: r["images_per_s"])["fastest_of_runtime"] = True
