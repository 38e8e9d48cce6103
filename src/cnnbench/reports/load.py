"""Find, parse and validate saved documents: pytest-benchmark runs and paired A/B results.

Nothing is used before cnnbench.reports.schema has checked it; a bad file raises ReportError with
one line naming the file and the problem. Readers of a history (the trend's saved runs) leave a bad
file out and say so instead of failing.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from cnnbench.reports.errors import ReportError
from cnnbench.reports.schema import check_ab, check_run

DEFAULT_STORAGE = Path(".benchmarks")


@dataclass(frozen=True)
class _Document:
    """A saved, validated JSON document and its file."""

    path: Path
    data: dict

    @property
    def name(self) -> str:
        return self.path.stem

    @property
    def datetime(self) -> str:
        return str(self.data.get("datetime") or "")


@dataclass(frozen=True)
class Run(_Document):
    """One saved run: its file and the parsed, validated pytest-benchmark document."""

    @property
    def cnnbench(self) -> dict:
        return self.data.get("cnnbench") or {}

    @property
    def skipped(self) -> list[dict]:
        return list(self.cnnbench.get("skipped") or [])

    @property
    def incomplete(self) -> str | None:
        """Why this run is not a whole record (None: it is): interrupted, cases not measured, or a journal
        left by a run that never ended (SIGKILL), which says ``complete: false`` itself."""
        return incomplete_reason(self.cnnbench)


def incomplete_reason(meta: dict) -> str | None:
    """The words for a run's ``cnnbench`` block that is not complete (None: it is)."""
    unfinished, interrupted = meta.get("unfinished") or [], meta.get("interrupted")
    if meta.get("complete") is not False and not unfinished and not interrupted:
        return None
    why = [f"interrupted by {interrupted}"] if interrupted else []
    if meta.get("complete") is False and not interrupted and "running" in meta:
        why.append("a journal of a run that never ended (killed?)")
    if unfinished:
        why.append(f"{len(unfinished)} case(s) not measured")
    return "; ".join(why) or "marked incomplete"


@dataclass(frozen=True)
class PairedResult(_Document):
    """One paired A/B result (``cnnbench ab --format json``): its file and the validated document."""

    @property
    def incomplete(self) -> str | None:
        """Why the result is not whole (interrupted, pairs not measured); its top level has the run's keys."""
        return incomplete_reason(self.data)


@dataclass
class Inputs:
    runs: list[Run] = field(default_factory=list)
    paired: list[PairedResult] = field(default_factory=list)
    left_out: list[str] = field(default_factory=list)  # one line per file a lenient reader left out


def _parse(path: Path):
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ReportError(f"{path}: no such file; give a pytest-benchmark JSON file or a directory of them") from None
    except IsADirectoryError:
        raise ReportError(f"{path}: is a directory where a file was expected") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ReportError(f"{path}: cannot be read ({exc}); give a pytest-benchmark JSON file") from None
    if not text.strip():
        raise ReportError(f"{path}: the file is empty; a pytest-benchmark run is a JSON object with 'benchmarks'")
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        # the parser ran into the end of the text: a file cut short (an unterminated string also ends there,
        # since a JSON string cannot span a line break)
        rest = text[exc.pos:].rstrip()
        ended = (not rest or exc.msg.startswith("Unterminated string")
                 or any(word.startswith(rest) for word in ("true", "false", "null", "NaN", "Infinity", "-Infinity")))
        cut = " (the file ends early: truncated?)" if ended else ""
        raise ReportError(f"{path}: not JSON ({exc.msg} at line {exc.lineno}){cut}; "
                          "give a file written by pytest --benchmark-json or --benchmark-autosave") from None
    except RecursionError:
        raise ReportError(f"{path}: not JSON (nested too deeply); give a pytest-benchmark run") from None


def load_document(path: str | Path) -> Run | PairedResult:
    """A run or a paired A/B result, validated; anything else raises ReportError."""
    path = Path(path)
    data = _parse(path)
    if isinstance(data, dict) and "cnnbench_ab" in data:
        check_ab(path, data)
        return PairedResult(path=path, data=data)
    check_run(path, data)
    return Run(path=path, data=data)


def load_run(path: str | Path) -> Run:
    """Parse one run file; a file that is not a cnnbench pytest-benchmark run raises ReportError."""
    doc = load_document(path)
    if isinstance(doc, PairedResult):
        raise ReportError(f"{doc.path}: a paired A/B result (cnnbench ab), not a run; `cnnbench compare` takes "
                          "runs (give the A/B file to `cnnbench report`)")
    return doc


def _json_in(directory: Path) -> list[Path]:
    return sorted(p for p in directory.rglob("*.json") if p.is_file())


def newest_run(storage: Path = DEFAULT_STORAGE) -> Path:
    files = _json_in(storage) if storage.is_dir() else []
    if not files:
        raise ReportError(f"no saved run under {storage}/; run `pytest bench --benchmark-only` first "
                          "or give RUN.json / RUN_DIR")
    return max(files, key=lambda p: (p.stat().st_mtime, p.name))


def _files(paths: list[str | Path]) -> list[Path]:
    files = []
    for p in map(Path, paths):
        if p.is_dir():
            found = _json_in(p)
            if not found:
                raise ReportError(f"{p}/: no *.json run files in this directory")
            files += found
        else:
            files.append(p)
    return files


def _check_not_empty(run: Run) -> None:
    if not run.data["benchmarks"]:
        why = f" ({len(run.skipped)} cases skipped: {run.skipped[0]['reason']}...)" if run.skipped else ""
        raise ReportError(f"{run.path}: the run has zero benchmarks{why}; nothing to report")


def find_inputs(paths: list[str | Path] | None = None, *, allow_paired: bool = True) -> Inputs:
    """Runs (oldest first) and paired A/B results from files and directories (recursively); no path:
    the newest run under .benchmarks/. Every file must be valid; a run must hold benchmarks."""
    files = [newest_run()] if not paths else _files(paths)
    found = Inputs()
    for f in files:
        doc = load_document(f) if allow_paired else load_run(f)
        if isinstance(doc, PairedResult):
            found.paired.append(doc)
        else:
            _check_not_empty(doc)
            found.runs.append(doc)
    if not found.runs:
        raise ReportError(f"only paired A/B result(s) given ({', '.join(str(p.path) for p in found.paired)}); "
                          "give the run(s) too (pytest-benchmark JSON)")
    found.runs.sort(key=lambda r: (r.datetime, r.name))
    found.paired.sort(key=lambda r: (r.datetime, r.name))
    return found


def find_runs(paths: list[str | Path] | None = None) -> list[Run]:
    """Runs only (``cnnbench compare``): a paired A/B file among them is an error."""
    return find_inputs(paths, allow_paired=False).runs


def find_history(directory: str | Path) -> Inputs:
    """Every run under ``directory`` for the trend chart; a file that is not a valid cnnbench run is
    left out with one line in ``left_out`` (a damaged or foreign file must not break a good report)."""
    found = Inputs()
    for f in _json_in(Path(directory)):
        try:
            doc = load_document(f)
        except ReportError as exc:
            found.left_out.append(f"left out of the trend: {exc}")
            continue
        if isinstance(doc, PairedResult):
            found.left_out.append(f"left out of the trend: {f}: a paired A/B result, not a run")
        elif doc.data["benchmarks"]:
            found.runs.append(doc)
    found.runs.sort(key=lambda r: (r.datetime, r.name))
    return found
