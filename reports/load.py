"""Find and validate saved pytest-benchmark runs (files, directories, the default storage)."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from cnnbench.reports.errors import ReportError

DEFAULT_STORAGE = Path(".benchmarks")
_REQUIRED = ("machine_info", "benchmarks")


@dataclass(frozen=True)
class Run:
    """One saved run: its file and the parsed pytest-benchmark document."""

    path: Path
    data: dict

    @property
    def name(self) -> str:
        return self.path.stem

    @property
    def datetime(self) -> str:
        return str(self.data.get("datetime", ""))

    @property
    def cnnbench(self) -> dict:
        return self.data.get("cnnbench") or {}

    @property
    def skipped(self) -> list[dict]:
        return list(self.cnnbench.get("skipped") or [])


def load_run(path: str | Path) -> Run:
    """Parse one run file; a file that is not a pytest-benchmark run raises ReportError."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ReportError(f"{path}: no such file; give a pytest-benchmark JSON file or a directory of them") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ReportError(f"{path}: cannot be read ({exc}); give a pytest-benchmark JSON file") from None
    if not text.strip():
        raise ReportError(f"{path}: the file is empty; a pytest-benchmark run is a JSON object with 'benchmarks'")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ReportError(f"{path}: not JSON ({exc.msg} at line {exc.lineno}); "
                          "give a file written by pytest --benchmark-json or --benchmark-autosave") from None
    if not isinstance(data, dict) or any(k not in data for k in _REQUIRED):
        missing = [k for k in _REQUIRED if not isinstance(data, dict) or k not in data]
        raise ReportError(f"{path}: JSON but not a pytest-benchmark run (missing {', '.join(missing)}); "
                          "give a file written by pytest --benchmark-json or --benchmark-autosave")
    if not isinstance(data["benchmarks"], list):
        raise ReportError(f"{path}: 'benchmarks' is not a list; the file is not a pytest-benchmark run")
    for i, bench in enumerate(data["benchmarks"]):
        if not isinstance(bench, dict) or "stats" not in bench or "name" not in bench:
            raise ReportError(f"{path}: benchmark #{i} has no name/stats; the file is not a pytest-benchmark run")
    return Run(path=path, data=data)


def _runs_in(directory: Path) -> list[Path]:
    return sorted(p for p in directory.rglob("*.json") if p.is_file())


def newest_run(storage: Path = DEFAULT_STORAGE) -> Path:
    files = _runs_in(storage) if storage.is_dir() else []
    if not files:
        raise ReportError(f"no saved run under {storage}/; run `pytest bench --benchmark-only` first "
                          "or give RUN.json / RUN_DIR")
    return max(files, key=lambda p: (p.stat().st_mtime, p.name))


def find_runs(paths: list[str | Path] | None = None, *, require_benchmarks: bool = True,
              strict: bool = True) -> list[Run]:
    """Load runs from files and directories (recursively); no path: the newest run under .benchmarks/.

    Runs are returned oldest first (by the run's own datetime, then by file name). ``strict=False``
    skips unreadable files in directories instead of failing (for the trend's history).
    """
    if not paths:
        files = [newest_run()]
    else:
        files = []
        for p in map(Path, paths):
            if p.is_dir():
                found = _runs_in(p)
                if not found:
                    raise ReportError(f"{p}/: no *.json run files in this directory")
                files += found
            else:
                files.append(p)
    runs = []
    for f in files:
        try:
            runs.append(load_run(f))
        except ReportError:
            if strict:
                raise
    if require_benchmarks:
        for run in runs:
            if not run.data["benchmarks"]:
                why = f" ({len(run.skipped)} cases skipped: {run.skipped[0]['reason']}...)" if run.skipped else ""
                raise ReportError(f"{run.path}: the run has zero benchmarks{why}; nothing to report")
    return sorted(runs, key=lambda r: (r.datetime, r.name))
