"""Makes `pytest bench --benchmark-only` load the harness: its options and hooks live in
cnnbench.bench.plugin (importable, tested), this file only hands them to pytest."""
from cnnbench.bench.plugin import *  # noqa: F401,F403  (pytest_addoption, pytest_configure, ... hooks)
from cnnbench.bench.plugin import STATE, bench_state  # noqa: F401  (the fixture)
