"""The options ``cnnbench ab`` and ``cnnbench bisect`` share: the case selection, the settings and the
measurement, parsed and checked into the ``opts`` dict the engine's run reads (``cnnbench.ab.measure``);
a bad one is ``BadInput``, one line and exit 2."""
from __future__ import annotations

import argparse
import math

from cnnbench.ab import instruction_counts, output, pairing
from cnnbench.ab.engine import ORDERS, Plan
from cnnbench.core import callgrind
from cnnbench.core.errors import CnnbenchError
from cnnbench.core.signals import stop_like_ctrl_c
from cnnbench.harness import cases as cases_mod, machine


DEFAULT_THRESHOLD = 0.05


INSTRUCTIONS_THRESHOLD = callgrind.DEFAULT_THRESHOLD


DEFAULT_TARGET = 0.02


DEFAULT_BUDGET_S = 30.0



class BadInput(Exception):
    """A bad option: one line, exit 2."""



def add_measurement_arguments(p: argparse.ArgumentParser) -> None:
    """The case selection, the settings and the measurement options (shared with ``cnnbench bisect``)."""
    g = p.add_argument_group("selection (as pytest bench)")
    g.add_argument("--models", default=None)
    g.add_argument("--frameworks", default=None)
    g.add_argument("--keras-backends", default=None)
    g.add_argument("--modes", default=None)
    g.add_argument("--batch-sizes", default=None)
    g.add_argument("--input-size", default=None)
    g.add_argument("--bench-profile", default="default")
    g.add_argument("--device", default="auto")
    g.add_argument("--precision", default="fp32")
    g.add_argument("--layout", default="nchw")
    g.add_argument("--tf-jit", action="store_true")
    g.add_argument("--torch-compile", action="store_true")
    s = p.add_argument_group("settings, equal on both sides unless --compare-setting changes one")
    s.add_argument("--math", default="tf32")
    s.add_argument("--threads", default=None)
    s.add_argument("--interop-threads", default=None)
    s.add_argument("--no-autotune", action="store_true")
    s.add_argument("--onednn", default="on")
    m = p.add_argument_group("measurement")
    m.add_argument("--time-budget", default=str(DEFAULT_BUDGET_S), metavar="SECONDS",
                   help=f"seconds of alternating rounds per case at most (default {DEFAULT_BUDGET_S:g})")
    m.add_argument("--target-precision", default=str(DEFAULT_TARGET), metavar="FRACTION",
                   help=f"stop once the interval is within about +-this (log half-width; default {DEFAULT_TARGET})")
    m.add_argument("--max-rounds", default="400", metavar="N")
    m.add_argument("--threshold", default=None, metavar="FRACTION",
                   help=f"a change smaller than this is 'no change' (default {DEFAULT_THRESHOLD}; with --metric "
                        f"instructions {INSTRUCTIONS_THRESHOLD}; docs/ab.md)")
    m.add_argument("--order", default="abba", help="abba (balanced, default) or random (seeded by --seed)")
    m.add_argument("--seed", default="0")
    m.add_argument("--settle-ms", default="0", metavar="MS", help="pause before each turn (default 0; docs/ab.md)")
    m.add_argument("--process-pairs", default="1", metavar="N",
                   help="fresh pairs of workers per case, rounds pooled (default 1; docs/ab.md)")
    m.add_argument("--cpus", default="auto", metavar="auto|none|LIST",
                   help="pin both sides' workers to these CPUs (e.g. 1 or 2,3); auto: the last --threads CPUs "
                        "this process may use (none without --threads); none: not pinned (docs/ab.md)")
    m.add_argument("--builds", default="2", metavar="N",
                   help="each worker builds each case N times and measures the last build (default 2: the first "
                        "build of a case in a process can be several percent off for its whole life; docs/ab.md)")
    m.add_argument("--measured-builds", default="3", metavar="R",
                   help="spread each pair's rounds over R builds of the case in the same workers, each built again "
                        "before its share (default 3: every build of a case carries a bias of its own, about 5%% "
                        "for Keras training on the reference VM, which more rounds of one build do not remove; "
                        "docs/ab.md)")
    m.add_argument("--confirm", default="0", metavar="N",
                   help="measure a case that may have regressed (B slower, and the interval reaching past half the "
                        "threshold) again, up to N times, each in a fresh pair of worker processes; it is a "
                        "regression only if every pair measured B slower and the pairs' geometric mean is above the "
                        "threshold (default 0; CI: 3; docs/ab.md)")
    m.add_argument("--worker-timeout", default="1800", metavar="SECONDS")
    m.add_argument("--inject-delay", default=None, metavar="MODEL=SECONDS|PCT%",
                   help="TEST ONLY: slow the B side's steps of MODEL (or a case id) by a busy wait")



def _number(name: str, value, kind=float, *, low: float = 0.0, inclusive: bool = False):
    try:
        x = kind(str(value))
    except ValueError:
        raise BadInput(f"{name}: expected a {'whole ' if kind is int else ''}number, got {value!r}") from None
    if not math.isfinite(x) or not (x >= low if inclusive else x > low):
        raise BadInput(f"{name}: expected a number {'>=' if inclusive else '>'} {low:g}, got {value!r}")
    return x



def _choice(name: str, value: str, allowed) -> str:
    try:
        return cases_mod.one_of(name, value, allowed)  # the wording of pytest bench's choices too
    except ValueError as exc:
        raise BadInput(str(exc)) from None



def _resolve_device(requested: str) -> str:
    _choice("--device", requested, cases_mod.DEVICES)
    if requested == "cpu":
        return "cpu"
    if requested == "cuda" and not machine.cuda_available():
        raise BadInput("--device cuda: no CUDA GPU found (nvidia-smi sees none); use --device cpu")
    return "cuda" if machine.cuda_available() else "cpu"



def parse_options(args: argparse.Namespace, repo=None) -> dict:
    """Every option checked, before anything is started: the plan, the cases and the pairs' recipe.
    ``repo``: the git checkout --baseline is looked up in (default: the one cnnbench is imported from)."""
    from cnnbench.core.settings import Settings, cores_available

    kinds = [k for k, on in (("baseline", args.baseline is not None), ("frameworks", args.compare_frameworks),
                             ("setting", args.compare_setting is not None)) if on]
    if len(kinds) != 1:
        raise BadInput("give exactly one of --baseline GITREF, --compare-frameworks, --compare-setting KEY=VALUE"
                       + (f" (got {', '.join(kinds)})" if kinds else ""))
    kind = kinds[0]
    if args.sides is not None and kind != "frameworks":
        raise BadInput("--sides chooses the runtimes of --compare-frameworks; give that too")
    if kind == "frameworks" and (args.frameworks or args.keras_backends):
        raise BadInput("--compare-frameworks: choose the two runtimes with --sides (e.g. torch,keras-jax), "
                       "not --frameworks/--keras-backends")
    _choice("--format", args.format, output.FORMATS)
    _choice("--order", args.order, ORDERS)
    _choice("--math", args.math, ("tf32", "fp32"))
    _choice("--onednn", args.onednn, ("on", "off"))
    _choice("--bench-profile", args.bench_profile, tuple(cases_mod.PROFILES))
    instructions = getattr(args, "metric", "time") == "instructions"
    if getattr(args, "at_once", False) and not instructions:
        raise BadInput("--at-once counts both sides of --metric instructions at the same time; paired timings "
                       "(--metric time) measure A and B in alternation, never at once")
    if args.threshold is None:
        args.threshold = str(INSTRUCTIONS_THRESHOLD if instructions else DEFAULT_THRESHOLD)
    threshold = _number("--threshold", args.threshold)
    if threshold >= 1:
        raise BadInput(f"--threshold is a fraction (0.05 = 5%), got {args.threshold}")
    plan_args = dict(
        target=_number("--target-precision", args.target_precision),
        budget_s=_number("--time-budget", args.time_budget),
        max_rounds=_number("--max-rounds", args.max_rounds, int),
        order=args.order, seed=_number("--seed", args.seed, int, inclusive=True),
        settle_s=_number("--settle-ms", args.settle_ms, inclusive=True) / 1e3,
        process_pairs=_number("--process-pairs", args.process_pairs, int),
        builds=_number("--builds", args.builds, int),
        measured_builds=_number("--measured-builds", args.measured_builds, int),
        worker_timeout=_number("--worker-timeout", args.worker_timeout),
    )
    device = _resolve_device(args.device)
    try:
        threads = cases_mod.positive_int("--threads", args.threads)
        interop = cases_mod.positive_int("--interop-threads", args.interop_threads)
        if threads and threads > cores_available():
            raise ValueError(f"--threads {threads}: this process may use {cores_available()} core(s); "
                             f"give at most {cores_available()}")
        input_size = None if args.input_size is None else _number("--input-size", args.input_size, int)
        sides = pairing.parse_sides(args.sides) if kind == "frameworks" else None
        selection = pairing.framework_selection(sides) if sides else {
            "frameworks": args.frameworks, "keras_backends": args.keras_backends}
        cases = cases_mod.build_cases(
            profile=args.bench_profile, models=args.models, modes=args.modes, batch_sizes=args.batch_sizes,
            device=device, input_size=input_size, precision=args.precision, layout=args.layout,
            tf_jit=args.tf_jit, torch_compile=args.torch_compile, **selection)
        delays = cases_mod.parse_delay(args.inject_delay)
        change = pairing.parse_setting_change(args.compare_setting) if kind == "setting" else None
        counts = instruction_counts.parse_options(args, cases) if instructions else {}
    except (CnnbenchError, ValueError) as exc:
        raise BadInput(str(exc)) from None
    for target, _, _ in delays:
        if not any(cases_mod.delay_for([(target, 1.0, "s")], c) for c in cases):
            raise BadInput(f"--inject-delay {target}: matches none of the selected cases")
    plan_args["cpus"] = _cpus(args.cpus, threads)
    profile = cases_mod.PROFILES[args.bench_profile]
    plan = Plan(warmup_rounds=profile.warmup_rounds, warmup_s=profile.warmup_seconds, **plan_args)
    settings = Settings(math=args.math, autotune=not args.no_autotune, threads=threads, interop_threads=interop,
                        onednn=args.onednn == "on")
    if args.out:
        _check_writable(args.out)
    baseline_sha = baseline_repo = None
    if kind == "baseline":
        from cnnbench.ab.checkout import git_toplevel, resolve_baseline

        try:
            baseline_sha = resolve_baseline(args.baseline, repo)
            baseline_repo = git_toplevel(repo)
        except ValueError as exc:
            raise BadInput(str(exc)) from None
    confirm = _number("--confirm", args.confirm, int, inclusive=True)
    if confirm and kind == "frameworks":
        raise BadInput("--confirm re-measures regressions of --baseline or --compare-setting; a framework "
                       "comparison has none")
    return {"kind": kind, "plan": plan, "threshold": threshold, "cases": cases, "settings": settings,
            "delays": delays, "change": change, "sides": sides, "device": device, "baseline_sha": baseline_sha,
            "baseline_repo": baseline_repo,
            "confirm": confirm, **counts}



def _cpus(value: str, threads: int | None) -> tuple[int, ...] | None:
    """--cpus: the CPUs both sides' workers are pinned to (None: not pinned)."""
    from cnnbench.core.settings import allowed_cpus

    allowed = allowed_cpus()
    if value == "none":
        return None
    if value == "auto":
        return tuple(allowed[-threads:]) if threads else None
    try:
        cpus = tuple(dict.fromkeys(int(c) for c in value.split(",") if c.strip()))
    except ValueError:
        cpus = ()
    if not cpus:
        raise BadInput(f"--cpus: expected auto, none or CPU numbers like 1 or 2,3; got {value!r}")
    outside = [c for c in cpus if c not in allowed]
    if outside:
        raise BadInput(f"--cpus {value}: CPU {', '.join(map(str, outside))} not available to this process; "
                       f"choose from {','.join(map(str, allowed))}")
    if threads and len(cpus) < threads:
        raise BadInput(f"--cpus {value}: {len(cpus)} CPU(s) for --threads {threads}; give at least {threads}")
    return cpus



def _check_writable(path: str) -> None:
    from pathlib import Path

    from cnnbench.core.atomic import output_file_problem

    problem = output_file_problem(Path(path), "--out")
    if problem:
        raise BadInput(problem)



def sigterm_like_ctrl_c(record=lambda name: None) -> None:
    """SIGTERM (a CI cancel, `timeout`) unwinds like Ctrl-C, so the baseline worktree and the workers
    are removed and what was measured is written; ``record`` gets the signal's name."""
    stop_like_ctrl_c(record)
