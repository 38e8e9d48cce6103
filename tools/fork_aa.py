"""Does a worker forked from a fork server measure what a fresh interpreter measures? A paired A/A check.

    python tools/fork_aa.py --repeats 4 --out results/fork-server-aa-2026-12-06.json

For each case (LeNet-5 at 28 px and ResNet-18 at 64 px, batch 2, inference and training, PyTorch and
Keras on TensorFlow: the smoke profile's cases), ``--repeats`` pairs of worker processes: one started as
a fresh interpreter, one forked from a server that had imported the framework, measured back to back
in alternating order (fresh first in even pairs, forked first in odd ones), each with its own build,
warm-up and timed rounds, as the benchmark measures a case (``cnnbench.harness.harness.measure_process``).
Per case: the ratio of medians forked / fresh with the hierarchical bootstrap over processes and their
rounds (``cnnbench.core.stats.ratio_of_medians``), the spread between the fresh processes themselves
(what the ratio is to be read against), the step's own peak memory, the process figure (peak RSS minus
the runtime's own) and the runtime's own RSS it is measured from, each the median of its side's
processes, and the start-up each way.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path


NOTES = (
    "{repeats} pairs of worker processes per case, fresh and forked measured back to back in alternating order, "
    "each process with its own build, warm-up and timed rounds (the later one of a pair as many rounds as the "
    "first of its kind). The ratio is forked / fresh with the hierarchical bootstrap (processes, then rounds); "
    "'interval holds 1' is whether its 95% interval contains 1. Read it against the spread between the fresh "
    "processes themselves: two fresh interpreters differ by that much.\n\n"
    "Worker start is the worker's own start-up: for a fresh interpreter its imports, settings and the runtime's "
    "warm-up; for a forked one the server's resident library pages mapped again, the settings and the warm-up "
    "(the server imported once).\n\n"
    "The runtime's own RSS is the baseline of every CPU memory figure. A forked child inherits the server's "
    "library pages in the page cache but not in its page table (Linux copies only mappings that hold private "
    "pages); each child maps them again before reading it, so the two sides' baselines agree.")


def measure(repeats: int, models: str) -> tuple[list[dict], dict]:
    from process_pairs import measure_alternating, smoke_state

    from cnnbench.harness.cases import build_cases
    from cnnbench.harness.harness import close_fork_servers

    state = smoke_state(build_cases(profile="smoke", models=models, device="cpu"))

    def start_as(kind: str) -> None:
        state.fork_workers = kind == "forked"

    try:
        out = measure_alternating(state.cases, state, repeats, ("fresh", "forked"), start_as,
                                  lambda m: f"others {m['record']['other_cores']} cores")
        servers = {rt: s.info for rt, s in state.fork_servers.items()}
    finally:
        close_fork_servers(state)
    return out, {"servers": servers, "versions": out[0]["runs"]["fresh"][0]["info"]["versions"] if out else {}}


def table(measured: list[dict]) -> list[list[str]]:
    from process_pairs import summary

    rows = []
    for m in measured:
        s = summary(m["runs"]["fresh"], m["runs"]["forked"])
        rows.append([m["case"].id, *(s[k] for k in ("a_ms", "b_ms", "ratio", "holds_1", "spread_a", "step_peak",
                                                      "figure", "runtime_rss", "start", "busy"))])
    return rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python tools/fork_aa.py", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--repeats", type=int, default=4, help="pairs of processes per case (default 4)")
    p.add_argument("--models", default="lenet5,resnet18")
    p.add_argument("--out", help="write a result file (results/<slug>.json; python tools/results_pages.py renders it)")
    a = p.parse_args(argv)
    if a.repeats < 2:
        p.error(f"--repeats {a.repeats}: give at least 2 (a spread needs two processes a side)")
    began = time.time()
    measured, meta = measure(a.repeats, a.models)
    rows = table(measured)
    columns = ["case", "fresh ms", "forked ms", "forked / fresh [95% CI]", "interval holds 1",
               "spread of the fresh processes", "step's own peak MiB fresh / forked",
               "process figure MiB fresh / forked", "runtime's own RSS MiB fresh / forked",
               "worker start s fresh / forked", "processes timed while busy"]
    for r in rows:
        print("  ".join(r))
    if not a.out:
        return 0
    from provenance import result, write

    servers = "; ".join(f"{rt}: imported in {s['import_s']:.2f} s, {s['threads']} threads at the first fork"
                        for rt, s in meta["servers"].items())
    doc = result(
        "Forked workers against fresh interpreters: a paired A/A check of the fork server", began, "fork_aa.py",
        f"python tools/fork_aa.py --repeats {a.repeats} --out {a.out}",
        versions={k: v for k, v in meta["versions"].items() if v},
        settings="the harness's defaults: every core, oneDNN on, batch 2, the smoke profile's rounds",
        tables=[{"caption": None, "columns": columns, "align": ["left"] + ["right"] * (len(columns) - 1),
                 "rows": rows}],
        facts={"fork servers": servers, "wall time": f"{time.time() - began:.0f} s"},
        notes=NOTES.format(repeats=a.repeats).split("\n\n"))
    write(doc, a.out)
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
    sys.exit(main())
