"""The benchmark harness: ``pytest bench --benchmark-only`` (options and hooks in cnnbench/harness/plugin.py)."""
