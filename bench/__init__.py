"""The benchmark harness: ``pytest bench --benchmark-only`` (options and hooks in bench/plugin.py)."""
