"""How long each test group of `make test` takes, for the order in which xdist hands the groups out.

    make test ARGS="--junitxml=/tmp/junit.xml"
    python tools/group_seconds.py /tmp/junit.xml --note "quiet 2-core VM, 2026-12-06"

`make test` hands whole groups (a model's tests, or a file's, tests/conftest.py `_group`) to its two
pytest-xdist workers, longest first, so that no long group runs alone at the end while the other
worker idles. A group's length is the sum of its tests' times (setup, call and teardown: pytest's
junit XML) in a real `make test`. The figures are read from that XML and written to
tests/data/group_seconds.json with where and when they were measured; nothing is typed by hand. Only
the order matters, so a run taken on a busy machine still orders the groups (every group slowed
alike); the note says which it was. A group the file does not know (a model added since) is
estimated as the median model's, a file as 0 s (it runs after the known ones).
"""
from __future__ import annotations

import argparse
import collections
import json
import sys
import xml.etree.ElementTree as ET
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "tests" / "data" / "group_seconds.json"


def group_seconds(junit: Path) -> dict[str, float]:
    """Per xdist group, the seconds of its tests. xdist appends "@group" to each test's name under
    --dist loadgroup; a test without one (run without xdist) counts for its file."""
    out: dict[str, float] = collections.Counter()
    for case in ET.parse(junit).iter("testcase"):
        name = case.get("name", "")
        group = name.rsplit("@", 1)[1] if "@" in name else case.get("classname", "").replace(".", "/") + ".py"
        out[group] += float(case.get("time") or 0.0)
    return dict(out)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("junit", type=Path, help="pytest's --junitxml of a `make test` run")
    p.add_argument("--note", required=True, help="where and how it was measured (machine, quiet or busy)")
    p.add_argument("--out", type=Path, default=OUT)
    args = p.parse_args(argv)
    try:
        groups = group_seconds(args.junit)
    except (OSError, ET.ParseError) as e:
        print(f"group_seconds: {args.junit}: not a readable junit XML ({e})", file=sys.stderr)
        return 2
    if not any("@" in c.get("name", "") for c in ET.parse(args.junit).iter("testcase")):
        print(f"group_seconds: {args.junit}: no xdist groups in the test names; run `make test` "
              "(pytest-xdist with --dist loadgroup), not pytest alone", file=sys.stderr)
        return 2
    doc = {"measured": datetime.fromtimestamp(args.junit.stat().st_mtime, timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
           "note": args.note, "total_s": round(sum(groups.values()), 1),
           "groups": {k: round(v, 1) for k, v in sorted(groups.items(), key=lambda kv: -kv[1])}}
    args.out.write_text(json.dumps(doc, indent=1) + "\n")
    print(f"{args.out}: {len(groups)} groups, {doc['total_s']:.0f} s in all")
    return 0


if __name__ == "__main__":
    sys.exit(main())
