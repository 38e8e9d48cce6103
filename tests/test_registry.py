"""The framework-free core: registry, spec table, analytic graph, clear errors."""
from __future__ import annotations

import subprocess
import sys

import pytest

import cnnbench
from cnnbench.core.analytic import build_graph, min_input_size
from references import MIN_INPUT, PARAMS, VARIANT_PARAMS

ALL = cnnbench.list_models()


def test_every_registered_model_has_a_reference_count_and_vice_versa():
    assert set(ALL) == set(PARAMS)


def test_list_models_with_wildcards():
    assert cnnbench.list_models("resnet*") == ["resnet18", "resnet34", "resnet50", "resnet101", "resnet152"]
    assert cnnbench.list_models("vgg*_bn") == ["vgg11_bn", "vgg13_bn", "vgg16_bn", "vgg19_bn"]
    assert cnnbench.list_models("nothing*") == []


def test_core_imports_no_framework():
    code = (
        "import sys, cnnbench, cnnbench.core.analytic, cnnbench.transfer; "
        "print(cnnbench.list_models()); "
        "bad = [m for m in ('torch', 'tensorflow', 'keras') if m in sys.modules]; "
        "sys.exit(f'imported {bad}' if bad else 0)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "resnet50" in out.stdout


def test_registering_a_name_twice_is_refused():
    from cnnbench.registry import register

    with pytest.raises(ValueError, match="already registered"):
        register(cnnbench.get_spec("resnet50"))


@pytest.mark.parametrize("name", ALL)
def test_spec_reference_matches_the_test_table(name):
    assert cnnbench.get_spec(name).reference_params == PARAMS[name]


@pytest.mark.parametrize("name", ALL)
def test_analytic_parameter_count(name):
    assert build_graph(name).params == PARAMS[name]


@pytest.mark.parametrize("name,options,params,source", VARIANT_PARAMS)
def test_analytic_variant_parameter_count(name, options, params, source):
    assert build_graph(name, **options).params == params, source


@pytest.mark.parametrize("name,minimum", sorted(MIN_INPUT.items()))
def test_minimum_input_size(name, minimum):
    assert min_input_size(name) == minimum
    build_graph(name, input_size=minimum)
    with pytest.raises(cnnbench.InputTooSmallError, match=f"minimum input size for {name} is {minimum}"):
        build_graph(name, input_size=minimum - 1)


# ------------------------------------------------------------------ bad input, clear errors
def test_unknown_model_lists_known_names_and_suggests():
    with pytest.raises(cnnbench.UnknownModelError) as err:
        cnnbench.get_model("resnet05", "torch")
    msg = str(err.value)
    assert "Did you mean 'resnet50'?" in msg
    assert "Known models: lenet5, alexnet" in msg and "densenet201" in msg


def test_unknown_model_is_a_key_error_too():
    with pytest.raises(KeyError):
        cnnbench.get_spec("nope")


@pytest.mark.parametrize("framework,hint", [("pytorch", "torch"), ("tensorflow", "tf"), ("jax", None)])
def test_unknown_framework(framework, hint):
    with pytest.raises(cnnbench.UnknownFrameworkError) as err:
        cnnbench.get_model("resnet18", framework)
    assert "choose one of torch, tf" in str(err.value)
    if hint:
        assert f"did you mean {hint!r}" in str(err.value)


@pytest.mark.parametrize("bad", [0, -3, 2.5, True, "10"])
def test_bad_num_classes(bad):
    with pytest.raises(ValueError, match="num_classes must be a positive integer"):
        cnnbench.get_model("resnet18", "torch", num_classes=bad)


@pytest.mark.parametrize("name", ["inception_v3", "vgg16", "lenet5", "googlenet", "densenet121", "alexnet"])
def test_input_too_small_names_the_minimum(name):
    minimum = min_input_size(name)
    with pytest.raises(cnnbench.InputTooSmallError, match=f"the minimum input size is {minimum}"):
        cnnbench.get_model(name, "torch", input_size=minimum - 1)


@pytest.mark.parametrize("bad", [0, -1, 3.0])
def test_bad_input_size(bad):
    with pytest.raises(ValueError, match="input_size must be a positive integer"):
        cnnbench.get_model("resnet18", "tf", input_size=bad)


def test_unknown_option_lists_the_accepted_ones():
    with pytest.raises(ValueError, match="options this model accepts: aux_logits, branch3_kernel, dropout"):
        cnnbench.get_model("googlenet", "torch", aux=True)


def test_errors_come_before_any_framework_import():
    code = (
        "import sys, cnnbench\n"
        "for call in (lambda: cnnbench.get_model('nope', 'torch'),\n"
        "             lambda: cnnbench.get_model('vgg16', 'tf', input_size=8),\n"
        "             lambda: cnnbench.get_model('vgg16', 'mxnet')):\n"
        "    try: call()\n"
        "    except cnnbench.CnnbenchError: pass\n"
        "sys.exit(1 if {'torch', 'tensorflow'} & set(sys.modules) else 0)\n"
    )
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


def test_spec_fingerprint_is_stable_and_option_sensitive():
    spec = cnnbench.get_spec("googlenet")
    assert spec.fingerprint() == spec.fingerprint()
    assert spec.fingerprint() != spec.fingerprint(aux_logits=True)


# ------------------------------------------------------------------ PyTorch's window arithmetic
@pytest.mark.parametrize("n,kernel,stride,padding,ceil_mode,expected,extra", [
    (224, 7, 2, 3, False, 112, None),  # ResNet's stem: floor((224 + 6 - 7) / 2) + 1
    (112, 3, 2, 0, True, 56, 1),  # GoogLeNet's pool1: ceil(109 / 2) + 1; 111 inputs read, 112 + 1 padded
    (8, 3, 2, 0, True, 4, 1),  # ceil(5 / 2) + 1 = 4 windows need 9 inputs
    (8, 3, 2, 0, False, 3, None),
    (14, 2, 2, 0, True, 7, 0),  # GoogLeNet's pool4: even, ceil changes nothing
    (5, 2, 2, 1, True, 3, 0),  # ceil(5 / 2) + 1 = 4, but the 4th window would start in the padding
    (2, 3, 1, 0, False, 0, None),  # not one window fits
])
def test_pytorch_window_arithmetic(n, kernel, stride, padding, ceil_mode, expected, extra):
    """Hand arithmetic with PyTorch's formula (torch.nn.MaxPool2d docs: floor or ceil of
    (n + 2p - k) / s, plus 1; a ceil-mode window may not start in the right padding)."""
    from cnnbench.core.arith import ceil_mode_extra_padding, out_len

    assert out_len(n, kernel, stride, padding, ceil_mode) == expected
    if extra is not None:
        assert ceil_mode_extra_padding(n, kernel, stride, padding) == extra


def test_adaptive_pooling_bins():
    """torch.nn.AdaptiveAvgPool2d: bin i covers [floor(i n / s), ceil((i + 1) n / s)); by hand for
    5 -> 3 (overlapping bins) and 12 -> 6 (even bins of 2)."""
    from cnnbench.core.arith import adaptive_bins

    assert adaptive_bins(5, 3) == [(0, 2), (1, 4), (3, 5)]
    assert adaptive_bins(12, 6) == [(0, 2), (2, 4), (4, 6), (6, 8), (8, 10), (10, 12)]


# ------------------------------------------------------------------ shared validators of user input
@pytest.mark.parametrize("check,message", [
    (lambda v: v.positive_int("num_classes", "10"), "num_classes must be a positive integer, got '10' (a string)"),
    (lambda v: v.positive_int("num_classes", True), "num_classes must be a positive integer, got True (a bool)"),
    (lambda v: v.positive_int("batch", -3), "batch must be a positive integer, got -3"),
    (lambda v: v.positive_int("input_size", 3.0, unit=" (pixels per side)"),
     "input_size must be a positive integer (pixels per side), got 3.0 (a float)"),
    (lambda v: v.finite_float("dropout", 1, 0, 1, hi_open=True), "dropout must be a number in [0, 1), got 1"),
    (lambda v: v.finite_float("dropout", None, 0, 1, hi_open=True), "dropout must be a number in [0, 1), got None"),
    (lambda v: v.finite_float("eps", float("nan"), 0, lo_open=True), "eps must be a finite number > 0, got nan"),
    (lambda v: v.finite_float("eps", "1e-5", 0, lo_open=True), "eps must be a finite number > 0, got '1e-5' (a string)"),
    (lambda v: v.boolean("aux", "false"), "aux must be true or false, got 'false' (a string)"),
    (lambda v: v.boolean("aux", 1), "aux must be true or false, got 1 (an integer)"),
    (lambda v: v.choice("pool", "maxx", ("max", "avg")), "pool must be one of max, avg, got 'maxx'; did you mean 'max'?"),
    (lambda v: v.choice("kernel", 4, (3, 5)), "kernel must be one of 3, 5, got 4"),
    (lambda v: v.choice("kernel", True, (3, 5)), "kernel must be one of 3, 5, got True (a bool)"),
])
def test_validators_say_what_was_given_and_what_would_be_right(check, message):
    from cnnbench.core import validate

    with pytest.raises(cnnbench.InvalidValueError) as err:
        check(validate)
    assert str(err.value) == message
    assert isinstance(err.value, ValueError) and isinstance(err.value, cnnbench.CnnbenchError)


def test_validators_return_the_canonical_value():
    from cnnbench.core import validate

    assert validate.choice("pool", "MAX", ("max", "avg")) == "max"
    assert validate.finite_float("dropout", 0, 0, 1, hi_open=True) == 0.0
    assert isinstance(validate.finite_float("dropout", 0, 0, 1, hi_open=True), float)
    assert validate.positive_int("batch", 8) == 8 and validate.boolean("aux", False) is False
