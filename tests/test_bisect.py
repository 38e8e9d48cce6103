"""``cnnbench bisect GOOD BAD`` on a real throwaway history: a clone of this checkout and six small commits, the
fourth of which makes PyTorch LeNet-5's forward pass busy-wait 0.5 ms (its inference step at 28 px, batch 2,
one thread, takes about 0.2 ms on the reference VM, so that commit's steps are several times slower).
Bisect must confirm BAD is slower than GOOD, bisect the six commits in about log2(6) paired comparisons,
and name the fourth; a range without the slowdown is "not reproducible" (exit 1); an unknown ref is one
line (exit 2)."""
from __future__ import annotations

import math
import os
import re
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

ROOT = Path(__file__).resolve().parent.parent
IS_GIT = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True).returncode == 0
LENET = Path("src/cnnbench/models_torch/lenet.py")
BUSY_WAIT = '''

    def forward(self, x):  # TEST ONLY (tests/test_bisect.py): an injected slowdown of 0.5 ms per call
        import time

        end = time.perf_counter() + 0.0005
        while time.perf_counter() < end:
            pass
        return super().forward(x)
'''
SELECTION = ["--models", "lenet5", "--frameworks", "torch", "--modes", "inference", "--device", "cpu",
             "--bench-profile", "smoke", "--threads", "1", "--time-budget", "3"]

needs_git = pytest.mark.skipif(not IS_GIT, reason="bisect needs a git checkout")


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, check=True)
    return done.stdout.strip()


class FakeBisection:
    """Stands in for the paired comparisons: commits[first_slow:] are ``ratio`` times slower than GOOD;
    ``unsettled`` maps a commit index to the inconclusive ratio measured there."""

    def __init__(self, commits: list[str], first_slow: int, ratio: float = 1.3, unsettled: dict | None = None):
        self.commits, self.first_slow, self.ratio, self.unsettled = commits, first_slow, ratio, unsettled or {}
        self.unfinished: list = []
        self.measured: list[int] = []

    def compare(self, sha: str, cases: list, label: str) -> list[dict]:
        i = self.commits.index(sha)
        self.measured.append(i)
        if i in self.unsettled:
            r, decision = self.unsettled[i], "inconclusive"
        else:
            r, decision = (self.ratio, "regression") if i >= self.first_slow else (1.0, "no change")
        return [{"pair_id": "case", "ratio": r, "ci_low": r / 1.02, "ci_high": r * 1.02, "decision": decision}]


@pytest.mark.parametrize("n", [1, 2, 3, 6, 7, 8, 13, 32])
def test_the_bisection_finds_every_first_slow_commit_in_log2_comparisons(n, capsys, tmp_path):
    from cnnbench.ab import bisect as bisect_mod

    commits = [f"{i:02d}" + "a" * 38 for i in range(n)]
    opts = {"cases": [SimpleNamespace(id="case")], "threshold": 0.05}
    for first in range(n):
        fake = FakeBisection(commits, first)
        assert bisect_mod._bisect(fake, opts, commits, "g" * 40, commits[-1], tmp_path) == 0
        assert capsys.readouterr().out.splitlines()[-1].startswith(f"first slow commit: {commits[first]}")
        # BAD against GOOD, then at most ceil(log2 n) midpoints, never BAD again
        assert fake.measured[0] == n - 1 and len(fake.measured) - 1 <= math.ceil(math.log2(n))
        assert n - 1 not in fake.measured[1:]


def test_an_inconclusive_midpoint_goes_by_the_nearer_ratio_and_says_so(capsys, tmp_path):
    from cnnbench.ab import bisect as bisect_mod

    commits = [f"{i:02d}" + "a" * 38 for i in range(6)]
    opts = {"cases": [SimpleNamespace(id="case")], "threshold": 0.05}
    # commit 3 (index 2) is the first slow one, measured inconclusive at 1.25 (BAD: 1.3): nearer BAD's
    fake = FakeBisection(commits, 2, unsettled={2: 1.25})
    assert bisect_mod._bisect(fake, opts, commits, "g" * 40, commits[-1], tmp_path) == 0
    out = capsys.readouterr().out
    assert "-> slow (inconclusive: by the nearer ratio)" in out
    assert out.splitlines()[-1].startswith(f"first slow commit: {commits[2]}")
    assert "1 verdict(s) inconclusive, decided by the nearer ratio" in out
    # ... and at 1.05 it is nearer GOOD's: not slow, the next commit is
    fake = FakeBisection(commits, 3, unsettled={2: 1.05})
    assert bisect_mod._bisect(fake, opts, commits, "g" * 40, commits[-1], tmp_path) == 0
    assert capsys.readouterr().out.splitlines()[-1].startswith(f"first slow commit: {commits[3]}")


@pytest.fixture(scope="module")
def history(tmp_path_factory) -> dict:
    """A clone of HEAD and six commits on top: 1-3 and 5-6 touch a note, 4 slows LeNet-5 down."""
    repo = tmp_path_factory.mktemp("bisect") / "repo"
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(repo)], check=True)
    git(repo, "config", "user.email", "test@example.com")
    git(repo, "config", "user.name", "test")
    commits = {"good": git(repo, "rev-parse", "HEAD")}
    for n in range(1, 7):
        if n == 4:
            source = (repo / LENET).read_text()
            anchor = '        self.add_module("head", seq(*head))\n'
            assert anchor in source
            (repo / LENET).write_text(source.replace(anchor, anchor + BUSY_WAIT))
            git(repo, "commit", "--quiet", "-am", "commit 4: LeNet-5 busy-waits 0.5 ms per forward")
        else:
            (repo / "NOTE.txt").write_text(f"note {n}\n")
            git(repo, "add", "NOTE.txt")
            git(repo, "commit", "--quiet", "-m", f"commit {n}: a note")
        commits[n] = git(repo, "rev-parse", "HEAD")
    return {"repo": repo, **commits}


def bisect(history: dict, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run([sys.executable, "-m", "cnnbench", "bisect", *args, "--repo", str(history["repo"])],
                          capture_output=True, text=True, env=env, timeout=600)


@needs_git
@pytest.mark.slow
def test_bisect_names_the_commit_that_slowed_lenet5(history):
    pytest.importorskip("torch")
    done = bisect(history, history["good"], history[6], *SELECTION)
    assert done.returncode == 0, done.stdout + done.stderr[-3000:]
    lines = done.stdout.splitlines()
    # BAD against GOOD first: a regression, with its ratio and interval
    assert re.search(r"^BAD \w{10} vs GOOD \w{10}: lenet5-torch-inference-bs2-cpu \d+\.\d{3} "
                     r"\[\d+\.\d{3}, \d+\.\d{3}\] regression$", done.stdout, re.MULTILINE), done.stdout
    steps = [line for line in lines if line.startswith("[")]
    # six commits: midpoints commit 3 (not slow), then commit 4 (slow): two comparisons (log2 6 = 2.6)
    assert len(steps) == 2, done.stdout
    assert steps[0].startswith(f"[1/~3] {history[3][:10]} (commit 3 of 6) vs GOOD: ")
    assert steps[0].endswith("-> not slow")
    assert steps[1].startswith(f"[2/~3] {history[4][:10]} (commit 4 of 6) vs GOOD: ") and steps[1].endswith("-> slow")
    assert lines[-1] == f"first slow commit: {history[4]} commit 4: LeNet-5 busy-waits 0.5 ms per forward"
    assert git(history["repo"], "worktree", "list").count("\n") == 0  # every worktree removed


@needs_git
@pytest.mark.slow
def test_a_range_without_the_step_is_not_reproducible(history):
    pytest.importorskip("torch")
    done = bisect(history, history[1], history[3], *SELECTION)
    assert done.returncode == 1, done.stdout + done.stderr[-3000:]
    assert "cnnbench bisect: the step is not reproducible: no case of BAD" in done.stderr
    assert "[1/" not in done.stdout  # nothing bisected


@needs_git
@pytest.mark.parametrize("good, bad, phrase", [
    ("no-such-ref", "HEAD", "GOOD no-such-ref: no such commit in"),
    ("HEAD", "v0-no-such-tag", "BAD v0-no-such-tag: no such commit in"),
    ("HEAD", "HEAD~1", "is not an ancestor of BAD"),
    ("HEAD", "HEAD", "nothing to bisect"),
])
def test_bad_refs_are_one_line(history, good, bad, phrase):
    done = bisect(history, good, bad, *SELECTION)
    assert done.returncode == 2 and done.stdout == ""
    assert len(done.stderr.strip().splitlines()) == 1 and phrase in done.stderr, done.stderr
