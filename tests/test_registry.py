"""The framework-free core: registry, spec table, analytic graph, clear errors."""
from __future__ import annotations

import importlib
import importlib.util
import re
import subprocess
import sys

import pytest

import cnnbench
from cnnbench.core.analytic import build_graph, min_input_size
from conftest import VARIANTS, per_family
from references import MIN_INPUT, REGNET_STAGES

ALL = cnnbench.list_models()


def _installed(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


@pytest.mark.parametrize("name", ALL)
def test_every_model_is_complete(name):
    """Names whatever a registered model still lacks: spec fields, a topology that builds with the
    reference counts, a PyTorch builder, a Keras builder (each checked where its framework is
    installed), and a source for each reference count (kept once, in the spec)."""
    import re

    from cnnbench.core.options import Option

    spec, lacks = cnnbench.get_spec(name), []
    family = spec.family
    # the spec's fields
    if not spec.paper or not re.fullmatch(r"\d{4}-\d{2}(-\d{2})?", spec.published):
        lacks.append("a paper and its ISO publication date (published='2015-12-10')")
    if spec.topology.__module__ != f"cnnbench.core.families.{family}":
        lacks.append(f"a topology defined in src/cnnbench/core/families/{family}.py")
    for field in ("input_size", "in_channels", "num_classes", "reference_params"):
        value = getattr(spec, field)
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            lacks.append(f"a positive integer {field} (has {value!r})")
    sources = [("reference_source", spec.reference_source)] + [(f"variant {dict(v.options)}'s source", v.source)
                                                               for v in spec.variants]
    for what, source in sources:
        # where the number comes from, in words a reader can follow: a publication, torchvision or
        # keras.applications, a seed file, or hand arithmetic written out (digits and operators)
        if not isinstance(source, str) or len(source.split()) < 3:
            lacks.append(f"a {what} naming where the count comes from (has {source!r})")
    for key, option in spec.options.items():
        if not isinstance(option, Option) or key not in spec.config:
            lacks.append(f"a typed option {key} (core.options) with its default in config")
        else:
            try:
                if option.check(key, spec.config[key]) != spec.config[key]:
                    lacks.append(f"a canonical default for option {key}")
            except ValueError as exc:
                lacks.append(f"a valid default for option {key} ({exc})")
    # the topology builds and reproduces the spec's reference counts
    try:
        if build_graph(name).params != spec.reference_params:
            lacks.append(f"an analytic graph with reference_params ({build_graph(name).params:,} != "
                         f"{spec.reference_params:,})")
        for v in spec.variants:
            if build_graph(name, **v.options).params != v.params:
                lacks.append(f"an analytic graph with the params of variant {dict(v.options)}")
    except Exception as exc:  # noqa: BLE001  # any failure to build is what the model lacks
        lacks.append(f"a topology that builds ({type(exc).__name__}: {exc})")
    # a builder in each installed framework
    if _installed("torch") and name not in importlib.import_module("cnnbench.models_torch").__all__:
        lacks.append(f"a PyTorch builder (src/cnnbench/models_torch/{family}.py: @register_builder def {name}(...))")
    if _installed("keras") and name not in importlib.import_module("cnnbench.models_tf").__all__:
        lacks.append("a Keras builder (cnnbench.models_tf builds one for every registered spec)")
    assert not lacks, f"{name} lacks: " + "; ".join(lacks)


def test_models_are_listed_oldest_paper_first():
    """Papers in order of publication (their ISO dates), a paper's models together (within a paper, the order
    its family file registers them: the sort is stable; a family of two papers, EfficientNet's, is listed at
    each paper's date): checked as properties, so that a new family needs no edit here."""
    dates = [cnnbench.get_spec(n).published for n in ALL]
    assert dates == sorted(dates)
    assert len(ALL) == len(set(ALL))
    papers = [(cnnbench.get_spec(n).family, cnnbench.get_spec(n).published) for n in ALL]
    runs = [p for i, p in enumerate(papers) if i == 0 or papers[i - 1] != p]
    assert len(runs) == len(set(runs)), f"a paper's models are split: {runs}"


def test_the_listing_order_of_well_known_papers():
    """Dates from outside the code: LeNet-5 (Proc. IEEE, 1998) < AlexNet (NIPS 2012) < VGG (arXiv 2014-09-04)
    < GoogLeNet (arXiv 2014-09-17) < ResNet (arXiv 2015-12-10) < MobileNetV2 (arXiv 2018-01-13) <
    EfficientNet (arXiv 2019-05-28) < RegNet (arXiv 2020-03-30) < EfficientNetV2 (arXiv 2021-04-01) <
    ConvNeXt (arXiv 2022-01-10)."""
    order = ["lenet5", "alexnet", "vgg11", "googlenet", "resnet18", "mobilenet_v2", "efficientnet_b0",
             "regnet_y_400mf", "efficientnet_v2_s", "convnext_tiny"]
    assert sorted(order, key=ALL.index) == order


def test_list_models_with_wildcards():
    assert cnnbench.list_models("resnet*") == ["resnet18", "resnet34", "resnet50", "resnet101", "resnet152"]
    assert cnnbench.list_models("vgg*_bn") == ["vgg11_bn", "vgg13_bn", "vgg16_bn", "vgg19_bn"]
    assert cnnbench.list_models("nothing*") == []


def test_core_imports_no_framework():
    code = (
        "import sys, cnnbench, cnnbench.core.analytic, cnnbench.zoo.transfer; "
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


def test_a_pytorch_builder_needs_a_spec_and_is_registered_once(torch_mod):
    from cnnbench.models_torch._common import register_builder

    def resnet50(**_):
        raise AssertionError("never built")

    def resnet51(**_):
        raise AssertionError("never built")

    with pytest.raises(ValueError, match="a PyTorch builder of 'resnet50' is already registered"):
        register_builder(resnet50)
    with pytest.raises(cnnbench.UnknownModelError, match="Did you mean 'resnet50'"):
        register_builder(resnet51)


def test_a_model_without_a_builder_says_so(torch_mod, monkeypatch):
    import cnnbench.models_torch as zoo

    monkeypatch.setattr(zoo, "__all__", [n for n in zoo.__all__ if n != "resnet18"])
    with pytest.raises(cnnbench.NoBuilderError, match="resnet18 has no torch builder"):
        cnnbench.get_model("resnet18", "torch")


@pytest.mark.parametrize("name", ALL)
def test_analytic_parameter_count(name):
    spec = cnnbench.get_spec(name)
    assert build_graph(name).params == spec.reference_params, spec.reference_source


@pytest.mark.parametrize("name,options,params,source", VARIANTS)
def test_analytic_variant_parameter_count(name, options, params, source):
    assert build_graph(name, **options).params == params, source


@pytest.mark.parametrize("name,minimum", sorted(MIN_INPUT.items()))
def test_minimum_input_size(name, minimum):
    assert min_input_size(name) == minimum
    build_graph(name, input_size=minimum)
    with pytest.raises(cnnbench.InputTooSmallError, match=f"minimum input size for {name} is {minimum}"):
        build_graph(name, input_size=minimum - 1)


@pytest.mark.parametrize("name", sorted(REGNET_STAGES))
def test_regnet_stages_from_the_init_params_are_the_published_ones(name):
    """torchvision generates RegNet's stages from (depth, w_0, w_a, w_m, group width); ours, from the same six
    numbers, give keras.applications' stage table, the 3x3 convs' groups = width / group width, and SE
    squeezing to a quarter of each block's input width."""
    from cnnbench.core.families.regnet import blocks, stage_plan

    cfg = cnnbench.get_spec(name).config
    assert tuple(tuple(stage) for stage in stage_plan(cfg)) == REGNET_STAGES[name]
    first = [b for b in blocks(cfg) if b.prefix.endswith("block1.")]
    assert [(b.cin, b.out, b.groups, b.se, b.stride) for b in first] == [
        (cin, w, w // g, cin // 4, 2) for cin, (w, _, g) in zip((32, *(w for w, _, _ in REGNET_STAGES[name])),
                                                               REGNET_STAGES[name])]


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
    with pytest.raises(cnnbench.InvalidValueError, match="options this model accepts: aux_logits, branch3_kernel, dropout"):
        cnnbench.get_model("googlenet", "torch", aux=True)


# (model, option, bad value, the whole message): every option of every family has rows here
BAD_OPTIONS = [
    ("lenet5", "activation", "gelu", "lenet5: option activation must be one of relu, tanh, sigmoid, got 'gelu'; "
     "did you mean 'relu'?"),
    ("lenet5", "activation", 1, "lenet5: option activation must be one of relu, tanh, sigmoid, got 1 (an integer)"),
    ("lenet5", "pool", "maximum", "lenet5: option pool must be one of max, avg, got 'maximum'; did you mean 'max'?"),
    ("alexnet", "dropout", 1.0, "alexnet: option dropout must be a number in [0, 1), got 1.0"),
    ("vgg16", "dropout", -0.1, "vgg16: option dropout must be a number in [0, 1), got -0.1"),
    ("vgg16_bn", "dropout", "0.5", "vgg16_bn: option dropout must be a number in [0, 1), got '0.5' (a string)"),
    ("googlenet", "aux_logits", "false", "googlenet: option aux_logits must be true or false, got 'false' (a string)"),
    ("googlenet", "aux_logits", 1, "googlenet: option aux_logits must be true or false, got 1 (an integer)"),
    ("googlenet", "branch3_kernel", 4, "googlenet: option branch3_kernel must be one of 3, 5, got 4"),
    ("googlenet", "branch3_kernel", 5.0, "googlenet: option branch3_kernel must be one of 3, 5, got 5.0 (a float)"),
    ("googlenet", "dropout", float("nan"), "googlenet: option dropout must be a number in [0, 1), got nan"),
    ("inception_v3", "aux_logits", None, "inception_v3: option aux_logits must be true or false, got None"),
    ("inception_v3", "avgpool_count_include_pad", "yes",
     "inception_v3: option avgpool_count_include_pad must be true or false, got 'yes' (a string)"),
    ("inception_v3", "dropout", 2, "inception_v3: option dropout must be a number in [0, 1), got 2"),
    ("resnet50", "stride_in_1x1", 0, "resnet50: option stride_in_1x1 must be true or false, got 0 (an integer)"),
    ("resnet18", "conv_bias", "true", "resnet18: option conv_bias must be true or false, got 'true' (a string)"),
    ("resnet50", "bn_eps", "x", "resnet50: option bn_eps must be a finite number > 0, got 'x' (a string)"),
    ("resnet152", "bn_eps", 0, "resnet152: option bn_eps must be a finite number > 0, got 0"),
    ("densenet121", "bn_eps", float("inf"), "densenet121: option bn_eps must be a finite number > 0, got inf"),
    ("mobilenet_v2", "width_mult", 0, "mobilenet_v2: option width_mult must be a finite number > 0, got 0"),
    ("mobilenet_v2", "width_mult", "1.0",
     "mobilenet_v2: option width_mult must be a finite number > 0, got '1.0' (a string)"),
    ("mobilenet_v2", "dropout", 1.0, "mobilenet_v2: option dropout must be a number in [0, 1), got 1.0"),
    ("mobilenet_v2", "bn_eps", -1e-5, "mobilenet_v2: option bn_eps must be a finite number > 0, got -1e-05"),
    ("mobilenet_v3_small", "width_mult", -0.5,
     "mobilenet_v3_small: option width_mult must be a finite number > 0, got -0.5"),
    ("mobilenet_v3_large", "dropout", -0.2, "mobilenet_v3_large: option dropout must be a number in [0, 1), got -0.2"),
    ("regnet_y_400mf", "bn_eps", 0, "regnet_y_400mf: option bn_eps must be a finite number > 0, got 0"),
    ("regnet_y_1_6gf", "bn_eps", "1e-5", "regnet_y_1_6gf: option bn_eps must be a finite number > 0, got '1e-5' (a string)"),
    ("efficientnet_b0", "stochastic_depth_prob", 1,
     "efficientnet_b0: option stochastic_depth_prob must be a number in [0, 1), got 1"),
    ("efficientnet_b3", "dropout", "0.3",
     "efficientnet_b3: option dropout must be a number in [0, 1), got '0.3' (a string)"),
    ("efficientnet_b1", "bn_eps", 0, "efficientnet_b1: option bn_eps must be a finite number > 0, got 0"),
    ("convnext_tiny", "stochastic_depth_prob", -0.1,
     "convnext_tiny: option stochastic_depth_prob must be a number in [0, 1), got -0.1"),
]


@pytest.mark.parametrize("name,option,value,message", BAD_OPTIONS, ids=lambda v: repr(v)[:24])
def test_a_bad_option_value_is_one_line_naming_the_rule(name, option, value, message):
    """Before any framework: spec.resolve, the analytic graph and get_model all refuse it."""
    for call in (lambda: cnnbench.get_spec(name).resolve(**{option: value}),
                 lambda: build_graph(name, **{option: value}),
                 lambda: cnnbench.get_model(name, "torch", **{option: value}),
                 lambda: cnnbench.get_model(name, "tf", **{option: value})):
        with pytest.raises(cnnbench.InvalidValueError) as err:
            call()
        assert str(err.value) == message


def _rule(message: str) -> str:
    """"resnet50: option bn_eps must be a finite number > 0, got 'x' (a string)" -> "a finite number > 0"."""
    return re.fullmatch(r"\S+: option \S+ must be (.*?), got .*", message).group(1)


def test_every_option_has_bad_values_in_the_table():
    """Each option name with each rule (its text written by hand above) has a row: a new family that reuses
    MobileNet's ``width_mult`` or the shared ``dropout`` needs none, a new option or a new rule does."""
    covered = {(option, _rule(message)) for _, option, _, message in BAD_OPTIONS}
    every = {(option, rule.describe()) for name in ALL for option, rule in cnnbench.get_spec(name).options.items()}
    assert every - covered == set()


@pytest.mark.parametrize("name", per_family())
def test_every_familys_options_refuse_a_bad_value_in_one_line(name):
    """Every option of one model of each family, with a value no option takes (a list), refused with one line
    naming the model, the option and its rule (the rule's text is one of the table's, by the test above),
    before any framework builds a layer: spec.resolve, the analytic graph and both builders."""
    spec = cnnbench.get_spec(name)
    for option, rule in spec.options.items():
        for call in (lambda: spec.resolve(**{option: []}), lambda: build_graph(name, **{option: []}),
                     lambda: cnnbench.get_model(name, "torch", **{option: []}),
                     lambda: cnnbench.get_model(name, "tf", **{option: []})):
            with pytest.raises(cnnbench.InvalidValueError) as err:
                call()
            assert str(err.value) == f"{name}: option {option} must be {rule.describe()}, got [] (a list)"


@pytest.mark.parametrize("name,pairs,expected", [
    ("lenet5", ["pool=MAX", "activation=Tanh"], {"pool": "max", "activation": "tanh"}),
    ("googlenet", ["aux_logits=TRUE", "branch3_kernel=3", "dropout=0"],
     {"aux_logits": True, "branch3_kernel": 3, "dropout": 0.0}),
    ("inception_v3", ["avgpool_count_include_pad=false"], {"avgpool_count_include_pad": False}),
    ("resnet50", ["stride_in_1x1=true", "conv_bias=true", "bn_eps=1.001e-5"],
     {"stride_in_1x1": True, "conv_bias": True, "bn_eps": 1.001e-5}),
])
def test_command_line_options_are_parsed_to_their_types(name, pairs, expected):
    from cnnbench.core.specs import parse_options

    parsed = parse_options(cnnbench.get_spec(name), pairs)
    assert parsed == expected
    assert [type(v) for v in parsed.values()] == [type(v) for v in expected.values()]


@pytest.mark.parametrize("name,pair,message", [
    ("googlenet", "aux_logits=yes", "googlenet: option aux_logits must be true or false, got 'yes'"),
    ("googlenet", "branch3_kernel=five", "googlenet: option branch3_kernel must be one of 3, 5, got 'five'"),
    ("googlenet", "branch3_kernel=7", "googlenet: option branch3_kernel must be one of 3, 5, got 7"),
    ("resnet50", "bn_eps=tiny", "resnet50: option bn_eps must be a finite number > 0, got 'tiny'"),
    ("alexnet", "dropout=1", "alexnet: option dropout must be a number in [0, 1), got 1.0"),
    ("lenet5", "pool=median", "lenet5: option pool must be one of max, avg, got 'median'"),
    ("lenet5", "pool", "lenet5: an option is written KEY=VALUE, got 'pool'"),
    ("lenet5", "pol=max", "lenet5: unknown option(s) pol; options this model accepts: activation, pool"),
])
def test_bad_command_line_options(name, pair, message):
    from cnnbench.core.specs import parse_options

    with pytest.raises(cnnbench.InvalidValueError) as err:
        parse_options(cnnbench.get_spec(name), [pair])
    assert str(err.value) == message


def test_cli_bad_option_is_one_line_and_exit_2():
    out = subprocess.run([sys.executable, "-m", "cnnbench", "summary", "lenet5", "--option", "activation=gelu"],
                         capture_output=True, text=True)
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in out.stderr
    assert all(word in lines[0] for word in ("activation", "'gelu'", "relu, tanh, sigmoid"))


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


def test_a_command_imports_only_its_own_module():
    """``cnnbench list`` and a mistake in another command's options do not load what ``ab``, ``bisect`` and
    ``train`` load (NumPy, through their statistics and loop); ``--help`` still lists every command."""
    code = (
        "import contextlib, io, sys\n"
        "from cnnbench.cli import COMMANDS, main\n"
        "with contextlib.redirect_stdout(io.StringIO()): main(['list', 'lenet5'])\n"
        "with contextlib.redirect_stderr(io.StringIO()):\n"
        "    try: main(['history', '--no-such-option'])\n"
        "    except SystemExit: pass\n"
        "loaded = [m for m in ('numpy', 'cnnbench.ab.cli', 'cnnbench.ab.bisect', 'cnnbench.train.cli') if m in sys.modules]\n"
        "print(len(COMMANDS), loaded)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.split(None, 1) == ["12", "[]\n"], out.stdout + out.stderr
    listed = subprocess.run([sys.executable, "-m", "cnnbench", "--help"], capture_output=True, text=True).stdout
    for command in ("list", "info", "profile", "summary", "diagram", "export", "train", "report", "compare", "ab",
                    "bisect", "history"):  # the twelve commands of README.md's table
        assert f"\n    {command} " in listed, command


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
    from cnnbench.core import user_values as validate

    with pytest.raises(cnnbench.InvalidValueError) as err:
        check(validate)
    assert str(err.value) == message
    assert isinstance(err.value, ValueError) and isinstance(err.value, cnnbench.CnnbenchError)


def test_validators_return_the_canonical_value():
    from cnnbench.core import user_values as validate

    assert validate.choice("pool", "MAX", ("max", "avg")) == "max"
    assert validate.finite_float("dropout", 0, 0, 1, hi_open=True) == 0.0
    assert isinstance(validate.finite_float("dropout", 0, 0, 1, hi_open=True), float)
    assert validate.positive_int("batch", 8) == 8 and validate.boolean("aux", False) is False


def test_per_family_tests_cover_every_family_once_unless_a_test_picks_more():
    """conftest.per_family: what a per-family test runs (gradients, FLOP counters, Keras backends, export)."""
    from conftest import per_family

    from cnnbench.core.specs import families

    assert [cnnbench.get_spec(m).family for m in per_family()] == families()
    picked = per_family("resnet18", "resnet50", "vgg11_bn")
    assert [m for m in picked if cnnbench.get_spec(m).family in ("vgg", "resnet")] == ["vgg11_bn", "resnet18", "resnet50"]
    assert {cnnbench.get_spec(m).family for m in picked} == set(families())
    with pytest.raises(ValueError, match="unknown model"):
        per_family("resnet51")
