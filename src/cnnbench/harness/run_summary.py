"""What the user reads last after `pytest bench`: what did not finish, the verdict, where the run is
saved and the one command that turns it into the HTML report."""
from __future__ import annotations

from pathlib import Path

from cnnbench.harness.state import HarnessState


def saved_paths(config) -> list[Path]:
    """The files this session wrote: --benchmark-json, and the run autosaved in the storage."""
    bs = getattr(config, "_benchmarksession", None)
    if bs is None or bs.disabled:
        return []
    out = [Path(bs.json)] if bs.json and Path(bs.json).exists() else []
    save = bs.save or bs.autosave
    if save:
        found = sorted(Path(bs.storage.get("")).glob(f"[0-9][0-9][0-9][0-9]_{save}.json"))
        out += found[-1:]
    return out


def write_summary(tr, config, state: HarnessState, journal=None) -> None:
    """``journal``: the run's Journal, which knows which final files were written (a full disk)."""
    tr.ensure_newline()
    tr.section("cnnbench", sep="=", bold=True)
    for u in state.unfinished:
        tr.write_line(f"did not finish: {u['id']}: {u['reason']}", red=True)
    if journal is not None and (journal.failed or journal.final_failed):
        where = ([f"the journal {', '.join(sorted(map(str, journal.written)))}"] if journal.written else []) + (
            [str(journal.rescued)] if journal.rescued else [])
        tr.write_line(f"a write failed ({(journal.failed or journal.final_failed[0])}): the cases measured are in "
                      f"{' and '.join(where) or 'no file'}", red=True)
    elif state.interrupted:
        tr.write_line(f"the run was interrupted ({state.interrupted}): the cases measured before it are saved",
                      yellow=True)
    rows = [m.as_dict(include_data=True) for m in getattr(getattr(config, "_benchmarksession", None),
                                                           "benchmarks", [])]
    try:
        from cnnbench.reports.verdict import render
    except ImportError:  # the reports extra is not installed
        render = None
    if render is not None and rows:
        tr.write_line(render(rows, state.skipped, width=min(tr._tw.fullwidth, 120)))
    elif state.skipped:
        for s in state.skipped:
            tr.write_line(f"skipped: {s['id']}: {s['reason']}")
    paths = saved_paths(config) if journal is None else list(journal.saved)
    for p in paths:
        tr.write_line(f"saved: {p}")
    if paths:
        tr.write_line(f"report: cnnbench report {paths[0]}   (HTML + CSV in reports/out/)", bold=True)
