"""matplotlib figures of a report, each returned as a self-contained SVG document (bytes)."""
from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")  # no display; must precede pyplot
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from cnnbench.reports.tidy import runs_in_order  # noqa: E402

FRAMEWORK_COLORS = {"torch": "#ee4c2c", "tf": "#ff8f00"}
FRAMEWORK_LABELS = {"torch": "PyTorch", "tf": "TensorFlow"}
MODE_MARKERS = {"inference": "o", "train": "s"}

matplotlib.rcParams.update({"svg.hashsalt": "cnnbench", "font.size": 9, "axes.grid": True,
                            "grid.alpha": 0.3, "figure.dpi": 100})


def _svg(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="svg", bbox_inches="tight", metadata={"Date": None})
    plt.close(fig)
    return buf.getvalue()


def _label(row) -> str:
    return f"{row['model']}\nbs{row['batch']}"


def _bars(df: pd.DataFrame, value: str, ylabel: str, title: str, *, log: bool = False, scale: float = 1.0):
    """Grouped bars: one group per model x batch, one bar per framework, one panel per mode."""
    present = [m for m in df.loc[df[value].notna(), "mode"].dropna().unique()]
    modes = [m for m in ("inference", "train") if m in present] + sorted(
        m for m in present if m not in ("inference", "train"))
    fig, axes = plt.subplots(len(modes), 1, figsize=(max(6.0, 0.55 * df["model"].nunique() * 2 + 2),
                                                     3.0 * len(modes)), squeeze=False)
    for ax, mode in zip(axes[:, 0], modes):
        d = df[(df["mode"] == mode) & df[value].notna()]
        labels = list(dict.fromkeys(_label(r) for r in d.sort_values(["model", "batch"]).to_dict("records")))
        x = np.arange(len(labels))
        frameworks = [f for f in ("torch", "tf") if f in set(d["framework"])]
        width = 0.8 / max(1, len(frameworks))
        for i, fw in enumerate(frameworks):
            sub = {(_label(r)): r[value] * scale for r in d[d["framework"] == fw].to_dict("records")}
            heights = [sub.get(lbl, np.nan) for lbl in labels]
            ax.bar(x + (i - (len(frameworks) - 1) / 2) * width, heights, width,
                   label=FRAMEWORK_LABELS.get(fw, fw), color=FRAMEWORK_COLORS.get(fw))
        ax.set_xticks(x, labels, fontsize=7)
        ax.set_ylabel(ylabel)
        ax.set_title(f"{title} - {mode}")
        if log:
            ax.set_yscale("log")
        ax.legend(fontsize=8)
    fig.tight_layout()
    return _svg(fig)


def step_time_bars(df: pd.DataFrame) -> bytes:
    return _bars(df, "median_s", "median step time (ms, log)", "Step time", log=True, scale=1e3)


def memory_bars(df: pd.DataFrame) -> bytes:
    return _bars(df, "peak_memory_bytes", "peak memory (MiB, log)", "Peak memory", log=True, scale=1 / 2**20)


def compile_bars(df: pd.DataFrame) -> bytes:
    return _bars(df, "compile_s", "first step minus a steady step (s)", "Compile / first-call overhead")


def has_batch_sweep(df: pd.DataFrame) -> bool:
    return bool((df.groupby(["model", "framework", "mode", "device"])["batch"].nunique() > 1).any())


def throughput_vs_batch(df: pd.DataFrame) -> bytes:
    swept = df.groupby(["model", "framework", "mode", "device"]).filter(lambda g: g["batch"].nunique() > 1)
    modes = [m for m in ("inference", "train") if m in set(swept["mode"])]
    fig, axes = plt.subplots(1, len(modes), figsize=(5.5 * len(modes), 3.6), squeeze=False)
    for ax, mode in zip(axes[0], modes):
        for (model, fw, device), g in swept[swept["mode"] == mode].groupby(["model", "framework", "device"]):
            g = g.sort_values("batch")
            ax.plot(g["batch"], g["images_per_s"], marker="o", color=FRAMEWORK_COLORS.get(fw),
                    linestyle="-" if fw == "torch" else "--", label=f"{model} {FRAMEWORK_LABELS.get(fw, fw)}")
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("batch size")
        ax.set_ylabel("images/s")
        ax.set_title(f"Throughput vs batch - {mode}")
        ax.legend(fontsize=7)
    fig.tight_layout()
    return _svg(fig)


def flops_vs_time(df: pd.DataFrame) -> bytes:
    """Log-log: FLOPs per step against step time; each framework's measured GEMM peak as a line.

    A point on its framework's line would run at the machine's GEMM peak; the vertical gap is the
    factor lost to memory traffic, small kernels and framework overhead.
    """
    fig, ax = plt.subplots(figsize=(7.0, 4.6))
    d = df[df["flops"].notna() & df["median_s"].notna()]
    for (fw, mode), g in d.groupby(["framework", "mode"]):
        ax.scatter(g["flops"], g["median_s"], color=FRAMEWORK_COLORS.get(fw), marker=MODE_MARKERS.get(mode, "o"),
                   label=f"{FRAMEWORK_LABELS.get(fw, fw)} {mode}", alpha=0.85, zorder=3)
        for r in g.to_dict("records"):
            ax.annotate(r["model"], (r["flops"], r["median_s"]), fontsize=6, xytext=(3, 2),
                        textcoords="offset points")
    lo, hi = d["flops"].min() / 2, d["flops"].max() * 2
    xs = np.array([lo, hi])
    for fw, g in d.groupby("framework"):
        peak = g["gemm_peak_gflops_per_s"].dropna()
        if not peak.empty:
            p = float(peak.median()) * 1e9
            ax.plot(xs, xs / p, color=FRAMEWORK_COLORS.get(fw), linewidth=1,
                    linestyle="-" if fw == "torch" else "--",
                    label=f"{FRAMEWORK_LABELS.get(fw, fw)} GEMM peak {p / 1e12:.2f} TFLOP/s")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("FLOPs per step (2 x MACs; train = 3 x forward)")
    ax.set_ylabel("median step time (s)")
    ax.set_title("FLOPs vs step time (lines: the machine's measured GEMM peak)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    return _svg(fig)


def trend(history: pd.DataFrame, flagged: set[tuple[str, str]], max_panels: int = 24) -> bytes:
    """Median step time (with IQR) of each benchmark across runs; runs that compare flags are marked.

    ``history`` has one row per run x case (columns run, run_datetime, case_id, median_s, q1_s, q3_s);
    ``flagged`` holds (case_id, run) pairs where the detector found a regression against the run before.
    """
    cases = sorted(history["case_id"].unique())[:max_panels]
    cols = min(3, len(cases))
    rows = int(np.ceil(len(cases) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 2.6 * rows), squeeze=False)
    order = runs_in_order(history)
    for ax, case in zip(axes.flat, cases):
        g = history[history["case_id"] == case].copy()
        g["x"] = [order.index(r) for r in g["run"]]
        g = g.sort_values("x")
        y = g["median_s"] * 1e3
        err = np.vstack([(g["median_s"] - g["q1_s"]) * 1e3, (g["q3_s"] - g["median_s"]) * 1e3])
        ax.errorbar(g["x"], y, yerr=np.clip(err, 0, None), marker="o", capsize=2,
                    color=FRAMEWORK_COLORS.get(g["framework"].iloc[0], "#333"))
        bad = g[[(case, r) in flagged for r in g["run"]]]
        if not bad.empty:
            ax.scatter(bad["x"], bad["median_s"] * 1e3, s=120, facecolors="none", edgecolors="red",
                       linewidths=2, zorder=4, label="regression")
            ax.legend(fontsize=7)
        ax.set_title(case, fontsize=8)
        ax.set_xticks(range(len(order)), [str(i + 1) for i in range(len(order))], fontsize=7)
        ax.set_ylabel("ms")
    for ax in list(axes.flat)[len(cases):]:
        ax.set_visible(False)
    fig.supxlabel("run (oldest first; numbers as in the runs table)", fontsize=8)
    fig.tight_layout()
    return _svg(fig)
