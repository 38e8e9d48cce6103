"""Fault injection: every way a run can end keeps what was measured, and every user mistake is one
line with an exit code, never a traceback, with nothing lost or half-written. (The reports' and the
spec options' bad input are tested beside them: tests/test_reports.py, tests/test_compare.py,
tests/test_registry.py.)"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LENET = ["--models", "lenet5", "--frameworks", "torch", "--bench-profile", "smoke", "--no-time-to-accuracy"]


def _bench_cmd(out: Path, *args) -> list[str]:
    return [sys.executable, "-m", "pytest", "bench", "--benchmark-only", "-p", "no:cacheprovider",
            f"--benchmark-json={out}", *args]


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
    assert sorted(p.name for p in files.iterdir()) == ["adir", "afile", "weights"]  # nothing written


# ------------------------------------------------------------------ misleading messages, damaged caches
def test_zero_classes_is_named_as_such(torch_mod):
    out = _cli("summary", "lenet5", "--framework", "torch", "--num-classes", "0")
    assert out.returncode == 2 and "num_classes must be a positive integer, got 0" in out.stderr


def test_a_damaged_profile_cache_entry_is_recomputed_not_trusted(tmp_path, torch_mod, monkeypatch):
    from cnnbench.profile import profile_model

    monkeypatch.setenv("CNNBENCH_CACHE", str(tmp_path))
    good = profile_model("lenet5", "torch")["fvcore"]["total"]
    (entry,) = (tmp_path / "fvcore").glob("*.json")
    entry.write_text(json.dumps({"total": 1}))  # valid JSON of the wrong shape
    assert profile_model("lenet5", "torch")["fvcore"]["total"] == good
    assert "per_layer" in json.loads(entry.read_text())  # replaced by a good entry
