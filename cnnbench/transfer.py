"""Copy every weight between a PyTorch model and its Keras twin, by layer name.

Both builders give each weighted layer the same hierarchical name
(``stage1.block1.conv1``), so the copy pairs layers by name and never by
position. It converts layouts:

* conv kernels: PyTorch ``(out, in, kh, kw)`` <-> Keras ``(kh, kw, in, out)``;
* dense kernels: PyTorch ``(out, in)`` <-> Keras ``(in, out)``; a dense layer
  fed by a flatten of an ``H x W x C`` map (``H*W > 1``) also has its input
  rows permuted, because PyTorch flattens NCHW as ``(C, H, W)`` and Keras
  flattens NHWC as ``(H, W, C)``;
* BatchNorm: weight, bias, running mean, running variance <-> gamma, beta,
  moving mean, moving variance (the epsilons must agree).

Anything that does not match (a name on one side only, a different layer kind,
a shape, a BatchNorm epsilon) raises ``TransferError`` before a single weight
is written, so a failed transfer leaves the destination untouched.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from cnnbench.core.errors import TransferError


def keras_layers(model) -> dict[str, Any]:
    from cnnbench.models_tf.walk import keras_layers as walk

    return walk(model)

_KINDS = {
    "Conv2d": "conv", "Linear": "dense", "BatchNorm2d": "batchnorm",
    "Conv2D": "conv", "Dense": "dense", "BatchNormalization": "batchnorm",
}


@dataclass
class _Slot:
    """One weighted layer on one side, with arrays in PyTorch layout."""

    name: str
    kind: str
    arrays: list[np.ndarray]
    eps: float | None = None
    flatten_hwc: tuple[int, int, int] | None = None  # Keras dense after a flatten of (H, W, C)


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
    # copies, never views of the tensors: JAX (Keras' jax backend) may keep a NumPy array's buffer as
    # the variable's storage, and PyTorch training the source in place would then change the copy
    arrays = [p.detach().cpu().numpy().copy() for p in (module.weight, module.bias) if p is not None]
    if kind == "batchnorm":
        if module.weight is None or module.running_mean is None:
            raise TransferError(f"{name}: BatchNorm without affine weights or running statistics is not supported")
        arrays += [module.running_mean.cpu().numpy().copy(), module.running_var.cpu().numpy().copy()]
        return _Slot(name, kind, arrays, eps=module.eps)
    return _Slot(name, kind, arrays)


def _write_torch(module, arrays: list[np.ndarray]) -> None:
    import torch

    targets = [p for p in (module.weight, module.bias) if p is not None]
    if isinstance(module, torch.nn.BatchNorm2d):
        targets += [module.running_mean, module.running_var]
    with torch.no_grad():
        for t, a in zip(targets, arrays):
            t.copy_(torch.from_numpy(np.ascontiguousarray(a)).to(t.dtype))


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
    w = [np.asarray(v) for v in layer.get_weights()]
    if kind == "conv":
        arrays = [w[0].transpose(3, 2, 0, 1), *w[1:]]  # (kh, kw, in, out) -> (out, in, kh, kw)
        return _Slot(name, kind, arrays)
    if kind == "dense":
        hwc = _flatten_source(layer)
        kernel = w[0]
        if hwc is not None:  # rows in (H, W, C) order -> (C, H, W) order
            h, wd, c = hwc
            kernel = kernel.reshape(h, wd, c, -1).transpose(2, 0, 1, 3).reshape(h * wd * c, -1)
        return _Slot(name, kind, [kernel.T, *w[1:]], flatten_hwc=hwc)
    if not (layer.scale and layer.center):
        raise TransferError(f"{name}: BatchNormalization without scale and center is not supported")
    return _Slot(name, kind, w, eps=float(layer.epsilon))


def _keras_arrays(slot: _Slot, torch_arrays: list[np.ndarray]) -> list[np.ndarray]:
    """PyTorch-layout arrays -> Keras layout, for the Keras layer described by ``slot``."""
    if slot.kind == "conv":
        return [torch_arrays[0].transpose(2, 3, 1, 0), *torch_arrays[1:]]
    if slot.kind == "dense":
        kernel = torch_arrays[0].T  # (in, out), rows in (C, H, W) order
        if slot.flatten_hwc is not None:
            h, w, c = slot.flatten_hwc
            kernel = kernel.reshape(c, h, w, -1).transpose(1, 2, 0, 3).reshape(h * w * c, -1)
        return [kernel, *torch_arrays[1:]]
    return list(torch_arrays)


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
        if len(ts.arrays) != len(ks.arrays):
            raise TransferError(f"{name}: PyTorch holds {len(ts.arrays)} arrays, Keras {len(ks.arrays)} (bias on one side only?)")
        for i, (a, b) in enumerate(zip(ts.arrays, ks.arrays)):
            if a.shape != b.shape:
                raise TransferError(f"{name}: array {i} has shape {a.shape} in PyTorch but {b.shape} in Keras (PyTorch layout)")
        if ts.kind == "batchnorm" and not np.isclose(ts.eps, ks.eps, rtol=1e-6, atol=0):
            raise TransferError(f"{name}: BatchNorm epsilon {ts.eps} in PyTorch but {ks.eps} in Keras")
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
            layer.set_weights(_keras_arrays(ks, ts.arrays))
    elif _is_keras(src_model) and _is_torch(dst_model):
        pairs = _pair_up(dst_model, src_model)
        for _, ks, module, _ in pairs:
            _write_torch(module, ks.arrays)
    else:
        raise TransferError(
            f"transfer_weights copies between a torch.nn.Module and a keras.Model; got "
            f"{type(src_model).__name__} -> {type(dst_model).__name__}"
        )
    return sum(a.size for ts, _, _, _ in pairs for a in ts.arrays)
