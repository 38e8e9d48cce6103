"""The README stays short and points into docs/ (issue #32: at most 200 lines, the manual in docs/;
pytest-benchmark's README is 190 lines, pyperf's 147). The site itself is built with
`mkdocs build --strict` by `make docs` in .ci/run, which fails on a broken link or a page out of the nav."""
from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_readme_is_at_most_200_lines():
    lines = (ROOT / "README.md").read_text().splitlines()
    assert len(lines) <= 200, f"README.md has {len(lines)} lines; the manual belongs in docs/"


def test_every_relative_link_of_the_readme_exists():
    text = (ROOT / "README.md").read_text()
    targets = [t.split("#")[0] for t in re.findall(r"\]\(([^)]+)\)", text) if not re.match(r"[a-z]+:", t)]
    assert targets, "the README links into docs/"
    missing = [t for t in targets if t and not (ROOT / t).exists()]
    assert not missing
