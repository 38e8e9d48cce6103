"""Regression tracking over history (issue #33): a results store of saved runs, steps found in each series.

    store     the SQLite store: every run's raw pytest-benchmark JSON, its commit, date, machine, settings
    changes   change-point detection per series (ruptures' PELT, a permutation p-value per step)
    series    the store's runs as series (one per case, metric and machine) with their steps, as plain data
    cli       ``cnnbench history add | list | changes``

A layer between the reports (which validate and read a run: reused here, never copied) and the
harness; it imports no framework, and the reports never import it: the report's history view gets
plain data from here (``cnnbench report --store``, wired in cnnbench/cli.py).
"""
