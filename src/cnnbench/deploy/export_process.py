"""Export in a process of its own, cached: what keeps an export runtime's worker free of the source framework.

An engine's worker (``ort-from-torch``, ...) asks ``exported`` for its case's file. On a cache miss a child
process, ``python -m cnnbench.deploy.backend REQUEST`` (``backend.export_in_child``), builds the source zoo's model from the seed, runs
it once as the parity reference, exports it with its ecosystem's exporter and writes the file, the reference
output and the export's facts into the cache; the worker then loads the file in the engine and never imports
PyTorch or TensorFlow, so that its memory is the engine's own (issue #40; docs/deploy.md).

The cache (``CNNBENCH_EXPORT_CACHE``, default ``~/.cache/cnnbench/exports``) is keyed by the model spec's
fingerprint, the input shape, the seed, the source zoo, the format, and the exporter's and framework's versions:
a new exporter or framework version exports again. Entries are written into a temporary folder and renamed, so
a reader never sees half an export.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from cnnbench.core.deps import distribution_version

CACHE_ENV = "CNNBENCH_EXPORT_CACHE"
# the distributions whose versions change what an export writes, per (source zoo, format)
_VERSIONS = {("torch", "onnx"): ("torch", "onnx", "onnxscript"),
             ("tf", "onnx"): ("tensorflow", "tensorflow-cpu", "keras", "onnx", "tf2onnx", "torch"),
             ("tf", "tflite"): ("tensorflow", "tensorflow-cpu", "keras", "torch")}  # torch: the twin's weights


def cache_root() -> Path:
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "cnnbench" / "exports")


def cache_key(case, seed: int, source: str, fmt: str) -> tuple[str, dict]:
    """(the cache entry's name, what it was made from)."""
    from cnnbench.core.specs import get_spec

    options = dict(case.options)
    made_from = {"spec": get_spec(case.model).fingerprint(**options), "model": case.model, "batch": case.batch,
                 "input_size": case.input_size, "seed": seed, "source": source, "format": fmt,
                 "versions": {d: distribution_version(d) for d in _VERSIONS[(source, fmt)]}}
    digest = hashlib.sha256(json.dumps(made_from, sort_keys=True, default=str).encode()).hexdigest()[:20]
    return f"{case.model}-bs{case.batch}-{case.input_size}px-{source}-{fmt}-{digest}", made_from


def exported(runtime: str, case, seed: int, settings: dict, timeout: float = 1800.0) -> dict:
    """The case's export from the cache, made by a child process on a miss: {"path", "reference", "meta",
    "cache": "hit" | "miss", "process_s"}. Raises ``ExportError`` with the exporter's line when it refuses."""
    from cnnbench.core.case import export_of, split_runtime
    from cnnbench.deploy.export import ExportError

    source, fmt = split_runtime(runtime)[0], "tflite" if export_of(runtime) == "litert" else "onnx"
    name, made_from = cache_key(case, seed, source, fmt)
    entry = cache_root() / name
    hit = (entry / "meta.json").exists()
    process_s = 0.0
    if not hit:
        entry.parent.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=entry.parent))
        request = {"runtime": runtime, "case": case.to_dict(), "seed": seed, "settings": settings,
                   "out": str(work), "made_from": made_from}
        (work / "request.json").write_text(json.dumps(request))
        start = time.perf_counter()
        with open(work / "log.txt", "w") as log:
            code = subprocess.run([sys.executable, "-m", "cnnbench.deploy.backend", str(work / "request.json")],
                                  stdout=log, stderr=subprocess.STDOUT, timeout=timeout).returncode
        process_s = time.perf_counter() - start
        failed = work / "error.json"
        if code != 0 or not (work / "meta.json").exists():
            why = json.loads(failed.read_text())["message"] if failed.exists() else _tail(work / "log.txt")
            shutil.rmtree(work, ignore_errors=True)
            raise ExportError(why if failed.exists() else f"the export process exited with status {code}: {why}")
        try:
            work.rename(entry)
        except OSError:  # another process made the same entry meanwhile: theirs is as good
            shutil.rmtree(work, ignore_errors=True)
    meta = json.loads((entry / "meta.json").read_text())
    return {"path": str(entry / meta["file"]), "reference": np.load(entry / "reference.npy"), "meta": meta,
            "cache": "hit" if hit else "miss", "process_s": process_s, "entry": str(entry)}


def _tail(path: Path, lines: int = 3) -> str:
    try:
        text = [ln.strip() for ln in path.read_text(errors="replace").splitlines() if ln.strip()]
    except OSError:
        return ""
    return " | ".join(text[-lines:])[-500:]
