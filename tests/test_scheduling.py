"""`make test` hands whole groups to its xdist workers (tests/conftest.py: a model's tests share the
model built once; a long file's tests share its module fixtures). pytest-xdist applies a group by
appending "@group" to each test's id on the worker; pytest 9.2 keeps ids elsewhere and the suffix is
silently lost (pytest-dev/pytest-xdist#1386), which made the suite ~2x slower with every test passing.
This test is the alarm for that: it fails when the groups do not reach xdist."""
import pytest
from conftest import _group


def test_the_groups_reach_xdist(request):
    if not getattr(request.config.option, "loadgroup", False):  # set by pytest-xdist on its workers
        pytest.skip("not run by `make test` (pytest-xdist with --dist loadgroup)")
    group = _group(request.node)
    assert group == "tests/test_scheduling.py"
    assert request.node.nodeid.endswith("@" + group), (
        f"pytest-xdist did not apply this test's group (id {request.node.nodeid!r}): tests are handed out "
        "one by one and models are built on both workers; install the pinned versions "
        "(pip install -c constraints.txt pytest pytest-xdist)")


def test_group_seconds_are_read_from_a_real_runs_junit_xml(tmp_path):
    """tools/group_seconds.py sums setup, call and teardown per xdist group as pytest's junit XML records them
    (hand arithmetic: 1.5 + 2.0 for model-vgg11, 0.5 for the file); a model the file does not know yet is
    scheduled as the median model, a file as 0 s (after the known ones)."""
    import json

    from conftest import GROUP_SECONDS, group_seconds
    from tools.group_seconds import main

    junit = tmp_path / "junit.xml"
    junit.write_text('<testsuites><testsuite>'
                     '<testcase classname="tests.test_models" name="test_a[vgg11]@model-vgg11" time="1.5"/>'
                     '<testcase classname="tests.test_profile" name="test_b[vgg11]@model-vgg11" time="2.0"/>'
                     '<testcase classname="tests.test_layers" name="test_c@tests/test_layers.py" time="0.5"/>'
                     '</testsuite></testsuites>')
    out = tmp_path / "groups.json"
    assert main([str(junit), "--note", "test", "--out", str(out)]) == 0
    doc = json.loads(out.read_text())
    assert doc["groups"] == {"model-vgg11": 3.5, "tests/test_layers.py": 0.5} and doc["total_s"] == 4.0
    import statistics

    models = [s for g, s in GROUP_SECONDS.items() if g.startswith("model-")]
    assert group_seconds("model-not-registered-yet") == statistics.median(models)
    assert group_seconds("tests/test_not_measured_yet.py") == 0.0


def test_a_junit_xml_without_groups_is_one_line(tmp_path, capsys):
    from tools.group_seconds import main

    junit = tmp_path / "junit.xml"
    junit.write_text('<testsuites><testsuite><testcase classname="tests.test_x" name="test_a" time="1"/>'
                     '</testsuite></testsuites>')
    assert main([str(junit), "--note", "x", "--out", str(tmp_path / "g.json")]) == 2
    assert "no xdist groups" in capsys.readouterr().err


def test_the_quick_tier_has_every_family_and_block_type_and_no_variant():
    """`make test` (the Makefile's -m expression, read from its recipe) selects each BLOCK_TYPES model's own
    tests and none of another model's (docs/testing.md, "Two tiers"): all of FAMILY_MODELS' small-size proofs, two of
    the other block types', the default-size tests of LeNet-5 only. Both lists have every family."""
    import re
    import subprocess
    import sys
    from pathlib import Path

    import cnnbench
    from conftest import BLOCK_TYPES, FAMILY_MODELS, MODELS

    root = Path(__file__).resolve().parents[1]
    families = {cnnbench.get_spec(m).family for m in MODELS}
    assert {cnnbench.get_spec(m).family for m in BLOCK_TYPES} == {cnnbench.get_spec(m).family for m in FAMILY_MODELS} \
        == families
    makefile = (root / "Makefile").read_text()
    recipe = re.search(r"^test: .*\n\t(.*)$", makefile, re.MULTILINE).group(1)
    expression = re.search(r'-m "([^"]+)"', recipe).group(1)
    assert expression == "not slow"
    assert re.search(r"^test-all: .*\n\t\$\(PYTEST_XDIST\) \$\(ARGS\)$", makefile, re.MULTILINE)  # no -m
    proc = subprocess.run([sys.executable, "-m", "pytest", "tests/test_models.py", "tests/test_model_outputs.py",
                           "tests/test_profile.py", "--collect-only", "-q",
                           "-p", "no:cacheprovider", "-m", expression], cwd=root, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    ids = [line for line in proc.stdout.splitlines() if "::" in line]

    def models(test: str) -> set[str]:  # the models a per-model test runs for in the quick tier
        return {re.search(r"\[(\w+)\]", i).group(1) for i in ids if f"::{test}[" in i}

    assert models("test_parity_torch_to_tf_at_the_default_size") == {"lenet5"}
    # every family's small-size proofs stay quick
    assert models("test_parity_both_ways_at_a_small_size_and_class_count") == set(BLOCK_TYPES)
    assert not [i for i in ids if "test_variants" in i]  # a family's other options: slow
    # one model of every family with all its small-size proofs; a family's other block types with two, by hand
    others = {"resnet50", "mobilenet_v3_small", "efficientnet_v2_s"}
    assert set(BLOCK_TYPES) - set(FAMILY_MODELS) == others and len(FAMILY_MODELS) == len(families)
    for test in ("test_every_parameter_receives_a_gradient_in_both_frameworks", "test_three_counters_reconcile_exactly"):
        assert models(test) == set(FAMILY_MODELS), test
    assert models("test_outputs_equal_the_stored_ones_in_both_frameworks") == set(BLOCK_TYPES)
    assert not [i for i in ids if "[vgg19]" in i or "[resnet152]" in i]
