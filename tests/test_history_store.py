"""The results store (cnnbench.history.store, ``cnnbench history add/list/export``): what it keeps of a run,
that a run is stored once, and that no writer can leave it half-written: two writers at once, a writer
killed with SIGKILL mid-transaction, and bad input (each one line, exit 2, the store's content unchanged)."""
from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("pandas", reason="the store fingerprints machines with cnnbench.reports.tidy (pandas)")

from cnnbench.cli import main  # noqa: E402
from cnnbench.history import store  # noqa: E402
from saved_runs import CPU, GPU  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
VM_RUN = CPU  # the 2-core VM: machine a83c02e043
H200_RUN = GPU  # another machine: 7e4692d9bb


def run_at(tmp_path: Path, n: int, *, source: Path = VM_RUN, scale: float = 1.0) -> Path:
    """A copy of a saved run as if measured at commit n (its own id, time and date), timings x scale."""
    data = json.loads(source.read_text())
    data["commit_info"].update(id=f"{n:040x}", time=f"2026-11-{n + 1:02d}T12:00:00+00:00", dirty=False)
    data["datetime"] = f"2026-11-{n + 1:02d}T13:00:00+00:00"
    for bench in data["benchmarks"]:
        bench["stats"]["median"] *= scale
    path = tmp_path / f"run{n:02d}-{source.stem}.json"
    path.write_text(json.dumps(data, indent=1))
    return path


def history(capsys, *argv) -> tuple[int, str, str]:
    code = main(["history", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def content(path: Path) -> list:
    conn = sqlite3.connect(path)
    try:
        return store.content(conn)
    finally:
        conn.close()


def integrity(path: Path) -> str:
    conn = sqlite3.connect(path)
    try:
        return conn.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        conn.close()


def test_add_keeps_the_run_its_commit_machine_settings_and_raw_json(tmp_path, capsys):
    db = tmp_path / "h.sqlite"
    first = run_at(tmp_path, 1)
    code, out, err = history(capsys, "add", str(first), "--store", str(db))
    assert code == 0, err
    assert f"{first}: added as run 1: commit {1:040x}"[:80] in out
    (row,) = json.loads(history(capsys, "list", "--format", "json", "--store", str(db))[1])
    assert row["commit_id"] == f"{1:040x}" and row["commit_time"] == "2026-11-02T12:00:00+00:00"
    assert store.utc("2026-11-02T13:30:00+01:30") == "2026-11-02T12:00:00+00:00"  # git's committer offset, in UTC
    assert row["machine_id"] == "a83c02e043"  # cnnbench.reports.tidy.machine_id of the 2-core VM's machine_info
    assert row["profile"] == "smoke" and row["settings"]["device"] == "cpu"
    assert row["versions"]["torch_version"] == "2.13.0+cpu" and row["cases"] == 12
    code, raw, _ = history(capsys, "export", "1", "--store", str(db))
    assert code == 0 and raw == first.read_text()  # the interchange format, byte for byte
    code, out, _ = history(capsys, "list", "--store", str(db))
    assert code == 0 and out.startswith(f"run 1: commit {1:040x}"[:24])


def test_a_folder_of_old_runs_is_imported_and_a_run_is_stored_once(tmp_path, capsys):
    db = tmp_path / "h.sqlite"
    old = tmp_path / "old"
    old.mkdir()
    paths = [run_at(old, n) for n in range(3)]
    code, out, err = history(capsys, "add", str(old), "--store", str(db))
    assert code == 0, err
    assert out.splitlines()[-1] == f"{db}: 3 run(s) added, 0 already there"
    # the same run again, and a copy of it with other whitespace and key order: already stored
    again = tmp_path / "again.json"
    again.write_text(json.dumps(json.loads(paths[0].read_text()), sort_keys=True))
    code, out, _ = history(capsys, "add", str(paths[0]), str(again), str(old), "--store", str(db))
    assert code == 0 and out.splitlines()[-1] == f"{db}: 0 run(s) added, 5 already there"
    assert len(json.loads(history(capsys, "list", "--format", "json", "--store", str(db))[1])) == 3


# a writer that stops inside its transaction, right after the first run's row: the test's handle on
# "mid-add" (the store's own insert_run, wrapped)
SLOW_WRITER = """
import sys, time
from pathlib import Path
from cnnbench.history import store
real = store.insert_run
def slow(conn, record, series):
    run_id = real(conn, record, series)
    Path(sys.argv[1]).write_text("inside")
    time.sleep(float(sys.argv[2]))
    return run_id
store.insert_run = slow
from cnnbench.cli import main
sys.exit(main(["history", "add", *sys.argv[4:], "--store", sys.argv[3]]))
"""


def _writer(tmp_path: Path, name: str, db: Path, pause: float, *runs: Path) -> tuple[subprocess.Popen, Path]:
    marker = tmp_path / f"{name}.inside"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.Popen([sys.executable, "-c", SLOW_WRITER, str(marker), str(pause), str(db), *map(str, runs)],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return proc, marker


def _wait_for(marker: Path, proc: subprocess.Popen, timeout: float = 60.0) -> None:
    end = time.monotonic() + timeout
    while not marker.exists():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < end, "the writer never reached its transaction"
        time.sleep(0.02)


def test_two_writers_at_once_both_runs_stored_nothing_corrupt(tmp_path):
    db = tmp_path / "h.sqlite"
    a, b = run_at(tmp_path, 1), run_at(tmp_path, 2)
    # the first holds the write lock for 1.5 s; the second starts meanwhile and waits (busy timeout)
    first, inside = _writer(tmp_path, "a", db, 1.5, a)
    _wait_for(inside, first)
    second, _ = _writer(tmp_path, "b", db, 0.0, b)
    for proc in (first, second):
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
    conn = sqlite3.connect(db)
    ids = sorted(r[0] for r in conn.execute("SELECT commit_id FROM runs"))
    counts = conn.execute("SELECT run_id, COUNT(*) FROM measurements GROUP BY run_id").fetchall()
    conn.close()
    assert ids == [f"{1:040x}", f"{2:040x}"]
    assert len(counts) == 2 and all(n > 0 for _, n in counts)
    assert integrity(db) == "ok"


def test_a_writer_killed_mid_add_leaves_the_old_content(tmp_path, capsys):
    db = tmp_path / "h.sqlite"
    assert history(capsys, "add", str(run_at(tmp_path, 1)), "--store", str(db))[0] == 0
    before = content(db)
    proc, inside = _writer(tmp_path, "killed", db, 60.0, run_at(tmp_path, 2), run_at(tmp_path, 3))
    _wait_for(inside, proc)  # the first new run's row is written, the transaction is open
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    assert integrity(db) == "ok"
    assert content(db) == before  # nothing of the killed add, the old run intact
    # and the store takes the next add as if nothing had happened
    code, out, err = history(capsys, "add", str(run_at(tmp_path, 2)), "--store", str(db))
    assert code == 0 and "1 run(s) added" in out, err


def _corrupt(tmp_path: Path) -> list[str]:
    cut = tmp_path / "cut.json"
    cut.write_text(VM_RUN.read_text()[:5000])
    return [str(cut)]


def _not_a_run(tmp_path: Path) -> list[str]:
    other = tmp_path / "other.json"
    other.write_text(json.dumps({"name": "a JSON file of another tool", "values": [1, 2, 3]}))
    return [str(other)]


def _folder_with_one_bad_file(tmp_path: Path) -> list[str]:
    folder = tmp_path / "mixed"
    folder.mkdir()
    run_at(folder, 7)
    (folder / "zz-cut.json").write_text(VM_RUN.read_text()[:100])
    return [str(folder)]


BAD_INPUT = {
    # what is given -> (the arguments, a phrase of the one line)
    "a corrupt (truncated) file": (_corrupt, "the file ends early: truncated?"),
    "a JSON file that is not a cnnbench run": (_not_a_run, "JSON but not a pytest-benchmark run"),
    "a folder with one bad file among good ones": (_folder_with_one_bad_file, "zz-cut.json: not JSON"),
    "a run of another machine for a series bound to the VM": (
        lambda t: [str(run_at(t, 8, source=H200_RUN)), "--series", "vm"],
        "a run of another machine (Intel(R) Xeon(R) Processor (16 cores) + NVIDIA H200 [7e4692d9bb]); series 'vm' "
        "holds runs of Intel(R) Xeon(R) Processor @ 2.50GHz (2 cores) [a83c02e043]"),
    "runs of two machines given together for one series": (
        lambda t: [str(run_at(t, 8)), str(run_at(t, 9, source=H200_RUN)), "--series", "vm"],
        "the runs come from 2 machines"),
    "an unknown ref for --commit": (lambda t: [str(run_at(t, 8)), "--commit", "no-such-ref-xyz"],
                                    "--commit no-such-ref-xyz: "),
}


@pytest.mark.parametrize("what", list(BAD_INPUT))
def test_bad_input_one_line_exit_2_and_the_store_unchanged(tmp_path, capsys, monkeypatch, what):
    db = tmp_path / "h.sqlite"
    assert history(capsys, "add", str(run_at(tmp_path, 1)), "--series", "vm", "--store", str(db))[0] == 0
    monkeypatch.chdir(tmp_path)  # --commit resolves refs in the current directory's repository (none here)
    before = content(db)
    make, phrase = BAD_INPUT[what]
    code, out, err = history(capsys, "add", *make(tmp_path), "--store", str(db))
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and err.startswith("cnnbench history: error: "), err
    assert phrase in err
    assert content(db) == before


def test_an_unknown_ref_in_a_git_repository(tmp_path, capsys, monkeypatch):
    """--commit resolves a ref in the current directory's repository: a known one is recorded, an unknown one
    refused (one line, exit 2, nothing added)."""
    if subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True).returncode != 0:
        pytest.skip("not a git checkout")
    db = tmp_path / "h.sqlite"
    monkeypatch.chdir(ROOT)
    code, _, err = history(capsys, "add", str(run_at(tmp_path, 1)), "--commit", "v0-no-such-tag", "--store", str(db))
    assert code == 2 and f"--commit v0-no-such-tag: no such commit in {ROOT}" in err and not db.exists()
    head = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, cwd=ROOT).stdout.strip()
    assert history(capsys, "add", str(run_at(tmp_path, 1)), "--commit", "HEAD", "--store", str(db))[0] == 0
    (row,) = json.loads(history(capsys, "list", "--format", "json", "--store", str(db))[1])
    assert row["commit_id"] == head and row["commit_from"] == "--commit HEAD"


@pytest.mark.parametrize("store_file, phrase", [
    ("missing.sqlite", "no history store here"),
    ("notadb.sqlite", "cannot be opened as a cnnbench history store (file is not a database)"),
    ("folder", "is a directory"),
])
def test_a_bad_store_is_one_line(tmp_path, capsys, store_file, phrase):
    (tmp_path / "notadb.sqlite").write_text("this is not SQLite\n" * 100)
    (tmp_path / "folder").mkdir()
    code, _, err = history(capsys, "list", "--store", str(tmp_path / store_file))
    assert code == 2 and len(err.strip().splitlines()) == 1 and phrase in err
    if store_file == "notadb.sqlite":  # and an add does not overwrite someone's file
        code, _, err = history(capsys, "add", str(run_at(tmp_path, 1)), "--store", str(tmp_path / store_file))
        assert code == 2 and phrase in err
        assert (tmp_path / "notadb.sqlite").read_text() == "this is not SQLite\n" * 100


def test_a_run_added_by_mistake_is_removed(tmp_path, capsys):
    db = tmp_path / "h.sqlite"
    assert history(capsys, "add", str(run_at(tmp_path, 1)), str(run_at(tmp_path, 2)), "--store", str(db))[0] == 0
    code, out, err = history(capsys, "remove", "2", "--store", str(db))
    assert code == 0 and out.startswith(f"{db}: run 2 removed (commit {2:040x}"[:40]), err
    conn = sqlite3.connect(db)
    assert [r[0] for r in conn.execute("SELECT id FROM runs")] == [1]
    assert {r[0] for r in conn.execute("SELECT run_id FROM measurements")} == {1}
    conn.close()
    before = content(db)
    code, _, err = history(capsys, "remove", "2", "--store", str(db))
    assert code == 2 and "run 2: no such run in" in err and len(err.strip().splitlines()) == 1
    assert content(db) == before


def test_store_path_from_the_environment(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(store.STORE_ENV, str(tmp_path / "env.sqlite"))
    assert history(capsys, "add", str(run_at(tmp_path, 1)))[0] == 0
    assert (tmp_path / "env.sqlite").is_file() and not (tmp_path / store.DEFAULT_STORE).exists()
    monkeypatch.delenv(store.STORE_ENV)
    assert history(capsys, "add", str(run_at(tmp_path, 2)))[0] == 0
    assert (tmp_path / store.DEFAULT_STORE).is_file()
