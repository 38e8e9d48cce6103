"""Both framework backends, and the export runtimes' (cnnbench.deploy.backend), keep the backend contract
(cnnbench.core.backend.Backend), checked by name and signature with inspect: nothing is built."""
from __future__ import annotations

import importlib
import inspect
import types

import pytest

from cnnbench.core.backend import Backend, Trainer, Zoo, conformance, members

# what cnnbench.worker, cnnbench.zoo.dispatch and cnnbench.train.loop call on a backend (read in those files)
USED = {"RUNTIME", "ALLOCATOR_PEAK_KIND", "Trainer", "configure", "preload", "warm_runtime", "versions", "effective_settings",
        "device_available", "distributed_info", "gather", "prepare", "parity_step", "gemm_peak_flops",
        "reset_allocator_peak", "allocator_peak_bytes"}


def test_the_contract_names_what_the_worker_and_train_use():
    assert set(members(Backend)) == USED
    assert set(members(Trainer)) == {"framework", "train_epoch", "predict", "save", "load"}


@pytest.mark.parametrize("module,needs", [("cnnbench.models_torch.backend", ("torch",)),
                                          ("cnnbench.models_tf.backend", ("keras", "tensorflow")),
                                          ("cnnbench.deploy.backend", ("numpy",))])
def test_both_backends_keep_the_contract(module, needs):
    for name in needs:
        pytest.importorskip(name)
    assert conformance(importlib.import_module(module)) == []


@pytest.mark.parametrize("module,needs", [("cnnbench.models_torch.backend", ("torch",)),
                                          ("cnnbench.models_tf.backend", ("keras", "tensorflow"))])
def test_both_framework_backends_keep_the_zoo_contract(module, needs):
    """What train, profile, summary, export and the export runtimes need of a zoo: on its backend."""
    for name in needs:
        pytest.importorskip(name)
    backend = importlib.import_module(module)
    assert conformance(backend, Zoo) == []
    assert (backend.FRAMEWORK, backend.INPUT_LAYOUT) in {("torch", "nchw"), ("tf", "nhwc")}


def _like(fn):
    """A stand-in with the contract method's signature, less self."""
    sig = inspect.signature(fn)

    def stub(*args, **kwargs):
        pass

    stub.__signature__ = sig.replace(parameters=list(sig.parameters.values())[1:])
    return stub


def test_a_backend_that_drifts_is_named():
    fake = types.ModuleType("fake_backend")
    for name, spec in members(Backend).items():
        setattr(fake, name, _like(spec) if inspect.isfunction(spec) else "x")
    assert conformance(fake) == []
    del fake.gather

    def gemm_peak_flops(device="cpu", math="fp32", *, n=None, trials=5):  # `math` renamed: a keyword caller breaks
        pass

    fake.gemm_peak_flops = gemm_peak_flops
    problems = conformance(fake)
    assert problems[0] == "fake_backend has no gather"
    assert problems[1].startswith("fake_backend.gemm_peak_flops(device='cpu', math='fp32', *, n=None, trials=5) "
                                  "differs from the contract's gemm_peak_flops(self, device: 'str' = 'cpu', "
                                  "math_mode: 'str' = 'fp32'")
    assert len(problems) == 2
