"""pytest options and hooks of the benchmark harness (``pytest bench --benchmark-only``)."""
from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import pytest

from cnnbench.bench import cases as cases_mod
from cnnbench.bench import machine


def pytest_addoption(parser):
    g = parser.getgroup("cnnbench", "cnnbench benchmark selection")
    g.addoption("--models", default=None, help="comma-separated names or wildcards (default: the profile's)")
    g.addoption("--frameworks", default=None, help="torch,tf (default: both)")
    g.addoption("--modes", default=None, help="inference,train (default: both)")
    g.addoption("--batch-sizes", default=None, help="comma-separated batch sizes (default: the profile's)")
    g.addoption("--device", default="auto", choices=cases_mod.DEVICES, help="cpu, cuda or auto (cuda when present)")
    g.addoption("--input-size", type=int, default=None, help="square input size (default: the profile's)")
    g.addoption("--bench-profile", default="default", choices=tuple(cases_mod.PROFILES),
                help="smoke (CI, minutes), default (every model), full (batch sweeps)")
    g.addoption("--precision", default="fp32", choices=cases_mod.PRECISIONS,
                help="fp32, or bf16/fp16 via torch.autocast and Keras mixed-precision policies")
    g.addoption("--layout", default="nchw", choices=cases_mod.LAYOUTS,
                help="PyTorch memory format: nchw, or nhwc (channels_last); Keras models are NHWC")
    g.addoption("--tf-jit", action="store_true", help="compile TensorFlow steps with XLA (jit_compile=True)")
    g.addoption("--torch-compile", action="store_true", help="wrap PyTorch models in torch.compile")
    g.addoption("--no-time-to-accuracy", action="store_true",
                help="skip the LeNet-5 time-to-accuracy cases (run whenever LeNet-5 training is selected)")
    g.addoption("--no-memory-check", action="store_true",
                help="run CPU cases even when their analytic lower bound exceeds free memory (may crash TF)")
    g.addoption("--inject-delay", default=None, metavar="MODEL=SECONDS|PCT%",
                help="TEST ONLY: slow MODEL's (or a case id's) timed step by SECONDS or by PCT%% of its own step time "
                     "(proves the regression detector)")


def _resolve_device(requested: str) -> tuple[str, str]:
    if requested == "cpu":
        return "cpu", "--device cpu"
    has_gpu = machine.cuda_available()
    if requested == "cuda":
        if not has_gpu:
            raise pytest.UsageError("--device cuda: no CUDA GPU found (torch.cuda.is_available() is False)")
        return "cuda", "--device cuda"
    return ("cuda", "auto: CUDA GPU found") if has_gpu else ("cpu", "auto: no GPU found, running on the CPU")


def _parse_delay(value: str | None) -> list[tuple[str, float, str]]:
    """``TARGET=SECONDS`` (a fixed busy wait) or ``TARGET=PCT%`` (a share of the case's own steady step time).

    TARGET is a model name or a case id (wildcards allowed); several entries are comma-separated.
    """
    entries = []
    for item in (value or "").split(","):
        if not item.strip():
            continue
        try:
            target, amount = item.split("=")
            amount = amount.strip()
            if amount.endswith("%"):
                entry = (target.strip(), float(amount[:-1]) / 100.0, "fraction")
            else:
                entry = (target.strip(), float(amount), "s")
        except ValueError:
            raise pytest.UsageError(
                f"--inject-delay: expected MODEL=SECONDS or MODEL=PCT% (comma-separated), got {item!r}") from None
        if entry[1] <= 0:
            raise pytest.UsageError(f"--inject-delay: the delay must be positive, got {item!r}")
        entries.append(entry)
    return entries


def delay_for(state: dict, case) -> tuple[float, str] | None:
    """The TEST-ONLY delay that applies to ``case``: (amount, "s" | "fraction"), or None."""
    import fnmatch

    for target, amount, unit in state["delay"]:
        if target == case.model or fnmatch.fnmatchcase(case.id, target):
            return amount, unit
    return None


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config):
    if not hasattr(config.option, "bench_profile"):
        return
    opt = config.option
    # keep pytest-benchmark's raw per-round timings and save every run by default
    if hasattr(opt, "benchmark_save_data"):
        opt.benchmark_save_data = True
        if not (opt.benchmark_save or opt.benchmark_json or opt.benchmark_autosave):
            opt.benchmark_autosave = True
    from cnnbench.core.errors import CnnbenchError

    device, why = _resolve_device(opt.device)
    try:
        selected = cases_mod.build_cases(
            profile=opt.bench_profile, models=opt.models, frameworks=opt.frameworks, modes=opt.modes,
            batch_sizes=opt.batch_sizes, device=device, input_size=opt.input_size,
            precision=opt.precision, layout=opt.layout, tf_jit=opt.tf_jit, torch_compile=opt.torch_compile,
        )
    except (CnnbenchError, ValueError) as exc:
        raise pytest.UsageError(str(exc)) from None
    config.stash[STATE] = {
        "cases": selected,
        "tta_cases": cases_mod.tta_cases(selected, enabled=not opt.no_time_to_accuracy),
        "no_memory_check": opt.no_memory_check,
        "device": device,
        "device_note": why,
        "profile": cases_mod.PROFILES[opt.bench_profile],
        "delay": _parse_delay(opt.inject_delay),
        "gemm_peak": {},
        "skipped": [],
    }


STATE = pytest.StashKey[dict]()


def pytest_report_header(config):
    state = config.stash.get(STATE, None)
    if not state:
        return None
    prof = state["profile"]
    lines = [
        f"cnnbench: profile {prof.name} ({prof.note}); {len(state['cases'])} cases on {state['device']} "
        f"({state['device_note']})",
    ]
    if state["device"] == "cpu":
        lines.append(f"cnnbench: CPU {machine.cpu_model()}, {os.cpu_count()} logical cores")
    if state["delay"]:
        what = ", ".join(f"{t} +{a:g} s" if u == "s" else f"{t} +{100 * a:g}% of its step" for t, a, u in state["delay"])
        lines.append(f"cnnbench: TEST ONLY: injected delays: {what}")
    return lines


def pytest_generate_tests(metafunc):
    if "case" in metafunc.fixturenames:
        state = metafunc.config.stash[STATE]
        metafunc.parametrize("case", state["cases"], ids=[c.id for c in state["cases"]])
    if "tta_case" in metafunc.fixturenames:
        state = metafunc.config.stash[STATE]
        metafunc.parametrize("tta_case", state["tta_cases"], ids=[c.id for c in state["tta_cases"]])


@pytest.fixture(scope="session")
def bench_state(request):
    return request.config.stash[STATE]


def gemm_peak(state: dict, framework: str, device: str) -> float:
    """The machine's measured float32 GEMM peak in this framework, once per session."""
    key = f"{framework}:{device}"
    if key not in state["gemm_peak"]:
        if framework == "torch":
            from cnnbench.bench.torch_runner import gemm_peak_flops
        else:
            from cnnbench.bench.tf_runner import gemm_peak_flops
        state["gemm_peak"][key] = gemm_peak_flops(device)
    return state["gemm_peak"][key]


def pytest_benchmark_update_machine_info(config, machine_info):
    state = config.stash.get(STATE, None)
    machine_info.update(machine.describe())
    if state:
        machine_info["cnnbench_device"] = state["device"]
        machine_info["gemm_peak_flops"] = dict(state["gemm_peak"])


def pytest_benchmark_update_json(config, benchmarks, output_json):
    state = config.stash.get(STATE, None)
    if not state:
        return
    from cnnbench.core.flops import FLOPS_RULE

    output_json["cnnbench"] = {
        "profile": state["profile"].name,
        "device": state["device"],
        "device_note": state["device_note"],
        "flops_rule": FLOPS_RULE,
        "skipped": state["skipped"],  # out-of-memory and missing-framework cases, with reasons
        "injected_delay": [list(d) for d in state["delay"]] or None,
    }


@pytest.hookimpl(hookwrapper=True)
def pytest_sessionfinish(session, exitstatus):
    """Save a run in which every case was skipped (say, all out of memory): the skips are the result.

    pytest-benchmark saves nothing when no benchmark ran, which would lose the record of why.
    """
    yield
    config = session.config
    state = config.stash.get(STATE, None)
    bs = getattr(config, "_benchmarksession", None)
    if not state or not state["skipped"] or bs is None or bs.benchmarks or bs.disabled:
        return
    save = bs.save or bs.autosave
    if not (save or bs.json):
        return
    hook = config.hook
    machine_info = bs.get_machine_info()
    commit_info = hook.pytest_benchmark_generate_commit_info(config=config)
    hook.pytest_benchmark_update_commit_info(config=config, commit_info=commit_info)
    output_json = hook.pytest_benchmark_generate_json(
        config=config, benchmarks=[], include_data=True, machine_info=machine_info, commit_info=commit_info
    )
    hook.pytest_benchmark_update_json(config=config, benchmarks=[], output_json=output_json)
    if bs.json:
        bs.save_json(output_json)
    if save:
        bs.storage.save(output_json, save)
