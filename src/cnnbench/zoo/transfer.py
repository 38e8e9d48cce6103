"""Copy every weight between a PyTorch model and its Keras twin, by layer name.

Both builders give each weighted layer the same hierarchical name
(``stage1.block1.conv1``), so the copy pairs layers by name and never by
position. It converts layouts:

* conv kernels: PyTorch ``(out, in, kh, kw)`` <-> Keras ``(kh, kw, in, out)`` (grouped: ``in`` is the
  input channels per group on both sides);
* depthwise kernels: PyTorch ``(C * M, 1, kh, kw)`` (a conv with ``groups=C``) <-> Keras
  ``DepthwiseConv2D``'s ``(kh, kw, C, M)``, M outputs per input channel, output ``c * M + m`` on both sides;
* dense kernels: PyTorch ``(out, in)`` <-> Keras ``(in, out)``; a dense layer
  fed by a flatten of an ``H x W x C`` map (``H*W > 1``) also has its input
  rows permuted, because PyTorch flattens NCHW as ``(C, H, W)`` and Keras
  flattens NHWC as ``(H, W, C)``;
* BatchNorm: weight, bias, running mean, running variance <-> gamma, beta,
  moving mean, moving variance (the epsilons must agree); LayerNorm: weight, bias <-> gamma, beta (the
  epsilons must agree); layer scale: its per-channel weight, as it is.

Anything that does not match (a name on one side only, a different layer kind,
a shape, a BatchNorm epsilon) raises ``TransferError`` before a single weight
is written, so a failed transfer leaves the destination untouched.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from cnnbench.core.errors import TransferError


def keras_layers(model) -> dict[str, Any]:
    from cnnbench.models_tf.walk import keras_layers as walk

    return walk(model)

_KINDS = {
    "Conv2d": "conv", "Linear": "dense", "PointwiseLinear": "dense", "BatchNorm2d": "batchnorm",
    "LayerNorm": "layernorm", "LayerNorm2d": "layernorm",
    "Conv2D": "conv", "DepthwiseConv2D": "conv", "Dense": "dense", "BatchNormalization": "batchnorm",
    "LayerNormalization": "layernorm",
    "LayerScale": "scale",  # the same class name in both frameworks
}


@dataclass
class _Slot:
    """One weighted layer on one side: its arrays' shapes in PyTorch layout, and how to read the
    arrays in that layout (only the source side is ever read: checking needs only shapes)."""

    name: str
    kind: str
    shapes: list[tuple[int, ...]]
    read: Callable[[], list[np.ndarray]]
    eps: float | None = None
    flatten_hwc: tuple[int, int, int] | None = None  # Keras dense after a flatten of (H, W, C)
    depthwise_channels: int = 0  # a Keras DepthwiseConv2D of C input channels (kernel (kh, kw, C, M)): C


def _derives_from(model: Any, module: str, cls: str) -> bool:
    # by name, so that checking a model never imports the other framework
    return any(c.__module__.startswith(module) and c.__name__ == cls for c in type(model).__mro__)


def _is_torch(model: Any) -> bool:
    # a Keras model on Keras' torch backend is a torch.nn.Module too: it counts as Keras here
    return _derives_from(model, "torch.nn", "Module") and not _is_keras(model)


def _is_keras(model: Any) -> bool:
    return _derives_from(model, "keras", "Model")


# ------------------------------------------------------------------ PyTorch side
def _torch_modules(model) -> dict[str, Any]:
    out = {}
    for name, module in model.named_modules():
        own = list(module.parameters(recurse=False))
        kind = _KINDS.get(type(module).__name__)
        if kind is None:
            if own:
                raise TransferError(f"PyTorch layer {name!r} ({type(module).__name__}) has weights of an unsupported kind")
            continue
        out[name] = module
    return out


def _torch_slot(name: str, module) -> _Slot:
    kind = _KINDS[type(module).__name__]
    tensors = [p for p in (module.weight, module.bias) if p is not None]
    eps = None
    if kind == "batchnorm":
        if module.weight is None or module.running_mean is None:
            raise TransferError(f"{name}: BatchNorm without affine weights or running statistics is not supported")
        tensors += [module.running_mean, module.running_var]
        eps = module.eps
    if kind == "layernorm":
        if module.weight is None or module.bias is None:
            raise TransferError(f"{name}: LayerNorm without affine weights is not supported")
        eps = module.eps
    # views of the tensors: the writer copies them (see _fresh)
    return _Slot(name, kind, [tuple(t.shape) for t in tensors], lambda: [t.detach().cpu().numpy() for t in tensors],
                 eps=eps)


def _write_torch(module, arrays: list[np.ndarray]) -> None:
    import torch

    targets = [p for p in (module.weight, module.bias) if p is not None]
    if isinstance(module, torch.nn.BatchNorm2d):
        targets += [module.running_mean, module.running_var]
    with torch.no_grad():
        for t, a in zip(targets, arrays):
            t.copy_(torch.from_numpy(a))  # strided views are fine: copy_ converts layout and dtype


# ------------------------------------------------------------------ Keras side
def _flatten_source(layer) -> tuple[int, int, int] | None:
    """(H, W, C) when a Dense layer reads a Flatten of a spatial map with H*W > 1."""
    import keras

    try:
        producer = layer.input._keras_history.operation
    except (AttributeError, ValueError):
        return None
    while isinstance(producer, keras.layers.Dropout):  # dropout keeps the order
        producer = producer.input._keras_history.operation
    if isinstance(producer, keras.layers.Flatten):
        shape = tuple(producer.input.shape[1:])
        if len(shape) == 3 and shape[0] * shape[1] > 1:
            return shape
    return None


def _keras_slot(name: str, layer) -> _Slot:
    kind = _KINDS[type(layer).__name__]
    shapes = [tuple(int(d) for d in v.shape) for v in layer.weights]
    if type(layer).__name__ == "DepthwiseConv2D":  # (kh, kw, C, M) -> (C * M, 1, kh, kw)
        kh, kw, c, m = shapes[0]
        shapes[0] = (c * m, 1, kh, kw)

        def read():
            w = layer.get_weights()
            return [w[0].transpose(2, 3, 0, 1).reshape(c * m, 1, kh, kw), *w[1:]]

        return _Slot(name, kind, shapes, read, depthwise_channels=c)
    if kind == "conv":  # (kh, kw, in, out) -> (out, in, kh, kw)
        shapes[0] = (shapes[0][3], shapes[0][2], shapes[0][0], shapes[0][1])

        def read():
            w = layer.get_weights()
            return [w[0].transpose(3, 2, 0, 1), *w[1:]]

        return _Slot(name, kind, shapes, read)
    if kind == "dense":  # (in, out) -> (out, in)
        shapes[0] = shapes[0][::-1]
        hwc = _flatten_source(layer)

        def read():
            w = layer.get_weights()
            kernel = w[0]
            if hwc is None:
                return [kernel.T, *w[1:]]
            h, wd, c = hwc  # rows in (H, W, C) order -> PyTorch's (out, C*H*W)
            return [_hwc_rows_to_torch(kernel, h, wd, c), *w[1:]]

        return _Slot(name, kind, shapes, read, flatten_hwc=hwc)
    if kind == "scale":
        return _Slot(name, kind, shapes, lambda: list(layer.get_weights()))
    if not (layer.scale and layer.center):
        raise TransferError(f"{name}: {type(layer).__name__} without scale and center is not supported")
    return _Slot(name, kind, shapes, lambda: list(layer.get_weights()), eps=float(layer.epsilon))


# The dense layer after a flatten: PyTorch's kernel is (out, C*H*W), Keras' (H*W*C, out). One 4-D
# permuted copy moves `out` from first to last with every other axis reordered, which no copy does
# cache-friendly: VGG's 102.8M-weight first dense layer took 2.1 s that way on one core here. Two copies
# do it in 0.66 s: a plain 2-D transpose (PyTorch's tiled copy; a torch model is on one side of every
# transfer), and a reorder of whole rows of `out` contiguous floats.
def _chw_rows_to_keras(kernel: np.ndarray, c: int, h: int, w: int) -> np.ndarray:
    """(out, C*H*W) -> (H*W*C, out)."""
    import torch

    rows = torch.from_numpy(kernel).t().contiguous()  # (C*H*W, out)
    return rows.reshape(c, h * w, -1).transpose(0, 1).contiguous().reshape(h * w * c, -1).numpy()


def _hwc_rows_to_torch(kernel: np.ndarray, h: int, w: int, c: int) -> np.ndarray:
    """(H*W*C, out) -> (out, C*H*W)."""
    import torch

    rows = torch.from_numpy(kernel).reshape(h * w, c, -1).transpose(0, 1).contiguous()  # (C, H*W, out)
    return rows.reshape(c * h * w, -1).t().contiguous().numpy()


def _keras_arrays(slot: _Slot, torch_arrays: list[np.ndarray]) -> list[np.ndarray]:
    """PyTorch-layout arrays -> Keras layout, for the Keras layer described by ``slot``."""
    if slot.depthwise_channels:  # (C * M, 1, kh, kw) -> (kh, kw, C, M)
        c_m, _, kh, kw = torch_arrays[0].shape
        c = slot.depthwise_channels
        return [torch_arrays[0].reshape(c, c_m // c, kh, kw).transpose(2, 3, 0, 1), *torch_arrays[1:]]
    if slot.kind == "conv":
        return [torch_arrays[0].transpose(2, 3, 1, 0), *torch_arrays[1:]]
    if slot.kind == "dense":
        kernel = torch_arrays[0]  # (out, in), in in (C, H, W) order
        if slot.flatten_hwc is not None:
            h, w, c = slot.flatten_hwc  # -> (in, out), in in (H, W, C) order: two cache-friendly copies
            return [_chw_rows_to_keras(kernel, c, h, w), *torch_arrays[1:]]
        return [kernel.T, *torch_arrays[1:]]
    return list(torch_arrays)


def _fresh(array: np.ndarray, source: list[np.ndarray]) -> np.ndarray:
    """A C-contiguous array that shares no memory with the source model's tensors: JAX (Keras' jax
    backend) may keep a NumPy buffer as the variable's storage, and PyTorch training the source in
    place would then change the copy. Copies only what is still a view."""
    out = np.ascontiguousarray(array)
    return out.copy() if any(np.may_share_memory(out, s) for s in source) else out


# ------------------------------------------------------------------ the copy
def _pair_up(torch_model, keras_model) -> list[tuple[_Slot, _Slot, Any, Any]]:
    tmods = _torch_modules(torch_model)
    klayers = {n: l for n, l in keras_layers(keras_model).items() if l.weights}
    unsupported = [n for n, l in klayers.items() if type(l).__name__ not in _KINDS]
    if unsupported:
        raise TransferError(f"Keras layers with weights of an unsupported kind: {', '.join(unsupported[:5])}")
    only_t, only_k = sorted(set(tmods) - set(klayers)), sorted(set(klayers) - set(tmods))
    if only_t or only_k:
        raise TransferError(
            "the two models do not have the same weighted layers; "
            f"only in PyTorch: {only_t[:8] or 'none'}{' ...' if len(only_t) > 8 else ''}; "
            f"only in Keras: {only_k[:8] or 'none'}{' ...' if len(only_k) > 8 else ''}"
        )
    pairs = []
    for name, module in tmods.items():
        ts, ks = _torch_slot(name, module), _keras_slot(name, klayers[name])
        if ts.kind != ks.kind:
            raise TransferError(f"{name}: PyTorch has a {ts.kind} layer, Keras a {ks.kind} layer")
        if len(ts.shapes) != len(ks.shapes):
            raise TransferError(f"{name}: PyTorch holds {len(ts.shapes)} arrays, Keras {len(ks.shapes)} (bias on one side only?)")
        for i, (a, b) in enumerate(zip(ts.shapes, ks.shapes)):
            if a != b:
                raise TransferError(f"{name}: array {i} has shape {a} in PyTorch but {b} in Keras (PyTorch layout)")
        if ts.kind in ("batchnorm", "layernorm") and not np.isclose(ts.eps, ks.eps, rtol=1e-6, atol=0):
            norm = {"batchnorm": "BatchNorm", "layernorm": "LayerNorm"}[ts.kind]
            raise TransferError(f"{name}: {norm} epsilon {ts.eps} in PyTorch but {ks.eps} in Keras")
        pairs.append((ts, ks, module, klayers[name]))
    return pairs


def transfer_weights(src_model: Any, dst_model: Any) -> int:
    """Copy every weight from ``src_model`` to ``dst_model`` (PyTorch -> Keras or Keras -> PyTorch).

    Returns the number of scalars copied. Raises ``TransferError`` on any
    mismatch, before anything is written.
    """
    if _is_torch(src_model) and _is_keras(dst_model):
        pairs = _pair_up(src_model, dst_model)
        for ts, ks, _, layer in pairs:
            source = ts.read()
            layer.set_weights([_fresh(a, source) for a in _keras_arrays(ks, source)])
    elif _is_keras(src_model) and _is_torch(dst_model):
        pairs = _pair_up(dst_model, src_model)
        for _, ks, module, _ in pairs:
            _write_torch(module, ks.read())
    else:
        raise TransferError(
            f"transfer_weights copies between a torch.nn.Module and a keras.Model; got "
            f"{type(src_model).__name__} -> {type(dst_model).__name__}"
        )
    return sum(int(np.prod(shape)) for ts, _, _, _ in pairs for shape in ts.shapes)
