"""matplotlib figures of a report, each returned as a self-contained SVG document (bytes).

Every chart colours a runtime the same way (docs/reports.md). Callers pass only usable figures: rows whose
timing is NaN/inf, and % of peak the harness flagged, never reach a plot.
"""
from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")  # no display; must precede pyplot
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402
from matplotlib.ticker import FuncFormatter, NullFormatter  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from cnnbench.reports.rows import RUNTIMES  # noqa: E402
from cnnbench.reports.tidy import runs_in_order  # noqa: E402

RUNTIME_COLORS = {"torch": "#ee4c2c", "keras-tf": "#ff8f00", "keras-jax": "#5e35b1", "keras-torch": "#00897b",
                  # the export runtimes: one hue per engine, darker from PyTorch, lighter from Keras
                  "ort-from-torch": "#1565c0", "ort-from-keras": "#64b5f6", "openvino-from-torch": "#2e7d32",
                  "openvino-from-keras": "#81c784", "litert-from-keras": "#f9a825"}
MODE_MARKERS = {"inference": "o", "train": "s", "time_to_accuracy": "D"}
_OTHER = "#555555"

matplotlib.rcParams.update({"svg.hashsalt": "cnnbench", "font.size": 9, "axes.grid": True,
                            "grid.alpha": 0.3, "figure.dpi": 100})


def color(runtime: str) -> str:
    return RUNTIME_COLORS.get(runtime, _OTHER)


def _runtimes(values) -> list[str]:
    present = set(values)
    return [r for r in RUNTIMES if r in present] + sorted(r for r in present if r not in RUNTIMES)


def _plain_log(axis) -> None:
    """Tick labels of a log axis as plain numbers (0.5, 2, 300), not powers like 3 x 10^0."""
    fmt = FuncFormatter(lambda v, _: f"{v:g}")
    axis.set_major_formatter(fmt)
    axis.set_minor_formatter(FuncFormatter(lambda v, _: f"{v:g}" if str(f"{v:g}")[0] in "25" else ""))


def _si(v: float) -> str:
    for factor, suffix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(v) >= factor:
            return f"{v / factor:g}{suffix}"
    return f"{v:g}"


def _si_log(axis) -> None:
    """Decades of a log axis as 1M, 10M, 1G (no mathtext powers: slow to lay out, slower to read)."""
    axis.set_major_formatter(FuncFormatter(lambda v, _: _si(v)))
    axis.set_minor_formatter(NullFormatter())


def _svg(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="svg", metadata={"Date": None})  # tight_layout has made room for legends
    plt.close(fig)
    return buf.getvalue()


def _label(row) -> str:
    """x label of a bar group: the caller's ``bar_group`` (names the input size where a model ran at several)."""
    return row.get("bar_group") or f"{row['model']}\nbs{row['batch']}"


def _modes(df: pd.DataFrame, value: str) -> list[str]:
    present = [m for m in df.loc[df[value].notna(), "mode"].dropna().unique()]
    return [m for m in ("inference", "train") if m in present] + sorted(
        m for m in present if m not in ("inference", "train"))


_HATCHES = ["", "///", "...", "xxx", "\\\\\\", "ooo", "---", "+++"]


def _series(df: pd.DataFrame) -> list[tuple[str, str]]:
    """(runtime, variant) pairs in runtime order, the plain case ("") first within a runtime."""
    pairs = set(zip(df["runtime"], df.get("bar_variant", pd.Series("", index=df.index)).fillna("")))
    order = {r: i for i, r in enumerate(RUNTIMES)}
    return sorted(pairs, key=lambda p: (order.get(p[0], 99), p[0], p[1] != "", p[1]))


def _bars(df: pd.DataFrame, value: str, ylabel: str, title: str, *, log: bool = False, scale: float = 1.0):
    """Grouped bars: one group per model x batch, one bar per runtime (a variant of a runtime, such as
    bf16 or XLA, in the runtime's colour with a hatch), one panel per mode."""
    modes = _modes(df, value)
    df = df.assign(bar_variant=df.get("bar_variant", pd.Series("", index=df.index)).fillna(""))
    n_groups = len({_label(r) for r in df.to_dict("records")})
    series = _series(df[df[value].notna()])
    hatch = {v: _HATCHES[1 + i % (len(_HATCHES) - 1)] for i, v in enumerate(dict.fromkeys(v for _, v in series if v))}
    hatch[""] = ""
    fig, axes = plt.subplots(len(modes), 1, squeeze=False,
                             figsize=(max(6.0, n_groups * (0.35 * len(series) + 0.5) + 2.5), 3.0 * len(modes)))
    for ax, mode in zip(axes[:, 0], modes):
        d = df[(df["mode"] == mode) & df[value].notna()]
        labels = list(dict.fromkeys(_label(r) for r in d.sort_values(["model", "batch"]).to_dict("records")))
        x = np.arange(len(labels))
        here = [s_ for s_ in series if ((d["runtime"] == s_[0]) & (d["bar_variant"] == s_[1])).any()]
        width = 0.8 / max(1, len(here))
        for i, (rt, variant) in enumerate(here):
            rows = d[(d["runtime"] == rt) & (d["bar_variant"] == variant)].to_dict("records")
            sub = {_label(r): r[value] * scale for r in rows}
            heights = [sub.get(lbl, np.nan) for lbl in labels]
            ax.bar(x + (i - (len(here) - 1) / 2) * width, heights, width, label=f"{rt} {variant}".strip(),
                   color=color(rt), hatch=hatch[variant], edgecolor="white" if variant else None, linewidth=0)
        ax.set_xticks(x, labels, fontsize=7.5)
        ax.set_ylabel(ylabel)
        ax.set_title(f"{title} - {mode}")
        if log:
            ax.set_yscale("log")
            _plain_log(ax.yaxis)
        ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.tight_layout()
    return _svg(fig)


def step_time_bars(df: pd.DataFrame) -> bytes:
    # log: step times of the zoo span four orders of magnitude (LeNet-5 ~0.1 ms, VGG ~1 s on a CPU);
    # on a linear axis every small model would be an invisible sliver
    return _bars(df, "median_s", "median step time (ms, log scale)", "Step time", log=True, scale=1e3)


def memory_bars(df: pd.DataFrame, method: str | None) -> bytes:
    """``df`` holds rows of one memory measurement method only: two methods never share an axis."""
    # log: peaks range from a few MiB (LeNet-5) to many GiB (VGG training)
    return _bars(df, "peak_memory_bytes", "peak memory (MiB, log scale)",
                 f"Peak memory ({method})" if method else "Peak memory", log=True, scale=1 / 2**20)


def compile_bars(df: pd.DataFrame) -> bytes:
    return _bars(df, "compile_s", "first step minus a steady step (s)", "Compile / first-call overhead")


_SWEEP = ["model", "runtime", "mode", "device", "input_size", "bar_variant"]  # one line: only the batch changes


def _sweep_keys(df: pd.DataFrame) -> list[str]:
    return [k for k in _SWEEP if k in df.columns]


def has_batch_sweep(df: pd.DataFrame) -> bool:
    return bool((df.groupby(_sweep_keys(df), dropna=False)["batch"].nunique() > 1).any())


def throughput_vs_batch(df: pd.DataFrame) -> bytes:
    keys = _sweep_keys(df)
    swept = df.groupby(keys, dropna=False).filter(lambda g: g["batch"].nunique() > 1)
    modes = [m for m in ("inference", "train") if m in set(swept["mode"])]
    fig, axes = plt.subplots(1, len(modes), figsize=(5.5 * len(modes), 3.6), squeeze=False)
    markers = dict(zip(sorted(set(swept["model"])), "osD^vP*X"))
    several_inputs = swept.groupby("model")["input_size"].nunique().to_dict()
    for ax, mode in zip(axes[0], modes):
        for key, g in swept[swept["mode"] == mode].groupby([k for k in keys if k != "mode"], dropna=False):
            r = dict(zip([k for k in keys if k != "mode"], key))
            g = g.sort_values("batch")
            label = f"{r['model']} {r['runtime']}" + (f" {r['input_size']} px" if several_inputs[r["model"]] > 1 else "")
            label += f" {r['bar_variant']}" if r.get("bar_variant") else ""
            ax.plot(g["batch"], g["images_per_s"], marker=markers.get(r["model"], "o"), color=color(r["runtime"]),
                    label=label, linestyle="--" if r.get("bar_variant") else "-")
        # log2 x: batch sizes are powers of two; log y: models differ by orders of magnitude in images/s
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        _plain_log(ax.xaxis)
        _plain_log(ax.yaxis)
        ax.set_xlabel("batch size")
        ax.set_ylabel("images/s (log scale)")
        ax.set_title(f"Throughput vs batch - {mode}")
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.tight_layout()
    return _svg(fig)


def _place_labels(ax, xs, ys, texts, fontsize: float = 7.5, avoid=None) -> list:
    """Put a short label beside each point where it overlaps neither another label nor a point
    (``avoid``: every point drawn, default the labelled ones; greedy, in display pixels); where every
    spot is taken, the least crowded one."""
    fig = ax.figure
    ax.get_xlim(), ax.get_ylim()  # settles autoscaling, so data -> pixel transforms are final (no full draw)
    to_px = ax.transData.transform
    pts = to_px(np.column_stack([xs, ys]))
    obstacles = to_px(np.column_stack(avoid)) if avoid is not None else pts
    px_per_pt = fig.dpi / 72.0
    radius = 4.0 * px_per_pt
    # candidate spots: above first (labels sit on top of a column of points), then rings further out
    offsets = [(0, 6), (5, 3), (-5, 3), (6, -5), (-6, -5)]
    for r in (12, 18, 26, 36, 48):
        offsets += [(round(r * np.cos(a)), round(r * np.sin(a))) for a in np.linspace(np.pi / 2, 2.5 * np.pi, 12,
                                                                                        endpoint=False)]
    placed: list[tuple[float, float, float, float]] = []
    inside = tuple(ax.bbox.extents)
    artists = []

    def overlap(a, b) -> float:
        w = min(a[2], b[2]) - max(a[0], b[0])
        h = min(a[3], b[3]) - max(a[1], b[1])
        return max(w, 0) * max(h, 0)

    order = np.argsort(pts[:, 0])
    for i in order:
        (px, py), text = pts[i], texts[i]
        w = (len(text) * fontsize * 0.62 + 2) * px_per_pt  # glyphs + the text box's padding
        h = fontsize * 1.1 * px_per_pt
        best, best_cost = None, None
        for dx, dy in offsets:
            x0 = px + dx * px_per_pt - (w if dx < 0 else 0 if dx > 0 else w / 2)
            y0 = py + dy * px_per_pt
            box = (x0, y0, x0 + w, y0 + h)
            cost = sum(overlap(box, p) for p in placed)
            cost += sum(overlap(box, (qx - radius, qy - radius, qx + radius, qy + radius)) for qx, qy in obstacles)
            cost += (box[2] - box[0]) * (box[3] - box[1]) - overlap(box, inside)  # any part outside the axes
            if best_cost is None or cost < best_cost:
                best, best_cost = (dx, dy, box), cost
            if cost == 0:
                break
        dx, dy, box = best
        placed.append(box)
        # a hairline from label to point, so a label pushed aside still says which point it names
        artists.append(ax.annotate(text, (xs[i], ys[i]), xytext=(dx, dy), textcoords="offset points",
                                   fontsize=fontsize, ha="right" if dx < 0 else "left" if dx > 0 else "center",
                                   va="bottom", zorder=5,
                                   arrowprops={"arrowstyle": "-", "color": "#888", "lw": 0.5, "shrinkA": 0,
                                               "shrinkB": 3}))
    return artists


def flops_vs_time(df: pd.DataFrame) -> bytes:
    """FLOPs per step against step time; each runtime's measured GEMM peak as a dashed line.

    A point on its runtime's line would run at the machine's GEMM peak; the vertical gap is the
    factor lost to memory traffic, small kernels and framework overhead. Every runtime of a case has
    the same FLOPs, so a case's points stand in one column: the column carries one number, placed
    where it overlaps no other label or point, and a key beside the plot names the model (names
    written at the points piled up on one another where models are alike).
    """
    fig, ax = plt.subplots(figsize=(7.5, 4.8))
    d = df[df["flops"].notna() & df["median_s"].notna()].assign(ms=lambda x: 1e3 * x["median_s"])
    for (rt, mode), g in d.groupby(["runtime", "mode"]):
        ax.scatter(g["flops"], g["ms"], color=color(rt), marker=MODE_MARKERS.get(mode, "o"),
                   alpha=0.85, zorder=3, s=28, edgecolors="white", linewidths=0.4)
    lo, hi = d["flops"].min() / 2, d["flops"].max() * 2
    xs = np.array([lo, hi])
    runtimes = _runtimes(d["runtime"])
    peaks = {}
    for rt in runtimes:
        peak = d.loc[d["runtime"] == rt, "gemm_peak_gflops_per_s"].dropna()
        if not peak.empty:
            peaks[rt] = float(peak.median()) * 1e9
            ax.plot(xs, 1e3 * xs / peaks[rt], color=color(rt), linewidth=1, linestyle="--")
    # log-log: FLOPs and times span several decades, and a constant FLOP/s rate is then a straight line
    ax.set_xscale("log")
    ax.set_yscale("log")
    _si_log(ax.xaxis)
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.yaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel("FLOPs per step (2 x MACs; train = 3 x forward)")
    ax.set_ylabel("median step time (ms)")
    ax.set_title("FLOPs vs step time (dashed: each runtime's measured GEMM peak)")
    models = sorted(set(d["model"]), key=lambda m: (d.loc[d["model"] == m, "flops"].min(), m))
    number = {m: str(i) for i, m in enumerate(models, 1)}
    ax.legend(handles=_flops_legend(d, runtimes, peaks), fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1.0))
    key = "\n".join(f"{number[m]:>2}  {m}" for m in models)
    ax.text(1.03, 0.0, "models\n" + key, transform=ax.transAxes, fontsize=7, va="bottom", ha="left",
            family="monospace", bbox={"boxstyle": "round", "facecolor": "white", "edgecolor": "#ccc"})
    fig.tight_layout()  # first: labels are placed in the pixels of the final layout
    columns = d.groupby("flops").agg(top=("ms", "max"), models=("model", lambda m: sorted(set(m))))
    _place_labels(ax, columns.index.to_numpy(float), columns["top"].to_numpy(float),
                  [",".join(number[m] for m in ms) for ms in columns["models"]], avoid=(
                      d["flops"].to_numpy(float), d["ms"].to_numpy(float)))
    return _svg(fig)


def _flops_legend(d: pd.DataFrame, runtimes: list[str], peaks: dict) -> list:
    handles = [Line2D([], [], color=color(rt), marker="o", linestyle="--" if rt in peaks else "",
                      label=f"{rt}" + (f" (peak {peaks[rt] / 1e12:.2f} TFLOP/s)" if rt in peaks else ""))
               for rt in runtimes]
    return handles + [Line2D([], [], color="#666", marker=MODE_MARKERS.get(m, "o"), linestyle="", label=m)
                      for m in [m for m in MODE_MARKERS if m in set(d["mode"])]]


def trend(history: pd.DataFrame, flagged: set[tuple[str, str]], max_panels: int = 24) -> bytes:
    """Median step time (with IQR) of each benchmark across runs; runs that compare flags are marked.

    ``history`` has one row per run x case (columns run, run_datetime, case_id, runtime, median_s, q1_s,
    q3_s); ``flagged`` holds (case_id, run) pairs where the detector found a regression against the run before.
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
        ax.errorbar(g["x"], y, yerr=np.clip(err, 0, None), marker="o", capsize=2, color=color(g["runtime"].iloc[0]))
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


def history_series(labels: list[str], values: list[float], steps: list[dict]) -> bytes:
    """One series of the results store (cnnbench history): a point per commit, oldest first, in ms; each step
    found in it is a shaded band from its last commit before to its first commit after, with its ratio.

    ``steps``: plain dicts with ``index`` (the first point after the step), ``ratio`` and ``p_value``."""
    x = np.arange(len(values))
    y = np.asarray(values, dtype=float) * 1e3
    fig, ax = plt.subplots(figsize=(9.0, 2.8))
    ax.plot(x, y, marker="o", markersize=3, linewidth=1, color="#444")
    for step in steps:
        i = step["index"]
        ax.axvspan(i - 1, i, color="#d62728" if step["ratio"] > 1 else "#2ca02c", alpha=0.25, linewidth=0)
        ax.annotate(f"{step['ratio']:.3f}x (p={step['p_value']:.4f})", xy=(i - 0.5, float(np.max(y))),
                    xytext=(0, 2), textcoords="offset points", ha="center", va="bottom", fontsize=7)
    ticks = x if len(x) <= 24 else x[:: int(np.ceil(len(x) / 24))]
    ax.set_xticks(ticks, [labels[i][:7] for i in ticks], rotation=60, fontsize=6)
    ax.set_ylabel("median step (ms)")
    ax.set_xlabel("commit (oldest first)", fontsize=8)
    ax.margins(y=0.15)
    fig.tight_layout()
    return _svg(fig)


def scaling(frame: pd.DataFrame) -> bytes:
    """Per model: images/s and scaling efficiency against world size, a line per runtime.

    Linear axes: world sizes are few and small, and ideal weak scaling is then a straight line
    (dotted, from each runtime's one-worker figure) and an efficiency of 1.
    """
    keys = frame[["model", "mode", "batch", "device"]].drop_duplicates().to_dict("records")
    fig, axes = plt.subplots(len(keys), 2, figsize=(10.0, 2.9 * len(keys)), squeeze=False)
    for (ax_ips, ax_eff), key in zip(axes, keys):
        d = frame
        for k, v in key.items():
            d = d[d[k] == v]
        for rt in _runtimes(d["runtime"]):
            g = d[d["runtime"] == rt].sort_values("world_size")
            ax_ips.plot(g["world_size"], g["images_per_s"], marker="o", color=color(rt), label=rt)
            one = g[g["world_size"] == 1]["images_per_s"]
            if not one.empty:
                ax_ips.plot(g["world_size"], g["world_size"] * float(one.iloc[0]), linestyle=":", color=color(rt),
                            linewidth=1, label=f"{rt} ideal")
            eff = g.dropna(subset=["scaling_efficiency"])
            ax_eff.plot(eff["world_size"], eff["scaling_efficiency"], marker="o", color=color(rt), label=rt)
        sizes = sorted(set(d["world_size"]))
        title = f"{key['model']} {key['mode']}, {key['batch']} per worker, {key['device']}"
        ax_ips.set(xlabel="world size (workers)", ylabel="images/s (whole job)", title=title, xticks=sizes)
        ax_ips.set_ylim(bottom=0)
        ax_eff.axhline(1.0, color="#999", linewidth=1)
        ax_eff.set(xlabel="world size (workers)", ylabel="scaling efficiency", title=f"{title}: efficiency",
                   xticks=sizes)
        ax_eff.set_ylim(0, max(1.2, float(d["scaling_efficiency"].max() or 1) * 1.1))
        ax_ips.legend(fontsize=7, loc="upper left")
        ax_eff.legend(fontsize=7, loc="lower left")
    fig.tight_layout()
    return _svg(fig)


def mode_view(frame: pd.DataFrame) -> bytes:
    """Horizontal bars: each variant's speed-up over the plain case of its runtime, grouped per model.

    Linear axis around 1 (the plain case): speed-ups are ratios near 1, where a log axis would only
    blur the difference between, say, 1.2x and 1.4x.
    """
    d = frame.dropna(subset=["speedup"]).reset_index(drop=True)
    labels, ys, y = [], [], 0.0
    previous = None
    for r in d.to_dict("records"):
        group = (r["machine"], r["model"], r["mode"], r["batch"], r["device"])
        if previous is not None and group != previous:
            y += 0.8  # a gap between models
        previous = group
        labels.append(f"{r['model']} {r['mode']} bs{r['batch']} | {r['runtime']} | {r['variant']}")
        ys.append(y)
        y += 1.0
    fig, ax = plt.subplots(figsize=(9.0, max(2.5, 0.32 * len(ys) + 1.2)))
    low = (d["speedup"] - d["speedup_ci_low"]).clip(lower=0).fillna(0)
    high = (d["speedup_ci_high"] - d["speedup"]).clip(lower=0).fillna(0)
    ax.barh(ys, d["speedup"], xerr=np.vstack([low, high]), color=[color(r) for r in d["runtime"]],
            height=0.75, capsize=2, error_kw={"linewidth": 0.8})
    ax.axvline(1.0, color="#333", linewidth=1)
    ax.set_yticks(ys, labels, fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel("speed-up over the plain fp32 case of the same runtime (images/s ratio; 95% interval)")
    ax.set_title("Modes side by side")
    handles = [Patch(color=color(rt), label=rt) for rt in _runtimes(d["runtime"])]
    ax.legend(handles=handles, fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.tight_layout()
    return _svg(fig)
