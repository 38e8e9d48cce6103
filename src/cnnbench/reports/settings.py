"""Did every runtime of a run run under equal settings? (issue #13)

Each row records the settings in force, read back from its framework (``setting_*``
fields, docs/benchmarks.md, "How a case is measured").
Within one run and device, every runtime should show the same math mode, autotuning, thread counts,
oneDNN and cores; a difference makes the comparison unfair and is listed. A null value means the
setting does not apply to that runtime (oneDNN under JAX, autotuning on a CPU) and is not compared.
Runs saved before these fields existed say "not recorded".
"""
from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from cnnbench.reports.rows import RUNTIMES

SETTINGS = [
    ("setting_math_matmul", "math (matmul)"),
    ("setting_math_conv", "math (conv)"),
    ("setting_autotune", "autotune"),
    ("setting_intra_op_threads", "intra-op threads"),
    ("setting_inter_op_threads", "inter-op threads"),
    ("setting_onednn", "oneDNN"),
    ("setting_cpu_affinity", "cores allowed"),
]
NOT_RECORDED = "not recorded"


@dataclass
class RunSettings:
    status: str  # "equal" | "different" | "one runtime" | "not recorded"
    differences: list[str] = field(default_factory=list)
    by_runtime: dict[str, dict[str, str]] = field(default_factory=dict)  # runtime -> label -> value shown

    @property
    def sentence(self) -> str:
        if self.status == "equal":
            return "all runtimes ran under equal settings (" + ", ".join(
                f"{label} {v}" for label, v in next(iter(self.by_runtime.values())).items()) + ")"
        if self.status == "different":
            return "runtimes did NOT run under equal settings: " + "; ".join(self.differences)
        if self.status == "one runtime":
            return "one runtime only: nothing to compare settings with"
        return "settings not recorded (a run saved before the setting_* fields existed)"


def _shown(value) -> str:
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return "n/a"
    if isinstance(value, (bool,)) or str(value) in ("True", "False"):
        return "on" if str(value) == "True" else "off"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def run_settings(rows: pd.DataFrame) -> RunSettings:
    """Equal-settings verdict for the rows of one run (all its devices)."""
    keys = [k for k, _ in SETTINGS if k in rows.columns and rows[k].notna().any()]
    if not keys:
        return RunSettings(NOT_RECORDED)
    by_runtime: dict[str, dict[str, str]] = {}
    differences = []
    for device, per_device in rows.groupby("device"):
        values: dict[str, dict[str, set]] = {}
        order = {r: i for i, r in enumerate(RUNTIMES)}
        for rt, g in sorted(per_device.groupby("runtime"), key=lambda kv: order.get(kv[0], 99)):
            values[rt] = {k: {_shown(v) for v in g[k]} if k in g.columns else {"n/a"} for k, _ in SETTINGS}
            by_runtime[rt if rows["device"].nunique() == 1 else f"{rt} ({device})"] = {
                label: " / ".join(sorted(values[rt][k])) for k, label in SETTINGS}
        for k, label in SETTINGS:
            for rt, v in values.items():
                if len(v[k] - {"n/a"}) > 1:
                    differences.append(f"{label} varies within {rt}: {', '.join(sorted(v[k]))}")
            seen = {rt: v[k] - {"n/a"} for rt, v in values.items() if v[k] - {"n/a"}}
            if len({frozenset(s) for s in seen.values()}) > 1:
                differences.append(f"{label}" + (f" on {device}" if rows["device"].nunique() > 1 else "") + ": "
                                   + ", ".join(f"{rt} {' / '.join(sorted(s))}" for rt, s in sorted(seen.items())))
    if rows["runtime"].nunique() < 2:
        return RunSettings("one runtime", differences, by_runtime)
    return RunSettings("different" if differences else "equal", differences, by_runtime)


def settings_by_run(results: pd.DataFrame) -> dict[str, RunSettings]:
    return {run: run_settings(g) for run, g in results.groupby("run")}
