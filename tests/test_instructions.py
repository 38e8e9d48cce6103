"""Instruction counts under Callgrind (docs/instructions.md): the dump parser, the verdict, the command's
options, output and exit status, and the detector check's scoring on saved numbers; one real count of
LeNet-5 under Valgrind (skipped, with the one line, where Valgrind is missing)."""
from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from cnnbench.ab import cli, instruction_counts, options
from cnnbench.core import callgrind
from conftest import ONE_THREAD
from saved_runs import CPU
from tools import instructions_detector

# the head of a real dump (valgrind-3.19.0, 2026-12-06), cut after its totals
DUMP = """# callgrind format
version: 1
creator: callgrind-3.19.0
pid: 3912
cmd:  /work/wt38/.venv/bin/python t.py
part: 1

desc: I1 cache: 
desc: Timerange: Basic block 0 - 78918
desc: Trigger: Client Request: lenet5:base:0

positions: line
events: Ir
summary: 583564

fn=(1274) fetestexcept
23 8
totals: 583564
"""


def test_parse_dump_reads_the_trigger_and_the_total():
    assert callgrind.parse_dump(DUMP) == callgrind.Dump("lenet5:base:0", 583564)
    with pytest.raises(ValueError, match="not a Callgrind output file"):
        callgrind.parse_dump("version: 1\n")


def test_dump_files_in_the_order_written(tmp_path):
    for name in ("out.10", "out.2", "out.1", "out", "out.log"):
        (tmp_path / name).write_text(DUMP)
    assert [p.name for p in callgrind.dump_files(tmp_path / "out")] == ["out.1", "out.2", "out.10"]


@pytest.mark.parametrize("a, b, expected", [
    (1_000_000, 1_009_999, "no change"),    # +0.9999%: within 1%
    (1_000_000, 1_010_001, "regression"),   # +1.0001%
    (1_000_000, 989_999, "improvement"),    # -1.0001%
    (2_022_201, 2_063_250, "regression"),   # LeNet-5 on PyTorch with 2% injected work (2026-12-06)
])
def test_decision_at_one_percent(a, b, expected):
    assert callgrind.decision(a, b, 0.01) == expected


def test_change_line_names_the_case_both_counts_and_the_change():
    line = callgrind.change_line("lenet5-torch-inference-bs2-cpu", 2_022_201, 2_063_250, 0.01)
    assert line == ("lenet5-torch-inference-bs2-cpu: 2,022,201 -> 2,063,250 instructions a step (+2.03%; "
                    "threshold 1.0%): regression")


def test_missing_valgrind_is_one_line_naming_the_packages(monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    why = callgrind.missing()
    assert why is not None and "\n" not in why and "valgrind" in why and "gcc" in why


def _args(*argv):
    p = argparse.ArgumentParser()
    cli.add_ab_arguments(p)
    return p.parse_args(list(argv))


def test_options_threshold_defaults_to_half_a_percent_with_instructions(monkeypatch):
    monkeypatch.setattr("cnnbench.ab.checkout.resolve_baseline", lambda ref, repo=None: "0" * 40)
    opts = options.parse_options(_args("--baseline", "HEAD", "--metric", "instructions", "--bench-profile", "smoke",
                                      "--models", "lenet5", "--device", "cpu", "--inject-work", "lenet5=2%"))
    assert opts["threshold"] == 0.005 and opts["steps"] == instruction_counts.DEFAULT_STEPS  # docs/instructions.md
    assert opts["work"] == [("lenet5", 0.02, "fraction")]
    timed = options.parse_options(_args("--baseline", "HEAD", "--bench-profile", "smoke", "--models", "lenet5",
                                       "--device", "cpu"))
    assert timed["threshold"] == options.DEFAULT_THRESHOLD


@pytest.mark.parametrize("extra, message", [
    (("--inject-work", "lenet5=0.5"), "give a share of the step"),
    (("--inject-work", "vgg11=2%"), "matches none of the selected cases"),
    (("--steps", "0"), "--steps: expected a positive whole number"),
    (("--metric", "instructions", "--inject-work", "lenet5"), "--inject-work: expected MODEL"),
])
def test_bad_instruction_options_are_refused_in_one_line(monkeypatch, extra, message):
    monkeypatch.setattr("cnnbench.ab.checkout.resolve_baseline", lambda ref, repo=None: "0" * 40)
    args = _args("--baseline", "HEAD", "--metric", "instructions", "--bench-profile", "smoke", "--models", "lenet5",
                 "--device", "cpu", *extra)
    with pytest.raises(options.BadInput, match=message):
        options.parse_options(args)


def test_at_once_is_for_instruction_counts_only(monkeypatch):
    monkeypatch.setattr("cnnbench.ab.checkout.resolve_baseline", lambda ref, repo=None: "0" * 40)
    base = ("--baseline", "HEAD", "--bench-profile", "smoke", "--models", "lenet5", "--device", "cpu", "--at-once")
    assert options.parse_options(_args(*base, "--metric", "instructions"))["at_once"] is True
    with pytest.raises(options.BadInput, match="^--at-once counts both sides of --metric instructions"):
        options.parse_options(_args(*base))


def test_both_sides_at_once_run_together_and_keep_each_sides_result_and_error():
    """--at-once: A and B start before either ends (each waits until the other has started), each side's
    counts come back as its own, and a side's error is the command's."""
    import threading

    started = threading.Barrier(2, timeout=10)

    def side(name):
        def count():
            started.wait()  # raises BrokenBarrierError unless the other side runs at the same time
            return [name]
        return count

    assert instruction_counts.both_sides(side("a"), side("b"), at_once=True) == (["a"], ["b"])
    assert instruction_counts.both_sides(lambda: 1, lambda: 2, at_once=False) == (1, 2)

    def fails():
        raise RuntimeError("B could not start")
    with pytest.raises(RuntimeError, match="B could not start"):
        instruction_counts.both_sides(lambda: [1], fails, at_once=True)


def _doc(b_count):
    row = {"case": "lenet5-torch-inference-bs2-cpu", "a_instructions": 2_022_201.0, "b_instructions": b_count,
           "change": callgrind.relative_change(2_022_201.0, b_count),
           "decision": callgrind.decision(2_022_201.0, b_count, 0.01)}
    return {"a_label": "baseline HEAD~1", "b_label": "working tree", "threshold": 0.01, "cases": [row],
            "not_counted": []}


def test_render_and_exit_status():
    changed, same = _doc(2_063_250.0), _doc(2_023_045.0)
    assert instruction_counts.exit_status(changed) == 1 and instruction_counts.exit_status(same) == 0
    table = instruction_counts.render(changed, "table")
    assert "2,022,201" in table and "2,063,250" in table and "+2.03%" in table and "regression" in table
    assert "| lenet5-torch-inference-bs2-cpu | 2,022,201 | 2,023,045 | +0.04% | no change |" in \
        instruction_counts.render(same, "markdown")
    same["not_counted"] = [{"case": "x", "reason": "A: AttributeError"}]
    assert instruction_counts.exit_status(same) == 1


def test_detector_scoring_on_saved_counts():
    first = [{"case": "c", "steps": 4, "seconds": 10.0, "instructions": [100.0, 100.2, 99.9],
              "variants": [{"work_fraction": 0.01, "instructions": [101.2, 100.6, 101.3]}]}]
    second = [{"case": "c", "instructions": [100.1, 99.8, 100.0]}]
    row = instructions_detector.score(first, second, 0.005)["rows"][0]
    # 101.2/100 = +1.2%, 100.6/100.2 = +0.40% (missed at 0.5%), 101.3/99.9 = +1.40%
    assert row["caught_0.01"] == 2 and row["pairs_0.01"] == 3
    assert row["aa_pairs_same"] == 3 and row["aa_pairs_separate"] == 3 and row["aa_alarms"] == 0
    assert row["aa_max_change"] == pytest.approx(0.4 / 100.2)  # separate processes: 100.2 -> 99.8


@pytest.mark.slow  # and CI's instruction gate counts LeNet-5 under Valgrind at every landing
def test_one_real_count_of_lenet5_under_valgrind():
    """LeNet-5's forward on PyTorch, 3 steps a count, twice, and with 5% injected work: ~30-60 s."""
    why = callgrind.missing()
    if why:
        pytest.skip(why)
    from cnnbench.harness.cases import build_cases
    from cnnbench.harness.instructions import count_cases

    case = build_cases(profile="smoke", models="lenet5", frameworks="torch", modes="inference", device="cpu")[0]
    got = count_cases([case], ONE_THREAD, steps=3, repeats=2,
                      work={case.id: [0.05]})[0]
    assert got.error is None, got.error
    assert 1e6 < got.per_step < 1e7  # 2.02 million on the 2-core VM (2026-12-06)
    assert callgrind.spread(got.instructions) < 0.01
    injected = callgrind.relative_change(min(got.instructions), min(got.variants[0]["instructions"]))
    assert 0.04 < injected < 0.06
    assert got.info["valgrind"].startswith("valgrind-")


def test_bisect_by_counts_finds_the_first_commit_above_the_threshold(monkeypatch, tmp_path, capsys):
    """Deterministic bisection on fake counts: GOOD counted once, one count per commit, +2% from commit c3."""
    from contextlib import nullcontext

    from cnnbench.ab import bisect
    from cnnbench.core.case import Case
    from cnnbench.core.settings import Settings

    case = Case(model="lenet5", framework="torch", mode="inference", batch=2, device="cpu", input_size=28)
    counts = {"good": 2_022_201.0, "c1": 2_022_900.0, "c2": 2_023_000.0, "c3": 2_063_250.0, "c4": 2_063_300.0,
              "bad": 2_064_000.0}
    counted = []

    def fake_count(self, cases, tree, label):
        counted.append(tree)
        return {c.id: counts[tree] for c in cases}

    monkeypatch.setattr(instruction_counts.InstructionBisection, "_count", fake_count)
    monkeypatch.setattr("cnnbench.ab.checkout.BaselineWorktree", lambda sha, repo=None: nullcontext(sha))
    opts = {"settings": Settings(), "threshold": 0.01, "steps": 3, "repeats": 1, "cases": [case]}
    b = instruction_counts.InstructionBisection(opts, "good", "good", tmp_path, log=lambda line: None)
    assert bisect._bisect(b, opts, ["c1", "c2", "c3", "c4", "bad"], "good", "bad", tmp_path) == 0
    assert "first slow commit: c3" in capsys.readouterr().out
    assert counted.count("good") == 1 and len(counted) == 1 + 3  # GOOD once; BAD, then c2 and c3 (or c4)


def test_counts_in_a_saved_run_become_the_history_series_instructions(monkeypatch, tmp_path):
    """pytest bench --instructions writes extra_info["instructions"] (annotate_rows, with stand-in counts
    here); the store keeps it as the metric ``instructions``."""
    import json
    from pathlib import Path

    from cnnbench.harness import instructions
    from cnnbench.history import store
    from cnnbench.reports.load import load_run
    from cnnbench.reports.rows import case_id

    data = json.loads(CPU.read_text())
    rows = data["benchmarks"]
    ids = [case_id(r) for r in rows]

    class Fake:
        id = None

    def fake_count(cases, settings, **kw):
        return [instructions.Counted(c.id, instructions=[2_022_201.0], steps=3,
                                     info={"valgrind": "valgrind-3.19.0", "counted": "Ir"}) for c in cases]

    monkeypatch.setattr(instructions, "count_cases", fake_count)
    monkeypatch.setattr(callgrind, "missing", lambda: None)
    by_id = {}
    for cid in ids[:2]:
        case = Fake()
        case.id = cid
        by_id[cid] = case
    from cnnbench.core.settings import Settings

    cache = {}
    assert instructions.annotate_rows(rows, by_id, Settings(), cache=cache) is None
    monkeypatch.setattr(instructions, "count_cases", lambda *a, **k: pytest.fail("counted twice"))
    assert instructions.annotate_rows(rows, by_id, Settings(), cache=cache) is None  # the autosaved copy
    assert rows[0]["extra_info"]["instructions"] == 2_022_201.0
    assert rows[0]["extra_info"]["instructions_valgrind"] == "valgrind-3.19.0"
    assert "instructions" not in rows[2]["extra_info"]
    path = tmp_path / "run.json"
    path.write_text(json.dumps(data))
    found = [m for m in store.measurements_of(load_run(path)) if m[2] == "instructions"]
    assert sorted(m[0] for m in found) == sorted(ids[:2]) and all(m[3] == 2_022_201.0 for m in found)


def test_compare_gates_counts_of_two_saved_runs_at_one_percent(tmp_path):
    """Two saved runs whose rows carry Callgrind's counts: +2% fails compare, naming the counts."""
    import json
    from pathlib import Path

    from cnnbench.reports.compare import compare_runs
    from cnnbench.reports.load import load_run

    data = json.loads(CPU.read_text())
    paths = []
    for name, count in (("base", 2_022_201.0), ("cur", 2_063_250.0)):
        for r in data["benchmarks"]:
            r["extra_info"].update(instructions=count, instructions_valgrind="valgrind-3.19.0")
        paths.append(tmp_path / f"{name}.json")
        paths[-1].write_text(json.dumps(data))
    comp = compare_runs([load_run(paths[0])], [load_run(paths[1])])
    first = comp.cases[0]
    assert first.instructions_status == "regression" and "instructions" in first.flagged_by
    assert "instructions 2,022,201 -> 2,063,250 (+2.03%)" in first.notes and comp.exit_status == 1


def test_both_sides_start_from_paths_and_environments_of_the_same_length():
    """cnnbench ab --metric instructions: A's worktree and B's copy of the working tree's package differ in one
    letter of their paths, share an empty working directory, and so start workers whose environments have the same
    size (docs/instructions.md: a count moves with it); B's copy is the imported code, uncommitted edits included,
    without compiled files; all of it is removed on exit, the worktree unregistered."""
    import subprocess

    from cnnbench.ab.checkout import SidesOfEqualLength, _git, git_toplevel, import_root
    from cnnbench.worker.client import _environment

    try:
        root = git_toplevel()
    except ValueError as exc:  # an installed copy, not a checkout
        pytest.skip(str(exc))
    sha = _git(root, "rev-parse", "HEAD").stdout.strip()

    def worktrees() -> str:
        return subprocess.run(["git", "-C", str(root), "worktree", "list"], capture_output=True, text=True).stdout

    with SidesOfEqualLength(sha) as (a, b):
        top = Path(a["cwd"]).parent
        assert len(a["pythonpath"]) == len(b["pythonpath"]) and a["pythonpath"] != b["pythonpath"]
        assert a["cwd"] == b["cwd"] and not any(Path(a["cwd"]).iterdir())
        a_env, b_env = (_environment("torch", "cpu", ONE_THREAD, None, side["pythonpath"], None) for side in (a, b))
        assert a_env.keys() == b_env.keys() and all(len(a_env[k]) == len(b_env[k]) for k in a_env)
        copied = Path(b["pythonpath"]) / "cnnbench"
        assert (copied / "ab" / "checkout.py").read_bytes() == (import_root() / "cnnbench" / "ab" / "checkout.py").read_bytes()
        assert not list(copied.rglob("__pycache__"))
        assert (Path(a["pythonpath"]) / "cnnbench" / "__init__.py").is_file()
        assert str(top / "a") in worktrees()
    assert not top.exists() and str(top) not in worktrees()


def test_a_workers_pipe_numbers_have_a_fixed_width_in_its_argv(tmp_path):
    """Two workers started at once (--at-once) get other pipe numbers, and their argv must have the same size all
    the same: from another clone, PyTorch's counts of the same code were 0.27% apart before (docs/instructions.md).
    The worker's python is replaced by a launcher that writes the arguments it was given."""
    import sys
    import time

    from cnnbench.worker.client import Worker

    seen = tmp_path / "argv"
    record = [sys.executable, "-c", "import pathlib, sys, time; pathlib.Path(sys.argv[1]).write_text(' '.join("
              "sys.argv[2:])); time.sleep(60)", str(seen)]
    worker = Worker("torch", "cpu", ONE_THREAD, launcher=record, wait=False)
    try:
        deadline = time.monotonic() + 30
        while not (seen.exists() and seen.read_text()) and time.monotonic() < deadline:
            time.sleep(0.05)
        args = seen.read_text().split()
    finally:
        worker.kill()
        worker.close()
    assert args[-4:-2] == ["-m", "cnnbench.worker"] and [len(a) for a in args[-2:]] == [7, 7], args
    assert all(a.isdigit() and int(a) > 2 for a in args[-2:])


def test_sides_counted_with_tensorflows_pools_set_differently_are_named():
    """A baseline older than CNNBENCH_TF_THREAD_SPINNING counts Keras/TF with its pools spinning (~5% more
    instructions for that alone: results/instructions-tf-spinning-2026-12-07.json); the table says so under itself."""
    row = {"case": "lenet5-tf-inference-bs2-cpu", "a_tf_thread_spinning": None, "b_tf_thread_spinning": False}
    note = instruction_counts.spinning_note(row)
    assert note.startswith("lenet5-tf-inference-bs2-cpu: A's TensorFlow thread pools did not say (older code), "
                           "B's did not spin")
    assert instruction_counts.spinning_note({**row, "a_tf_thread_spinning": False}) is None
    assert instruction_counts.spinning_note({"case": "lenet5-torch-inference-bs2-cpu"}) is None  # PyTorch: neither
    doc = {"a_label": "A", "b_label": "B", "threshold": 0.005, "not_counted": [],
           "cases": [{**row, "a_instructions": 2.04e6, "b_instructions": 1.94e6, "change": -0.049,
                      "decision": "improvement"}]}
    for fmt in ("text", "markdown"):
        assert note in instruction_counts.render(doc, fmt)


@pytest.mark.slow  # a TensorFlow import of its own (~10 s)
def test_counting_workers_turn_tensorflows_thread_spinning_off():
    """What COUNT_ENV sets reaches TensorFlow's runtime (read back from its configuration), and is refused in one
    line once the runtime has started: the pools are made when it starts."""
    import os
    import subprocess
    import sys

    from cnnbench.harness.instructions import COUNT_ENV

    assert COUNT_ENV[callgrind.TF_THREAD_SPINNING_ENV] == "0"
    script = ("from cnnbench.core.settings import Settings\n"
              "from cnnbench.models_tf import settings\n"
              "print(settings.thread_spinning())\n"  # TensorFlow's default, before configure
              "settings.configure(Settings(threads=1, interop_threads=1), 'cpu')\n"
              "import tensorflow as tf\n"
              "assert float(tf.reduce_sum(tf.ones(3))) == 3.0\n"
              "print(settings.thread_spinning())\n"
              "try:\n    settings._no_thread_spinning()\nexcept RuntimeError as exc:\n    print(exc)\n")
    env = {**os.environ, "KERAS_BACKEND": "tensorflow", **COUNT_ENV}
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.splitlines() == [
        "True", "False", "CNNBENCH_TF_THREAD_SPINNING=0: TensorFlow's runtime started before its thread pools "
                         "could be set; it must be set before the first op runs"]
