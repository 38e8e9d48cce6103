"""One line per finished case, with an estimate of the time left.

The estimate fits each runtime's wall time per case to ``a + b * FLOPs`` (worker start, build and
compile cost are roughly constant per case; warm-up and timing scale with the work of a step) over
the cases finished so far, and sums it over the cases still to run. Quiet with ``-q``.
"""
from __future__ import annotations

import time


def _duration(seconds: float) -> str:
    seconds = max(0.0, seconds)
    if seconds < 60:
        return f"{seconds:.0f} s"
    if seconds < 3600:
        return f"{seconds // 60:.0f} min {seconds % 60:02.0f} s"
    return f"{seconds // 3600:.0f} h {seconds % 3600 // 60:02.0f} min"


def fit(points: list[tuple[float, float]]) -> tuple[float, float]:
    """Least squares ``y = a + b x`` with a, b >= 0; one point: a line through it and the origin."""
    if not points:
        return 0.0, 0.0
    if len(points) == 1 or len({x for x, _ in points}) == 1:
        x = sum(p[0] for p in points) / len(points)
        y = sum(p[1] for p in points) / len(points)
        return (0.0, y / x) if x > 0 else (y, 0.0)
    n = len(points)
    mx = sum(x for x, _ in points) / n
    my = sum(y for _, y in points) / n
    sxx = sum((x - mx) ** 2 for x, _ in points)
    b = max(0.0, sum((x - mx) * (y - my) for x, y in points) / sxx)
    a = my - b * mx
    if a < 0:  # refit through the origin
        a, b = 0.0, sum(x * y for x, y in points) / sum(x * x for x, _ in points)
    return a, b


class Progress:
    def __init__(self, state: dict, quiet: bool = False):
        self.state, self.quiet = state, quiet
        self.order: list[str] = []
        self.done: dict[str, str] = {}  # case id -> outcome
        self.points: dict[str, list[tuple[float, float]]] = {}  # runtime -> (flops, wall seconds)
        self.tr = None
        self.started = time.monotonic()

    def start(self, ids: list[str], terminal=None) -> None:
        self.order = [i for i in ids if i in self.state["by_id"]]
        self.tr = terminal
        self.started = time.monotonic()

    def _flops(self, case_id: str) -> float:
        from cnnbench.core.flops import step_cost

        case = self.state["by_id"][case_id]
        if case.mode not in ("inference", "train"):
            return 0.0
        try:
            return float(step_cost(case.model, case.mode, case.batch, input_size=case.input_size,
                                   **dict(case.options)).flops)
        except Exception:  # too small an input: the case is skipped at once, no time to predict
            return 0.0

    def eta(self) -> float | None:
        left = [i for i in self.order if i not in self.done]
        if not left:
            return 0.0
        everyone = [p for pts in self.points.values() for p in pts]
        if not everyone:
            return None
        total = 0.0
        for case_id in left:
            runtime = self.state["by_id"][case_id].runtime
            a, b = fit(self.points.get(runtime) if len(self.points.get(runtime, [])) >= 2 else everyone)
            total += a + b * self._flops(case_id)
        return total

    def case_done(self, report) -> None:
        case_id = getattr(report, "nodeid", "")
        case_id = case_id[case_id.find("[") + 1:-1] if "[" in case_id else case_id
        if case_id not in self.state["by_id"] or case_id in self.done:
            return
        outcome = "skipped" if report.skipped else ("failed" if report.failed else "passed")
        self.done[case_id] = outcome
        wall = getattr(report, "duration", 0.0)
        if outcome == "passed":
            self.points.setdefault(self.state["by_id"][case_id].runtime, []).append((self._flops(case_id), wall))
        journal = self.state.get("journal")
        if journal is not None:
            journal.write()
        if self.quiet or self.tr is None:
            return
        n, total = len(self.done), len(self.order)
        result = self.state.get("results", {}).get(case_id) or {}
        if outcome == "passed" and "median_s" in result:
            what = f"{1e3 * result['median_s']:9.2f} ms  {result.get('images_per_s', 0):10.1f} img/s"
        elif outcome == "passed":
            what = "done"
        else:
            reason = report.longrepr[2] if outcome == "skipped" and isinstance(report.longrepr, tuple) else \
                str(getattr(report, "longreprtext", "") or "").strip().splitlines()[-1:] or [""]
            reason = reason if isinstance(reason, str) else reason[0]
            what = f"{outcome}: {reason.removeprefix('Skipped: ')[:120]}"
        eta = self.eta()
        left = "" if n == total else (f"  ETA {_duration(eta)}" if eta is not None else "")
        self.tr.ensure_newline()
        self.tr.write_line(f"[{n}/{total}] {case_id:<44} {what}  ({_duration(wall)}){left}")

    def mark_not_run(self) -> None:
        """Cases that never reported (the session was interrupted) are unfinished, with why."""
        why = self.state.get("interrupted") or "an interrupt"
        known = {u["id"] for u in self.state["unfinished"]}
        for case_id in self.order:
            if case_id not in self.done and case_id not in known:
                self.state["unfinished"].append({"id": case_id, "reason": f"not run: the session ended first ({why})"})
