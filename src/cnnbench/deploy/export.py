"""Export a zoo's model with its ecosystem's own exporter, and read back what the exported graph is.

* PyTorch -> ONNX: ``torch.onnx.export(..., dynamo=True)``, the exporter PyTorch recommends and runs by
  default since 2.9 (``torch.export`` to an FX graph, translated by onnxscript; the TorchScript exporter
  is deprecated), at its default opset unless one is asked for, weights inside the file.
* Keras -> ONNX: ``keras.Model.export(format="onnx")``, which on the TensorFlow backend converts the
  traced serving function with tf2onnx (``keras.src.export.onnx``), at Keras' default opset.
* Keras -> LiteRT (TFLite): ``tf.lite.TFLiteConverter.from_keras_model``, float32, no optimizations.

PyTorch has no exporter to TFLite here (that is the separate ai-edge-torch project), so LiteRT runs the
Keras models only. Each function returns the facts of one export: the exporter, its version, the opset,
the graph's node count and op histogram, the file size and the export time.
"""
from __future__ import annotations

import logging
import os
import time
from collections import Counter
from dataclasses import dataclass

import numpy as np

from cnnbench.core.deps import distribution_version
from cnnbench.core.errors import CnnbenchError

FORMATS = ("onnx", "tflite")
SUFFIX = {"onnx": ".onnx", "tflite": ".tflite"}


class ExportError(CnnbenchError):
    """An exporter refused a model or an option; the message is the exporter's one-line reason."""


def one_line(exc: BaseException) -> str:
    """The first non-empty line of an exporter's error, with its type: what a skipped case shows."""
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    return f"{type(exc).__name__}: {lines[0] if lines else ''}".rstrip(": ")[:300]


def check_request(framework: str, fmt: str, opset: int | None) -> None:
    """What each zoo exports to, and where an opset applies: one line (ExportError) before anything is built."""
    if (framework, fmt) not in EXPORTERS:
        raise ExportError(f"--format {fmt}: {NO_EXPORT.get((framework, fmt), f'{framework} does not export to {fmt}')}")
    if opset is not None and fmt != "onnx":
        raise ExportError("--opset applies to --format onnx; a TFLite file has no opset")
    if opset is not None and opset <= 0:
        raise ExportError(f"--opset: expected a positive ONNX opset number, got {opset}")


def _file_bytes(path: str) -> int:
    """The file, and the external weights beside it should an exporter have written them."""
    extra = path + ".data"
    return os.path.getsize(path) + (os.path.getsize(extra) if os.path.exists(extra) else 0)


def onnx_facts(path: str) -> dict:
    """Node count, op histogram (most frequent first) and default-domain opset of an ONNX file."""
    import onnx

    proto = onnx.load(path, load_external_data=False)
    ops = Counter(node.op_type for node in proto.graph.node)
    opset = next((o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")), None)
    return {"export_nodes": len(proto.graph.node), "export_ops": dict(ops.most_common()), "export_opset": opset,
            "export_file_bytes": _file_bytes(path)}


def tflite_facts(path: str) -> dict:
    """Operator count and histogram of a TFLite flatbuffer, read by the LiteRT interpreter."""
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:  # `cnnbench export` without the litert extra: TensorFlow's own copy of the interpreter
        from tensorflow.lite.python.interpreter import Interpreter
    ops = Counter(op["op_name"] for op in Interpreter(model_path=path)._get_ops_details())
    return {"export_nodes": sum(ops.values()), "export_ops": dict(ops.most_common()), "export_opset": None,
            "export_file_bytes": _file_bytes(path)}


def export_torch_onnx(model, x: np.ndarray, path: str, opset: int | None = None) -> dict:
    """``model`` (eval mode) to ONNX at ``path`` with the dynamo exporter, traced at ``x``'s shape (NCHW)."""
    import torch

    start = time.perf_counter()
    # their warnings (a failed opset conversion, with its traceback) become the one line below
    quiet = [logging.getLogger(name) for name in ("torch.onnx", "onnxscript")]
    levels = [q.level for q in quiet]
    for q in quiet:
        q.setLevel(logging.ERROR)
    try:
        torch.onnx.export(model, (torch.from_numpy(x),), path, dynamo=True, opset_version=opset,
                          external_data=False, verbose=False, input_names=["input"], output_names=["logits"])
    except Exception as exc:  # noqa: BLE001  (any exporter failure is the case's one-line reason)
        raise ExportError(f"torch.onnx.export (dynamo) cannot export it: {one_line(exc)}") from None
    finally:
        for q, level in zip(quiet, levels):
            q.setLevel(level)
    seconds = time.perf_counter() - start
    facts = onnx_facts(path)
    if opset is not None and facts["export_opset"] != opset:
        # the dynamo exporter translates at its own opset and converts after; a conversion it cannot make
        # is logged and the file keeps the exporter's opset: refused here, never a file of another opset
        os.remove(path)
        raise ExportError(f"torch.onnx.export (dynamo) cannot write opset {opset}: its version converter "
                          f"failed and left opset {facts['export_opset']} (it translates at opset 18 and above)")
    return {"export_format": "onnx", "exporter": "torch.onnx.export (dynamo=True)",
            "exporter_version": f"torch {torch.__version__}", "export_s": seconds, **facts}


def export_keras_onnx(model, x: np.ndarray, path: str, opset: int | None = None) -> dict:
    """A Keras model (TensorFlow backend, already called once: Keras exports only a model that has been
    called) to ONNX at ``path`` with its own exporter."""
    import tf2onnx

    start = time.perf_counter()
    try:
        model.export(path, format="onnx", verbose=False, opset_version=opset)
    except Exception as exc:  # noqa: BLE001
        raise ExportError(f"keras.Model.export(format='onnx') cannot export it: {one_line(exc)}") from None
    seconds = time.perf_counter() - start
    return {"export_format": "onnx", "exporter": "keras.Model.export(format='onnx') via tf2onnx",
            "exporter_version": f"keras {distribution_version('keras')}, tf2onnx {tf2onnx.__version__}",
            "export_s": seconds, **onnx_facts(path)}


def export_keras_tflite(model, x: np.ndarray, path: str, opset: int | None = None) -> dict:
    """A Keras model (TensorFlow backend) to a float32 TFLite flatbuffer at ``path``."""
    import tensorflow as tf

    start = time.perf_counter()
    try:
        flatbuffer = tf.lite.TFLiteConverter.from_keras_model(model).convert()
    except Exception as exc:  # noqa: BLE001
        raise ExportError(f"tf.lite.TFLiteConverter cannot convert it: {one_line(exc)}") from None
    with open(path, "wb") as f:
        f.write(flatbuffer)
    seconds = time.perf_counter() - start
    return {"export_format": "tflite", "exporter": "tf.lite.TFLiteConverter.from_keras_model (float32)",
            "exporter_version": f"tensorflow {tf.__version__}", "export_s": seconds, **tflite_facts(path)}


@dataclass(frozen=True)
class Exporter:
    """One zoo's exporter to one format: the function of this module that exports (``model``, an input it was
    called on, the path, the opset), what it imports (the worker imports it before any case) and the
    converter whose version a row records."""

    function: str
    imports: tuple[str, ...]
    converter: str | None

    def export(self, model, x: np.ndarray, path: str, opset: int | None = None) -> dict:
        return globals()[self.function](model, x, path, opset)  # looked up when called (tests replace it)


# what each zoo exports to: data, read by check_request, `cnnbench export` and the export runtimes' backend
EXPORTERS = {("torch", "onnx"): Exporter("export_torch_onnx", ("onnx",), "onnxscript"),  # under torch.onnx.export
             ("tf", "onnx"): Exporter("export_keras_onnx", ("onnx", "tf2onnx"), "tf2onnx"),  # under Keras' export
             ("tf", "tflite"): Exporter("export_keras_tflite", (), None)}
NO_EXPORT = {("torch", "tflite"): "PyTorch exports to onnx here (torch -> TFLite is the separate ai-edge-torch "
                                  "project); export the Keras model with --framework tf"}
# the packages `cnnbench export` needs for each export, and the extras that install them
EXPORT_NEEDS = {("torch", "onnx"): (("torch", "onnx", "onnxscript"), "torch,onnx"),
                ("tf", "onnx"): (("tensorflow", "keras", "onnx", "tf2onnx"), "tf,onnx"),
                ("tf", "tflite"): (("tensorflow", "keras"), "tf")}
