"""Makes `pytest bench --benchmark-only` load the harness: its options, hooks and fixtures live in
cnnbench.harness.plugin (importable, tested); this file only hands them to pytest."""
from cnnbench.harness.plugin import *  # noqa: F401,F403  (hooks and the bench_state / case fixtures)
from cnnbench.harness import plugin as _plugin

globals().update({k: v for k, v in vars(_plugin).items() if k.startswith("_param_")})  # the param fixtures
