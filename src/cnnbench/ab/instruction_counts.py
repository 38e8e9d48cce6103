"""``cnnbench ab --metric instructions``: a baseline commit and the working tree compared by the
instructions of a step under Callgrind (docs/instructions.md), not by paired timings.

An instruction count is deterministic to ~0.3% (docs/instructions.md), so each side is counted once per
case (``--repeats`` counts in the same process; their median) in one Valgrind worker per runtime, the
baseline's on a ``git worktree`` of its commit, the working tree's on a copy of its package beside it (paths of
the same length: ``cnnbench.ab.checkout.SidesOfEqualLength``). A case whose B count is above A's by more than the
threshold (default ``cnnbench.core.callgrind.DEFAULT_THRESHOLD``, 0.5%) is a regression: exit 1, with a
line naming the case, both counts and the change. Without Valgrind: one line naming the packages to
install, exit 0, nothing compared (CI's other gates go on).
"""
from __future__ import annotations

import json
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

from cnnbench.core import callgrind
from cnnbench.harness.cases import delay_for, parse_delay
from cnnbench.harness.instructions import single_threaded

DEFAULT_STEPS = 10
DEFAULT_REPEATS = 2
COLUMNS = ("case", "a_instructions", "b_instructions", "change", "decision")


def add_arguments(p) -> None:
    """The options of ``cnnbench ab --metric instructions``."""
    g = p.add_argument_group("instruction counts (--metric instructions; docs/instructions.md)")
    g.add_argument("--metric", default="time", choices=("time", "instructions"),
                   help="time: paired wall time (default); instructions: Callgrind's count of a step, each side "
                        "in one Valgrind worker per runtime (threshold default 0.5%%)")
    g.add_argument("--steps", default=str(DEFAULT_STEPS), metavar="N", help=f"steps a count (default {DEFAULT_STEPS})")
    g.add_argument("--repeats", default=str(DEFAULT_REPEATS), metavar="R",
                   help=f"counts a side, their median compared (default {DEFAULT_REPEATS})")
    g.add_argument("--inject-work", default=None, metavar="MODEL=PCT%",
                   help="TEST ONLY: B's counted steps followed by extra elementwise work, that share of their "
                        "instructions")


def add_at_once(p) -> None:
    """``cnnbench ab``'s own (not bisect's, which counts its GOOD commit once and then one commit at a time)."""
    p.add_argument("--at-once", action="store_true",
                   help="with --metric instructions: count both sides at the same time, one Valgrind worker each: "
                        "half the time on two cores (each side is then the other's load)")


def parse_options(args, cases) -> dict:
    """--steps, --repeats, --inject-work checked (ValueError: one line)."""
    out = {}
    for name in ("steps", "repeats"):
        try:
            out[name] = int(getattr(args, name))
        except ValueError:
            out[name] = 0
        if out[name] <= 0:
            raise ValueError(f"--{name}: expected a positive whole number, got {getattr(args, name)!r}")
    try:
        work = parse_delay(args.inject_work)
    except ValueError as exc:
        raise ValueError(str(exc).replace("--inject-delay", "--inject-work")) from None
    for target, _, unit in work:
        if unit != "fraction":
            raise ValueError(f"--inject-work {target}: give a share of the step, like {target}=2%")
        if not any(delay_for([(target, 1.0, unit)], c) for c in cases):
            raise ValueError(f"--inject-work {target}: matches none of the selected cases")
    out["work"] = work
    out["at_once"] = bool(getattr(args, "at_once", False))
    return out


def rows_from(cases, a_counts, b_counts, threshold: float, work: list) -> tuple[list[dict], list[dict]]:
    """One row per case counted on both sides, and the cases that were not (with why)."""
    rows, missing = [], []
    for case, a, b in zip(cases, a_counts, b_counts):
        b_count = b.per_step
        if b.variants:  # TEST ONLY: B's count is the injected variant's
            counts = sorted(b.variants[0]["instructions"])
            b_count = counts[len(counts) // 2]
        if a.per_step is None or b_count is None:
            missing.append({"case": case.id, "reason": "; ".join(
                f"{side}: {c.error}" for side, c in (("A", a), ("B", b)) if c.error) or "not counted"})
            continue
        injected = delay_for(work, case)
        rows.append({"case": case.id, "a_instructions": a.per_step, "b_instructions": b_count,
                     "change": callgrind.relative_change(a.per_step, b_count),
                     "decision": callgrind.decision(a.per_step, b_count, threshold),
                     "a_repeats": a.instructions, "b_repeats": b.instructions if not b.variants else
                     b.variants[0]["instructions"], "steps": a.steps, "a_seconds": a.seconds,
                     "b_seconds": b.seconds, "injected_work": injected[0] if injected else None,
                     # TEST ONLY: B's own count without the injected work, against A's (an A/A pair)
                     "b_uninjected_instructions": b.per_step if b.variants else None,
                     "valgrind": a.info.get("valgrind"), "a_versions": a.info.get("versions"),
                     "b_versions": b.info.get("versions"),
                     # Keras on TensorFlow: whether each side's pools polled for work (a baseline older than
                     # CNNBENCH_TF_THREAD_SPINNING let them; its counts are then ~4% higher for that alone)
                     "a_tf_thread_spinning": a.info.get("tf_thread_spinning"),
                     "b_tf_thread_spinning": b.info.get("tf_thread_spinning")})
    return rows, missing


def spinning_note(row: dict) -> str | None:
    """The line that says two sides counted Keras/TF with its thread pools set differently, or None."""
    a, b = row.get("a_tf_thread_spinning"), row.get("b_tf_thread_spinning")
    if a == b:
        return None
    said = {True: "polled for work (spun)", False: "did not spin", None: "did not say (older code)"}
    return (f"{row['case']}: A's TensorFlow thread pools {said[a]}, B's {said[b]}: the counts differ by the polls "
            "as well as by the code (docs/instructions.md)")


def render(doc: dict, fmt: str) -> str:
    if fmt == "json":
        return json.dumps(doc, indent=2) + "\n"
    lines = [f"instructions a step under Callgrind; A: {doc['a_label']}; B: {doc['b_label']}; "
             f"threshold {doc['threshold']:.1%}"]
    notes = [n for n in map(spinning_note, doc["cases"]) if n]
    table = [COLUMNS] + [(r["case"], f"{r['a_instructions']:,.0f}", f"{r['b_instructions']:,.0f}",
                          f"{r['change']:+.2%}", r["decision"]) for r in doc["cases"]]
    if fmt == "csv":
        return "\n".join(",".join(map(str, row)) for row in table) + "\n"
    if fmt == "markdown":
        body = ["| " + " | ".join(row) + " |" for row in table]
        body.insert(1, "|" + "---|" * len(COLUMNS))
        return "\n".join([lines[0], "", *body, *(f"\nnot counted: {m['case']}: {m['reason']}"
                                                 for m in doc["not_counted"]), *(f"\n{n}" for n in notes)]) + "\n"
    widths = [max(len(str(row[i])) for row in table) for i in range(len(COLUMNS))]
    body = ["  ".join(str(v).ljust(w) for v, w in zip(row, widths)).rstrip() for row in table]
    return "\n".join([*lines, *body, *(f"not counted: {m['case']}: {m['reason']}" for m in doc["not_counted"]),
                      *notes]) + "\n"


def exit_status(doc: dict) -> int:
    """1 when a case regressed or a case could not be counted, else 0."""
    return 1 if doc["not_counted"] or any(r["decision"] == "regression" for r in doc["cases"]) else 0


def both_sides(count_a, count_b, *, at_once: bool):
    """(A's counts, B's counts): one after the other, or with ``at_once`` both at the same time, one Valgrind
    worker each (``--at-once``: half the time on two cores; each side is the other's load, so a count that
    moves with the machine's load moves alike on both sides). The threads are daemons: an interrupt ends
    the command without waiting for a count, and its Valgrind workers end with the pipes they read."""
    if not at_once:
        return count_a(), count_b()
    import threading

    got: dict = {}

    def run(side, fn):
        try:
            got[side] = fn()
        except BaseException as exc:  # re-raised in the command's thread
            got[side] = exc

    threads = [threading.Thread(target=run, args=(side, fn), daemon=True) for side, fn in (("a", count_a),
                                                                                         ("b", count_b))]
    for t in threads:
        t.start()
    for t in threads:
        while t.is_alive():
            t.join(0.5)  # a short wait at a time: SIGINT and SIGTERM reach this thread between them
    for side in ("a", "b"):
        if isinstance(got[side], BaseException):
            raise got[side]
    return got["a"], got["b"]


def run_instructions(args, opts: dict, *, log=None) -> int:
    """The command: count both sides, compare, print, exit 0/1 (2 for bad input, before this)."""
    from contextlib import ExitStack

    from cnnbench.ab.checkout import SidesOfEqualLength, commit_info
    from cnnbench.harness.instructions import count_cases

    log = log or (lambda line: print(line, file=sys.stderr, flush=True))
    why = callgrind.missing()
    if why:
        print(f"cnnbench ab --metric instructions: skipped: {why}", file=sys.stderr)
        return 0
    if opts["kind"] != "baseline":
        print("cnnbench ab: error: --metric instructions compares a --baseline commit with the working tree",
              file=sys.stderr)
        return 2
    threshold, work = opts["threshold"], opts["work"]
    cases, settings = opts["cases"], single_threaded(opts["settings"])
    steps, repeats = opts["steps"], opts["repeats"]
    start = time.perf_counter()
    when = datetime.now(timezone.utc).isoformat()
    with ExitStack() as stack:
        a_side, b_side = stack.enter_context(SidesOfEqualLength(opts["baseline_sha"]))
        a_label = f"baseline {args.baseline} ({opts['baseline_sha'][:10]})"
        info = commit_info()
        b_label = f"working tree ({(info['id'] or '?')[:10]}{', with uncommitted changes' if info['dirty'] else ''})"
        log(f"cnnbench ab --metric instructions: {len(cases)} case(s); A: {a_label}; B: {b_label}")
        b_work = {c.id: [d[0]] for c in cases if (d := delay_for(work, c))}
        a, b = both_sides(
            lambda: count_cases(cases, settings, steps=steps, repeats=repeats, **a_side,
                                log=lambda line: log(f"A {line}")),
            lambda: count_cases(cases, settings, steps=steps, repeats=repeats, work=b_work, **b_side,
                                log=lambda line: log(f"B {line}")),
            at_once=opts.get("at_once", False))
    rows, missing = rows_from(cases, a, b, threshold, work)
    doc = {"metric": "instructions", "a_label": a_label, "b_label": b_label, "threshold": threshold,
           "steps": steps, "repeats": repeats, "counted": callgrind.COUNTED, "datetime": when,
           "seconds": round(time.perf_counter() - start, 1), "at_once": opts.get("at_once", False), "cases": rows,
           "not_counted": missing}
    text = render(doc, args.format)
    if args.out:
        Path(args.out).write_text(text)
        sys.stdout.write(render(doc, "table"))
    else:
        sys.stdout.write(text)
    for r in rows:
        if r["decision"] != "no change":
            log(callgrind.change_line(r["case"], r["a_instructions"], r["b_instructions"], threshold))
        if r["b_uninjected_instructions"]:
            log("without the injected work: " + callgrind.change_line(
                r["case"], r["a_instructions"], r["b_uninjected_instructions"], threshold))
    log(f"cnnbench ab --metric instructions: {doc['seconds']:.0f} s")
    return exit_status(doc)


class InstructionBisection:
    """``cnnbench bisect --metric instructions``: a commit compared with GOOD by one count per case and
    commit (GOOD's counted once and kept), decided as ``cnnbench ab --metric instructions`` decides;
    the rows carry what ``cnnbench.ab.bisect`` reads (pair_id, ratio, decision)."""

    def __init__(self, opts: dict, good_tree, good: str, repo, *, log=None):
        self.opts, self.good_tree, self.good, self.repo = opts, good_tree, good, repo
        self.settings = single_threaded(opts["settings"])
        self.good_counts: dict = {}
        self.unfinished: list = []
        self.log = log or (lambda line: print(line, file=sys.stderr, flush=True))

    def _count(self, cases, tree, label: str) -> dict:
        from cnnbench.ab.checkout import package_root
        from cnnbench.harness.instructions import count_cases

        counted = count_cases(cases, self.settings, steps=self.opts["steps"], repeats=self.opts["repeats"],
                              pythonpath=str(package_root(tree)), cwd=str(tree),
                              log=lambda line: self.log(f"{label} {line}"))
        for c in counted:
            if c.per_step is None:
                self.unfinished.append({"pair_id": c.case_id, "reason": f"{label}: {c.error}"})
        return {c.case_id: c.per_step for c in counted}

    def compare(self, sha: str, cases: list, label: str) -> list[dict]:
        from cnnbench.ab.checkout import BaselineWorktree

        todo = [c for c in cases if c.id not in self.good_counts]
        if todo:
            self.good_counts.update(self._count(todo, self.good_tree, f"GOOD ({self.good[:10]})"))
        with BaselineWorktree(sha, self.repo) as tree:
            counts = self._count(cases, tree, f"{label} ({sha[:10]})")
        rows = []
        for c in cases:
            a, b = self.good_counts.get(c.id), counts.get(c.id)
            if a is None or b is None:
                continue
            rows.append({"pair_id": c.id, "ratio": b / a, "ci_low": None, "a_instructions": a, "b_instructions": b,
                         "decision": callgrind.decision(a, b, self.opts["threshold"])})
        return rows
