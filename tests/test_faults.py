"""Fault injection: every way a run can end keeps what was measured, and every user mistake is one
line with an exit code, never a traceback, with nothing lost or half-written. (The reports' and the
spec options' bad input are tested beside them: tests/test_reports.py, tests/test_compare.py,
tests/test_registry.py.)"""
from __future__ import annotations

import errno
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cnnbench.core import atomic
from conftest import HARNESS_BESIDE_XDIST
from saved_runs import CPU, STORAGE

ROOT = Path(__file__).resolve().parents[1]
LENET = ["--models", "lenet5", "--frameworks", "torch", "--bench-profile", "smoke", "--no-time-to-accuracy", "--fast"]


def _bench_cmd(out: Path, *args) -> list[str]:
    return [sys.executable, "-m", "pytest", "bench", "--benchmark-only", "-p", "no:cacheprovider",
            f"--benchmark-json={out}", *HARNESS_BESIDE_XDIST, *args]


def _cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "cnnbench", *args], capture_output=True, text=True, cwd=cwd)


# ------------------------------------------------------------------ the harness: data survives
def test_sigterm_keeps_the_measured_cases_and_says_what_did_not_run(tmp_path, torch_mod):
    out = tmp_path / "run.json"
    proc = subprocess.Popen(_bench_cmd(out, *LENET, "--batch-sizes", "1,2,3,4"), cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:  # the journal shows the cases measured so far
        try:
            if len(json.loads(out.read_text())["benchmarks"]) >= 2:
                break
        except (OSError, ValueError, KeyError):
            pass
        time.sleep(0.5)
    proc.send_signal(signal.SIGTERM)
    text = proc.communicate(timeout=120)[0]
    assert proc.returncode == 143, text[-2000:]  # 128 + SIGTERM, as every entry point (docs/reliability.md)
    data = json.loads(out.read_text())
    measured = [b["param"] for b in data["benchmarks"]]
    assert len(measured) >= 2, text[-2000:]
    assert data["cnnbench"]["interrupted"] == "SIGTERM" and data["cnnbench"]["complete"] is False
    not_run = [u["id"] for u in data["cnnbench"]["unfinished"]]
    assert len(measured) + len(not_run) == 8 and not set(measured) & set(not_run)
    assert all("SIGTERM" in u["reason"] for u in data["cnnbench"]["unfinished"])
    assert "did not finish" in text and "Traceback" not in text


def test_a_native_crash_in_one_case_keeps_the_others(tmp_path, torch_mod):
    out = tmp_path / "run.json"
    env = {**os.environ, "CNNBENCH_TEST_CRASH": "lenet5-torch-inference-*"}
    proc = subprocess.run(_bench_cmd(out, *LENET), cwd=ROOT, capture_output=True, text=True, env=env)
    assert proc.returncode == 1  # a case failed
    data = json.loads(out.read_text())
    assert [b["param"] for b in data["benchmarks"]] == ["lenet5-torch-train-bs2-cpu"]
    (crashed,) = data["cnnbench"]["unfinished"]
    assert crashed["id"] == "lenet5-torch-inference-bs2-cpu" and "killed by SIGSEGV" in crashed["reason"]
    assert "did not finish: lenet5-torch-inference-bs2-cpu" in proc.stdout


@pytest.mark.parametrize("target,message", [
    ("{tmp}/missing-dir/run.json", "missing-dir/ does not exist; create it first"),
    ("{tmp}/adir", "is a directory; give a file path"),
    ("/proc/cnnbench-run.json", "not writable"),  # unwritable even for root
])
def test_an_unwritable_output_is_refused_before_measuring(tmp_path, target, message):
    (tmp_path / "adir").mkdir()
    proc = subprocess.run(_bench_cmd(Path(target.format(tmp=tmp_path)), *LENET), cwd=ROOT, capture_output=True,
                          text=True)
    assert proc.returncode == 4, proc.stdout[-2000:] + proc.stderr[-2000:]  # pytest's usage error
    assert message in proc.stderr and "Traceback" not in proc.stderr
    assert "[1/" not in proc.stdout  # nothing was measured


# ------------------------------------------------------------------ cnnbench train: checked before training
@pytest.fixture()
def files(tmp_path):
    (tmp_path / "afile").write_text("x")
    (tmp_path / "adir").mkdir()
    (tmp_path / "weights").mkdir()
    (tmp_path / "weights" / "lenet5-torch.pt").write_bytes(b"\x80\x04truncated")
    return tmp_path


@pytest.mark.parametrize("args,message", [
    (["--save", "afile"], "train --save takes a directory; afile is a file"),
    (["--save", "no/such/dir"], "the directory no/such does not exist"),
    (["--json", "adir"], "train --json takes a file name; adir is a directory"),
    (["--load", "afile"], "train --load takes the directory written by --save; afile is a file (give --load .)"),
    (["--load", "weights"], "is not a lenet5 weights file written by --save"),
    (["--epochs", "0"], "train: --epochs must be a whole number >= 1, got 0"),
    (["--lr", "nan"], "train: --lr must be a positive number, got nan"),
    (["--target", "1.5"], "train: --target must be an accuracy in (0, 1], got 1.5"),
])
def test_train_refuses_bad_paths_and_numbers_in_one_line(files, args, message, torch_mod):
    out = _cli("train", "lenet5", "--framework", "torch", *args, cwd=files)
    assert out.returncode == 2, out.stdout + out.stderr
    assert message in out.stderr and "Traceback" not in out.stderr
    assert "Epoch 1/" not in out.stdout  # refused before any training
    assert "data: " not in out.stdout  # ... and before the digits are loaded (a foreign weights file too)
    assert sorted(p.name for p in files.iterdir()) == ["adir", "afile", "weights"]  # nothing written


# ------------------------------------------------------------------ misleading messages, damaged caches
def test_zero_classes_is_named_as_such(torch_mod):
    out = _cli("summary", "lenet5", "--framework", "torch", "--num-classes", "0")
    assert out.returncode == 2 and "num_classes must be a positive integer, got 0" in out.stderr


def test_a_damaged_profile_cache_entry_is_recomputed_not_trusted(tmp_path, torch_mod, monkeypatch):
    from cnnbench.inspection.profile import profile_model

    monkeypatch.setenv("CNNBENCH_CACHE", str(tmp_path))
    good = profile_model("lenet5", "torch")["fvcore"]["total"]
    (entry,) = (tmp_path / "fvcore").glob("*.json")
    entry.write_text(json.dumps({"total": 1}))  # valid JSON of the wrong shape
    assert profile_model("lenet5", "torch")["fvcore"]["total"] == good
    assert "per_layer" in json.loads(entry.read_text())  # replaced by a good entry


# ------------------------------------------------------------------ issue #41: nothing lost, round two
# A real full disk where root may mount a tmpfs; elsewhere the same ENOSPC, simulated in the subprocess by
# a sitecustomize that makes cnnbench's atomic writes into the "full" folder fail once a flag file exists.
DATA = ROOT / "tests" / "data"  # the journal below; the saved runs: tests/saved_runs.py
SMALLEST = ["--models", "lenet5", "--frameworks", "torch", "--bench-profile", "smoke", "--no-time-to-accuracy",
            "--modes", "inference"]
_SHIM = '''
import errno, os
_flag = os.environ.get("CNNBENCH_TEST_FULL_FLAG")
if _flag:
    import cnnbench.core.atomic as _atomic
    _real = _atomic._temporary
    def _temporary(path, raw):
        if os.path.exists(_flag) and str(path).startswith(os.path.dirname(_flag)):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
        return _real(path, raw)
    _atomic._temporary = _temporary
'''


class FullDisk:
    """A folder whose file system can be filled on demand: ``fill()``; ``env``: for subprocesses."""

    def __init__(self, tmp_path: Path):
        self.mount = None
        self.dir = tmp_path / "disk"
        self.dir.mkdir()
        if os.geteuid() == 0 and subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(self.dir)],
                                                capture_output=True).returncode == 0:
            self.mount = self.dir
        shim = tmp_path / "shim"
        shim.mkdir()
        (shim / "sitecustomize.py").write_text(_SHIM)
        self.flag = self.dir / ".full"
        self.env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(shim), os.environ.get("PYTHONPATH")]))}
        if self.mount is None:
            self.env["CNNBENCH_TEST_FULL_FLAG"] = str(self.flag)

    def fill(self) -> None:
        if self.mount is None:
            self.flag.write_text("")
            return
        with open(self.dir / "ballast", "wb") as f:  # until the disk says no
            try:
                while True:
                    f.write(b"\0" * 65536)
                    f.flush()
            except OSError:
                pass

    def close(self) -> None:
        if self.mount is not None:
            subprocess.run(["umount", str(self.mount)], capture_output=True)


@pytest.fixture()
def full_disk(tmp_path):
    disk = FullDisk(tmp_path)
    yield disk
    disk.close()


def _wait_for(predicate, proc, seconds=180):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and proc.poll() is None:
        if predicate():
            return True
        time.sleep(0.2)
    return predicate()


def _cases_in(path: Path) -> list[str]:
    try:
        return [b["param"] for b in json.loads(path.read_text())["benchmarks"]]
    except (OSError, ValueError, KeyError):
        return []


@pytest.mark.slow
def test_two_runs_in_one_folder_each_keep_their_own_journal(tmp_path, torch_mod):
    """Defect 1: run A killed (SIGKILL) after a case, run B into the same folder under the same tag: B's
    end removes its own journal only; A's journal still holds A's case, valid and marked incomplete."""
    storage = tmp_path / "storage"
    bench = [sys.executable, "-m", "pytest", "bench", "--benchmark-only", "-p", "no:cacheprovider",
             f"--benchmark-storage={storage}", "--benchmark-save=shared", *SMALLEST]
    a = subprocess.Popen([*bench, "--batch-sizes", "1,2"], cwd=ROOT, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    journals = lambda: sorted(storage.rglob("partial_shared_*.json"))  # noqa: E731
    try:
        assert _wait_for(lambda: any(_cases_in(j) for j in journals()), a), "run A measured nothing"
    finally:
        a.kill()
        a.wait()
    (journal_a,) = journals()
    # B: a whole run that ends normally, cheaply (its one case skipped: too small an input, no worker started)
    b = subprocess.run([*bench, "--input-size", "4"], cwd=ROOT, capture_output=True, text=True)
    assert b.returncode == 0, b.stdout[-2000:] + b.stderr[-2000:]
    assert journals() == [journal_a]  # B removed its own journal only
    kept = json.loads(journal_a.read_text())
    assert _cases_in(journal_a) == ["lenet5-torch-inference-bs1-cpu"] and kept["cnnbench"]["complete"] is False
    assert "lenet5-torch-inference-bs2-cpu" in {u["id"] for u in kept["cnnbench"]["unfinished"]}
    (saved,) = storage.rglob("0001_shared.json")
    assert [s["id"] for s in json.loads(saved.read_text())["cnnbench"]["skipped"]] == [
        "lenet5-torch-inference-bs2-cpu"]


@pytest.mark.slow  # the quick tier fills the disk during `cnnbench report`
def test_a_disk_that_fills_during_a_run_stops_it_and_keeps_every_measured_case(full_disk, tmp_path, torch_mod):
    """Defect 2: the disk fills after the first case: one line at once with the path and the reason, the run
    stops (exit 2, no traceback), no 0-byte file, and every measured case is in a valid file that the
    output names: the journal or the rescue copy in the temporary directory."""
    out = full_disk.dir / "run.json"
    rescue_dir = tmp_path / "rescue"
    rescue_dir.mkdir()
    env = {**full_disk.env, "TMPDIR": str(rescue_dir)}
    proc = subprocess.Popen([*_bench_cmd(out, *SMALLEST, "--batch-sizes", "1,2,3"),
                             f"--benchmark-storage={full_disk.dir / 'storage'}", "--benchmark-autosave"],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    assert _wait_for(lambda: _cases_in(out), proc), "nothing measured"
    full_disk.fill()
    text = proc.communicate(timeout=240)[0]
    assert proc.returncode == 2, text[-3000:]
    assert "Traceback" not in text and "No space left on device" in text
    assert "pytest bench: error: " + str(out) in text  # said at once, with the path
    assert not [p for p in full_disk.dir.rglob("*.json") if p.stat().st_size == 0]  # no 0-byte file
    (rescued,) = rescue_dir.glob("cnnbench-rescued-*.json")
    assert str(rescued) in text
    measured = _cases_in(rescued)
    assert measured and set(_cases_in(out)) <= set(measured)  # the journal's cases, and any measured after
    meta = json.loads(rescued.read_text())["cnnbench"]
    assert meta["complete"] is False and meta["interrupted"] == "a failed write"
    assert len(measured) < 3  # it stopped rather than measure into the void
    assert {u["id"] for u in meta["unfinished"]} | set(measured) == {
        f"lenet5-torch-inference-bs{b}-cpu" for b in (1, 2, 3)}


def test_sigterm_on_ab_after_a_finished_pair_keeps_it(tmp_path, monkeypatch, capsys):
    """Defect 3: `cnnbench ab` ended by SIGTERM after one pair: --out holds that pair, marked incomplete,
    the other listed as not measured; exit 143."""
    from cnnbench.ab import engine
    from cnnbench.ab.engine import PairOutcome
    from cnnbench.cli import main
    from cnnbench.core.paired_stats import paired_ratio

    a = [0.010, 0.011, 0.0105, 0.0102, 0.0099, 0.0101, 0.0103, 0.0100, 0.0104, 0.0098]
    calls = []

    def measure(a_side, b_side, plan, pool):
        calls.append(1)
        if len(calls) == 2:
            os.kill(os.getpid(), signal.SIGTERM)  # the handler turns it into an interrupt here
        return PairOutcome(a_samples=a, b_samples=a, blocks=[0] * 10, steps_per_round=2, estimate=paired_ratio(a, a),
                           stopped="precision", seconds=1.0, rounds_s=1.0, injected_delay_s=0.0)

    monkeypatch.setattr(engine, "measure_pair", measure)
    handlers = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)
    out = tmp_path / "ab.json"
    try:
        # channels-last against the default layout: a change whatever the cores (threads=1 is none on one core)
        code = main(["ab", "--compare-setting", "layout=nhwc", "--models", "lenet5", "--frameworks", "torch",
                     "--modes", "inference", "--device", "cpu", "--bench-profile", "smoke", "--batch-sizes", "1,2",
                     "--format", "json", "--out", str(out)])
    finally:
        signal.signal(signal.SIGTERM, handlers[0])
        signal.signal(signal.SIGINT, handlers[1])
    err = capsys.readouterr().err
    assert code == 143 and "interrupted (SIGTERM)" in err, err
    doc = json.loads(out.read_text())
    assert [r["pair_id"] for r in doc["cases"]] == ["lenet5-torch-inference-bs1-cpu~layout=nhwc"]
    assert doc["complete"] is False and doc["interrupted"] == "SIGTERM"
    assert doc["unfinished"] == [{"pair_id": "lenet5-torch-inference-bs2-cpu~layout=nhwc",
                                  "reason": "not measured: the run was interrupted (SIGTERM)"}]
    from cnnbench.reports.load import load_document

    kept = load_document(out)  # a valid paired result for `cnnbench report`, which names it incomplete
    assert kept.incomplete == "interrupted by SIGTERM; 1 case(s) not measured"


def _report(capsys, *argv):
    from cnnbench.cli import main

    code = main(["report", *argv, "--no-history", "--no-diagrams", "--no-store"])
    out, err = capsys.readouterr()
    return code, out, err


def test_a_full_disk_during_report_is_one_line_and_leaves_no_half_report(full_disk, tmp_path, capsys, monkeypatch):
    """Defect 4: a new folder on a full disk: one line with the path and the reason, exit 2, no folder
    left; an existing report keeps every one of its files as they were."""
    run = CPU
    old = tmp_path / "old"
    assert _report(capsys, str(run), "--out", str(old))[0] == 0
    before = {p.name: p.read_bytes() for p in old.iterdir()}
    if full_disk.mount is None:  # in-process: the shim's rule, applied here
        real = atomic._temporary

        def no_space(path, raw):
            if str(path).startswith(str(full_disk.dir)) or str(path).startswith(str(old)):
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
            return real(path, raw)

        monkeypatch.setattr(atomic, "_temporary", no_space)
    else:
        shutil.copytree(old, full_disk.dir / "old")
        old = full_disk.dir / "old"
        full_disk.fill()
    code, out, err = _report(capsys, str(run), "--out", str(full_disk.dir / "new"))
    assert code == 2 and "No space left on device" in err and len(err.strip().splitlines()) == 1, err
    assert not (full_disk.dir / "new").exists()
    code, out, err = _report(capsys, str(run), "--out", str(old))
    assert code == 2 and "No space left on device" in err and "Traceback" not in err
    assert {p.name: p.read_bytes() for p in old.iterdir()} == before  # every old file intact, no temporary left


def _damaged_store(tmp_path) -> Path:
    from cnnbench.cli import main

    path = tmp_path / "store.sqlite"
    assert main(["history", "add", str(STORAGE), "--store", str(path)]) == 0
    with open(path, "r+b") as f:  # page 3 overwritten: a table's b-tree page
        f.seek(4096 * 2)
        f.write(b"\xff" * 4096)
    return path


@pytest.mark.parametrize("argv", [["history", "list"], ["history", "add", str(CPU)],
                                  ["history", "export", "1"], ["history", "remove", "1"],
                                  ["report", str(CPU), "--no-history",
                                   "--no-diagrams", "--out", "{tmp}/rep"]])
def test_a_store_with_a_damaged_page_is_one_line_and_exit_2(tmp_path, capsys, argv):
    """Defect 5: a malformed SQLite page: one line naming the store and `.recover`, exit 2, the file unchanged."""
    pytest.importorskip("pandas")
    from cnnbench.cli import main

    path = _damaged_store(tmp_path)
    capsys.readouterr()
    before = path.read_bytes()
    code = main([a.format(tmp=tmp_path) for a in argv] + ["--store", str(path)])
    err = capsys.readouterr().err
    assert code == 2 and "the store is damaged" in err and ".recover" in err, err
    assert len(err.strip().splitlines()) == 1 and path.read_bytes() == before


def test_history_export_into_a_folder_is_one_line_and_a_replaced_file_is_said(tmp_path, capsys):
    """Defect 6, and the lesser point beside it: --out FOLDER is refused in one line (exit 2); an
    existing file is replaced whole, and the command says so (as ab --out and compare --output do)."""
    pytest.importorskip("pandas")
    from cnnbench.cli import main

    store_path = tmp_path / "store.sqlite"
    assert main(["history", "add", str(STORAGE), "--store", str(store_path)]) == 0
    (tmp_path / "adir").mkdir()
    capsys.readouterr()
    assert main(["history", "export", "1", "--store", str(store_path), "--out", str(tmp_path / "adir")]) == 2
    err = capsys.readouterr().err
    assert "--out" in err and "is a directory; give a file path" in err and len(err.strip().splitlines()) == 1
    target = tmp_path / "run.json"
    target.write_text("old")
    assert main(["history", "export", "1", "--store", str(store_path), "--out", str(target)]) == 0
    assert "(replaced the file that was there)" in capsys.readouterr().err and json.loads(target.read_text())


def test_absurd_finite_step_times_are_one_line_and_exit_2(tmp_path, capsys):
    """Defect 7: step times of 1e308 s: the file is refused as damaged (one line, exit 2), nothing written."""
    data = json.loads((CPU).read_text())
    for bench in data["benchmarks"]:
        bench["stats"].update({k: 1e308 for k in ("min", "max", "mean", "median", "q1", "q3")})
        bench["stats"]["data"] = [1e308] * len(bench["stats"]["data"])
    run = tmp_path / "huge.json"
    run.write_text(json.dumps(data))
    code, out, err = _report(capsys, str(run), "--out", str(tmp_path / "rep"))
    assert code == 2 and "not a plausible time" in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "rep").exists()


# ------------------------------------------------------------------ #41, the lesser points: one convention
@pytest.mark.parametrize("args,message", [
    (["--device", "gpu"], "--device: 'gpu' is not one of cpu, cuda, auto"),
    (["--precision", "fp64"], "--precision: 'fp64' is not one of"),
    (["--input-size", "0"], "--input-size: expected a positive whole number, got '0'"),
    (["--worker-timeout", "inf"], "--worker-timeout: expected a positive number of seconds, got 'inf'"),
    (["--nnodes", "two"], "--nnodes: expected a positive whole number, got 'two'"),
    (["--master-port", "99999"], "--master-port: expected a port number 1..65535"),
    (["--busy-cores", "-0.5"], "--busy-cores: expected a number of cores, 0 or more (like 0.2), got '-0.5'"),
])
def test_pytest_bench_option_errors_are_one_line(tmp_path, args, message):
    """pytest bench's own options: one line (not pytest's usage block), pytest's usage status 4."""
    proc = subprocess.run(_bench_cmd(tmp_path / "run.json", *LENET, *args), cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 4, proc.stdout[-2000:] + proc.stderr[-2000:]
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert lines == [f"ERROR: {message}"] or (len(lines) == 1 and message in lines[0]), proc.stderr
    assert "usage:" not in proc.stderr


def test_a_journal_left_by_sigkill_is_shown_and_stored_as_incomplete(tmp_path, capsys):
    """A journal (complete: false, its running and pending cases listed) is an incomplete run everywhere."""
    pytest.importorskip("pandas")
    from cnnbench.cli import main

    journal = DATA / "journal_killed.json"
    code, out, err = _report(capsys, str(journal), "--out", str(tmp_path / "rep"))
    assert code == 0 and f"incomplete: {journal}: a journal of a run that never ended (killed?)" in out
    assert "is incomplete (a journal of a run that never ended" in (tmp_path / "rep" / "report.html").read_text()
    store_path = str(tmp_path / "store.sqlite")
    assert main(["history", "add", str(journal), "--store", store_path]) == 0
    assert main(["history", "list", "--store", store_path]) == 0
    assert "INCOMPLETE (a journal of a run that never ended (killed?); 1 case(s) not measured)" in capsys.readouterr().out


def test_a_numbered_save_never_replaces_another_runs_file(tmp_path):
    """Two runs ending at once into one folder take two numbers (the exclusive create), never one file."""
    target = tmp_path / "0001_tag.json"
    atomic.write_atomic(target, "{}", exclusive=True)
    with pytest.raises(FileExistsError):
        atomic.write_atomic(target, '{"other": 1}', exclusive=True)
    assert target.read_text() == "{}" and [p.name for p in tmp_path.iterdir()] == ["0001_tag.json"]
