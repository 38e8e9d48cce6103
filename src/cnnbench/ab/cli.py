"""``cnnbench ab``: paired A/B timing of a baseline commit, two runtimes, or two settings.

    cnnbench ab --baseline main --bench-profile smoke                  # the working tree vs main
    cnnbench ab --compare-frameworks --sides torch,keras-jax --models resnet18 --modes train
    cnnbench ab --compare-setting threads=1 --models lenet5 --frameworks torch

Each case's two sides run in two worker processes, stepped alternately (``cnnbench.ab.engine``);
exit 0: no regression, 1: a regression (or a pair that could not be measured), 2: bad input.
"""
from __future__ import annotations

import argparse
import math
import sys
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import datetime, timezone

from cnnbench.ab import instruction_counts, output, pairing
from cnnbench.harness import cases as cases_mod, machine
from cnnbench.ab.engine import ORDERS, Plan
from cnnbench.core import callgrind
from cnnbench.core.errors import CnnbenchError
from cnnbench.core.signals import SIGNAL_EXIT, stop_like_ctrl_c

DEFAULT_THRESHOLD = 0.05
INSTRUCTIONS_THRESHOLD = callgrind.DEFAULT_THRESHOLD
DEFAULT_TARGET = 0.02
DEFAULT_BUDGET_S = 30.0


class BadInput(Exception):
    """A bad option: one line, exit 2."""


def _one_line_error(message: str):
    print(f"cnnbench ab: error: {message}", file=sys.stderr)
    raise SystemExit(2)


def add_ab_arguments(p: argparse.ArgumentParser) -> None:
    p.error = _one_line_error  # argparse's own errors (a bad choice, a non-number) in one line too
    what = p.add_argument_group("what to compare (exactly one)")
    what.add_argument("--baseline", metavar="GITREF",
                      help="A: this commit (run from a temporary git worktree); B: the working tree")
    what.add_argument("--compare-frameworks", action="store_true",
                      help="A and B: the same model, mode and batch in two runtimes (--sides)")
    what.add_argument("--sides", default=None, metavar="A,B",
                      help="the two runtimes of --compare-frameworks (default torch,keras-tf; any two of "
                           "torch, keras-tf, keras-jax, keras-torch)")
    what.add_argument("--compare-setting", default=None, metavar="KEY=VALUE",
                      help="A: the run's setting; B: this one (precision=bf16, layout=nhwc, compile=on, xla=on, "
                           "math=fp32, threads=1, interop_threads=1, autotune=off, onednn=off; comma-separated)")
    add_measurement_arguments(p)
    instruction_counts.add_arguments(p)
    o = p.add_argument_group("output")
    o.add_argument("--format", default="table", help="table, json, csv or markdown")
    o.add_argument("--out", default=None, metavar="FILE", help="write the result there (stdout: the table)")
    p.set_defaults(func=run_ab)


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


def _pairs(opts: dict, worktree) -> tuple[list, str, str]:
    kind, cases, settings, delays = opts["kind"], opts["cases"], opts["settings"], opts["delays"]
    if kind == "baseline":
        from cnnbench.ab.checkout import commit_info

        sha, info = opts["baseline_sha"], commit_info()
        a_label = f"baseline {opts['ref']} ({sha[:10]})"
        b_label = f"working tree ({(info['id'] or '?')[:10]}{', with uncommitted changes' if info['dirty'] else ''})"
        return pairing.baseline_pairs(cases, settings, worktree=str(worktree), baseline_label=a_label,
                                       candidate_label=b_label, delays=delays), a_label, b_label
    if kind == "frameworks":
        a, b = opts["sides"]
        return pairing.framework_pairs(cases, opts["sides"], settings, delays), a, b
    text = pairing.change_text(opts["change"])
    return pairing.setting_pairs(cases, settings, opts["change"], delays), "the run's settings", text


def _why_not(pair) -> str | None:
    """Why a pair cannot run here (a missing runtime, too small an input), checked before starting it."""
    from cnnbench.zoo.dispatch import runtime_missing
    from cnnbench.core.errors import InputTooSmallError
    from cnnbench.core.build_args import check_build_args

    if pair.skip:
        return pair.skip
    for side in (pair.a, pair.b):
        missing = runtime_missing(side.case.runtime)
        if missing:
            return missing
    try:
        c = pair.a.case
        check_build_args(c.model, None, c.input_size, dict(c.options))
    except InputTooSmallError as exc:
        return str(exc)
    return None


@dataclass
class Measured:
    """What a run of pairs has given so far: kept by the caller, so that an interrupted run still has it."""
    rows: list = field(default_factory=list)  # (the pair's place in the selection, its row)
    skipped: list = field(default_factory=list)
    unfinished: list = field(default_factory=list)

    def in_order(self) -> list[dict]:
        return [row for _, row in sorted(self.rows, key=lambda jr: jr[0])]


def measure_all(opts: dict, pairs: list, *, log=None, into: Measured | None = None) -> tuple[list, list, list]:
    """Measure every pair in turn; one progress line each. Returns (rows, skipped, unfinished); ``into``
    receives them as they come (an interrupt leaves there what was measured)."""
    from cnnbench.ab.engine import WorkerPool, side_key
    from cnnbench.core.paired import may_have_regressed, stored_estimate

    log = log or (lambda line: print(line, file=sys.stderr, flush=True))
    found = into if into is not None else Measured()
    rows, skipped, unfinished = found.rows, found.skipped, found.unfinished
    # pairs whose workers start alike run one after the other, on the same two workers (WorkerPool);
    # the rows keep the selection's order
    first_seen: dict = {}
    for pair in pairs:
        first_seen.setdefault((side_key(pair.a), side_key(pair.b)), len(first_seen))
    order = sorted(range(len(pairs)), key=lambda j: first_seen[(side_key(pairs[j].a), side_key(pairs[j].b))])
    pool = WorkerPool()
    try:
        for i, j in enumerate(order, 1):
            row = _measure_one(opts, pairs[j], i, len(pairs), pool, skipped, unfinished, log)
            if row is not None:
                rows.append((j, row))
    finally:
        pool.close()
    for j, row in rows:
        if opts.get("confirm") and opts["kind"] != "frameworks" and may_have_regressed(
                stored_estimate(row), opts["threshold"]):
            _confirm(opts, pairs[j], row, unfinished, log)
    return found.in_order(), skipped, unfinished


CONFIRMATION_FIELDS = ("rounds", "steps_per_round", "a_median_s", "b_median_s", "ratio", "ci_low", "ci_high",
                       "p_value", "stopped", "seconds", "decision")


def _confirm(opts: dict, pair, row: dict, unfinished: list, log) -> None:
    """A case that may have regressed (``cnnbench.core.paired.may_have_regressed``) measured again, up to
    ``opts["confirm"]`` times, each in a fresh pair of worker processes (the first pass shares its workers
    between the cases of a runtime): two processes, or two builds, of the same code can differ by several
    percent for their whole life, every round agreeing, which no interval over rounds sees. The row keeps
    its first measurement, lists the others and their ``pooled_ratio``; its decision is
    ``confirmed_decision``'s. No more pairs are run once the verdict is settled (``confirmation_settled``)."""
    from cnnbench.ab.engine import WorkerPool
    from cnnbench.core.paired import confirmation_settled, confirmed_decision, pooled_ratio, stored_estimate

    row["first_decision"], row["confirmations"] = row["decision"], []
    first = stored_estimate(row)
    for k in range(1, opts["confirm"] + 1):
        pool, lost = WorkerPool(), []
        try:
            again = _measure_one(opts, pair, k, opts["confirm"], pool, lost, lost, log,
                                 label=f"confirm {pair.pair_id}")
        finally:
            pool.close()
        if again is None:  # a confirmation that could not be measured leaves the pair unfinished
            unfinished.extend({"pair_id": pair.pair_id, "reason": f"confirmation {k}: {x['reason']}"} for x in lost)
            return
        row["confirmations"].append({key: again[key] for key in CONFIRMATION_FIELDS})
        if confirmation_settled(first, [stored_estimate(c) for c in row["confirmations"]], opts["threshold"]):
            break
    fresh = [stored_estimate(c) for c in row["confirmations"]]
    row["pooled_ratio"] = pooled_ratio([row["ratio"], *(e.ratio for e in fresh)])
    row["decision"] = confirmed_decision(first, fresh, opts["threshold"])


def _measure_one(opts: dict, pair, i: int, total: int, pool, skipped: list, unfinished: list, log,
                 label: str | None = None):
    from cnnbench.ab.engine import measure_pair
    from cnnbench.worker.client import WorkerDied, WorkerError

    label = label or pair.pair_id  # what the progress line names
    why = _why_not(pair)
    if why:
        skipped.append({"pair_id": pair.pair_id, "reason": why})
        log(output.progress_line(i, total, None, label, f"skipped: {why}"))
        return None
    start = time.perf_counter()
    try:
        outcome = measure_pair(pair.a, pair.b, opts["plan"], pool=pool)
    except WorkerError as exc:
        reason = f"{exc.error_type}: {exc.message}"
        (skipped if exc.kind in ("oom", "input_too_small", "unsupported") else unfinished).append(
            {"pair_id": pair.pair_id, "reason": reason})
        log(output.progress_line(i, total, None, label, f"not measured: {reason[:200]}"))
        return None
    except WorkerDied as exc:
        unfinished.append({"pair_id": pair.pair_id, "reason": str(exc)})
        log(output.progress_line(i, total, None, label, f"not measured: {str(exc)[:200]}"))
        return None
    row = output.case_row(pair, outcome, opts["kind"], opts["threshold"])
    row["seconds"] = round(time.perf_counter() - start, 2)
    log(output.progress_line(i, total, row, label))
    return row


def _sigterm_like_ctrl_c(record=lambda name: None) -> None:
    """SIGTERM (a CI cancel, `timeout`) unwinds like Ctrl-C, so the baseline worktree and the workers
    are removed and what was measured is written; ``record`` gets the signal's name."""
    stop_like_ctrl_c(record)


def run_ab(args: argparse.Namespace) -> int:
    try:
        opts = parse_options(args)
    except BadInput as exc:
        print(f"cnnbench ab: error: {exc}", file=sys.stderr)
        return 2
    opts["ref"] = args.baseline
    signals: list[str] = []
    _sigterm_like_ctrl_c(signals.append)
    if getattr(args, "metric", "time") == "instructions":
        try:
            return instruction_counts.run_instructions(args, opts)
        except KeyboardInterrupt:
            name = signals[0] if signals else "SIGINT"
            print(f"cnnbench ab: interrupted ({name}); workers and the baseline worktree removed", file=sys.stderr)
            return SIGNAL_EXIT[name]
    when = datetime.now(timezone.utc).isoformat()
    measured, pairs, a_label, b_label = Measured(), [], "", ""
    try:
        with ExitStack() as stack:
            worktree = None
            if opts["kind"] == "baseline":
                from cnnbench.ab.checkout import BaselineWorktree

                worktree = stack.enter_context(BaselineWorktree(opts["baseline_sha"]))
            pairs, a_label, b_label = _pairs(opts, worktree)
            if not pairs:
                print("cnnbench ab: error: the selection gives no pair to compare", file=sys.stderr)
                return 2
            print(f"cnnbench ab: {len(pairs)} pair(s) on {opts['device']}; A: {a_label}; B: {b_label}"
                  + (f"; --baseline looked up in {opts['baseline_repo']} (the checkout cnnbench runs from)"
                     if opts.get("baseline_repo") else ""), file=sys.stderr, flush=True)
            measure_all(opts, pairs, into=measured)
    except KeyboardInterrupt:
        name = signals[0] if signals else "SIGINT"
        print(f"cnnbench ab: interrupted ({name}); workers and the baseline worktree removed", file=sys.stderr)
        if not pairs:  # nothing was started: nothing to keep
            return SIGNAL_EXIT[name]
        done = {r["pair_id"] for r in measured.in_order()} | {x["pair_id"] for x in measured.skipped
                                                              + measured.unfinished}
        measured.unfinished += [{"pair_id": p.pair_id, "reason": f"not measured: the run was interrupted ({name})"}
                                for p in pairs if p.pair_id not in done]
        _write_result(args, opts, a_label, b_label, when, measured, interrupted=name)
        return SIGNAL_EXIT[name]
    return _write_result(args, opts, a_label, b_label, when, measured)


def _write_result(args, opts: dict, a_label: str, b_label: str, when: str, measured: Measured,
                  interrupted: str | None = None) -> int:
    """The result document on stdout and in --out; a failed write is one line (and a copy of the document
    in the temporary directory), exit 2."""
    from pathlib import Path

    from cnnbench.ab.checkout import commit_info
    from cnnbench.core.atomic import wrote
    from cnnbench.harness.journal import rescue
    from cnnbench.reports.atomic import write_atomic
    from cnnbench.reports.errors import ReportError

    rows, skipped, unfinished = measured.in_order(), measured.skipped, measured.unfinished
    info = {**machine.describe(), "cnnbench_device": opts["device"]}
    doc = output.document(kind=opts["kind"], a_label=a_label, b_label=b_label, plan=opts["plan"],
                             threshold=opts["threshold"], cases=rows, machine_info=info, commit_info=commit_info(),
                             datetime=when, skipped=skipped, unfinished=unfinished, interrupted=interrupted)
    text = output.render(doc, args.format)
    if args.out:
        existed = Path(args.out).exists()
        try:
            write_atomic(Path(args.out), text)
        except ReportError as exc:
            sys.stdout.write(output.render(doc, "table"))
            copy = rescue(output.render(doc, "json"))
            print(f"cnnbench ab: error: {exc}" + (f"; the result was written to {copy}" if copy else ""),
                  file=sys.stderr)
            return 2
        sys.stdout.write(output.render(doc, "table"))
        print(wrote(Path(args.out), existed), file=sys.stderr)
    else:
        sys.stdout.write(text)
    status = output.exit_status(doc)
    if status:
        regressed = [r["pair_id"] for r in rows if r["decision"] == "regression"]
        what = [f"regression: {', '.join(regressed)}"] if regressed else []
        what += [f"not measured: {', '.join(u['pair_id'] for u in unfinished)}"] if unfinished else []
        print(f"cnnbench ab: {'; '.join(what)}", file=sys.stderr)
    return status
