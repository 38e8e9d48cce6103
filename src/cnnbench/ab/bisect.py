"""``cnnbench bisect GOOD BAD``: the first commit that slowed a case, found with paired comparisons.

    cnnbench bisect v1.2 main --models lenet5 --frameworks torch --modes inference --threads 1

Like ``asv find``, but every verdict is paired (cnnbench.ab.engine): a commit's worker and GOOD's,
each on a ``git worktree`` of its commit, step alternately in the same minutes, so a verdict is never
two runs at two times compared. First BAD is compared with GOOD; if no case is a regression there the
step is not reproducible and nothing is bisected (exit 1). Otherwise the first-parent commits of
GOOD..BAD are bisected on the cases that regressed: each midpoint is compared with GOOD (slow: any of
them a regression, decided as ``cnnbench ab`` decides, with --threshold and --confirm; an inconclusive
one goes by the nearer ratio, ``slow_verdict``, and the last line says so), about log2(n) comparisons
for n commits, each printed with its ratio and interval. Exit 0: the first slow
commit is named; 1: the step is not reproducible, or a comparison could not be measured; 2: bad input.
"""
from __future__ import annotations

import argparse
import math
import subprocess
import sys
from contextlib import ExitStack
from pathlib import Path

from cnnbench.ab import instruction_counts, options
from cnnbench.ab.measure import measure_all
from cnnbench.ab.pairing import Pair
from cnnbench.ab.checkout import BaselineWorktree, git_toplevel, package_root, resolve_baseline
from cnnbench.ab.engine import Side
from cnnbench.core import callgrind
from cnnbench.core.signals import SIGNAL_EXIT
from cnnbench.harness.cases import delay_for


class BisectError(Exception):
    """Bad input (a ref, a range): one line, exit 2."""


def _one_line_error(message: str):
    print(f"cnnbench bisect: error: {message}", file=sys.stderr)
    raise SystemExit(2)


def add_bisect_arguments(p: argparse.ArgumentParser) -> None:
    p.error = _one_line_error
    p.add_argument("good", metavar="GOOD", help="a commit (git ref) whose speed is the reference")
    p.add_argument("bad", metavar="BAD", help="a later commit, slower than GOOD (GOOD must be its ancestor)")
    p.add_argument("--repo", default=".", metavar="PATH", help="the git repository (default: the current directory's)")
    options.add_measurement_arguments(p)
    instruction_counts.add_arguments(p)  # --metric instructions: one count per commit (docs/instructions.md)
    # what `cnnbench ab --baseline` would be given: bisect always compares commits
    p.set_defaults(func=run_bisect, baseline=None, compare_frameworks=False, compare_setting=None, sides=None,
                   format="table", out=None)


def _git(repo: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True)


def resolve(name: str, ref: str, repo: Path) -> str:
    """GOOD's or BAD's full commit id (its worker must speak this engine's protocol)."""
    try:
        return resolve_baseline(ref, repo)
    except ValueError as exc:
        raise BisectError(str(exc).replace("--baseline", name, 1)) from None


def first_parent_commits(good: str, bad: str, repo: Path) -> list[str]:
    """The commits after GOOD up to BAD along BAD's first parents, oldest first (BAD last)."""
    if _git(repo, "merge-base", "--is-ancestor", good, bad).returncode != 0:
        raise BisectError(f"GOOD {good[:10]} is not an ancestor of BAD {bad[:10]}; give an older GOOD")
    found = _git(repo, "rev-list", "--first-parent", "--reverse", f"{good}..{bad}").stdout.split()
    if not found:
        raise BisectError(f"GOOD and BAD are the same commit ({good[:10]}): nothing to bisect")
    return found


def subject(sha: str, repo: Path) -> str:
    return _git(repo, "log", "-1", "--format=%s", sha).stdout.strip()


class Bisection:
    """The comparisons of one bisection: each a commit's worktree against GOOD's, on the chosen cases."""

    def __init__(self, opts: dict, good_tree: Path, good: str, repo: Path):
        self.opts, self.good_tree, self.good, self.repo = opts, good_tree, good, repo
        self.unfinished: list = []

    def compare(self, sha: str, cases: list, label: str) -> list[dict]:
        with BaselineWorktree(sha, self.repo) as tree:
            pairs = [Pair(c.id, Side(c, self.opts["settings"], f"GOOD ({self.good[:10]})",
                                     pythonpath=str(package_root(self.good_tree)), cwd=str(self.good_tree)),
                          Side(c, self.opts["settings"], f"{label} ({sha[:10]})", pythonpath=str(package_root(tree)),
                               cwd=str(tree), delay=delay_for(self.opts["delays"], c))) for c in cases]
            rows, skipped, unfinished = measure_all(self.opts, pairs)
        self.unfinished += unfinished + skipped
        return rows


def verdict_line(rows: list[dict]) -> str:
    parts = []
    for r in rows:
        ci = "" if r.get("ci_low") is None else f" [{r['ci_low']:.3f}, {r['ci_high']:.3f}]"
        parts.append(f"{r['pair_id']} {r['ratio']:.3f}{ci} {r['decision']}")
    return "; ".join(parts) or "nothing measured"


def run_bisect(args: argparse.Namespace) -> int:
    try:
        repo = git_toplevel(Path(args.repo).resolve())
    except ValueError as exc:
        print(f"cnnbench bisect: error: {str(exc).replace('--baseline', 'bisect', 1)}", file=sys.stderr)
        return 2
    try:
        good, bad = resolve("GOOD", args.good, repo), resolve("BAD", args.bad, repo)
        commits = first_parent_commits(good, bad, repo)
        args.baseline = good
        opts = options.parse_options(args, repo)
    except (BisectError, options.BadInput) as exc:
        print(f"cnnbench bisect: error: {exc}", file=sys.stderr)
        return 2
    signals: list[str] = []
    options.sigterm_like_ctrl_c(signals.append)
    print(f"cnnbench bisect: GOOD {good[:10]}, BAD {bad[:10]}: {len(commits)} first-parent commit(s), "
          f"{len(opts['cases'])} case(s) on {opts['device']}", flush=True)
    try:
        with ExitStack() as stack:
            good_tree = stack.enter_context(BaselineWorktree(good, repo))
            if args.metric == "instructions":
                if callgrind.missing():
                    print(f"cnnbench bisect: {callgrind.missing()}", file=sys.stderr)
                    return 1
                bisection = instruction_counts.InstructionBisection(opts, good_tree, good, repo)
            else:
                bisection = Bisection(opts, good_tree, good, repo)
            return _bisect(bisection, opts, commits, good, bad, repo)
    except KeyboardInterrupt:
        name = signals[0] if signals else "SIGINT"
        print(f"cnnbench bisect: interrupted ({name}); workers and worktrees removed", file=sys.stderr)
        return SIGNAL_EXIT[name]


def slow_verdict(rows: list[dict], bad_ratios: dict[str, float]) -> tuple[bool, bool]:
    """(whether a midpoint is slow, whether that was decided by the nearer ratio rather than by a verdict).

    Slow: any case a regression. Not slow: every case no change (or an improvement). Otherwise a case
    is inconclusive, and the midpoint is slow if an inconclusive case's ratio is nearer BAD's than
    GOOD's (above the geometric midpoint of 1 and BAD's ratio), as ``asv find`` decides on its values:
    a bisection must go one way or the other, and the final line says a verdict was not settled."""
    if any(r["decision"] == "regression" for r in rows):
        return True, False
    unsettled = [r for r in rows if r["decision"] == "inconclusive"]
    if not unsettled:
        return False, False
    return any(math.log(r["ratio"]) > math.log(bad_ratios[r["pair_id"]]) / 2 for r in unsettled), True


def _not_measured(bisection) -> int:
    print(f"cnnbench bisect: not measured: {', '.join(u['pair_id'] for u in bisection.unfinished)}", file=sys.stderr)
    return 1


def _bisect(bisection, opts: dict, commits: list[str], good: str, bad: str, repo: Path) -> int:
    """The bisection proper; ``bisection.compare(sha, cases, label)`` measures a commit against GOOD."""
    rows = bisection.compare(bad, opts["cases"], "BAD")
    print(f"BAD {bad[:10]} vs GOOD {good[:10]}: {verdict_line(rows)}", flush=True)
    if bisection.unfinished:
        return _not_measured(bisection)
    bad_ratios = {r["pair_id"]: r["ratio"] for r in rows if r["decision"] == "regression"}
    if not bad_ratios:
        print(f"cnnbench bisect: the step is not reproducible: no case of BAD {bad[:10]} is slower than GOOD "
              f"{good[:10]} in a {'count' if opts.get('steps') else 'paired comparison'} (threshold "
              f"{opts['threshold']:.1%}); nothing to bisect",
              file=sys.stderr)
        return 1
    cases = [c for c in opts["cases"] if c.id in bad_ratios]
    lo, hi = -1, len(commits) - 1  # commits[lo] (GOOD at -1) is fast, commits[hi] (BAD) slow
    total = max(0, (len(commits) - 1).bit_length())
    step = unsettled = 0
    while hi - lo > 1:
        mid = (lo + hi) // 2
        step += 1
        rows = bisection.compare(commits[mid], cases, "midpoint")
        if bisection.unfinished:
            return _not_measured(bisection)
        is_slow, by_ratio = slow_verdict(rows, bad_ratios)
        unsettled += by_ratio
        how = " (inconclusive: by the nearer ratio)" if by_ratio else ""
        print(f"[{step}/~{total}] {commits[mid][:10]} (commit {mid + 1} of {len(commits)}) vs GOOD: "
              f"{verdict_line(rows)} -> {'slow' if is_slow else 'not slow'}{how}", flush=True)
        if is_slow:
            hi = mid
        else:
            lo = mid
    first = commits[hi]
    print(f"first slow commit: {first} {subject(first, repo)}"
          + (f" ({unsettled} verdict(s) inconclusive, decided by the nearer ratio: check it on a checkout of "
             f"{first[:10]} with cnnbench ab --baseline {(commits[hi - 1] if hi else good)[:10]} and a longer "
             "--time-budget)" if unsettled else ""))
    return 0
