"""LoadGen scenarios (docs/loadgen.md): MLCommons' load generator, ``mlperf_loadgen``, drives a prepared case in
its worker process through SingleStream, MultiStream, Offline and Server.

These are unofficial runs of LoadGen's scenarios (short durations, no accuracy run, no audit): never MLPerf
results. ``scenarios`` is pure Python (names, settings, log parsing, the server search); ``sut`` runs in the
worker process, next to the prepared step, and is the only module that imports ``mlperf_loadgen``.
"""
