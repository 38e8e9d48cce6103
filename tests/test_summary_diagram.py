"""`cnnbench summary` and `cnnbench diagram` for every registered model, in both frameworks."""
from __future__ import annotations

import shutil
import xml.etree.ElementTree as ET

import pytest

from cnnbench import list_models
from cnnbench.cli import main as cli_main
from model_outputs import CLASSES, small_size
from references import BN_STATISTICS

HAS_DOT = shutil.which("dot") is not None


def test_summary_totals_and_rows_match_across_frameworks(small_pair):
    from cnnbench.core.analytic import build_graph
    from cnnbench.inspection.model_summary import identical, summarize

    # the models built once at a small input and class count: the rows' shapes must agree at any size
    # (the default-size shapes and counts against the references are tests/test_models.py's)
    name, tm, km = small_pair
    size = small_size(name)
    before = {n: b.clone() for n, b in tm.state_dict().items()}
    t = summarize(name, "torch", input_size=size, num_classes=CLASSES, model=tm)
    k = summarize(name, "tf", input_size=size, num_classes=CLASSES, model=km)
    # the model is left as it was found: its forward pass in training mode (so that auxiliary heads
    # run) must not keep the BatchNorm statistics it updated
    assert not tm.training and all(bool((b == before[n]).all()) for n, b in tm.state_dict().items())
    assert t.trainable == k.trainable == build_graph(name, input_size=size, num_classes=CLASSES).params
    if name in BN_STATISTICS:
        assert t.non_trainable == k.non_trainable == BN_STATISTICS[name]
    assert identical(t, k), name
    assert [r.name for r in t.rows] == [r.name for r in k.rows]
    assert t.layout == "NCHW" and k.layout == "NHWC"
    assert all(len(r.shape) > 1 for r in t.rows + k.rows)  # every layer ran and has an output shape


@pytest.mark.slow  # another option set of a family, built at its default size (docs/testing.md, "Two tiers")
def test_summary_of_keras_applications_resnet50_options(torch_mod, keras_mod, capsys):
    # keras.applications.ResNet50(weights=None).summary(): Total 25,636,712; Trainable 25,583,592;
    # Non-trainable 53,120
    opts = ["--option", "stride_in_1x1=true", "--option", "conv_bias=true", "--option", "bn_eps=1.001e-5"]
    assert cli_main(["summary", "resnet50", "--framework", "tf", *opts]) == 0
    out = capsys.readouterr().out
    assert "Total params: 25,636,712" in out
    assert "Trainable params: 25,583,592" in out
    assert "Non-trainable params: 53,120" in out
    assert "stage1.block1.conv1 (Conv2D)" in out and "(None, 56, 56, 64)" in out


def test_summary_both_prints_side_by_side(torch_mod, keras_mod, capsys):
    assert cli_main(["summary", "lenet5"]) == 0
    out = capsys.readouterr().out
    # seed 000: Keras LeNet-5 summary, "Total params: 61,706", conv 156 / 2,416, dense 10,164 / 850
    assert "Total params: PyTorch 61,706 | Keras 61,706" in out
    assert "(None, 6, 28, 28)" in out and "(None, 28, 28, 6)" in out
    for count in ("156", "2,416", "10,164", "850"):
        assert count in out
    assert "Rows identical in both frameworks: yes (12 layers)" in out


def test_summary_bad_input(capsys):
    assert cli_main(["summary", "resnet5"]) == 2
    assert "resnet50" in capsys.readouterr().err  # the list of known names
    assert cli_main(["summary", "vgg16", "--input-size", "16", "--framework", "torch"]) == 2
    err = capsys.readouterr().err
    assert "vgg16" in err and "the minimum input size is 32" in err


@pytest.mark.skipif(not HAS_DOT, reason="Graphviz `dot` is not installed (apt-get install graphviz)")
@pytest.mark.parametrize("name", list_models())
def test_diagram_of_every_model(name, tmp_path):
    from cnnbench.core.analytic import build_graph

    out = tmp_path / f"{name}.svg"
    assert cli_main(["diagram", name, "--out", str(out)]) == 0
    svg = out.read_text()
    root = ET.fromstring(svg)  # well-formed SVG
    assert root.tag.endswith("svg")
    g = build_graph(name)
    assert f"{g.params:,} params" in svg  # the title carries the model's parameter count
    nodes = svg.count('class="node"')
    assert 8 <= nodes <= 160, nodes  # legible: long networks collapse, short ones show every layer
    for token in _block_kinds(g):
        assert token in svg, f"{name}: its graph has {token!r}, its diagram does not"


def _block_kinds(graph) -> set[str]:
    """What a diagram must show of a model, read from its analytic graph's layer kinds (not its name): each
    merge (with the red skip edge of a residual add), each kind of depthwise or grouped conv by kernel and
    stride, each activation function, squeeze-and-excitation's channel scaling, drop path, LayerNorm and
    layer scale."""
    tokens = set()
    for layer in graph.layers:
        a = layer.attrs
        if layer.kind == "add":
            tokens |= {"add", "#d32f2f"}
        elif layer.kind in ("concat", "mul", "droppath", "layernorm", "scale"):
            tokens.add(layer.kind)
        elif layer.kind == "activation":
            tokens.add(a["fn"])
        elif layer.kind == "conv" and a.get("groups", 1) > 1:
            k, s = (v[0] if isinstance(v, (tuple, list)) else v for v in (a["kernel"], a.get("stride", 1)))
            depthwise = a["groups"] == layer.in_shapes[0][0]
            tokens.add(f"dwconv {k}x{k}/{s}" if depthwise else f"conv {k}x{k}/{s} g{a['groups']}")
    return tokens


@pytest.mark.skipif(not HAS_DOT, reason="Graphviz `dot` is not installed (apt-get install graphviz)")
def test_diagram_expand_and_formats(tmp_path):
    from cnnbench.core.analytic import build_graph

    collapsed = tmp_path / "r152.svg"
    expanded = tmp_path / "r152-full.svg"
    assert cli_main(["diagram", "resnet152", "--out", str(collapsed)]) == 0
    assert cli_main(["diagram", "resnet152", "--expand", "--out", str(expanded)]) == 0
    n_layers = len(build_graph("resnet152").layers)
    assert expanded.read_text().count('class="node"') == n_layers + 1  # every layer + the input
    assert collapsed.read_text().count('class="node"') < n_layers / 3
    for fmt, magic in (("png", b"\x89PNG"), ("pdf", b"%PDF")):
        path = tmp_path / f"lenet5.{fmt}"
        assert cli_main(["diagram", "lenet5", "--format", fmt, "--out", str(path)]) == 0
        assert path.read_bytes().startswith(magic) and path.stat().st_size > 2000
    tf_svg = tmp_path / "lenet5-tf.svg"
    assert cli_main(["diagram", "lenet5", "--framework", "tf", "--out", str(tf_svg)]) == 0
    assert "28x28x6" in tf_svg.read_text()  # Keras labels are H x W x C


def test_diagram_without_graphviz_says_how_to_install(tmp_path, monkeypatch, capsys):
    import cnnbench.inspection.diagram as diagram

    monkeypatch.setattr(diagram.shutil, "which", lambda _: None)
    assert cli_main(["diagram", "lenet5", "--out", str(tmp_path / "x.svg")]) == 2
    assert "apt-get install graphviz" in capsys.readouterr().err
    assert cli_main(["diagram", "lenet5", "--format", "dot", "--out", str(tmp_path / "x.dot")]) == 0
    assert (tmp_path / "x.dot").read_text().startswith("digraph")
