"""Render the docs page of every committed result: results/<slug>.json -> docs/results/<slug>.md (+ index.md).

    python tools/results_pages.py            # write every page that changed; remove generated orphans
    python tools/results_pages.py --check    # CI: exit 1 naming each page missing, stale or orphaned

Measurements are data: a number is changed in its result file and the page regenerated, never edited
in a page (``--check`` fails on that). The format of a result file is described in
``cnnbench/reports/results_pages.py``. Exit 0 up to date (or written), 1 a page is not what its result
renders (--check), 2 bad input: one line naming the file and the problem.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    from cnnbench.reports.errors import ReportError
    from cnnbench.reports.results_pages import COMMAND, PAGES_DIR, RESULTS_DIR, check_pages, write_pages

    p = argparse.ArgumentParser(prog="python tools/results_pages.py", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--check", action="store_true", help="write nothing; exit 1 if any page is not up to date")
    p.add_argument("--results", type=Path, default=ROOT / RESULTS_DIR, metavar="DIR",
                   help="the result files (default: results/ of this checkout)")
    p.add_argument("--pages", type=Path, default=ROOT / PAGES_DIR, metavar="DIR",
                   help="the generated pages (default: docs/results/ of this checkout)")
    a = p.parse_args(argv)

    try:
        if a.check:
            problems = check_pages(a.results, a.pages)
            for line in problems:
                print(f"results_pages: {line}")
            if problems:
                print(f"results_pages: {len(problems)} page(s) not up to date: run {COMMAND}")
                return 1
            print(f"results_pages: every page under {a.pages} is what its result file renders")
            return 0
        written, removed = write_pages(a.results, a.pages)
    except ReportError as exc:
        print(f"results_pages: error: {exc}", file=sys.stderr)
        return 2
    for page in written:
        print(f"results_pages: wrote {page}")
    for page in removed:
        print(f"results_pages: removed {page} (its result file is gone)")
    if not written and not removed:
        print(f"results_pages: every page under {a.pages} was up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())
