"""The runs saved in tests/data, named once for every test that reads them (each written by
``pytest bench --benchmark-only``, none by hand; tests/test_reports.py says which run shows what)."""
from __future__ import annotations

from pathlib import Path

DATA = Path(__file__).parent / "data"
RUNS = DATA / "runs"
CPU = RUNS / "cpu_smoke_2core.json"  # PyTorch and Keras on TensorFlow, the smoke profile, a 2-core CPU
GPU = RUNS / "gpu_smoke_h200_torch_only.json"  # PyTorch alone on an H200
CPU16 = RUNS / "cpu_smoke_16core_torch_only.json"  # PyTorch alone on a 16-core CPU
SWEEP = RUNS / "cpu_torch_sweep_skips.json"  # a batch sweep with skipped cases
STORAGE = DATA / "storage"  # pytest-benchmark's storage folder: three autosaved runs
STORE = STORAGE / "Linux-CPython-3.11-64bit"
SAME1, SAME2, SLOWER = STORE / "0001_same1.json", STORE / "0002_same2.json", STORE / "0003_slower.json"
