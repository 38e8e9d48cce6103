"""The worker process's side of a LoadGen run: the samples in memory, the query sample library (QSL), the system
under test (SUT) around the prepared step, one LoadGen test, its logs read back.

The SUT runs the very step the harness times (``Prepared.step``, sessions built once, the run's threads), on
the query's samples copied into its input (``Prepared.feed``), on the worker's main thread, the thread that
the harness's timed steps run on (a framework's thread settings can be per thread: OpenMP's are); LoadGen runs
its test, and issues the queries, from a thread of its own. A query larger than the prepared batch is run in batches, the last padded (its padding is computed
and discarded, as a fixed-shape engine must). Only this module imports ``mlperf_loadgen``.
"""
from __future__ import annotations

import os
import queue
import threading
import time

import numpy as np

from cnnbench.core.procfs import peak_rss_bytes, release_free_heap, reset_peak_rss, rss_bytes
from cnnbench.loadgen import scenarios

SAMPLE_SEED = 0
LARGE_SAMPLES = 256  # images of the fixed set for models above 28 px (MLPerf's ResNet-50 QSL: 1024)
_SAMPLES: dict = {}  # (model, input size, channels, layout) -> (array, description, RSS they added): once a process


def load_samples(model: str, input_size: int, channels: int, channels_last: bool) -> tuple[np.ndarray, str, int]:
    """Real images, in memory before the run: the digits test set for LeNet-5 (1 channel, 28 px); for larger
    inputs a fixed set of ``LARGE_SAMPLES`` of those digits drawn with seed ``SAMPLE_SEED``, scaled up by nearest
    neighbour to the input size and repeated over the channels. NCHW, or NHWC where the runtime takes it. The
    third value is the RSS that loading them added (the images, and scikit-learn and SciPy, which read them)."""
    key = (model, input_size, channels, channels_last)
    if key not in _SAMPLES:
        before = rss_bytes()
        from cnnbench.train import digits

        x = digits.load().x_test  # (N, 1, 28, 28) in [0, 1]
        what = f"the digits test set ({len(x)} images, 28 px)"
        if input_size != x.shape[-1] or channels != 1:
            pick = np.random.default_rng(SAMPLE_SEED).choice(len(x), size=min(LARGE_SAMPLES, len(x)), replace=False)
            at = (np.arange(input_size) * x.shape[-1]) // input_size
            x = np.repeat(x[pick][:, :, at][:, :, :, at], channels, axis=1)
            what = (f"{len(x)} digits of the test set (seed {SAMPLE_SEED}) scaled to {input_size} px by nearest "
                    f"neighbour, {channels} channels")
        x = np.ascontiguousarray(x.transpose(0, 2, 3, 1) if channels_last else x, dtype=np.float32)
        after = rss_bytes()
        _SAMPLES[key] = (x, what, max(0, after - before) if after is not None and before is not None else 0)
    return _SAMPLES[key]


class SystemUnderTest:
    """LoadGen's SUT: ``issue`` queues a query; ``serve``, on the calling thread, runs the step over each
    query's samples and completes it, until ``close``."""

    def __init__(self, prep, samples: np.ndarray, batch: int):
        if prep.feed is None:
            raise NotImplementedError("this runtime's prepared step takes no samples (Prepared.feed)")
        self.prep, self.samples, self.batch = prep, samples, batch
        self.buffer = np.empty((batch, *samples.shape[1:]), samples.dtype)
        self.queue: queue.Queue = queue.Queue()
        self.step_times: list[float] = []  # each step's time, feed included (what the row's rounds replay)
        self.query_times: list[float] = []  # each query's time from its issue to its completion
        self.failure: BaseException | None = None

    def issue(self, query_samples) -> None:
        self.queue.put((time.perf_counter(), list(query_samples)))

    def flush(self) -> None:
        pass

    def serve(self) -> None:
        import mlperf_loadgen as lg

        while True:
            item = self.queue.get()
            if item is None:
                return
            issued, samples = item
            for start in range(0, len(samples), self.batch):
                chunk = samples[start:start + self.batch]
                if self.failure is None:
                    try:
                        t = time.perf_counter()
                        index = [s.index for s in chunk]
                        index += [index[0]] * (self.batch - len(index))  # padding: computed, discarded
                        np.take(self.samples, index, axis=0, out=self.buffer)
                        self.prep.feed(self.buffer)
                        self.prep.step()
                        self.step_times.append(time.perf_counter() - t)
                    except BaseException as exc:  # noqa: BLE001  reported after the run; LoadGen must finish
                        self.failure = exc
                lg.QuerySamplesComplete([lg.QuerySampleResponse(s.id, 0, 0) for s in chunk])
            self.query_times.append(time.perf_counter() - issued)

    def close(self) -> None:
        self.queue.put(None)


def apply(settings, fields: dict) -> None:
    """``loadgen_settings``' plain values onto LoadGen's TestSettings."""
    import mlperf_loadgen as lg

    for name, value in fields.items():
        if name == "scenario":
            value = getattr(lg.TestScenario, value)
        elif name == "mode":
            value = getattr(lg.TestMode, value)
        setattr(settings, name, value)


def run(server, scenario: str, settings: dict, outdir: str) -> dict:
    """One LoadGen test of ``server``'s prepared case (``cnnbench.worker.server._Server``), its logs in
    ``outdir``: the result read from them, the SUT's own step and query times, the process's peak memory."""
    import mlperf_loadgen as lg

    case, prep = server.case, server.prep
    if prep is None:
        raise RuntimeError("loadgen: no case is prepared in this worker")
    from cnnbench.core.case import NATIVE_LAYOUT
    from cnnbench.core.specs import get_spec

    channels_last = NATIVE_LAYOUT[case.framework] == "nhwc"  # the Keras models and their exports take NHWC
    samples, what, samples_rss = load_samples(case.model, case.input_size, get_spec(case.model).in_channels,
                                              channels_last)
    os.makedirs(outdir, exist_ok=True)
    sut = SystemUnderTest(prep, samples, case.batch)
    settings_ = lg.TestSettings()
    apply(settings_, settings)
    settings_.performance_sample_count_override = len(samples)
    logs = lg.LogSettings()
    logs.log_output.outdir = outdir
    logs.log_output.copy_summary_to_stdout = False
    logs.enable_trace = False
    release_free_heap()
    reset = reset_peak_rss()
    handle = lg.ConstructSUT(sut.issue, sut.flush)
    qsl = lg.ConstructQSL(len(samples), len(samples), lambda s: None, lambda s: None)  # resident before the run
    errors: list[BaseException] = []

    def test() -> None:
        try:
            lg.StartTestWithLogSettings(handle, qsl, settings_, logs)
        except BaseException as exc:  # noqa: BLE001  raised on the main thread below
            errors.append(exc)
        finally:
            sut.close()

    start = time.perf_counter()
    thread = threading.Thread(target=test, name="cnnbench-loadgen", daemon=True)
    thread.start()
    try:
        sut.serve()
    finally:
        thread.join()
        wall = time.perf_counter() - start
        lg.DestroyQSL(qsl)
        lg.DestroySUT(handle)
    if errors or sut.failure is not None:
        raise (errors or [sut.failure])[0]
    peak = peak_rss_bytes()
    with open(os.path.join(outdir, "mlperf_log_detail.txt"), errors="replace") as f:
        result = scenarios.result_of(scenario, scenarios.read_detail(f.read()))
    base = server.runtime_rss
    return {"result": result, "settings": settings, "wall_s": wall, "step_times": sut.step_times,
            "query_times": sut.query_times, "samples": what, "sample_count": len(samples),
            "samples_bytes": int(samples.nbytes),
            "peak_memory_bytes": peak - base - samples_rss if peak is not None and base is not None else None,
            "samples_rss_bytes": samples_rss,
            "peak_memory_kind": ("process peak RSS during the LoadGen run, minus the framework runtime's own RSS "
                                 "measured before the model was built and minus what loading the samples added (the "
                                 "images, and the modules that read them)") if reset
            else "process peak RSS since the worker started, minus the runtime's own RSS and the samples'",
            "steady_rss_bytes": rss_bytes(), "process_peak_rss_bytes": peak, "runtime_rss_bytes": base, "logs": outdir,
            "sut": "one inference thread running the prepared step (Prepared.step) on the query's samples; "
                   "LoadGen's thread issues the queries; the last batch of a query padded"}
