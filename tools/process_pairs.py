"""Two ways of starting a worker, measured paired: what tools/fork_aa.py (forked against fresh) and
tools/lean_imports_ab.py (lean against full imports) share. Each process is measured as the benchmark measures a
case (``cnnbench.harness.harness.measure_process``), the two kinds back to back in alternating order, and each
case's two sides are summed up in the same cells."""
from __future__ import annotations

import statistics
from typing import Callable


def smoke_state(cases: list):
    """The harness's state for measuring ``cases`` one process at a time: the smoke profile's rounds, the default
    settings, one compute thread per worker beside the tool."""
    from cnnbench.core.settings import Settings
    from cnnbench.harness.cases import PROFILES
    from cnnbench.harness.state import HarnessState

    return HarnessState(cases=cases, tta_cases=[], profile=PROFILES["smoke"], settings=Settings(), device="cpu",
                        device_note="--device cpu", worker_timeout=600.0, rendezvous={"nnodes": 1, "node_rank": 0},
                        threads_per_worker=1)


def measure_alternating(cases: list, state, repeats: int, kinds: tuple[str, str], start_as: Callable[[str], None],
                        shown: Callable[[dict], str]) -> list[dict]:
    """Per case ``repeats`` pairs of processes, one of each kind, in alternating order (the first kind first in
    even pairs); ``start_as(kind)`` sets up the next process's kind, ``shown(m)`` the end of its progress line.
    The later processes of a kind time as many rounds as its first. [{"case", "runs": {kind: [measured, ...]}}]."""
    from cnnbench.harness.harness import measure_process

    out = []
    for case in cases:
        runs = {kind: [] for kind in kinds}
        for r in range(repeats):
            for kind in (kinds if r % 2 == 0 else kinds[::-1]):
                start_as(kind)
                first = runs[kind][0]["times"] if runs[kind] else None
                m = measure_process(case, state, rounds=len(first) if first else None)
                runs[kind].append(m)
                print(f"{case.id:<40} {kind:<6} median {1e3 * m['record']['median_s']:9.3f} ms  "
                      f"start {m['record']['worker_start_s']:.2f} s  {shown(m)}", flush=True)
        out.append({"case": case, "runs": runs})
    return out


def summary(a: list[dict], b: list[dict]) -> dict[str, str]:
    """One case's sides ``a`` and ``b`` (measured processes) as table cells: each side's median of its process
    medians (ms), b / a with the hierarchical bootstrap (processes, then rounds) and whether its 95% interval
    holds 1, the spread of a's processes, and a / b the medians of the step's own peak, the process figure, the
    runtime's own RSS (MiB) and the worker's start-up; the processes timed while the machine was busy."""
    from cnnbench.core.stats import ratio_of_medians

    est = ratio_of_medians([t for p in a for t in p["times"]], [t for p in b for t in p["times"]],
                           a_processes=[len(p["times"]) for p in a], b_processes=[len(p["times"]) for p in b])
    am, bm = [p["record"]["median_s"] for p in a], [p["record"]["median_s"] for p in b]

    def med(side: list[dict], value: Callable[[dict], float | None]) -> float:
        return statistics.median(value(p) or 0 for p in side)

    def both(value: Callable[[dict], float | None], scale: float, fmt: str) -> str:
        return f"{med(a, value) / scale:{fmt}} / {med(b, value) / scale:{fmt}}"

    return {"a_ms": f"{1e3 * statistics.median(am):.3f}", "b_ms": f"{1e3 * statistics.median(bm):.3f}",
            "ratio": f"{est.ratio:.3f} [{est.low:.3f}, {est.high:.3f}]",
            "holds_1": "yes" if est.low <= 1 <= est.high else "no",
            "spread_a": f"{100 * (max(am) / min(am) - 1):.1f}%",
            "step_peak": both(lambda p: p["record"]["step_peak_memory_bytes"], 2**20, ".1f"),
            "figure": both(lambda p: p["record"]["peak_memory_bytes"], 2**20, ".1f"),
            "runtime_rss": both(lambda p: p["memory"].get("runtime_rss_bytes"), 2**20, ".0f"),
            "start": both(lambda p: p["record"]["worker_start_s"], 1, ".2f"),
            "busy": str(sum(p["record"]["busy"] for p in a + b))}
