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
