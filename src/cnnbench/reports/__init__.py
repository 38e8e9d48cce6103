"""Present saved benchmark runs: tidy tables, runtimes side by side, HTML report, run-to-run compare.

Reads pytest-benchmark JSON (and paired A/B JSON of ``cnnbench ab``), each file checked before use
(cnnbench.reports.schema); imports neither PyTorch, TensorFlow, Keras nor JAX, so a report can be
built on a laptop from results measured elsewhere. cnnbench.reports.verdict, the table the harness
prints at the end of a run, needs neither pandas nor matplotlib.
"""
from cnnbench.reports.errors import ReportError
from cnnbench.reports.load import PairedResult, Run, find_inputs, find_runs, load_run

__all__ = ["PairedResult", "ReportError", "Run", "find_inputs", "find_runs", "load_run"]
