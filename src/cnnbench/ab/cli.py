"""``cnnbench ab``: paired A/B timing of a baseline commit, two runtimes, or two settings.

    cnnbench ab --baseline main --bench-profile smoke                  # the working tree vs main
    cnnbench ab --compare-frameworks --sides torch,keras-jax --models resnet18 --modes train
    cnnbench ab --compare-setting threads=1 --models lenet5 --frameworks torch

Each case's two sides run in two worker processes, stepped alternately (``cnnbench.ab.engine``);
exit 0: no regression, 1: a regression (or a pair that could not be measured), 2: bad input.
"""
from __future__ import annotations

import argparse
import sys
from contextlib import ExitStack
from datetime import datetime, timezone

from cnnbench.ab import instruction_counts, output, pairing
from cnnbench.ab.measure import Measured, measure_all
from cnnbench.ab.options import BadInput, sigterm_like_ctrl_c, add_measurement_arguments, parse_options
from cnnbench.core.signals import SIGNAL_EXIT
from cnnbench.harness import machine


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
    instruction_counts.add_at_once(p)
    o = p.add_argument_group("output")
    o.add_argument("--format", default="table", help="table, json, csv or markdown")
    o.add_argument("--out", default=None, metavar="FILE", help="write the result there (stdout: the table)")
    p.set_defaults(func=run_ab)


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


def run_ab(args: argparse.Namespace) -> int:
    try:
        opts = parse_options(args)
    except BadInput as exc:
        print(f"cnnbench ab: error: {exc}", file=sys.stderr)
        return 2
    opts["ref"] = args.baseline
    signals: list[str] = []
    sigterm_like_ctrl_c(signals.append)
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
