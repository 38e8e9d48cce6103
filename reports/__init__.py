"""Present saved benchmark runs: tidy tables, framework comparison, HTML report, run-to-run compare.

Reads pytest-benchmark JSON only; imports neither PyTorch nor TensorFlow, so a report can be built on a
laptop from results measured elsewhere.
"""
from cnnbench.reports.errors import ReportError
from cnnbench.reports.load import Run, find_runs, load_run

__all__ = ["ReportError", "Run", "find_runs", "load_run"]
