"""Figures that do not fit: a row is flagged, with the reason, when its time per FLOP is far from its
family's in the same run, or its peak memory far above what the model can need (issue #30 item 7).

A flag is a warning, never a verdict: the row stays in every table, its figures are shown, and the
flag says what was compared and what to do. Three rules, each against numbers from outside the row:

* **time per FLOP** — the step's median over its analytic FLOPs, against the median of the models of
  the same family (itself included, so that one outlier cannot move it far) (``cnnbench.core.specs``: VGG-11..19 with and without BN are one family)
  measured in the same run under the same runtime, mode, batch, device, input size, precision,
  compilation and world size. Models of one family are built of the same layers, so their time per
  FLOP is alike (VGG's differ by well under 2x on a CPU); a model TIME_FACTOR times slower or faster per
  FLOP than its siblings, *and* slower than a sibling with more FLOPs (or faster than one with fewer),
  is more likely a property of that case's measurement (a busy moment, a first case, denormal numbers)
  than of the model. The second condition keeps a small model whose fixed per-layer costs dominate
  (MobileNetV3-Small: slower per FLOP, yet faster than its siblings) from being flagged. Needs
  MIN_SIBLINGS other models to compare with.
* **memory per weight byte** — a measured peak above MEMORY_FACTOR times the analytic bound of the step
  (the row's ``analytic_memory_bytes``: weights, BN buffers and every layer output for inference, plus
  gradients and momentum for training; float32) and above it by more than MEMORY_MARGIN_BYTES. The bound
  already counts every activation as if all were held at once, so a process that holds twice that holds
  memory the model does not need. The known case: Keras on TensorFlow with oneDNN on a CPU, whose CPU
  allocator (a BFC pool) keeps its high-water mark from building the model, so the weight initialisers'
  scratch stays resident: VGG-11's build peaked at 1,457 MiB in that allocator with 528 MiB in use
  (results/keras-cpu-allocator-vgg11-2026-12-05.json). Applied only to a row that records its
  ``peak_memory_method`` (``rss_delta``, ``allocator_peak``: the step's own memory): runs saved before
  that field measured the whole process's peak RSS, the framework runtime's few hundred MiB included,
  which is above any small model's bound without being a doubt about the model (tests/data: LeNet-5's
  CPU rows, 246 to 663 MiB against bounds under 1 MiB).
* **an inference step slower than its own training step** — the same model, runtime, batch, device,
  input size, precision and compilation: a training step runs the forward pass and more, so an inference
  median above the training median says one of the two measurements is wrong (issue #37: LeNet-5's
  PyTorch inference at 64 ms next to its 5 ms training step, timed while another process was busy).

The time-per-FLOP rule compares like with like: models of one family *and one op mix* (the kinds of
their layers and their activation functions, from the analytic graph: ``op_mix``). MobileNetV2
(ReLU6, no squeeze-excitation) and MobileNetV3 (hard-swish, squeeze-excitation) do different work per
FLOP; comparing them flagged MobileNetV2's honest training step as "too fast" (issue #37). VGG with
and without BatchNorm are compared apart for the same reason.

The memory rule reads the **step's own peak** (``step_peak_memory_bytes``: what one steady step adds
above the memory the worker holds after building and warming up) where a row records it: a framework's
allocator pool, kept from the build, is then shown in ``peak_memory_bytes`` but not doubted on every
row. Rows without it (runs saved before) keep the rule on ``peak_memory_bytes``.
"""
from __future__ import annotations

import functools
import statistics

from cnnbench.reports.rows import case_id, compile_requested, finite, problems, runtime_of

TIME_FACTOR = 2.0
MIN_SIBLINGS = 2
MEMORY_FACTOR = 2.0
MEMORY_MARGIN_BYTES = 64 * 2**20  # below this, a runtime's fixed costs (thread pools, kernels) can dominate
# each reason starts with the figure it doubts (the report marks that figure)
TIME_FIGURE, MEMORY_FIGURE, STEP_FIGURE = "time per FLOP", "peak memory", "step time"
SEPARATOR = " | "  # a row's reasons, joined in results.csv's plausibility column (a reason holds ";" and ",")
_SAME = ("runtime", "mode", "batch", "device", "input_size", "precision", "compiled", "world_size")


@functools.lru_cache(maxsize=None)
def op_mix(model: str, input_size: int | None) -> frozenset[str] | None:
    """The kinds of the model's layers (``cnnbench.core.layer_time_match.layer_kind``: conv, depthwise conv, SE,
    BN, LayerNorm, ...) and its activation functions: what its time per FLOP depends on beyond the FLOPs.
    None for a model this checkout cannot build."""
    from cnnbench.core.analytic import build_graph
    from cnnbench.core.layer_time_match import layer_kind

    try:
        layers = build_graph(model, input_size=input_size).layers
    except Exception:  # noqa: BLE001  (an unknown model, too small an input: the rule is not applied)
        return None
    return frozenset({layer_kind(layer) for layer in layers}
                     | {f"activation {layer.attrs.get('fn')}" for layer in layers if layer.kind == "activation"})


def family_of(model: str) -> str | None:
    """The family a registered model belongs to; None for a model this checkout does not know."""
    from cnnbench.core.errors import UnknownModelError
    from cnnbench.core.specs import get_spec

    try:
        return get_spec(model).family
    except UnknownModelError:
        return None


def _number(value) -> float | None:
    return float(value) if finite(value) else None


def entry(bench: dict) -> dict:
    """What ``implausible`` reads of one pytest-benchmark row of a validated run (cnnbench.reports.schema):
    the terminal verdict and the report (results.csv, report.html) build their entries here, so that both
    flag the same rows. A row whose timing is unusable has no ``median_s``."""
    info = bench["extra_info"]
    _, timing_bad = problems(bench)
    return {
        "id": case_id(bench), "runtime": runtime_of(info), "model": info["model"], "mode": info["mode"],
        "batch": info["batch"], "device": info["device"], "input_size": info.get("input_size"),
        "precision": info.get("precision") or "fp32", "compiled": compile_requested(info),
        "world_size": info.get("world_size") or 1,
        "median_s": None if timing_bad else bench["stats"].get("median"), "flops": info.get("flops"),
        "peak_memory_bytes": info.get("peak_memory_bytes"), "peak_memory_method": info.get("peak_memory_method"),
        "step_peak_memory_bytes": info.get("step_peak_memory_bytes"),
        "process_medians_s": info.get("process_medians_s"),
        "analytic_memory_bytes": info.get("analytic_memory_bytes"),
    }


def implausible(entries: list[dict]) -> dict[str, list[str]]:
    """Case id -> why its figures look implausible, for the entries of one run.

    Each entry has ``id``, ``model`` and the keys of ``_SAME``, and may have ``median_s``, ``flops``,
    ``peak_memory_bytes``, ``peak_memory_method`` and ``analytic_memory_bytes`` (missing or not finite: that
    rule is not applied to it; no ``peak_memory_method``: the memory rule is not applied, as the module says)."""
    found: dict[str, list[str]] = {}
    groups: dict[tuple, list[tuple[dict, float]]] = {}
    for e in entries:
        median, flops = _number(e.get("median_s")), _number(e.get("flops"))
        family = family_of(e["model"])
        mix = op_mix(e["model"], e.get("input_size")) if family else None
        if median and flops and median > 0 and flops > 0 and family and mix is not None:
            groups.setdefault((family, mix, *(e.get(k) for k in _SAME)), []).append((e, median / flops))
    for key, members in groups.items():
        if len({e["model"] for e, _ in members}) <= MIN_SIBLINGS:
            continue
        typical = statistics.median(v for _, v in members)  # itself included: one outlier cannot move it far
        for e, per_flop in members:
            others = [(o, v) for o, v in members if o["model"] != e["model"]]
            if len(others) < MIN_SIBLINGS:
                continue
            factor = per_flop / typical
            if factor > TIME_FACTOR:  # slower per FLOP, and slower than a sibling that does more work
                witness = [o for o, _ in others if o["flops"] > e["flops"] and o["median_s"] < e["median_s"]]
            elif factor < 1 / TIME_FACTOR:  # faster per FLOP, and faster than a sibling that does less work
                witness = [o for o, _ in others if o["flops"] < e["flops"] and o["median_s"] > e["median_s"]]
            else:
                continue
            if not witness:
                continue
            w = max(witness, key=lambda o: abs(o["flops"] / e["flops"] - 1))
            found.setdefault(e["id"], []).append(
                f"{TIME_FIGURE} {factor:.1f}x the median of the {len(members)} {key[0]} models of this run "
                f"built of the same kinds of layers, "
                f"and {w['model']} does {w['flops'] / e['flops']:.2f}x its FLOPs in {w['median_s'] / e['median_s']:.2f}x "
                "its time: more likely this measurement's (a busy moment, a first case) than the model's; measure "
                "it again, paired (cnnbench ab)")
    _inference_above_training(entries, found)
    for e in entries:
        own = _number(e.get("step_peak_memory_bytes"))
        peak = own if own is not None else _number(e.get("peak_memory_bytes"))
        bound = _number(e.get("analytic_memory_bytes"))
        if not e.get("peak_memory_method"):
            continue
        if _above(peak, bound):
            what = "the step's own peak" if own is not None else ""
            why = (f"{MEMORY_FIGURE} {what + ' ' if what else ''}{peak / 2**20:,.0f} MiB is {peak / bound:.1f}x the "
                   "step's analytic bound "
                   f"({bound / 2**20:,.0f} MiB: weights, buffers, every activation"
                   f"{', gradients and momentum' if e.get('mode') == 'train' else ''}): the process holds memory the "
                   "model does not need")
            if e.get("runtime") == "keras-tf" and str(e["peak_memory_method"]).startswith("rss_delta"):
                why += (" (TensorFlow's oneDNN CPU allocator keeps its pool at the model build's peak: "
                        "results/keras-cpu-allocator-vgg11-2026-12-05.json)")
            found.setdefault(e["id"], []).append(why)
    return found


def _above(peak, bound) -> bool:
    return bool(peak and bound and bound > 0 and peak > MEMORY_FACTOR * bound and peak - bound > MEMORY_MARGIN_BYTES)


def held_from_the_build(e: dict) -> bool:
    """A row whose process peak the memory rule would doubt while the step's own peak is within the rule:
    memory the worker holds from building the model (an allocator's pool), shown, explained once, not flagged."""
    bound = _number(e.get("analytic_memory_bytes"))
    own, peak = _number(e.get("step_peak_memory_bytes")), _number(e.get("peak_memory_bytes"))
    return own is not None and _above(peak, bound) and not _above(own, bound)


def _inference_above_training(entries: list[dict], found: dict[str, list[str]]) -> None:
    """Flag an inference step slower than the training step of the same model, runtime and batch (module
    docstring), with both medians and, where known, each worker process's."""
    same = ("model", *(k for k in _SAME if k != "mode"))
    steps: dict[tuple, dict[str, dict]] = {}
    for e in entries:
        if _number(e.get("median_s")) and e.get("mode") in ("inference", "train"):
            steps.setdefault(tuple(e.get(k) for k in same), {})[e["mode"]] = e
    for pair in steps.values():
        inf, train = pair.get("inference"), pair.get("train")
        if inf is None or train is None or not inf["median_s"] > train["median_s"]:
            continue

        def shown(e: dict) -> str:
            each = e.get("process_medians_s") or []
            return f"{1e3 * e['median_s']:.3g} ms" + (
                f" (processes {', '.join(f'{1e3 * m:.3g}' for m in each)} ms)" if len(each) > 1 else "")
        found.setdefault(inf["id"], []).append(
            f"{STEP_FIGURE}: the inference step ({shown(inf)}) is slower than its own training step "
            f"({shown(train)}), which runs the same forward pass and more: one of the two measurements is wrong")


def of_benchmarks(benchmarks: list[dict]) -> dict[str, list[str]]:
    """``implausible`` of one run's pytest-benchmark rows (already validated)."""
    return implausible([entry(b) for b in benchmarks])


def reasons(text) -> list[str]:
    """The reasons of a plausibility column's value (``SEPARATOR``-joined; empty, None or NaN: none)."""
    return [r for r in text.split(SEPARATOR) if r] if isinstance(text, str) else []


def doubted(text) -> set[str]:
    """Which figures a plausibility column's value doubts: ``TIME_FIGURE`` and/or ``MEMORY_FIGURE``."""
    return {MEMORY_FIGURE if r.startswith(MEMORY_FIGURE) else TIME_FIGURE for r in reasons(text)}
