"""Measured cases stay on disk while a run goes on, as valid pytest-benchmark JSON.

pytest-benchmark writes its files once, at the end of the session (also after Ctrl-C or SIGTERM,
which the plugin turns into the same interrupt). If the harness process itself dies before that (a
SIGKILL, the OOM killer), the journal still holds every case measured so far: it rewrites, atomically,
the ``--benchmark-json`` file and a ``partial_<tag>.json`` beside the autosaved runs before each case
and after it, with ``cnnbench.complete = false`` and the case that was running. A normal end replaces
the former and removes the latter.
"""
from __future__ import annotations

import copy
import json
from pathlib import Path

from cnnbench.core.atomic import write_atomic


class Journal:
    def __init__(self, config):
        self.config = config
        self.bs = getattr(config, "_benchmarksession", None)
        self.targets: list[Path] = []
        self.partial: Path | None = None
        self._machine_info = None
        self._commit_info = None
        if self.bs is None or self.bs.disabled:
            return
        if self.bs.json:
            self.targets.append(Path(self.bs.json))
        save = self.bs.save or self.bs.autosave
        if save:
            self.partial = Path(self.bs.storage.get(f"partial_{save}.json"))
            self.targets.append(self.partial)

    def write(self, running: str | None = None) -> None:
        if not self.targets:
            return
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
        doc["cnnbench"]["complete"] = False
        doc["cnnbench"]["running"] = running
        text = json.dumps(doc, indent=1, default=str)
        for path in self.targets:
            try:
                write_atomic(path, text)
            except OSError:
                pass  # checked writable at the start; a disk that filled up since must not stop the run

    def finish(self) -> None:
        """After pytest-benchmark's own save: the partial file beside the saved runs has served."""
        if self.partial is not None:
            try:
                self.partial.unlink()
            except OSError:
                pass
