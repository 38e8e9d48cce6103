"""Instruction counts of cases: one worker per runtime started under Callgrind, counting case after case.

The worker's imports and each case's build and first step run uninstrumented; only the counted steps
are collected (``cnnbench.core.callgrind``, ``cnnbench.worker.instruction_count``). One Valgrind process serves
every case of its runtime, so the cost of starting a framework under Valgrind is paid once.
"""
from __future__ import annotations

import shutil
import tempfile
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

from cnnbench.core import callgrind
from cnnbench.core.case import Case
from cnnbench.core.settings import Settings

DEFAULT_STEPS = 3
# Python's string hashes are seeded per process; a fixed seed gives every counting process the same dict
# layouts, so that two processes differ only by what really differs between them. TensorFlow's idle pool
# threads poll for work before they sleep, as many times as Valgrind's thread switches allow: counted, they
# put Keras/TF's counts on levels 1.5% apart; without them they agree to 0.16% (docs/instructions.md)
COUNT_ENV = {"PYTHONHASHSEED": "0", callgrind.TF_THREAD_SPINNING_ENV: "0"}


def single_threaded(settings: Settings) -> Settings:
    """One intra-op and one inter-op thread, unless the run set them: Callgrind runs one thread at a time
    anyway, and a second pool's spinning would be counted."""
    return replace(settings, threads=settings.threads or 1, interop_threads=settings.interop_threads or 1)


@dataclass
class Counted:
    """What a count of one case gives: instructions a step (one per repeat), and the TEST-ONLY variants."""

    case_id: str
    instructions: list[float] | None = None
    variants: list[dict] = field(default_factory=list)
    steps: int = 0
    seconds: float = 0.0
    error: str | None = None  # why it was not counted
    info: dict = field(default_factory=dict)  # Valgrind and framework versions, what was counted

    @property
    def per_step(self) -> float | None:
        """The instructions a step (the median repeat: they agree to ~0.3%)."""
        if not self.instructions:
            return None
        ordered = sorted(self.instructions)
        return ordered[len(ordered) // 2]


def count_cases(cases: list[Case], settings: Settings, *, steps: int | dict = DEFAULT_STEPS, repeats: int = 1,
                work: dict | None = None, pythonpath: str | None = None, cwd: str | None = None,
                timeout: float = 1800.0, log=None, env: dict | None = None) -> list[Counted]:
    """Count every case, one Valgrind worker per runtime (in the order the runtimes first appear).
    ``steps``: steps a count, or a dict model -> steps (ResNet-18 at 64 px: ~100 million instructions a step,
    ~12 s under Callgrind). ``work``: case id -> list of TEST-ONLY work fractions. ``pythonpath``/``cwd``:
    another checkout's worker. ``env``: variables over COUNT_ENV (``tools/instructions_spinning.py`` lets
    TensorFlow's threads spin)."""
    from cnnbench.worker.client import Worker, WorkerDied, WorkerError

    log = log or (lambda line: None)
    why = callgrind.missing()
    if why:
        return [Counted(c.id, error=why) for c in cases]
    library = str(callgrind.client_library())
    version = callgrind.valgrind_version()
    by_runtime: dict[str, list[Case]] = {}
    for c in cases:
        by_runtime.setdefault(c.runtime, []).append(c)
    results: dict[str, Counted] = {}
    for runtime, group in by_runtime.items():
        tmp = Path(tempfile.mkdtemp(prefix="cnnbench-callgrind-"))
        out_file = tmp / "callgrind.out"
        worker = None
        start = time.perf_counter()
        try:
            worker = Worker(runtime, group[0].device, settings, pythonpath=pythonpath, cwd=cwd,
                            env={**COUNT_ENV, **(env or {})},
                            launcher=callgrind.valgrind_command(out_file), start_timeout=timeout)
            log(f"{runtime}: worker started under Callgrind in {time.perf_counter() - start:.0f} s")
            for case in group:
                n = steps.get(case.model, DEFAULT_STEPS) if isinstance(steps, dict) else steps
                results[case.id] = _count_one(worker, case, n, repeats, (work or {}).get(case.id), library,
                                              out_file, timeout)
                results[case.id].info.update(valgrind=version, counted=callgrind.COUNTED,
                                             versions=worker.info.get("versions"))
                log(f"{case.id}: {results[case.id].per_step or 0:,.0f} instructions a step "
                    f"({results[case.id].seconds:.0f} s)" if results[case.id].error is None
                    else f"{case.id}: not counted: {results[case.id].error}")
        except (WorkerDied, WorkerError) as exc:
            for case in group:
                results.setdefault(case.id, Counted(case.id, error=str(exc)[:500]))
        finally:
            if worker is not None:
                worker.close()
            shutil.rmtree(tmp, ignore_errors=True)
    return [results[c.id] for c in cases]


def _count_one(worker, case: Case, steps: int, repeats: int, work, library: str, out_file: Path,
               timeout: float) -> Counted:
    from cnnbench.worker.client import WorkerError

    start = time.perf_counter()
    try:
        worker.call("prepare", timeout=timeout, case=case.to_dict())
        got = worker.call("count_instructions", timeout=timeout, library=library, out_file=str(out_file),
                          steps=steps, repeats=repeats, work=work, label=case.id)
    except WorkerError as exc:
        return Counted(case.id, error=f"{exc.error_type}: {exc.message}")
    info = {"tf_thread_spinning": got["tf_thread_spinning"]} if "tf_thread_spinning" in got else {}
    return Counted(case.id, instructions=got["instructions"], variants=got["variants"], steps=got["steps"],
                   seconds=round(time.perf_counter() - start, 1), info=info)


def annotate_rows(rows: list[dict], by_id: dict[str, Case], settings: Settings, *, steps: int = DEFAULT_STEPS,
                  log=None, cache: dict | None = None) -> str | None:
    """``pytest bench --instructions``: count every measured case of the run (one Valgrind worker per
    runtime) into its row's ``extra_info``: ``instructions`` (a step), ``instructions_steps``,
    ``instructions_valgrind``, ``instructions_counted``, or ``instructions_error``. Returns the one line
    that says Valgrind is missing (nothing counted), else None. ``cache`` (case id -> Counted) keeps the
    counts between calls: pytest-benchmark builds its JSON once per output (--benchmark-json, autosave)."""
    from cnnbench.reports.rows import case_id

    why = callgrind.missing()
    if why:
        return why
    cache = {} if cache is None else cache
    found = [(row, by_id[case_id(row)]) for row in rows if case_id(row) in by_id]
    todo = [case for _, case in found if case.id not in cache]
    if todo:
        cache.update((c.case_id, c) for c in count_cases(todo, settings, steps=steps, repeats=1, log=log))
    for row, case in found:
        c = cache[case.id]
        info = row.setdefault("extra_info", {})
        if c.per_step is None:
            info["instructions_error"] = c.error
            continue
        info.update(instructions=c.per_step, instructions_steps=c.steps, instructions_valgrind=c.info["valgrind"],
                    instructions_counted=c.info["counted"])
    return None
