"""What one measured step is: model x runtime x mode x batch x device x variant. Pure data.

``framework`` says which zoo builds the model (``torch``: the PyTorch nn.Modules; ``tf``: the Keras 3
models); ``keras_backend`` says which Keras backend runs a Keras model (``tensorflow``, ``jax`` or
``torch``). Users read the pair as one *runtime*: ``torch``, ``keras-tf``, ``keras-jax``, ``keras-torch``.

``export`` names a deployment engine that runs the zoo's model after export (docs/deploy.md): ``ort``
(ONNX Runtime), ``openvino`` or ``litert``; the runtime is then ``<engine>-from-<source>``, such as
``ort-from-torch`` (the PyTorch model through ``torch.onnx.export``) or ``litert-from-keras`` (the Keras
model on TensorFlow through the TFLite converter). Inference only: an exported graph has no training step.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

MODES = ("inference", "train")
PRECISIONS = ("fp32", "bf16", "fp16")
LAYOUTS = ("nchw", "nhwc")
KERAS_BACKENDS = ("tensorflow", "jax", "torch")
# the deployment runtimes: an engine running the exported model of one zoo (the Keras models export on TensorFlow)
EXPORT_RUNTIMES = ("ort-from-torch", "ort-from-keras", "openvino-from-torch", "openvino-from-keras",
                   "litert-from-keras")
RUNTIMES = ("torch", "keras-tf", "keras-jax", "keras-torch") + EXPORT_RUNTIMES
# PyTorch runs NCHW unless asked for channels_last; the Keras models are channels-last.
NATIVE_LAYOUT = {"torch": "nchw", "tf": "nhwc"}
_RUNTIME = {("torch", None): "torch", ("tf", "tensorflow"): "keras-tf", ("tf", "jax"): "keras-jax",
            ("tf", "torch"): "keras-torch"}
_SOURCE = {"torch": ("torch", None), "keras": ("tf", "tensorflow")}  # the zoo an export runtime exports from
_EXPORT = {rt: (rt.split("-from-")[0], *_SOURCE[rt.split("-from-")[1]]) for rt in EXPORT_RUNTIMES}
# the runtime's part of a case id: "tf" for Keras on TensorFlow keeps every saved run's ids valid; an export
# runtime's tag has no "-" (ids are split on it): "ort_torch", "litert_keras"
_ID_TAG = {"torch": "torch", "keras-tf": "tf", "keras-jax": "keras_jax", "keras-torch": "keras_torch",
           **{rt: rt.replace("-from-", "_") for rt in EXPORT_RUNTIMES}}


def runtime_of(framework: str, keras_backend: str | None = None, export: str | None = None) -> str:
    """``("tf", "jax")`` -> ``"keras-jax"``; a Keras model with no backend named runs on TensorFlow;
    ``("torch", None, "ort")`` -> ``"ort-from-torch"``."""
    if framework == "tf" and keras_backend is None:
        keras_backend = "tensorflow"
    if export is not None:
        for runtime, (engine, fw, kb) in _EXPORT.items():
            if (engine, fw, kb) == (export, framework, keras_backend if framework == "tf" else None):
                return runtime
        raise ValueError(f"no runtime for {export!r} from framework {framework!r} with Keras backend {keras_backend!r}")
    try:
        return _RUNTIME[(framework, keras_backend if framework == "tf" else None)]
    except KeyError:
        raise ValueError(f"no runtime for framework {framework!r} with Keras backend {keras_backend!r}") from None


def layout_shape(layout: str, batch: int, channels: int, size: int) -> tuple:
    """A batch of square images' shape in ``layout`` (``"nchw"`` or ``"nhwc"``)."""
    return (batch, channels, size, size) if layout == "nchw" else (batch, size, size, channels)


def to_layout(x_nchw, layout: str):
    """A NumPy batch drawn NCHW, in ``layout``: itself, or a contiguous NHWC copy."""
    return x_nchw if layout == "nchw" else x_nchw.transpose(0, 2, 3, 1).copy()


def split_runtime(runtime: str) -> tuple[str, str | None]:
    """``"keras-jax"`` -> ``("tf", "jax")``; an export runtime -> its source zoo's (``"ort-from-keras"`` ->
    ``("tf", "tensorflow")``: the worker runs Keras on TensorFlow to export)."""
    if runtime in _EXPORT:
        return _EXPORT[runtime][1:]
    for (fw, kb), name in _RUNTIME.items():
        if name == runtime:
            return fw, kb
    raise ValueError(f"unknown runtime {runtime!r}; choose from {', '.join(RUNTIMES)}")


def export_of(runtime: str) -> str | None:
    """The deployment engine of an export runtime (``"ort-from-torch"`` -> ``"ort"``); None for the others."""
    return _EXPORT[runtime][0] if runtime in _EXPORT else None


@dataclass(frozen=True)
class Case:
    model: str
    framework: str  # "torch" | "tf"
    mode: str  # "inference" | "train" | "time_to_accuracy"
    batch: int  # per worker
    device: str  # "cpu" | "cuda"
    input_size: int  # resolved, never None
    precision: str = "fp32"
    layout: str = "nchw"
    tf_jit: bool = False
    torch_compile: bool = False
    options: tuple = field(default=())  # spec options as sorted (key, value) pairs
    keras_backend: str | None = None  # "tensorflow" | "jax" | "torch" for framework "tf"
    world_size: int = 1  # data-parallel workers (weak scaling: the batch above is per worker)
    distributed: bool = False  # run by the framework's data-parallel engine (also at world size 1)
    export: str | None = None  # "ort" | "openvino" | "litert": the exported model on that engine (inference only)

    def __post_init__(self):
        if self.framework == "tf" and self.keras_backend is None:
            object.__setattr__(self, "keras_backend", "tensorflow")

    @property
    def runtime(self) -> str:
        return runtime_of(self.framework, self.keras_backend, self.export)

    @property
    def compiled(self) -> bool:
        """Whether the step is compiled: torch.compile (torch, keras-torch), XLA (keras-tf with --tf-jit);
        Keras on JAX always runs a jax.jit-compiled step."""
        if self.runtime == "keras-jax":
            return True
        if self.export is not None:
            return False
        return self.tf_jit if self.runtime == "keras-tf" else self.torch_compile

    @property
    def id(self) -> str:
        parts = [self.model, _ID_TAG[self.runtime], self.mode, f"bs{self.batch}", self.device]
        if self.precision != "fp32":
            parts.append(self.precision)
        if self.layout != NATIVE_LAYOUT[self.framework]:
            parts.append(self.layout)
        if self.tf_jit and self.runtime == "keras-tf":
            parts.append("xla")
        if self.torch_compile and self.runtime in ("torch", "keras-torch"):
            parts.append("compiled")
        if self.distributed or self.world_size != 1:
            parts.append(f"ws{self.world_size}")
        return "-".join(parts)

    @property
    def group(self) -> str:
        return f"{self.mode}:{self.model}:bs{self.batch}:{self.device}"

    @property
    def options_text(self) -> str:
        """Spec options as plain text, ``"aux_logits=True,dropout=0.3"`` (pytest-benchmark params)."""
        return ",".join(f"{k}={v}" for k, v in self.options)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["options"] = [list(kv) for kv in self.options]
        if not d["distributed"]:
            # added after the committed CI baseline: its workers (a paired A/B comparison runs that commit's
            # worker code) accept only the fields they know, so a default value is left out
            del d["distributed"]
        if d["export"] is None:  # the same: added after the baseline, left out for today's runtimes
            del d["export"]
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "Case":
        d = dict(d)
        d["options"] = tuple(tuple(kv) for kv in d.get("options") or ())
        return cls(**d)
