"""Measured cases stay on disk while a run goes on, as valid pytest-benchmark JSON, and reach their
final files whole or are kept where the user is told.

pytest-benchmark writes its files once, at the end of the session (also after Ctrl-C or SIGTERM,
which the plugin turns into the same interrupt). If the harness process itself dies before that (a
SIGKILL, the OOM killer), the journal still holds every case measured so far: it rewrites, atomically,
the ``--benchmark-json`` file and a journal file of this run's own beside the autosaved runs,
``partial_<tag>_<pid>_<random>.json``, created exclusively (two runs started in the same second into
one storage folder have a tag in common, never a journal), before each case and after it, with
``cnnbench.complete = false``, the case that was running and every case not yet measured in
``cnnbench.unfinished``. A normal end replaces the former and removes the latter: its own, never
another run's.

A write that fails (a full disk, a file system turned read-only) is said at once, in one line with
the path and the reason, and the run stops measuring (``failed``: the plugin ends the session) rather
than measure cases it cannot keep. The final files are written atomically too (``save_json``,
``save_numbered``), the numbered file created exclusively; when one cannot be written, the journal
that holds the same cases is kept and named, and the cases are also written to a file in the
temporary directory (``rescue``), so that what was measured is in a valid file, never in none.
"""
from __future__ import annotations

import copy
import json
import os
import secrets
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

from cnnbench.core.atomic import free_bytes, write_atomic, write_failure

# what a run's JSON takes on disk per case, with every round's raw timings kept (measured on the saved
# runs of tests/data/runs: 9-15 KB per case at indent=4), with room to spare; a target needs its journal,
# its final file and a temporary copy of either at once
BYTES_PER_CASE = 32 * 1024
BYTES_BASE = 64 * 1024


def space_needed(cases: int) -> int:
    """Bytes a run of ``cases`` cases may hold at once in one directory (journal, final file, temporary)."""
    return 3 * (BYTES_BASE + BYTES_PER_CASE * cases)


def space_problem(directory: Path, cases: int, what: str) -> str | None:
    """Why ``directory`` cannot hold a run of ``cases`` cases (None: it can, or its free space is unknown)."""
    free, needed = free_bytes(directory), space_needed(cases)
    if free is None or free >= needed:
        return None
    return (f"{what}: {directory} has {free / 1024:.0f} KiB free; a run of {cases} case(s) needs about "
            f"{needed / 1024:.0f} KiB for its journal and final file; free some space or write elsewhere")


def say(line: str) -> None:
    print(f"pytest bench: error: {line}", file=sys.stderr, flush=True)


class Journal:
    def __init__(self, config, *, pending: Callable[[], list[str]] = list, on_failure: Callable[[str], None] = say):
        self.config = config
        self.bs = getattr(config, "_benchmarksession", None)
        self.pending = pending  # the ids of the cases not measured yet, in order
        self.on_failure = on_failure
        self.targets: list[Path] = []
        self.partial: Path | None = None
        self.failed: str | None = None  # the first failed write, in one line
        self.written: set[Path] = set()  # targets that hold a journal of this run
        self.final_failed: list[str] = []  # final files that could not be written
        self.saved: list[Path] = []  # final files written
        self.rescued: Path | None = None  # the copy in the temporary directory, when a final file failed
        self._machine_info = None
        self._commit_info = None
        if self.bs is None or self.bs.disabled:
            return
        if self.bs.json:
            self.targets.append(Path(self.bs.json))
        save = self.bs.save or self.bs.autosave
        if save:
            self.partial = Path(self.bs.storage.get(f"partial_{save}_{os.getpid()}_{secrets.token_hex(4)}.json"))
            self.targets.append(self.partial)

    def document(self, running: str | None = None) -> dict:
        """The run so far: the cases measured, and those not (yet) measured as unfinished."""
        hook = self.config.hook
        if self._machine_info is None:
            self._machine_info = self.bs.get_machine_info()
            self._commit_info = hook.pytest_benchmark_generate_commit_info(config=self.config)
            hook.pytest_benchmark_update_commit_info(config=self.config, commit_info=self._commit_info)
        machine_info = copy.deepcopy(self._machine_info)
        hook.pytest_benchmark_update_machine_info(config=self.config, machine_info=machine_info)
        doc = hook.pytest_benchmark_generate_json(config=self.config, benchmarks=self.bs.benchmarks,
                                                  include_data=True, machine_info=machine_info,
                                                  commit_info=self._commit_info)
        hook.pytest_benchmark_update_json(config=self.config, benchmarks=self.bs.benchmarks, output_json=doc)
        meta = doc["cnnbench"]
        meta["complete"] = False
        meta["running"] = running
        known = {u["id"] for u in meta["unfinished"]}
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S")
        meta["unfinished"] = meta["unfinished"] + [
            {"id": case_id, "reason": ("running" if case_id == running else "not measured yet")
             + f" when this journal was written ({stamp}): the run did not end normally (killed?)"}
            for case_id in self.pending() if case_id not in known]
        return doc

    def write(self, running: str | None = None) -> None:
        if not self.targets or self.failed:
            return
        text = json.dumps(self.document(running), indent=1, default=str)
        first = self.partial not in self.written
        for path in self.targets:
            try:
                # this run's own journal file is created, never replaced: a name taken is another run's
                write_atomic(path, text, exclusive=path == self.partial and first)
            except OSError as exc:
                self.failed = f"{write_failure(path, exc)}"
                self.on_failure(f"{self.failed}: the run stops here (a case measured now could not be kept)")
                return
            self.written.add(path)

    # ---------------------------------------------------------------- the final files
    def save_json(self, output_json: dict) -> None:
        """pytest-benchmark's ``save_json``, atomic: a failure leaves the journal in the file and says so."""
        path = Path(self.bs.json)
        self._final(path, lambda text: write_atomic(path, text), output_json)

    def save_numbered(self, output_json: dict, save: str) -> None:
        """pytest-benchmark's ``storage.save``, atomic and exclusive: ``NNNN_<tag>.json`` with the next free
        number (two runs ending at once into one folder take two numbers, neither file replaced)."""
        storage = self.bs.storage
        first = int(storage._next_num)

        def put(text: str) -> Path:
            for num in range(first, first + 1000):
                path = Path(storage.get(f"{num:04d}_{save}.json"))
                try:
                    return write_atomic(path, text, exclusive=True)
                except FileExistsError:
                    continue
            raise FileExistsError(f"{storage}: no free number after {first:04d}")

        self._final(Path(storage.get(f"{first:04d}_{save}.json")), put, output_json)

    def _final(self, path: Path, put: Callable[[str], Path], output_json: dict) -> None:
        from pytest_benchmark.utils import safe_dumps

        text = safe_dumps(output_json, ensure_ascii=True, indent=4)
        try:
            self.saved.append(put(text))
            return
        except OSError as exc:
            line = write_failure(path, exc)
        kept = sorted(str(p) for p in self.written if p.exists())
        self.rescued = self.rescued or rescue(text)  # both final files hold the same cases: one copy
        where = [f"the journal ({', '.join(kept)}) holds the cases measured up to its last write"] if kept else []
        where += [f"every measured case was written to {self.rescued}"] if self.rescued else \
            ["no other place could be written either"]
        self.final_failed.append(line)
        self.on_failure(f"{line}; {'; '.join(where)}")

    def finish(self) -> None:
        """After the final save: this run's journal beside the saved runs has served, unless a final file
        could not be written (it then holds the cases)."""
        if self.partial is not None and not self.final_failed and self.partial in self.written:
            try:
                self.partial.unlink()
            except OSError:
                pass


def rescue(text: str) -> Path | None:
    """A last copy of a run whose final file could not be written, in the temporary directory (most
    often another file system than the benchmark storage); None if that fails too."""
    try:
        path = Path(tempfile.gettempdir()) / f"cnnbench-rescued-{time.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}.json"
        return write_atomic(path, text, exclusive=True)
    except OSError:
        return None
