"""Every user-facing command works from the extras the README names for it; without them, one line
saying what to install, never a traceback. Packages are hidden from a subprocess's imports."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

BLOCKER = """
import sys
HIDDEN = {hidden!r}
class _Block:
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in HIDDEN:
            raise ImportError(f'No module named {{name!r}} (hidden by the test)')
sys.meta_path.insert(0, _Block())
import importlib.util
_find = importlib.util.find_spec
importlib.util.find_spec = lambda name, *a, **k: None if name.split('.')[0] in HIDDEN else _find(name, *a, **k)
"""


def _cli(tmp_path, hidden: set[str], *args):
    (tmp_path / "sitecustomize.py").write_text(BLOCKER.format(hidden=sorted(hidden)))
    env = {**os.environ, "PYTHONPATH": f"{tmp_path}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    return subprocess.run([sys.executable, "-m", "cnnbench", *args], capture_output=True, text=True, env=env,
                          cwd=tmp_path)


@pytest.mark.parametrize("hidden,args,message", [
    ({"pydot"}, ("diagram", "lenet5"), "cnnbench diagram needs pydot, which is not installed: pip install -e '.[diagram]'"),
    ({"pandas"}, ("report", "x.json"), "cnnbench report needs pandas, which is not installed: pip install -e '.[report]'"),
    ({"matplotlib"}, ("report", "x.json"), "needs matplotlib"),
    ({"scipy"}, ("compare", "a.json", "b.json"), "cnnbench compare needs scipy"),
    ({"ruptures"}, ("history", "changes"), "cnnbench history changes needs ruptures, which is not installed: "
                                           "pip install -e '.[history]'"),
    ({"pandas"}, ("history", "list"), "cnnbench history needs pandas, which is not installed: pip install -e '.[history]'"),
    ({"sklearn"}, ("train", "lenet5", "--framework", "torch", "--epochs", "1"),
     "needs scikit-learn, which is not installed: pip install -e '.[train]'"),
    ({"tensorflow", "keras"}, ("summary", "lenet5", "--framework", "tf"), "framework 'tf' is not installed"),
])
def test_a_missing_optional_package_is_one_line(tmp_path, hidden, args, message):
    out = _cli(tmp_path, hidden, *args)
    assert out.returncode == 2, out.stdout + out.stderr
    assert message in out.stderr and "Traceback" not in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1


def test_list_and_info_need_nothing_but_the_core(tmp_path):
    out = _cli(tmp_path, {"torch", "tensorflow", "keras", "jax", "pandas", "pydot", "sklearn", "fvcore"}, "info", "resnet50")
    assert out.returncode == 0, out.stderr
    assert "25,557,032" in out.stdout  # torchvision's ResNet-50 parameter count
