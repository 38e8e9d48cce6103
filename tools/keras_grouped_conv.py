"""Why is Keras-on-TensorFlow's RegNetY training step 20x PyTorch's on a CPU? Its grouped convolutions.

    python tools/keras_grouped_conv.py --out results/keras-grouped-conv-xla-2026-12-06.json

Keras 3 on TensorFlow sends every grouped convolution (groups neither 1 nor the input's channels) through
a function compiled with XLA, on every device ("grouped convolutions are broken on CPU without XLA":
``conv`` in keras/src/backend/tensorflow/nn.py). This measures what that costs, at RegNetY-400MF's four
grouped 3x3 convolutions (group width 8, batch 1, 224 px input), each way in a process of its own:

* Keras' ``Conv2D(groups=g)`` layer: forward, and forward with the gradients of input and kernel;
* TensorFlow's own grouped convolution, ``tf.nn.conv2d`` with the same kernel, no XLA, with oneDNN on
  and off (``TF_ENABLE_ONEDNN_OPTS``), its outputs and gradients checked against the layer's;
* PyTorch's ``conv2d(groups=g)``, forward and both gradients;

and the suite's own RegNetY-400MF training step (``make_train_step``, batch 1, 224 px) as Keras runs it
and with Keras' ``conv`` calling TensorFlow's grouped convolution directly (the patch exists only in this
tool's process). Every time is the median of 20 calls after two, with the result read back.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# RegNetY-400MF's grouped 3x3 convolutions at 224 px: (channels, spatial size, groups); group width 8
SHAPES = [(48, 56, 6), (104, 28, 13), (208, 14, 26), (440, 7, 55)]
CALLS = 20


def _median_ms(fn, calls: int = CALLS) -> float:
    fn()
    fn()
    times = []
    for _ in range(calls):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1e3 * statistics.median(times)


def _tf_child(train_step: bool) -> dict:
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    import keras
    import numpy as np
    import tensorflow as tf

    out = {"onednn": os.environ.get("TF_ENABLE_ONEDNN_OPTS"), "tensorflow": tf.__version__,
           "keras": keras.__version__, "shapes": []}
    for channels, size, groups in SHAPES:
        layer = keras.layers.Conv2D(channels, 3, padding="same", groups=groups, use_bias=False)
        x = tf.random.stateless_normal([1, size, size, channels], seed=[1, 2])
        layer.build(x.shape)
        kernel = layer.kernel

        def grads(conv):
            @tf.function
            def run(x):
                with tf.GradientTape() as tape:
                    tape.watch(x)
                    y = conv(x)
                    loss = tf.reduce_sum(y * y)
                return (y, *tape.gradient(loss, [x, kernel]))
            return run

        keras_fb = grads(lambda x: layer(x))
        tf_fb = grads(lambda x: tf.nn.conv2d(x, kernel, 1, "SAME"))
        keras_fwd = tf.function(lambda x: layer(x))
        row = {"channels": channels, "size": size, "groups": groups,
               "keras_fwd_ms": _median_ms(lambda: np.asarray(keras_fwd(x))),
               "keras_fwd_bwd_ms": _median_ms(lambda: [np.asarray(t) for t in keras_fb(x)])}
        try:
            row["tf_fwd_bwd_ms"] = _median_ms(lambda: [np.asarray(t) for t in tf_fb(x)])
            ref, got = keras_fb(x), tf_fb(x)
            row["tf_max_rel_diff"] = max(float(tf.reduce_max(tf.abs(a - b)) / tf.reduce_max(tf.abs(a)))
                                         for a, b in zip(ref, got))
        except Exception as exc:  # noqa: BLE001  (TensorFlow's own kernel may refuse groups: say so)
            lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
            said = [line for line in lines if not line.startswith(("[[", "File", "Graph execution", "Detected at"))]
            node = next((line.split("node ")[1].split()[0].strip("{}[]") for line in lines if "{{node " in line), "")
            said = f"{node}: {said[-1]}" if said else (lines[0] if lines else "")
            row["tf_error"] = f"{type(exc).__name__}: {said[:160]}"
        out["shapes"].append(row)
    if train_step:
        out["train_step"] = _train_step()
    return out


def _train_step() -> dict:
    """The suite's RegNetY-400MF training step, as Keras runs it and with Keras' conv not sent to XLA."""
    import numpy as np
    import tensorflow as tf
    from keras.src.backend.tensorflow import nn as keras_tf_nn

    from cnnbench.models_tf.backend import build
    from cnnbench.models_tf.steps import make_train_step

    x = tf.constant(np.random.default_rng(0).random((1, 224, 224, 3), "float32"))
    y = tf.constant(np.array([3], "int32"))
    times = {}
    keras_conv = keras_tf_nn.conv

    def direct_conv(inputs, kernel, strides=1, padding="valid", data_format=None, dilation_rate=1):
        if data_format not in (None, "channels_last") or len(inputs.shape) != 4:
            return keras_conv(inputs, kernel, strides, padding, data_format, dilation_rate)
        return tf.nn.convolution(inputs, kernel, strides=strides, padding=padding.upper(), data_format="NHWC",
                                 dilations=dilation_rate)

    for how, conv in (("as Keras runs it (grouped convolutions through XLA)", keras_conv),
                      ("Keras' conv calling tf.nn.convolution directly (no XLA)", direct_conv)):
        keras_tf_nn.conv = conv
        try:
            model = build("regnet_y_400mf", input_size=224)
            step = make_train_step(model, lr=0.01, momentum=0.9)
            times[how] = _median_ms(lambda: float(step(x, y)[0]), calls=5)
        finally:
            keras_tf_nn.conv = keras_conv
    return times


def _torch_child() -> dict:
    import torch

    out = {"torch": torch.__version__, "threads": torch.get_num_threads(), "shapes": []}
    for channels, size, groups in SHAPES:
        x = torch.randn(1, channels, size, size, requires_grad=True)
        w = torch.randn(channels, channels // groups, 3, 3, requires_grad=True)

        def fwd():
            with torch.no_grad():
                torch.nn.functional.conv2d(x, w, padding=1, groups=groups)

        def fwd_bwd():
            y = torch.nn.functional.conv2d(x, w, padding=1, groups=groups)
            torch.autograd.grad((y * y).sum(), [x, w])

        out["shapes"].append({"channels": channels, "size": size, "groups": groups,
                              "fwd_ms": _median_ms(fwd), "fwd_bwd_ms": _median_ms(fwd_bwd)})
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python tools/keras_grouped_conv.py", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", help="write a result file (results/<slug>.json; python tools/results_pages.py renders it)")
    p.add_argument("--child", choices=["tf", "tf-step", "torch"], help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    if a.child:
        print(json.dumps(_torch_child() if a.child == "torch" else _tf_child(train_step=a.child == "tf-step")))
        return 0
    began = time.time()
    from provenance import child_json

    src = {"PYTHONPATH": str(ROOT / "src")}
    on = child_json(__file__, ["--child", "tf-step"], "TensorFlow (oneDNN on)", {**src, "TF_ENABLE_ONEDNN_OPTS": "1"})
    off = child_json(__file__, ["--child", "tf"], "TensorFlow (oneDNN off)", {**src, "TF_ENABLE_ONEDNN_OPTS": "0"})
    pt = child_json(__file__, ["--child", "torch"], "PyTorch", src)
    rows = []
    for k, t, q in zip(on["shapes"], off["shapes"], pt["shapes"]):  # oneDNN on, off; PyTorch
        shape = f"{k['channels']} ch, {k['size']}x{k['size']}, {k['groups']} groups"

        def own(r):
            if "tf_error" in r:
                return f"fails: {r['tf_error']}"
            return f"{r['tf_fwd_bwd_ms']:.2f} (rel. diff {r['tf_max_rel_diff']:.0e})"
        rows.append([shape, f"{k['keras_fwd_ms']:.2f}", f"{k['keras_fwd_bwd_ms']:.2f}", own(k), own(t),
                     f"{q['fwd_ms']:.2f}", f"{q['fwd_bwd_ms']:.2f}",
                     f"{k['keras_fwd_bwd_ms'] / q['fwd_bwd_ms']:.0f}x"])
    columns = ["grouped 3x3 conv", "Keras layer fwd ms", "Keras layer fwd+grads ms",
               "tf.nn.conv2d fwd+grads ms, oneDNN on", "tf.nn.conv2d fwd+grads ms, oneDNN off",
               "PyTorch fwd ms", "PyTorch fwd+grads ms", "Keras / PyTorch, fwd+grads"]
    step_rows = [[how, f"{ms:.0f}"] for how, ms in on["train_step"].items()]
    for r in rows + step_rows:
        print("  ".join(r))
    if not a.out:
        return 0
    from provenance import result, write

    doc = result(
        "Keras on TensorFlow sends grouped convolutions through XLA: what it costs a RegNetY training step on a CPU",
        began, "keras_grouped_conv.py", f"python tools/keras_grouped_conv.py --out {a.out}",
        versions={"tensorflow": on["tensorflow"], "keras": on["keras"], "torch": pt["torch"]},
        settings=f"every core ({pt['threads']} PyTorch threads), float32, batch 1; TensorFlow with oneDNN on "
                 "(this CPU's default) unless the column says off",
        tables=[{"caption": "RegNetY-400MF's four grouped convolutions at 224 px (median of 20 calls)",
                 "columns": columns, "align": ["left"] + ["right"] * (len(columns) - 1), "rows": rows},
                {"caption": "The suite's RegNetY-400MF training step, Keras on TensorFlow, batch 1, 224 px, oneDNN on "
                            "(median of 5 steps)",
                 "columns": ["Keras' grouped convolutions", "step ms"], "align": ["left", "right"],
                 "rows": step_rows}],
        facts={"wall time": f"{time.time() - began:.0f} s"})
    write(doc, a.out)
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT / "src"))
    sys.exit(main())
