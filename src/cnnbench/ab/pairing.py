"""What a paired comparison pairs: two code versions, two runtimes, or two settings of one case.

Pure Python (no framework import): the pairs are built from the harness's case selection
(``build_cases``) and checked before anything is started.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

from cnnbench.harness.cases import delay_for
from cnnbench.ab.checkout import package_root
from cnnbench.ab.engine import Side
from cnnbench.core.case import LAYOUTS, PRECISIONS, RUNTIMES, Case
from cnnbench.core.settings import MATH_MODES, Settings, cores_available

KINDS = ("baseline", "frameworks", "setting")
DEFAULT_SIDES = ("torch", "keras-tf")


@dataclass(frozen=True)
class Pair:
    pair_id: str
    a: Side
    b: Side
    skip: str | None = None  # why this pair is not measured (the change does nothing to it)


def baseline_pairs(cases: list[Case], settings: Settings, *, worktree: str, baseline_label: str,
                   candidate_label: str, delays: list) -> list[Pair]:
    """Each case twice: A on the baseline worktree, B on the working tree (with any TEST-ONLY delay)."""
    return [Pair(c.id, Side(c, settings, baseline_label, pythonpath=str(package_root(worktree)), cwd=worktree),
                 Side(c, settings, candidate_label, delay=delay_for(delays, c))) for c in cases]


def parse_sides(value: str | None) -> tuple[str, str]:
    """``--sides torch,keras-jax``: the two runtimes of --compare-frameworks (A first)."""
    if value is None:
        return DEFAULT_SIDES
    sides = tuple(v.strip() for v in value.split(",") if v.strip())
    bad = [s for s in sides if s not in RUNTIMES]
    if bad:
        raise ValueError(f"--sides: unknown runtime(s) {', '.join(bad)}; choose two of {', '.join(RUNTIMES)}")
    if len(sides) != 2 or sides[0] == sides[1]:
        raise ValueError(f"--sides: give two different runtimes, e.g. torch,keras-jax; got {value!r}")
    return sides


def framework_selection(sides: tuple[str, str]) -> dict:
    """The build_cases options that select the two runtimes' cases (an export runtime's by --runtimes, which
    collects its inference cases only: a training pair then has one side and is not made)."""
    from cnnbench.core.case import EXPORT_RUNTIMES, split_runtime

    if any(runtime in EXPORT_RUNTIMES for runtime in sides):
        return {"runtimes": ",".join(sides)}

    fws, kbs = [], []
    for runtime in sides:
        fw, kb = split_runtime(runtime)
        fws.append(fw)
        if kb:
            kbs.append(kb)
    return {"frameworks": ",".join(dict.fromkeys(fws)), "keras_backends": ",".join(kbs) or None}


def framework_pairs(cases: list[Case], sides: tuple[str, str], settings: Settings, delays: list) -> list[Pair]:
    """One pair per model x mode x batch: the same step in the two runtimes, under the same settings."""
    ra, rb = sides
    by_key: dict[tuple, dict[str, Case]] = {}
    for c in cases:
        by_key.setdefault((c.model, c.mode, c.batch, c.device, c.input_size, c.precision), {})[c.runtime] = c
    pairs = []
    for found in by_key.values():
        if ra in found and rb in found:
            a, b = found[ra], found[rb]
            pairs.append(Pair(f"{a.group}:{ra}~{rb}", Side(a, settings, ra),
                              Side(b, settings, rb, delay=delay_for(delays, b))))
    return pairs


# --compare-setting KEY=VALUE: what each key changes, in the case or in the settings
_BOOL = {"on": True, "true": True, "1": True, "yes": True, "off": False, "false": False, "0": False, "no": False}
SETTING_KEYS = ("precision", "layout", "compile", "xla", "math", "threads", "interop_threads", "autotune", "onednn")


def parse_setting_change(value: str) -> dict:
    """``precision=bf16`` or several, comma-separated (``threads=1,math=fp32``) -> {key: parsed value}."""
    change = {}
    for item in value.split(","):
        if not item.strip():
            continue
        key, sep, raw = item.partition("=")
        key, raw = key.strip().replace("-", "_"), raw.strip()
        if not sep or not raw:
            raise ValueError(f"--compare-setting: expected KEY=VALUE, got {item!r}; keys: {', '.join(SETTING_KEYS)}")
        if key not in SETTING_KEYS:
            raise ValueError(f"--compare-setting: unknown key {key!r}; choose from {', '.join(SETTING_KEYS)}")
        if key == "precision":
            allowed = PRECISIONS
        elif key == "layout":
            allowed = LAYOUTS
        elif key == "math":
            allowed = MATH_MODES
        else:
            allowed = None
        if allowed is not None:
            if raw not in allowed:
                raise ValueError(f"--compare-setting {key}: {raw!r} is not one of {', '.join(allowed)}")
            change[key] = raw
        elif key in ("threads", "interop_threads"):
            try:
                n = int(raw)
            except ValueError:
                n = 0
            if n <= 0:
                raise ValueError(f"--compare-setting {key}: expected a positive whole number, got {raw!r}")
            if n > cores_available():
                raise ValueError(f"--compare-setting {key}={n}: this process may use {cores_available()} core(s)")
            change[key] = n
        else:
            if raw.lower() not in _BOOL:
                raise ValueError(f"--compare-setting {key}: expected on or off, got {raw!r}")
            change[key] = _BOOL[raw.lower()]
    if not change:
        raise ValueError("--compare-setting: no KEY=VALUE given")
    return change


def apply_change(case: Case, settings: Settings, change: dict) -> tuple[Case, Settings, str | None]:
    """B's case and settings under ``change``, and why the change does nothing to this case (or None)."""
    new_case, new_settings = case, settings
    for key, value in change.items():
        if key == "precision":
            new_case = replace(new_case, precision=value)
        elif key == "layout":
            if case.framework != "torch":
                return case, settings, "the Keras models are channels-last (NHWC): layout applies to PyTorch"
            new_case = replace(new_case, layout=value)
        elif key == "compile":  # the runtime's compiler: torch.compile, or XLA for Keras on TensorFlow
            if case.runtime == "keras-jax":
                return case, settings, "Keras on JAX always runs a jax.jit-compiled step"
            new_case = replace(new_case, torch_compile=value, tf_jit=value)
        elif key == "xla":
            if case.runtime != "keras-tf":
                return case, settings, "xla applies to Keras on TensorFlow (use compile= for torch.compile)"
            new_case = replace(new_case, tf_jit=value)
        elif key == "math":
            if case.device != "cuda":
                return case, settings, "math chooses GPU float32 math (TF32 or FP32); a CPU computes FP32 either way"
            new_settings = replace(new_settings, math=value)
        elif key == "autotune":
            if case.device != "cuda":
                return case, settings, "autotune applies to GPU kernels (cuDNN, XLA)"
            new_settings = replace(new_settings, autotune=value)
        elif key == "onednn":
            if case.runtime != "keras-tf":
                return case, settings, "onednn switches TensorFlow's oneDNN CPU kernels; it does not apply here"
            new_settings = replace(new_settings, onednn=value)
        elif key == "threads":
            new_settings = replace(new_settings, threads=value)
        elif key == "interop_threads":
            new_settings = replace(new_settings, interop_threads=value)
    if new_case == case and new_settings.resolved() == settings.resolved():
        return case, settings, "the run already uses this setting: both sides would be the same"
    return new_case, new_settings, None


def change_text(change: dict) -> str:
    def show(v):
        return ("on" if v else "off") if isinstance(v, bool) else str(v)

    return ",".join(f"{k}={show(v)}" for k, v in change.items())


def setting_pairs(cases: list[Case], settings: Settings, change: dict, delays: list) -> list[Pair]:
    """Each case under the run's settings (A) and under the changed one (B)."""
    text = change_text(change)
    pairs = []
    for c in cases:
        b_case, b_settings, skip = apply_change(c, settings, change)
        pairs.append(Pair(f"{c.id}~{text}", Side(c, settings, "run's setting"),
                          Side(b_case, b_settings, text, delay=delay_for(delays, b_case)), skip=skip))
    return pairs
