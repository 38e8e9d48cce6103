"""The export runtimes (docs/deploy.md): each zoo's model exported with its ecosystem's own exporter and
run in ONNX Runtime, OpenVINO and LiteRT, against the framework's own output; the case dimension that
selects them; the one-line refusals. One xdist group per runtime (tests/conftest.py, _group)."""
from __future__ import annotations

import importlib.util

import numpy as np
import pytest

import cnnbench
from cnnbench.zoo.dispatch import runtime_missing
from cnnbench.core.case import EXPORT_RUNTIMES, Case, export_of, runtime_of, split_runtime
from cnnbench.core.errors import UnsupportedCaseError
from cnnbench.core.settings import Settings
from cnnbench.harness.cases import build_cases
from cnnbench.reports.rows import parse_case_id
from conftest import ONE_THREAD, per_family

# the tolerance (#31): max |runtime - framework| <= 1e-4 of the output scale in float32
TOLERANCE = 1e-4
NEEDS = {"ort-from-torch": ("torch", "onnxruntime", "onnxscript"),
         "ort-from-keras": ("tensorflow", "onnxruntime", "tf2onnx"),
         "openvino-from-torch": ("torch", "openvino", "onnxscript"),
         "openvino-from-keras": ("tensorflow", "openvino", "tf2onnx"),
         "litert-from-keras": ("tensorflow", "ai_edge_litert")}
# besides LeNet-5, a model with BatchNorm and residual adds (resnet18) from both zoos and one with concatenated
# branches (googlenet) through OpenVINO, at their smallest inputs: the slow tier (docs/testing.md, "Two tiers";
# 37 s of CPU time in `make test` on the 2-core Zen 3 VM, 2026-12-07), where LeNet-5 goes to every engine quick.
# Each export of a larger model took 20-55 s on the 2-core reference VM under load (2026-12-05: densenet121 to
# TFLite 56 s, inception_v3 to ONNX 18 s), so the other families are measured by the harness run of
# docs/deploy.md, not here.
FAMILY = {"ort-from-torch": ("resnet18",), "ort-from-keras": ("resnet18",), "openvino-from-torch": ("googlenet",)}


def _prepared(runtime: str, model: str, monkeypatch, batch: int = 2, min_size: int = 1):
    for name in NEEDS[runtime]:
        pytest.importorskip(name)
    from cnnbench.core.analytic import min_input_size
    from cnnbench.deploy import backend

    backend.serve_runtime(runtime)
    monkeypatch.setattr(backend, "_SETTINGS", ONE_THREAD.resolved())
    size = 28 if model == "lenet5" else max(min_input_size(model), min_size)
    fw, kb = split_runtime(runtime)
    case = Case(model, fw, "inference", batch, "cpu", size, layout="nchw" if fw == "torch" else "nhwc",
                keras_backend=kb, export=export_of(runtime))
    return case, backend.prepare(case, seed=0)


# one model of every other family, exported from PyTorch and run in ONNX Runtime (the exporter every other
# runtime from torch shares), at its smallest input of at least 32 px
_ABOVE = {cnnbench.get_spec(m).family for m in ("lenet5", *(m for ms in FAMILY.values() for m in ms))}
OTHER_FAMILIES = tuple(m for m in per_family("vgg11_bn", "mobilenet_v3_small") if cnnbench.get_spec(m).family not in _ABOVE)


@pytest.mark.slow  # the quick tier exports LeNet-5 to every engine (below)
@pytest.mark.parametrize("model", OTHER_FAMILIES)
def test_every_family_exports_from_torch_with_parity(model, monkeypatch):
    """Issue #31: export + parity for one model per family. LeNet-5, ResNet-18 and GoogLeNet run above."""
    case, prep = _prepared("ort-from-torch", model, monkeypatch, batch=1, min_size=32)
    try:
        e = prep.extra
        assert e["export_parity_ok"] and e["export_parity_rel"] <= TOLERANCE, (model, e["export_parity_rel"])
        assert e["export_nodes"] == sum(e["export_ops"].values()) > 0
    finally:
        prep.cleanup()


@pytest.fixture(scope="module")
def keras_lenet_onnx():
    """LeNet-5 exported from Keras to ONNX and loaded in ONNX Runtime, once for the two tests that read it (the
    export through tf2onnx: 7 s of CPU time on the 2-core Zen 3 VM)."""
    with pytest.MonkeyPatch.context() as mp:
        case, prep = _prepared("ort-from-keras", "lenet5", mp)
        yield case, prep
        prep.cleanup()


def _check_export(case, prep, model: str) -> None:
    """Exported, loaded once, within 1e-4 of the framework's output, with the graph's facts and the engine's
    threads read back."""
    e = prep.extra
    assert e["export_parity_ok"] and e["export_parity_rel"] <= TOLERANCE, (model, e["export_parity_rel"])
    assert e["export_nodes"] == sum(e["export_ops"].values()) > 0
    assert e["export_file_bytes"] > 4 * prep.params * 0.9  # float32 weights are in the file
    assert e["setting_intra_op_threads"] == 1
    out = prep.step()
    assert out.shape == (2, 10 if model == "lenet5" else 1000)
    assert (e["export_opset"] is None) == (case.runtime == "litert-from-keras")


@pytest.mark.parametrize("runtime", EXPORT_RUNTIMES)
def test_each_export_keeps_its_frameworks_output(runtime, monkeypatch, request):
    """LeNet-5 to every engine."""
    if runtime == "ort-from-keras":
        _check_export(*request.getfixturevalue("keras_lenet_onnx"), "lenet5")
        return
    case, prep = _prepared(runtime, "lenet5", monkeypatch)
    try:
        _check_export(case, prep, "lenet5")
    finally:
        prep.cleanup()


@pytest.mark.slow  # LeNet-5 goes to every engine in the quick tier (above)
@pytest.mark.parametrize("runtime,model", [(r, m) for r, ms in FAMILY.items() for m in ms])
def test_a_larger_family_exports_with_parity(runtime, model, monkeypatch):
    """FAMILY: BatchNorm and residual adds from both zoos, concatenated branches through OpenVINO."""
    case, prep = _prepared(runtime, model, monkeypatch)
    try:
        _check_export(case, prep, model)
    finally:
        prep.cleanup()


@pytest.mark.parametrize("runtime", ["ort-from-keras"])  # its group's worker, which has the Keras export
def test_both_zoos_onnx_files_compute_the_same_function(runtime, keras_lenet_onnx):
    """The Keras model takes the PyTorch twin's weights, and both see the same images: the ONNX file
    from Keras reproduces the PyTorch model's output (not only Keras')."""
    from cnnbench.deploy.backend import _input, run_source, source_model

    case, prep = keras_lenet_onnx
    torch_model, _ = source_model("torch", "lenet5", 28, {}, seed=0)
    from cnnbench.deploy import backend

    backend.serve_runtime("ort-from-torch")
    reference = run_source("torch", torch_model, _input(case, 0))
    out = prep.step()
    assert float(np.abs(out - reference).max()) / float(np.abs(reference).max()) <= TOLERANCE


def test_training_is_refused_in_one_line(monkeypatch):
    pytest.importorskip("onnxruntime")
    from cnnbench.deploy import backend

    backend.serve_runtime("ort-from-torch")
    with pytest.raises(UnsupportedCaseError, match="^ort-from-torch is inference only"):
        backend.prepare(Case("lenet5", "torch", "train", 2, "cpu", 28, export="ort"))


def test_old_case_ids_and_dicts_are_unchanged():
    """Every existing runtime's id and to_dict stay as they were (a baseline worker accepts only the
    fields it knows); the new runtimes get their own tag."""
    old = Case("resnet18", "tf", "train", 8, "cpu", 64, layout="nhwc", keras_backend="jax")
    assert old.id == "resnet18-keras_jax-train-bs8-cpu"
    assert "export" not in old.to_dict()
    assert "export" not in Case("lenet5", "torch", "inference", 1, "cpu", 28).to_dict()
    new = Case("lenet5", "tf", "inference", 1, "cpu", 28, layout="nhwc", export="litert")
    assert new.id == "lenet5-litert_keras-inference-bs1-cpu" and new.runtime == "litert-from-keras"
    assert new.to_dict()["export"] == "litert" and Case.from_dict(new.to_dict()) == new
    assert runtime_of("torch", None, "openvino") == "openvino-from-torch"
    assert parse_case_id(new.id)["runtime"] == "litert-from-keras"
    assert parse_case_id("lenet5-ort_torch-inference-bs1-cpu")["framework"] == "torch"


def test_runtimes_option_selects_and_refuses():
    ids = [c.id for c in build_cases(models="lenet5", runtimes="torch,ort-from-torch,litert-from-keras")]
    # inference only: no training case of an export runtime is collected
    assert ids == ["lenet5-torch-inference-bs1-cpu", "lenet5-ort_torch-inference-bs1-cpu",
                   "lenet5-litert_keras-inference-bs1-cpu", "lenet5-torch-train-bs1-cpu"]
    assert [c.id for c in build_cases(models="lenet5", frameworks="torch", modes="inference")] == ids[:1]
    refusals = {"ort": "--runtimes: unknown value(s) ort; choose from torch, keras-tf",
                "torch,torch": "--runtimes: torch given 2 times",
                "": "--runtimes: no value given"}
    for value, message in refusals.items():
        with pytest.raises(ValueError, match="^" + message.replace("(", r"\(").replace(")", r"\)")):
            build_cases(models="lenet5", runtimes=value)
    with pytest.raises(ValueError, match="^--modes train: ort-from-torch is inference only"):
        build_cases(models="lenet5", runtimes="ort-from-torch", modes="train")
    with pytest.raises(ValueError, match="^--runtimes names the runtimes itself"):
        build_cases(models="lenet5", runtimes="torch", frameworks="torch")
    # all: the four framework runtimes in both modes and the five export runtimes in inference
    every = build_cases(models="lenet5", runtimes="all")
    assert len(every) == 4 * 2 + 5 and {runtime_of(c.framework, c.keras_backend, c.export) for c in every} == {
        "torch", "keras-tf", "keras-jax", "keras-torch", "ort-from-torch", "ort-from-keras", "openvino-from-torch",
        "openvino-from-keras", "litert-from-keras"}


def test_a_missing_extra_skips_with_the_install_command(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "openvino" else real(name, *a))
    assert runtime_missing("openvino-from-keras").startswith("openvino-from-keras: openvino is not installed "
                                                             '(pip install -e ".[tf,onnx,openvino]")')
    assert runtime_missing("torch") is None


def test_export_command_writes_the_file_and_refuses_bad_input_in_one_line(tmp_path, capsys):
    """`cnnbench export`: a file at the opset asked for; tflite from PyTorch, an opset the exporter cannot
    write and an unknown format each one line, exit 2."""
    pytest.importorskip("onnxscript")
    import onnx

    from cnnbench.cli import main

    out = tmp_path / "lenet5.onnx"
    assert main(["export", "lenet5", "--framework", "torch", "--format", "onnx", "--out", str(out),
                 "--opset", "19"]) == 0
    assert onnx.load(str(out)).opset_import[0].version == 19
    assert capsys.readouterr().out.startswith(f"wrote {out} (")
    assert main(["export", "lenet5", "--framework", "torch", "--format", "tflite", "--out", str(out)]) == 2
    assert capsys.readouterr().err.startswith("cnnbench: error: --format tflite: PyTorch exports to onnx here")
    # the dynamo exporter translates at opset 18 and up; 7 it cannot convert to (onnx has no Relu adapter)
    assert main(["export", "lenet5", "--framework", "torch", "--format", "onnx", "--out", str(tmp_path / "x.onnx"),
                 "--opset", "7"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1] == ("cnnbench: error: torch.onnx.export (dynamo) cannot write opset 7: its version converter "
                       "failed and left opset 18 (it translates at opset 18 and above)")
    assert not (tmp_path / "x.onnx").exists()
    with pytest.raises(SystemExit) as exit_:
        main(["export", "lenet5", "--framework", "tf", "--format", "pb", "--out", str(out)])
    assert exit_.value.code == 2


def test_ab_pairs_a_framework_with_its_export():
    """`cnnbench ab --compare-frameworks --sides torch,ort-from-torch`: the sides come from the runtimes;
    only inference is paired (the export runtime has no training case)."""
    from cnnbench.ab import pairing

    sides = pairing.parse_sides("torch,ort-from-torch")
    cases = build_cases(profile="smoke", models="lenet5", device="cpu", **pairing.framework_selection(sides))
    pairs = pairing.framework_pairs(cases, sides, Settings(), [])
    assert [p.pair_id for p in pairs] == ["inference:lenet5:bs2:cpu:torch~ort-from-torch"]
    assert pairs[0].b.case.to_dict()["export"] == "ort"


def test_the_measured_table_is_read_from_the_rows(tmp_path):
    """tools/deploy_results.py: the docs' table (results/deploy-*.json) takes every figure from the run's rows."""
    import json

    from tools.deploy_results import main

    stats = {"median": 0.002}
    info = {"model": "lenet5", "mode": "inference", "batch": 1, "input_size": 28, "device": "cpu",
            "setting_intra_op_threads": 2}
    run = {"datetime": "2026-12-05T09:00:00", "machine_info": {"cpu_logical_cores": 2}, "benchmarks": [
        {"stats": {"median": 0.004}, "extra_info": {**info, "runtime": "torch", "torch_version": "2.13.0"}},
        {"stats": stats, "extra_info": {**info, "runtime": "ort-from-torch", "export_ops": {"Relu": 4, "Gemm": 3},
                                        "export_format": "onnx", "export_opset": 20, "export_nodes": 7,
                                        "export_file_bytes": 2**20, "export_s": 1.25, "export_parity_rel": 1.3e-7,
                                        "exporter_version": "torch 2.13.0"}}]}
    (tmp_path / "run.json").write_text(json.dumps(run))
    out = tmp_path / "deploy.json"
    argv = [str(tmp_path / "run.json"), "--commit", "abc1234", "--command", "pytest bench", "--out", str(out)]
    assert main(argv) == 0
    table = json.loads(out.read_text())["tables"][0]
    assert table["rows"] == [["torch", "-", "-", "-", "-", "-", "-", "4.00", "1.00"],
                             ["ort-from-torch", "onnx opset 20", 7, "Relu 4, Gemm 3", "1.0", "1.2", "1.3e-07", "2.00",
                              "0.50"]]
    run["benchmarks"] = run["benchmarks"][:1]
    (tmp_path / "run.json").write_text(json.dumps(run))
    assert main([str(tmp_path / "run.json"), "--commit", "c", "--command", "c", "--out", str(out)]) == 2


def test_an_export_that_fails_is_a_skip_with_the_exporters_line(monkeypatch):
    """The worker classifies UnsupportedCaseError as "unsupported", which the harness records as a skipped
    case (cnnbench.harness.harness.fail_from_worker): the run goes on."""
    pytest.importorskip("onnxscript")
    from cnnbench.deploy import backend, export
    from cnnbench.worker.server import _classify

    def refuse(*args, **kwargs):
        raise export.ExportError("torch.onnx.export (dynamo) cannot export it: UnsupportedOperatorError: aten::foo")

    backend.serve_runtime("ort-from-torch")
    monkeypatch.setattr(export, "export_torch_onnx", refuse)
    with pytest.raises(UnsupportedCaseError) as exc:
        backend.prepare(Case("lenet5", "torch", "inference", 1, "cpu", 28, export="ort"))
    assert str(exc.value) == ("ort-from-torch: torch.onnx.export (dynamo) cannot export it: "
                              "UnsupportedOperatorError: aten::foo")
    assert _classify(exc.value) == "unsupported"
