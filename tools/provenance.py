"""What every result file that a tool measures on this machine starts with (results/*.json, format 1):
its date and time span, this machine, the commit, where the numbers come from. One place for the tools
that measure here (``fork_aa.py``, ``hog_check.py``, ``vgg_train_probe.py``), and how such a tool runs
its own measurement in a fresh interpreter (``child_json``)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def result(title: str, began: float, tool: str, command: str, **fields) -> dict:
    """A format-1 result file measured by ``tool`` (a file name in tools/) since ``began`` (a time.time());
    ``fields`` adds or overrides keys (versions, settings, tables, facts, notes, more commands)."""
    sys.path.insert(0, str(ROOT / "src"))
    from cnnbench.harness import machine

    info = machine.describe()
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                            cwd=ROOT).stdout.strip()
    now = datetime.now(timezone.utc)
    doc = {
        "format": 1, "title": title, "dates": [now.date().isoformat()],
        "time": f"{datetime.fromtimestamp(began, timezone.utc):%H:%M}-{now:%H:%M} UTC",
        "machine": {"description": "the 2-core VM of this project", "cpu": info.get("cpu_model"),
                    "cores": info.get("cpu_logical_cores"),
                    "ram": f"{round((info.get('ram_bytes') or 0) / 2**30)} GiB", "gpu": None},
        "versions": {}, "commit": commit or None, "commands": [{"as_run": command, "now": None}],
        "source": f"tools/{tool} (this file's numbers are its output)", "raw_files": [], "notes": [],
    }
    doc.update(fields)
    return doc


def child_json(script: str, args: list[str], what: str, env: dict | None = None) -> dict:
    """Run the tool ``script`` (its own ``__file__``) again with ``args`` in a fresh interpreter, its
    environment this one's updated by ``env``, and return the JSON object on the last line it printed; a
    child that fails ends the tool with one line naming ``what`` and the child's last line of errors."""
    done = subprocess.run([sys.executable, script, *args], env={**os.environ, **(env or {})}, capture_output=True,
                          text=True, cwd=ROOT)
    if done.returncode != 0:
        said = done.stderr.strip().splitlines()[-1:] or [f"exit code {done.returncode}"]
        raise SystemExit(f"{Path(script).name}: the {what} process failed: {said[0]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def write(doc: dict, out: str) -> None:
    Path(out).write_text(json.dumps(doc, indent=1, ensure_ascii=False) + "\n")
    print(f"wrote {out}; add the notes, then render it with python tools/results_pages.py")
