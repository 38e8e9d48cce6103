"""``cnnbench profile --layer-times`` output: the measured per-layer times as tables (no framework).

``tables`` turns the result of ``cnnbench.inspection.layer_times.measure_layer_times`` (plain JSON) into tables in the
results-page format (caption, columns, align, rows): a per-kind summary first (where each framework's step
goes: "depthwise convs take 41% of one step and 18% of the other's"), the rows outside any layer, then one
row per layer grouped by kind. ``render`` prints them as text, Markdown or CSV; ``result_file`` wraps them
with the provenance a committed result (``results/<slug>.json``) needs.
"""
from __future__ import annotations

import csv
import io

from cnnbench.core.layer_time_match import EXECUTOR as EXECUTOR_ROW
from cnnbench.reports.results_pages import FORMAT, _markdown_table

NAMES = {"torch": "PyTorch", "tf": "Keras (TF)"}


def _ms(seconds: float | None) -> str:
    return "-" if seconds is None else f"{1e3 * seconds:.3f}"


def _pct(share: float | None) -> str:
    return "-" if share is None else f"{100 * share:.1f}%"


def _ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}x"


def _names(result: dict) -> list[str]:
    return [NAMES.get(fw, fw) for fw in result["frameworks"]]


def summary_table(result: dict) -> dict:
    fws, names = result["frameworks"], _names(result)
    columns = ["kind", "layers"]
    for n in names:
        columns += [f"{n} ms", f"{n} share"]
    if len(fws) == 2:
        columns.append(f"{names[1]} / {names[0]}")
    rows = []
    for kind, entry in result["kinds"].items():
        row = [kind, entry["layers"]]
        for fw in fws:
            row += [_ms(entry[fw]["time_s"]), _pct(entry[fw]["share"])]
        if len(fws) == 2:
            row.append(_ratio(entry["ratio"]))
        rows.append(row)
    for label, key in (("step, profiled (wall)", "wall_s"), ("step, untraced (median)", "step_s")):
        row = [label, ""]
        for fw in fws:
            t = result["totals"][fw]
            row += [_ms(t[key]), "100.0%" if key == "wall_s" else ""]
        if len(fws) == 2:
            a, b = (result["totals"][fw][key] for fw in fws)
            row.append(_ratio(b / a if a else None))
        rows.append(row)
    caption = (f"{result['model']}, {result['mode']}, batch {result['batch']}, {result['input_size']} px: "
               f"time per step by layer kind (share of the profiled step's wall time)"
               + (f"; a ratio above 1: {names[1]} takes longer" if len(fws) == 2 else ""))
    return {"caption": caption, "columns": columns, "align": ["left"] + ["right"] * (len(columns) - 1), "rows": rows}


def outside_table(result: dict) -> dict:
    fws, names = result["frameworks"], _names(result)
    labels = []
    for fw in fws:
        labels += [k for k in result["totals"][fw]["outside"] if k not in labels]
    rows = [[label] + [_ms(result["totals"][fw]["outside"].get(label)) if label in result["totals"][fw]["outside"]
                       else "-" for fw in fws] for label in labels]
    return {"caption": "Time outside any layer, per step", "columns": ["row"] + [f"{n} ms" for n in names],
            "align": ["left"] + ["right"] * len(fws), "rows": rows}


def layer_table(result: dict) -> dict:
    """One row per layer, grouped by kind (the summary's order), in graph order within a kind."""
    fws, names = result["frameworks"], _names(result)
    train = result["mode"] == "train"
    columns = ["layer", "kind"]
    for n in names:
        columns += [f"{n} ms", f"{n} share"] + ([f"{n} fwd / bwd ms"] if train else [])
    if len(fws) == 2:
        columns.append(f"{names[1]} / {names[0]}")
    columns.append("notes")
    folded = {fw: result["totals"][fw]["folded"] for fw in fws}
    moved = {fw: result["totals"][fw]["moved"] for fw in fws}
    order = {kind: i for i, kind in enumerate(result["kinds"])}
    rows = []
    for r in sorted(result["rows"], key=lambda r: order.get(r["kind"], len(order))):
        row = [r["name"], r["kind"]]
        notes = []
        for fw, n in zip(fws, names):
            c = r[fw]
            row += [_ms(c["time_s"]), _pct(c["share"])]
            if train:
                row.append(f"{_ms(c['forward_s'])} / {_ms(c['backward_s'])}")
            notes += [f"{n}: includes {k}" for k, owner in folded[fw].items() if owner == r["name"]]
            notes += [f"{n}: {k} (a fused op) counted here" for k, owner in moved[fw].items() if owner == r["name"]]
        if len(fws) == 2:
            row.append(_ratio(r.get("ratio")))
        row.append("; ".join(notes))
        rows.append(row)
    return {"caption": "Per layer (self time of the ops under the layer's name, forward and backward), grouped by kind",
            "columns": columns, "align": ["left", "left"] + ["right"] * (len(columns) - 3) + ["left"], "rows": rows}


def tables(result: dict) -> list[dict]:
    return [summary_table(result), outside_table(result), layer_table(result)]


# the executor's share of a profiled Keras step above which the layer times cannot be read as the step's: in
# the seven measured steps of results/layer-times-*-2026-12-05 it was 2.5% to 15% (the larger ones on a loaded
# machine), in RegNetY-400MF's Keras training 95% (results/keras-grouped-conv-xla-2026-12-06: its grouped
# convolutions run compiled with XLA)
EXECUTOR_WARNING = 0.25


def check_lines(result: dict) -> list[str]:
    """How well the rows add up to the step, per framework (the bookkeeping check)."""
    out = []
    for fw, n in zip(result["frameworks"], _names(result)):
        t = result["totals"][fw]
        overhead = t["wall_s"] / t["step_s"] if t.get("step_s") else None
        out.append(f"{n}: layers {_pct(t['layers_s'] / t['wall_s'])} and rows outside layers "
                   f"{_pct((t['profiled_s'] - t['layers_s']) / t['wall_s'])} of the profiled step: "
                   f"{_pct(t['accounted'])} accounted for; the profiled step took {_ratio(overhead)} the untraced one")
        executor = t.get("outside", {}).get(EXECUTOR_ROW)
        if executor and t.get("wall_s") and executor / t["wall_s"] > EXECUTOR_WARNING:
            out.append(f"{n}: {_pct(executor / t['wall_s'])} of the profiled step is under \"{EXECUTOR_ROW}\", "
                       "where no op event of TensorFlow's profiler is: a function compiled with XLA runs there "
                       "unseen (Keras compiles every grouped convolution so; a row's keras_xla_grouped_convs counts "
                       "them: docs/profiling.md), and the layers' times leave it out")
    return out


def render(result: dict, fmt: str = "table") -> str:
    """``table`` (aligned text), ``markdown`` or ``csv`` (one CSV block per table, a blank line between)."""
    blocks = []
    for table in tables(result):
        if fmt == "markdown":
            blocks.append("\n".join([f"**{table['caption']}**", ""] + _markdown_table(table["columns"], table["rows"],
                                                                                    table["align"])))
        elif fmt == "csv":
            buf = io.StringIO()
            w = csv.writer(buf, lineterminator="\n")
            w.writerow(table["columns"])
            w.writerows(table["rows"])
            blocks.append(buf.getvalue().rstrip("\n"))
        else:
            cells = [[str(c) for c in table["columns"]]] + [[str(c) for c in row] for row in table["rows"]]
            widths = [max(len(r[i]) for r in cells) for i in range(len(cells[0]))]
            line = lambda r: "  ".join(c.rjust(w) if a == "right" else c.ljust(w)  # noqa: E731
                                       for c, w, a in zip(r, widths, table["align"])).rstrip()
            blocks.append("\n".join([table["caption"], line(cells[0]), line(["-" * w for w in widths])]
                                    + [line(r) for r in cells[1:]]))
    if fmt != "csv":
        blocks.append("\n".join(check_lines(result)))
    return "\n\n".join(blocks) + "\n"


def result_file(result: dict, *, title: str, date: str, machine: dict, command: str, commit: str | None,
                notes: list[str]) -> dict:
    """A committed result (``results/<slug>.json``, format of ``cnnbench.reports.results_pages``)."""
    versions = {}
    for fw in result["frameworks"]:  # each worker's own versions ("backend_version" is per runtime)
        versions.update({(f"{fw} {k}" if k == "backend_version" else k): str(v)
                         for k, v in result["workers"][fw]["versions"].items()})
    settings = "; ".join(f"{NAMES.get(fw, fw)}: " + ", ".join(f"{k}={v}" for k, v in result["workers"][fw]["settings"].items()
                                                                if k.startswith("setting_"))
                         for fw in result["frameworks"])
    return {"format": FORMAT, "title": title, "dates": [date], "machine": machine, "versions": versions,
            "settings": settings, "commit": commit, "commands": [{"as_run": command, "now": None}],
            "source": "the command's JSON output (--format json), rendered by cnnbench.reports.layer_time_tables",
            "raw_files": [], "tables": tables(result),
            "facts": {f"{NAMES.get(fw, fw)} method": result["totals"][fw]["method"] for fw in result["frameworks"]},
            "notes": check_lines(result) + notes}
