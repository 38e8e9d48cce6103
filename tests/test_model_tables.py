"""The models tables of README.md, docs/index.md and docs/models.md are what ``python tools/model_tables.py``
renders from the registry (the check CI runs as ``--check`` too), so a count is written once, in its spec.

Where the expected values come from: the committed Markdown files (the tables must equal the specs'
rendering), torchvision's published num_params for ResNet-50 (25,557,032: torchvision/models/resnet.py,
ResNet50_Weights.IMAGENET1K_V1) and torchvision's published "_ops" for it (4.089 GFLOPS, tests/references.py),
as one row the tables must show; and the tool's contract: exit 1 naming a stale file, 2 and one line for a file
without its markers.
"""
from __future__ import annotations

import shutil
from pathlib import Path

from references import TORCHVISION_GMACS
from tools import model_tables as tool

ROOT = Path(__file__).resolve().parents[1]


def test_the_committed_tables_are_what_the_specs_render_and_a_hand_edit_is_caught(tmp_path, capsys):
    assert tool.main(["--check"]) == 0, "run: python tools/model_tables.py"
    gmacs = dict((name, g) for name, options, g in TORCHVISION_GMACS if not options)
    row = next(line for line in (ROOT / "docs/models.md").read_text().splitlines() if line.startswith("| `resnet50` "))
    assert "| 25,557,032; " in row and f"| {gmacs['resnet50']:.3f} |" in row  # torchvision's numbers, as rendered

    for rel in tool.FILES:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / rel, tmp_path / rel)
    readme = tmp_path / "README.md"
    readme.write_text(readme.read_text().replace("25,557,032", "25,557,033"))  # a count typed by hand
    capsys.readouterr()
    assert tool.main(["--check", "--root", str(tmp_path)]) == 1
    assert capsys.readouterr().out.splitlines() == [
        f"model_tables: {readme}: its models table is not what the specs render",
        "model_tables: 1 file(s) not up to date: run python tools/model_tables.py"]
    assert tool.main(["--root", str(tmp_path)]) == 0 and readme.read_text() == (ROOT / "README.md").read_text()

    index = tmp_path / "docs/index.md"
    index.write_text(index.read_text().replace(tool.END.format(block="families"), ""))  # a marker lost
    capsys.readouterr()
    assert tool.main(["--check", "--root", str(tmp_path)]) == 2
    out = capsys.readouterr()
    assert out.out == "" and out.err.count("\n") == 1 and out.err.startswith(
        f"model_tables: error: docs/index.md: needs one families block, a line '{tool.BEGIN.format(command=tool.COMMAND, block='families')}'")
