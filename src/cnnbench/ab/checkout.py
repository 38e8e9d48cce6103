"""A baseline commit checked out beside the working tree, for the paired engine's baseline workers.

``cnnbench ab --baseline GITREF`` runs the baseline side's worker on a temporary ``git worktree`` of
that commit (``python -m cnnbench.worker`` with the worktree as working directory and its package
root first on PYTHONPATH: ``src/`` since the src layout, the worktree itself before it, where
``cnnbench/__init__.py`` made an uninstalled checkout importable) and the candidate on the working
tree this code was imported from. The worktree is removed when the comparison ends,
however it ends. ``cnnbench ab --metric instructions`` counts both sides from paths of the same length
(``SidesOfEqualLength``): a count moves with the length of the paths and environment a process starts with.
"""
from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import cnnbench
from cnnbench.worker import PROTOCOL

# where the worker's PROTOCOL is in a commit: the worker package, the src layout's worker.py, the layout before it
WORKER_PATHS = ("src/cnnbench/worker/__init__.py", "src/cnnbench/worker.py", "cnnbench/worker.py")


def import_root() -> Path:
    """The folder ``cnnbench`` is imported from (``src/`` of a checkout, or site-packages)."""
    return Path(cnnbench.__file__).resolve().parent.parent


def checkout_root() -> Path:
    """The checkout ``cnnbench`` is imported from (the candidate's working tree)."""
    root = import_root()
    return root.parent if root.name == "src" and (root.parent / "pyproject.toml").is_file() else root


def package_root(checkout: Path | str) -> Path:
    """What a checkout puts first on a worker's PYTHONPATH: its ``src/`` in the src layout, else itself."""
    checkout = Path(checkout)
    return checkout / "src" if (checkout / "src" / "cnnbench" / "__init__.py").is_file() else checkout


def _git(root: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True)


def git_toplevel(root: Path | None = None) -> Path:
    root = root or checkout_root()
    try:
        done = _git(root, "rev-parse", "--show-toplevel")
    except FileNotFoundError:
        raise ValueError("--baseline needs git, which is not installed here") from None
    if done.returncode != 0:
        raise ValueError(f"--baseline needs a git checkout; {root} is not one")
    return Path(done.stdout.strip())


def resolve_baseline(ref: str, root: Path | None = None) -> str:
    """The full commit id of ``ref``, after checking that its worker speaks this protocol."""
    root = git_toplevel(root)
    if not ref.strip() or ref.startswith("-"):
        raise ValueError(f"--baseline: {ref!r} is not a git ref")
    done = _git(root, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}")
    if done.returncode != 0:
        raise ValueError(f"--baseline {ref}: no such commit in {root} (a shallow clone? fetch it first)")
    sha = done.stdout.strip()
    found = None
    for path in WORKER_PATHS:
        source = _git(root, "show", f"{sha}:{path}")
        if source.returncode == 0:
            found = re.search(r"^PROTOCOL = (\d+)", source.stdout, re.MULTILINE)
            break
    if found is None:
        raise ValueError(f"--baseline {ref} ({sha[:10]}) predates the worker protocol ({WORKER_PATHS[-1]} with a "
                         "PROTOCOL): compare against a later commit")
    if int(found.group(1)) != PROTOCOL:
        raise ValueError(f"--baseline {ref} ({sha[:10]}): its worker speaks protocol {found.group(1)}, this "
                         f"checkout's {PROTOCOL}: the two cannot be stepped by one engine")
    return sha


def commit_info(root: Path | None = None) -> dict:
    """The working tree's commit, in pytest-benchmark's ``commit_info`` form (id, time, dirty, branch)."""
    root = root or checkout_root()
    info = {"id": None, "time": None, "dirty": None, "project": root.name, "branch": None}
    head = _git(root, "log", "-1", "--format=%H%n%cI")
    if head.returncode != 0:
        return info
    info["id"], info["time"] = head.stdout.split()[:2]
    info["dirty"] = bool(_git(root, "status", "--porcelain", "--untracked-files=no").stdout.strip())
    branch = _git(root, "rev-parse", "--abbrev-ref", "HEAD").stdout.strip()
    info["branch"] = branch if branch and branch != "HEAD" else None
    return info


class BaselineWorktree:
    """``with BaselineWorktree(sha) as path:`` a detached worktree of ``sha``, removed on exit: in a new temporary
    folder, or at ``at`` (a path that does not exist yet)."""

    def __init__(self, sha: str, root: Path | None = None, *, at: Path | None = None):
        self.sha = sha
        self.root = git_toplevel(root)
        self.at = at
        self.path: Path | None = None

    def __enter__(self) -> Path:
        self.path = Path(self.at) if self.at is not None else \
            Path(tempfile.mkdtemp(prefix=f"cnnbench-baseline-{self.sha[:10]}-"))
        done = _git(self.root, "worktree", "add", "--detach", "--quiet", str(self.path), self.sha)
        if done.returncode != 0:
            self.__exit__()
            raise ValueError(f"--baseline: git worktree add failed: {done.stderr.strip().splitlines()[-1:]}")
        return self.path

    def __exit__(self, *exc) -> None:
        if self.path is None:
            return
        _git(self.root, "worktree", "remove", "--force", str(self.path))
        shutil.rmtree(self.path, ignore_errors=True)
        _git(self.root, "worktree", "prune")
        self.path = None


class SidesOfEqualLength:
    """``with SidesOfEqualLength(sha) as (a, b):`` where each side's worker starts, as ``count_cases``'s keywords
    (``pythonpath``, ``cwd``): A, a detached worktree of ``sha`` at ``<tmp>/a``; B, a copy of the package this code
    was imported from (the working tree, uncommitted changes included; no ``__pycache__``, so each side compiles
    its own) at ``<tmp>/b``, in the same layout as A's (``src/`` or the top); one empty working directory,
    ``<tmp>/cwd``, for both. An instruction count depends on the process's surroundings: the size of its
    environment and of the paths it imports from move where its stack and heap start, and with them the paths
    taken through alignment-dependent copies (docs/instructions.md: +0.15% for 37 bytes more environment). With
    B run from the checkout and A from a worktree elsewhere, two sides of the same code were up to 0.48% apart
    against a 0.5% threshold; here the two differ in one letter of their paths. Removed on exit."""

    def __init__(self, sha: str, root: Path | None = None):
        self.sha, self.root = sha, root
        self.path: Path | None = None
        self._tree: BaselineWorktree | None = None

    def __enter__(self) -> tuple[dict, dict]:
        self.path = Path(tempfile.mkdtemp(prefix="cnnbench-ab-"))
        try:
            self._tree = BaselineWorktree(self.sha, self.root, at=self.path / "a")
            a = self._tree.__enter__()
            layout = package_root(a).relative_to(a)
            b = self.path / "b" / layout
            shutil.copytree(import_root() / "cnnbench", b / "cnnbench",
                            ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
            cwd = self.path / "cwd"
            cwd.mkdir()
        except BaseException:
            self.__exit__()
            raise
        return ({"pythonpath": str(a / layout), "cwd": str(cwd)}, {"pythonpath": str(b), "cwd": str(cwd)})

    def __exit__(self, *exc) -> None:
        if self._tree is not None:
            self._tree.__exit__()
            self._tree = None
        if self.path is not None:
            shutil.rmtree(self.path, ignore_errors=True)
            self.path = None
