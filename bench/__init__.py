"""The benchmark harness: ``pytest bench --benchmark-only`` (see bench/conftest.py for options)."""
