"""The export runtimes' backend: a zoo's model exported, loaded once in ONNX Runtime, OpenVINO or LiteRT,
and stepped by the worker like any other runtime (inference only; docs/deploy.md).

One module serves every export runtime (``ort-from-torch``, ``openvino-from-keras``, ...): the worker's
``cnnbench.zoo.dispatch.runtime_backend`` calls ``serve_runtime`` first, and the source zoo's own backend
(``cnnbench.models_torch.backend`` or ``cnnbench.models_tf.backend`` on TensorFlow) builds the model, so
that the exported model is the one the framework rows measure. ``prepare`` builds it from the seed (the
Keras model takes the PyTorch twin's weights through ``cnnbench.zoo.transfer`` when PyTorch is installed, so
that both ONNX files compute the same function), runs it once as the reference, exports it
(``cnnbench.deploy.export``), frees it, loads the file in the engine ONCE with the run's threads, and
checks the engine's first output against the reference. A fair measurement as the engines' own tools
make it (``onnxruntime_perf_test``, ``benchmark_app``): the session is built once, outside the timing,
with the threads stated, a static input shape and warm-up steps (the worker's).

It keeps the backend contract, ``cnnbench.core.backend.Backend`` (tests/test_backend_contract.py).
"""
from __future__ import annotations

import gc
import math
import os
import shutil
import tempfile
import time

import numpy as np

from cnnbench.core.case import NATIVE_LAYOUT, Case, export_of, runtime_of, split_runtime, to_layout
from cnnbench.core.deps import distribution_version
from cnnbench.core.errors import UnsupportedCaseError
from cnnbench.core.settings import Settings
from cnnbench.core.specs import get_spec
from cnnbench.core.step import Prepared
from cnnbench.deploy import export as exporters
from cnnbench.zoo.dispatch import framework_backend, runtime_missing

RUNTIME = "export"  # which export runtime this process serves: set by serve_runtime before configure
ENGINE: str | None = None  # "ort" | "openvino" | "litert"
SOURCE: str | None = None  # the zoo exported: "torch" | "tf" (Keras on TensorFlow)
# max |runtime - framework| over the output's scale (its largest |value|) that an fp32 export must keep
PARITY_TOLERANCE = 1e-4
ALLOCATOR_PEAK_KIND = "not measured: the deployment engines expose no allocator peak"
_SETTINGS = Settings().resolved()
# the worker (warm_runtime) exports in a child process, cached (cnnbench.deploy.export_process), so that it imports
# only the engine; a direct caller of prepare (the tests) exports in its own process, as before
_SEPARATE = False


def serve_runtime(runtime: str) -> None:
    """Serve ``runtime`` in this process (one worker process, one runtime)."""
    global RUNTIME, ENGINE, SOURCE
    RUNTIME, ENGINE, SOURCE = runtime, export_of(runtime), split_runtime(runtime)[0]


def _source():
    """The source zoo's backend module: it builds the model, and its framework starts in this process."""
    return framework_backend(SOURCE)


# ------------------------------------------------------------------ settings and versions
def configure(settings: Settings, device: str) -> None:
    """The engine takes the threads when its session is made, in prepare; the source framework takes the run's
    settings in the export process (cnnbench.deploy.export_process), or here when prepare exports in-process."""
    global _SETTINGS
    _SETTINGS = settings.resolved()


def preload() -> None:
    """Nothing to add: the engine is imported with this module, and the export runs in a child process."""


def warm_runtime() -> None:
    """The worker's start: import the engine alone (the export runs in a child process, cached), so that the
    runtime's own memory, and each case's, is the engine's."""
    global _SEPARATE
    _SEPARATE = True
    if ENGINE == "ort":
        import onnxruntime  # noqa: F401
    elif ENGINE == "openvino":
        import openvino  # noqa: F401
    else:
        import ai_edge_litert.interpreter  # noqa: F401


def _format() -> str:
    return "tflite" if ENGINE == "litert" else "onnx"


def engine_version() -> tuple[str, str]:
    """(the row field, the version) of this process's engine."""
    if ENGINE == "ort":
        import onnxruntime

        return "onnxruntime_version", onnxruntime.__version__
    if ENGINE == "openvino":
        import openvino

        return "openvino_version", openvino.__version__
    return "litert_version", distribution_version("ai-edge-litert")


def versions(device: str) -> dict:
    """The source framework's versions, the engine's and the exporter's."""
    field, version = engine_version()
    out = {**_source_versions(), field: version}
    out["backend_version"] = f"{ENGINE} {version} (from {out.get('backend_version')})"
    if ENGINE != "litert":
        out["onnx_version"] = distribution_version("onnx")
        out["onnx_exporter_version"] = distribution_version(exporters.EXPORTERS[(SOURCE, "onnx")].converter)
    return out


def _torch_versions() -> dict:
    torch = distribution_version("torch")
    return {"torch_version": torch, "backend_version": f"torch {torch}"}


def _keras_tf_versions() -> dict:
    tf = distribution_version("tensorflow") or distribution_version("tensorflow-cpu")
    return {"keras_version": distribution_version("keras"), "keras_backend": "tensorflow",
            "backend_version": f"tensorflow {tf}", "tf_version": tf}


# the source framework's versions as its backend reports them, read from the installed distributions (the
# engine's worker never imports the framework, so its zoo backend cannot be asked): a table, per source zoo
_SOURCE_VERSIONS = {"torch": _torch_versions, "tf": _keras_tf_versions}


def _source_versions() -> dict:
    return _SOURCE_VERSIONS[SOURCE]()


def effective_settings(device: str) -> dict:
    """The threads asked of the engine (no session exists yet); each case's row then records what its
    session reports (``prepare``'s ``extra``), which replaces these."""
    return {"setting_math_matmul": "fp32", "setting_math_conv": "fp32", "setting_autotune": None,
            "setting_intra_op_threads": _SETTINGS.threads, "setting_inter_op_threads": _SETTINGS.interop_threads,
            "setting_onednn": None}


def device_available(device: str) -> bool:
    """The CPU always; a GPU only through ONNX Runtime's CUDA or TensorRT provider (onnxruntime-gpu)."""
    return device == "cpu" or (ENGINE == "ort" and bool(_gpu_providers()))


def _gpu_providers() -> list[str]:
    import onnxruntime

    have = onnxruntime.get_available_providers()
    return [p for p in ("TensorrtExecutionProvider", "CUDAExecutionProvider") if p in have]


def distributed_info() -> dict | None:
    return None


def gather(value) -> list:
    return [value]


# ------------------------------------------------------------------ engines: load once, step
def _ort(path: str, x: np.ndarray, device: str):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = _SETTINGS.threads
    options.inter_op_num_threads = _SETTINGS.interop_threads
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL  # ORT's default; inter-op threads idle in it
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL  # ORT's default
    providers = [*_gpu_providers(), "CPUExecutionProvider"] if device == "cuda" else ["CPUExecutionProvider"]
    session = ort.InferenceSession(path, options, providers=providers)
    name = session.get_inputs()[0].name
    read = session.get_session_options()
    settings = {"setting_intra_op_threads": read.intra_op_num_threads,
                "setting_inter_op_threads": read.inter_op_num_threads,
                "runtime_execution_mode": str(read.execution_mode).rsplit(".", 1)[-1],
                "runtime_graph_optimization": str(read.graph_optimization_level).rsplit(".", 1)[-1],
                "runtime_providers": session.get_providers()}

    def step():
        return session.run(None, {name: x})[0]

    return step, settings


def _openvino(path: str, x: np.ndarray, device: str):
    import openvino as ov

    core = ov.Core()
    model = core.read_model(path)
    model.reshape({model.inputs[0].get_any_name(): list(x.shape)})  # a static shape, as benchmark_app -shape
    # f32: on CPUs with bf16 units OpenVINO's default inference precision is bf16, which would not be fp32
    config = {"INFERENCE_NUM_THREADS": _SETTINGS.threads, "PERFORMANCE_HINT": "LATENCY",
              "INFERENCE_PRECISION_HINT": "f32"}
    compiled = core.compile_model(model, "CPU", config)
    request = compiled.create_infer_request()
    settings = {"setting_intra_op_threads": int(compiled.get_property("INFERENCE_NUM_THREADS")),
                "setting_inter_op_threads": None,
                "runtime_performance_hint": str(compiled.get_property("PERFORMANCE_HINT")),
                "runtime_num_streams": int(compiled.get_property("NUM_STREAMS")),
                "runtime_inference_precision": str(compiled.get_property("INFERENCE_PRECISION_HINT")),
                "runtime_providers": ["CPU"]}

    def step():
        request.infer({0: x})
        return request.get_output_tensor(0).data

    return step, settings


def _litert(path: str, x: np.ndarray, device: str):
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=path, num_threads=_SETTINGS.threads)
    index = interpreter.get_input_details()[0]["index"]
    interpreter.resize_tensor_input(index, list(x.shape))  # the converter's batch is 1
    interpreter.allocate_tensors()
    out = interpreter.get_output_details()[0]["index"]
    settings = {"setting_intra_op_threads": _SETTINGS.threads,  # as passed: the interpreter has no getter
                "setting_inter_op_threads": None,
                "runtime_providers": ["XNNPACK (LiteRT's default CPU delegate)"]}

    def step():
        interpreter.set_tensor(index, x)
        interpreter.invoke()
        return interpreter.get_tensor(out)

    return step, settings


_ENGINES = {"ort": _ort, "openvino": _openvino, "litert": _litert}


# ------------------------------------------------------------------ the source model, the export
def source_model(framework: str, name: str, input_size: int, options: dict, seed: int = 0):
    """The zoo's model from ``seed``; the Keras model takes the PyTorch twin's weights when PyTorch is
    installed (so ONNX files from both zoos compute the same function). (model, weights note)."""
    backend = framework_backend(framework)
    backend.set_seed(seed)
    model = backend.build(name, input_size=input_size, **options)
    twin = backend.INITIAL_WEIGHTS_FROM
    own = f"{backend.NAME}{chr(39) if backend.NAME.endswith('s') else chr(39) + 's'} initializers, seed {seed}"
    if twin is None:
        return model, own
    if runtime_missing(runtime_of(twin)) is not None:
        return model, f"{own} ({twin} not installed: no twin's weights)"
    from cnnbench.zoo.transfer import transfer_weights

    source = framework_backend(twin)
    source.set_seed(seed)
    transfer_weights(source.build(name, input_size=input_size, **options), model)
    return model, f"the {source.NAME} twin's (seed {seed}), transferred by cnnbench.zoo.transfer"


def run_source(framework: str, model, x: np.ndarray) -> np.ndarray:
    """The framework's own inference output for ``x`` (in its zoo's layout: NCHW for PyTorch, NHWC for Keras)."""
    return framework_backend(framework).run_inference(model, x)


def export(framework: str, model, x: np.ndarray, fmt: str, path: str, opset: int | None = None) -> dict:
    """``model`` exported by its ecosystem's exporter to ``fmt`` at ``path``; the export's facts."""
    exporters.check_request(framework, fmt, opset)
    run_source(framework, model, x)  # Keras exports only a model that has been called (and the trace is warm)
    return exporters.EXPORTERS[(framework, fmt)].export(model, x, path, opset)


def _input(case: Case, seed: int) -> np.ndarray:
    """The case's images in the source zoo's layout; the same values from either zoo (drawn NCHW)."""
    spec = get_spec(case.model)
    x = np.random.default_rng(seed).random((case.batch, spec.in_channels, case.input_size, case.input_size),
                                           dtype=np.float32)
    # the layout from the table in cnnbench.core.case, not from the zoo's backend, whose import would start the
    # source framework in the engine's worker (its memory is then no longer the engine's own)
    return to_layout(x, NATIVE_LAYOUT[SOURCE])


def prepare(case: Case, seed: int = 0) -> Prepared:
    """Build the source model, export it, load the file in the engine once, check the first output."""
    if case.mode != "inference":
        raise UnsupportedCaseError(f"{RUNTIME} is inference only: an exported graph has no training step")
    if case.precision != "fp32":
        raise UnsupportedCaseError(f"{RUNTIME} runs the float32 export; {case.precision} is not exported")
    if case.device == "cuda" and not device_available("cuda"):
        why = ("this onnxruntime has no CUDA or TensorRT provider (pip install onnxruntime-gpu)" if ENGINE == "ort"
               else f"{ENGINE} runs on the CPU here")
        raise UnsupportedCaseError(f"{RUNTIME}: {why}")
    x = _input(case, seed)
    if _SEPARATE:
        path, reference, facts, weights, source_s, params, trainable, folder = _export_elsewhere(case, seed)
    else:
        path, reference, facts, weights, source_s, params, trainable, folder = _export_here(case, seed, x)
    start = time.perf_counter()
    try:
        step, settings = _ENGINES[ENGINE](path, x, case.device)
    except Exception as exc:  # noqa: BLE001  (an engine that cannot load the file: a skipped case)
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)
        raise UnsupportedCaseError(f"{RUNTIME}: {ENGINE} cannot load the export: {exporters.one_line(exc)}") from None
    load_s = time.perf_counter() - start
    start = time.perf_counter()
    first = np.array(step())
    first_step_s = time.perf_counter() - start
    diff = float(np.max(np.abs(first.astype(np.float64) - reference))) if first.shape == reference.shape else math.inf
    scale = float(np.max(np.abs(reference)))
    rel = diff / scale if scale > 0 else diff
    extra = {**settings, **facts, "export_weights": weights, "export_source_s": source_s, "runtime_load_s": load_s,
             "export_parity_max_abs": diff, "export_parity_scale": scale, "export_parity_rel": rel,
             "export_parity_tolerance": PARITY_TOLERANCE, "export_parity_ok": rel <= PARITY_TOLERANCE}
    notes = [] if rel <= PARITY_TOLERANCE else [
        f"{RUNTIME}: output differs from {SOURCE}'s by {rel:.2e} of its scale (tolerance {PARITY_TOLERANCE:g})"]

    def cleanup():
        if folder is not None:  # an in-process export's temporary folder (the cache keeps its entries)
            shutil.rmtree(folder, ignore_errors=True)

    def feed(samples) -> None:  # every engine reads x at each step (ORT's run, OpenVINO's infer, set_tensor)
        np.copyto(x, samples)

    return Prepared(step, lambda result: None, source_s + facts["export_s"] + load_s, first_step_s, params,
                    trainable, cleanup, notes, extra=extra, feed=feed)


def _export_here(case: Case, seed: int, x: np.ndarray) -> tuple:
    """Build, run the reference and export in this process (its framework then stays imported here)."""
    start = time.perf_counter()
    model, weights = source_model(SOURCE, case.model, case.input_size, dict(case.options), seed)
    reference = run_source(SOURCE, model, x)
    source_s = time.perf_counter() - start
    params, trainable = _source().param_counts(model)  # as the framework rows count them
    folder = tempfile.mkdtemp(prefix="cnnbench-export-")
    fmt = _format()
    path = f"{folder}/{case.model}{exporters.SUFFIX[fmt]}"
    try:
        facts = export(SOURCE, model, x, fmt, path)
    except exporters.ExportError as exc:
        shutil.rmtree(folder, ignore_errors=True)
        raise UnsupportedCaseError(f"{RUNTIME}: {exc}") from None
    model = None  # the engine runs the file alone: the framework's model is freed before it loads
    _source().release_models()  # and the graphs Keras and the exporters traced
    gc.collect()
    return path, reference, {**facts, "export_process": "in the worker (imported the source framework)"}, \
        weights, source_s, params, trainable, folder


def _export_elsewhere(case: Case, seed: int) -> tuple:
    """The export from the cache, made in a child process on a miss (cnnbench.deploy.export_process)."""
    from cnnbench.deploy.export_process import exported

    try:
        got = exported(RUNTIME, case, seed, _SETTINGS.to_dict())
    except exporters.ExportError as exc:
        raise UnsupportedCaseError(f"{RUNTIME}: {exc}") from None
    meta = got["meta"]
    facts = {**meta["facts"], "export_process": "a child process (the worker imports only the engine)",
             "export_cache": got["cache"], "export_cache_entry": os.path.basename(got["entry"]),
             "export_process_s": got["process_s"],
             "export_process_peak_rss_bytes": meta.get("export_process_peak_rss_bytes")}
    if got["cache"] == "hit":
        facts["export_s"] = 0.0  # made by an earlier process: this case spent no time exporting
    return (got["path"], got["reference"], facts, meta["weights"], meta["source_s"] if got["cache"] == "miss" else 0.0,
            meta["params"], meta["trainable_params"], None)


def parity_step(case: Case, seed: int = 0, with_weights: bool = True) -> dict:
    raise UnsupportedCaseError(f"{RUNTIME} is inference only: an exported graph has no training step")


# ------------------------------------------------------------------ machine measurements
def gemm_peak_flops(device: str = "cpu", math_mode: str = "fp32", *, n: int | None = None, trials: int = 5) -> float:
    """The machine's GEMM peak as the source framework measures it (the engines have no matmul of their
    own to call): % of peak of an export runtime is against the same peak as its source framework's."""
    return _source().gemm_peak_flops(device, math_mode, n=n, trials=trials)


def reset_allocator_peak(device: str) -> None:
    pass


def allocator_peak_bytes(device: str) -> int | None:
    return None


class Trainer:
    """The contract's trainer: an export runtime trains nothing (``cnnbench train`` uses the frameworks)."""

    framework = "export"

    def __init__(self, model, lr: float, momentum: float):
        raise UnsupportedCaseError(f"{RUNTIME} is inference only: train with torch or Keras")

    def train_epoch(self, x, y, order, batch: int, on_step=None) -> tuple:
        raise UnsupportedCaseError("inference only")

    def predict(self, x, batch: int = 256):
        raise UnsupportedCaseError("inference only")

    def save(self, path: str) -> None:
        raise UnsupportedCaseError("inference only")

    def load(self, path: str) -> None:
        raise UnsupportedCaseError("inference only")


# ------------------------------------------------------------------ the export process (cnnbench.deploy.export_process)
def export_in_child(request_file: str) -> int:
    """The export process's work: build the source model, run the reference, export, and write the cache entry's
    files (the file, ``reference.npy``, ``meta.json``; ``error.json`` with the exporter's line when it refuses)
    into the request's folder."""
    import json
    from pathlib import Path

    from cnnbench.core.procfs import peak_rss_bytes

    request = json.loads(Path(request_file).read_text())
    out = Path(request["out"])
    serve_runtime(request["runtime"])
    case, seed = Case.from_dict(request["case"]), request["seed"]
    _source().configure(Settings.from_dict(request["settings"]), "cpu")
    fmt = request["made_from"]["format"]
    x = _input(case, seed)
    start = time.perf_counter()
    model, weights = source_model(SOURCE, case.model, case.input_size, dict(case.options), seed)
    reference = run_source(SOURCE, model, x)
    source_s = time.perf_counter() - start
    params, trainable = _source().param_counts(model)  # as the framework rows count them
    file = f"{case.model}{exporters.SUFFIX[fmt]}"
    try:
        facts = export(SOURCE, model, x, fmt, str(out / file))
    except exporters.ExportError as exc:
        (out / "error.json").write_text(json.dumps({"message": str(exc)}))
        return 1
    np.save(out / "reference.npy", reference)
    meta = {"file": file, "facts": facts, "weights": weights, "source_s": source_s, "params": params,
            "trainable_params": trainable, "made_from": request["made_from"],
            "export_process_peak_rss_bytes": peak_rss_bytes()}
    (out / "meta.json").write_text(json.dumps(meta, default=str))
    return 0


if __name__ == "__main__":  # python -m cnnbench.deploy.backend REQUEST: the export process
    import sys

    sys.exit(export_in_child(sys.argv[1]))
