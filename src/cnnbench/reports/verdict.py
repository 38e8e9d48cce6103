"""The closing verdict of ``pytest bench`` (issue #19 item 2): a plain-text table for the terminal.

Per model and mode: each runtime's median step time, its time ratio against the reference runtime
with the 95% bootstrap interval of the raw rounds (cnnbench.core.stats, shared with the reports), the
winner or "tie", images/s, peak memory and % of the GEMM peak (or "flagged"); then the skipped cases
with their reasons. A row whose figures look implausible (its time per FLOP far from its family's, its
memory far above what the model can need: cnnbench.reports.plausibility) is marked "!" and the reason
is printed under the table. Pure Python + numpy: the harness calls it at the end of a run, where pandas and
matplotlib need not be installed (tests/test_verdict.py proves neither is imported).
"""
from __future__ import annotations

import textwrap
from dataclasses import dataclass, field
from pathlib import Path

from cnnbench.core.stats import RatioEstimate, faster_side, pair_rule_text, ratio_of_medians
from cnnbench.reports.errors import ReportError
from cnnbench.reports.plausibility import entry, held_from_the_build, implausible
from cnnbench.reports.rows import (REFERENCE_RUNTIME, RUNTIMES, finite, fmt_num, pair_spread, problems, run_spread,
                                   spread_text)
from cnnbench.reports.schema import check_row

_SHORT = {"torch": "torch", "keras-tf": "k-tf", "keras-jax": "k-jax", "keras-torch": "k-torch",
          "ort-from-torch": "ort<t", "ort-from-keras": "ort<k", "openvino-from-torch": "ov<t",
          "openvino-from-keras": "ov<k", "litert-from-keras": "lite<k"}
_GROUP = ("model", "mode", "batch", "device", "input_size", "precision", "compiled", "world_size")


XLA_GROUPED_CONV_RESULT = "results/keras-grouped-conv-xla-2026-12-06.json"


def _ms(seconds) -> str:
    if not finite(seconds):
        return "invalid"
    ms = 1e3 * seconds
    spec = ",.0f" if ms >= 1000 else ".1f" if ms >= 100 else ".2f" if ms >= 10 else ".3f"
    return format(ms, spec)


def _ips(value) -> str:
    if value is None:
        return "-"
    if not finite(value):
        return "invalid"
    return format(value, ",.0f" if value >= 100 else ".1f")


def _entry(bench: dict) -> dict:
    """The row as the table reads it: what plausibility.entry reads (so the flags are the report's), and more."""
    info = bench["extra_info"]
    found, timing_bad = problems(bench)
    stats = bench["stats"]
    return {
        **entry(bench), "rounds": [] if timing_bad else [x for x in (stats.get("data") or [])], "problems": found,
        "process_rounds": info.get("process_rounds"), "processes": len(info.get("process_rounds") or [None]),
        "spread": run_spread(info),
        "timed_while_busy": info.get("timed_while_busy"), "remeasured": info.get("remeasured"),
        "images_per_s": info.get("images_per_s"),
        "memory_method": info.get("peak_memory_method") or info.get("peak_memory_kind"),
        "pct_of_peak": info.get("pct_of_peak"), "pct_flag": info.get("pct_of_peak_flag"),
        # an export runtime's max |output - its framework's| over the output's scale (docs/deploy.md)
        "parity": info.get("export_parity_rel"), "parity_tolerance": info.get("export_parity_tolerance"),
        "xla_grouped_convs": info.get("keras_xla_grouped_convs"),
    }


def estimate(ref: dict, e: dict) -> RatioEstimate | None:
    """e's time over ref's (two ``_entry`` dicts), as the verdict judges it; None without raw rounds. The
    run's process spread is taken where both rows record it (the larger, were they from different runs)."""
    if not (e["rounds"] and ref["rounds"]):
        return None
    return ratio_of_medians(ref["rounds"], e["rounds"], a_processes=ref["process_rounds"],
                            b_processes=e["process_rounds"], spread=pair_spread(ref["spread"], e["spread"]))


def _groups(entries: list[dict]) -> dict[tuple, list[dict]]:
    """The entries that the verdict compares with each other: one model, mode, batch, device, ..."""
    order = {r: i for i, r in enumerate(RUNTIMES)}
    groups: dict[tuple, list[dict]] = {}
    for e in entries:
        groups.setdefault(tuple(e[k] for k in _GROUP), []).append(e)
    return {k: sorted(g, key=lambda e: order.get(e["runtime"], 99)) for k, g in groups.items()}


def comparisons(benchmarks: list[dict], reference: str = REFERENCE_RUNTIME):
    """(reference case id, case id, estimate, faster side or "tie") for every timed row with raw rounds
    against its group's reference row: what the verdict will say of each, for the harness to measure
    again where it names no side (cnnbench.harness.replication.undecided)."""
    entries = [_entry(b) for b in benchmarks if b.get("stats") and b.get("extra_info")]
    for group in _groups([e for e in entries if e["median_s"] is not None]).values():
        ref = next((e for e in group if e["runtime"] == reference), None)
        for e in group:
            if ref is None or e is ref or (est := estimate(ref, e)) is None:
                continue
            yield ref["id"], e["id"], est, faster_side(est, reference, e["runtime"])


def _title(e: dict) -> str:
    bits = [e["model"], e["mode"], f"bs{e['batch']}", e["device"]]
    if e["input_size"]:
        bits.append(f"{e['input_size']} px")
    if e["precision"] != "fp32":
        bits.append(e["precision"])
    if e["compiled"]:
        bits.append("compiled")
    if e["world_size"] > 1:
        bits.append(f"{e['world_size']} workers")
    return " | ".join(str(b) for b in bits)


@dataclass
class _Collected:
    """What the rows of every model's table add up to below the tables: the notes, the memory methods of the
    models whose runtimes measured peak memory differently, the comparisons whose processes disagree."""

    notes: list[str] = field(default_factory=list)
    mixed_methods: set = field(default_factory=set)
    disagree: list[str] = field(default_factory=list)


def _rows_of(group: list[dict], reference: str, short: bool, doubts: dict[str, list[str]],
             into: _Collected) -> list[list[str]]:
    name = (lambda r: _SHORT.get(r, r)) if short else (lambda r: r)
    notes, disagree = into.notes, into.disagree
    ref = next((e for e in group if e["runtime"] == reference), None)
    methods = {e["memory_method"] for e in group if finite(e["peak_memory_bytes"])}
    mixed = len(methods) > 1
    out = []
    for e in group:
        ratio = faster = "-"
        if e is ref:
            ratio, faster = "reference", ""
        elif ref is not None and e["median_s"] is not None and ref["median_s"] is not None:
            est = estimate(ref, e)
            if est is not None:
                side = faster_side(est, reference, e["runtime"])
                if est.processes_disagree:
                    disagree.append(e["id"])
                ratio = f"{est.ratio:.2f}" + (f" [{est.low:.2f}, {est.high:.2f}]" if est.has_interval else "")
            else:
                r = e["median_s"] / ref["median_s"]
                side = reference if r > 1 else e["runtime"] if r < 1 else "tie"
                ratio = f"{r:.2f} (no CI)"
                est = None
            value = est.ratio if est is not None else e["median_s"] / ref["median_s"]
            faster = "tie" if side == "tie" else f"{name(side)} {max(value, 1 / value):.2f}x"
        mem = "-"
        if e["peak_memory_bytes"] is not None:
            mem = fmt_num(e["peak_memory_bytes"] / 2**20 if finite(e["peak_memory_bytes"]) else e["peak_memory_bytes"],
                          ",.0f") + ("*" if mixed and finite(e["peak_memory_bytes"]) else "")
        if e["pct_flag"]:
            pct = "flagged"
            notes.append(f"% of peak flagged, {e['id']}: {e['pct_flag']}")
        else:
            pct = fmt_num(e["pct_of_peak"], ".1f")
        if e["problems"]:
            notes.append(f"not finite, {e['id']}: {'; '.join(e['problems'])}")
        if e["timed_while_busy"]:
            notes.append(f"timed while busy, {e['id']}: {e['timed_while_busy']}")
        if e["remeasured"]:  # the last reason is the one that still held when the case was judged
            notes.append(f"measured again, {e['id']}: {e['processes']} processes counted; last because "
                         f"{e['remeasured'][-1]}")
        mark = ""
        if e["id"] in doubts:
            mark = "!"
            notes += [f"! implausible, {e['id']}: {why}" for why in doubts[e["id"]]]
        out.append([name(e["runtime"]), (_ms(e["median_s"]) if e["median_s"] is not None else "invalid") + mark,
                    ratio, faster, _ips(e["images_per_s"]), mem, pct])
    if mixed:
        into.mixed_methods.update(map(str, methods))
    for e in group:
        if e["parity"] is not None and not (finite(e["parity"]) and e["parity"] <= (e["parity_tolerance"] or 1e-4)):
            notes.append(f"export parity, {e['id']}: output differs from its framework's by "
                         f"{fmt_num(e['parity'], '.1e')} of the output scale (tolerance {e['parity_tolerance']})")
    return out


def _line(cells: list[str], widths: list[int], sep: str, indent: str) -> str:
    left = {0, 3}  # runtime and winner read left-aligned, numbers right-aligned
    return (indent + sep.join(c.ljust(w) if i in left else c.rjust(w)
                              for i, (c, w) in enumerate(zip(cells, widths)))).rstrip()


def render(benchmarks: list[dict], skipped: list[dict], width: int = 100, reference: str = REFERENCE_RUNTIME) -> str:
    """The verdict table of one run's pytest-benchmark rows (``stats["data"]`` holds the raw rounds); LoadGen
    scenario rows get their own table, per model side by side (cnnbench.reports.loadgen)."""
    from cnnbench.reports import loadgen

    width = max(int(width), 60)
    benchmarks, scenario_rows = loadgen.split(benchmarks)
    entries, left_out = [], []
    for i, bench in enumerate(benchmarks):
        try:
            check_row(Path("this run"), i, bench)
        except ReportError as exc:
            left_out.append(str(exc))
            continue
        entries.append(_entry(bench))
    doubts = implausible(entries)
    groups = _groups(entries)
    wrap = lambda text, indent="": textwrap.wrap(text, width, initial_indent=indent,  # noqa: E731
                                                  subsequent_indent=indent + "  ", break_on_hyphens=False) or [""]
    lines = wrap(f"Verdict: time ratio = runtime median / {reference} median (> 1: slower than {reference}), "
                 "with its 95% interval; a side is named faster only when the interval excludes 1.")
    notes: list[str] = []
    timed = [e for e in entries if e["rounds"] and e["mode"] in ("inference", "train")]
    counts = {e["processes"] for e in timed}
    rule = pair_rule_text(max(counts, default=1))  # the trimming clause only where a side has enough processes
    if counts:
        spreads = {e["spread"] for e in timed if e["spread"]}
        how = ("; the interval is a t interval on the processes' log medians, each side's spread between "
               "processes moderated by the run's (" + ", ".join(spread_text(sd) for sd, _ in sorted(spreads))
               + f"), and no side is named where {rule}." if spreads else
               f"; the interval resamples processes, then their rounds, and no side is named where {rule}.")
        lines += wrap("Each row from " + (f"{min(counts)}" if len(counts) == 1 else f"{min(counts)} to {max(counts)}")
                      + " worker process(es) per case" + (how if max(counts) > 1 else
                          ": ONE process per case (--fast) cannot tell a slow process from a slow model; "
                          "run without --fast before you trust a ratio."))
    head = ["runtime", "median ms", f"x {reference} [95% CI]", "faster", "img/s", "peak MiB", "% peak"]
    for sep, short in (("  ", False), ("  ", True), (" ", True)):
        collected, tables = _Collected(), []
        for key in sorted(groups, key=lambda k: tuple(str(x) for x in k)):
            group = groups[key]
            tables.append((_title(group[0]), _rows_of(group, reference, short, doubts, collected)))
        notes, mixed, disagree = collected.notes, collected.mixed_methods, collected.disagree
        if disagree:  # one note for them all: on a noisy machine it is most comparisons, and one rule
            notes.insert(0, f"processes disagree: no side is named faster for {len(disagree)} comparison(s) "
                         f"against {reference}, where {rule} on which side is ahead: "
                         + ", ".join(disagree))
        # one set of column widths for every model, so the tables line up down the screen
        cells = [head] + [r for _, rows in tables for r in rows]
        widths = [max(len(r[i]) for r in cells) for i in range(len(head))]
        body = [""] + [_line(head, widths, sep, "  ")] if tables else []
        for title, rows in tables:
            body += wrap(title) + [_line(r, widths, sep, "  ") for r in rows]
        if mixed:
            notes.insert(0, "* peak memory measured differently per runtime, not comparable: "
                         + "; ".join(sorted(mixed)))
        if all(len(line) <= width for line in body):
            break
    body = [line if len(line) <= width else line[:width - 3] + "..." for line in body]
    lines += body
    pooled = [e for e in entries if held_from_the_build(e)]
    if pooled:
        notes.append(f"peak memory: {len(pooled)} row(s) ({', '.join(sorted({e['runtime'] for e in pooled}))}) hold more "
                     "than twice the step's analytic bound in the process while the step's own peak is within it: "
                     "memory kept from building the model (TensorFlow's oneDNN CPU allocator keeps its pool at the "
                     "build's peak: results/keras-cpu-allocator-vgg11-2026-12-05.json), not the step's; not flagged")
    xla = [e for e in entries if e.get("xla_grouped_convs")]
    if xla:
        counts = sorted({(e["model"], e["xla_grouped_convs"]) for e in xla})
        notes.append("grouped convolutions: Keras on TensorFlow compiled "
                     + ", ".join(f"{m}'s {n}" for m, n in counts)
                     + " with XLA, as it does whatever tf_jit says (TensorFlow's own CPU kernels have no gradient "
                     "for them with oneDNN off); on a CPU that is slow to train: RegNetY-400MF's Keras training step "
                     "took 1,396 ms against 65 ms with TensorFlow's own kernels and oneDNN "
                     f"({XLA_GROUPED_CONV_RESULT}), so read its ratio as Keras', not TensorFlow's kernels'")
    exports = [e["parity"] for e in entries if e["parity"] is not None and finite(e["parity"])]
    if exports:
        notes.append(f"export parity: {len(exports)} export row(s), the largest max |output - framework's| is "
                     f"{max(exports):.1e} of the output scale (docs/deploy.md)")
    for note in notes + [f"left out: {m}" for m in left_out]:
        lines += wrap(note, "  ")
    if scenario_rows:
        lines = (lines + [""] if entries or left_out else []) + loadgen.render(scenario_rows, width).splitlines()
    if skipped:
        lines += ["", f"Skipped ({len(skipped)}):"]
        for s in skipped:
            lines += wrap(f"{s.get('id', '?')}: {s.get('reason', 'no reason recorded')}", "  ")
    return "\n".join(lines)
