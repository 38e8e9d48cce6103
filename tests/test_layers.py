"""The package's layers, bottom-up, with no cycle and no upward import; one installed package.

    core        (cnnbench.core)                      specs, analytic graph, arithmetic, statistics: no framework
    models      (cnnbench.models_torch, .models_tf)  builders and one backend per framework: only the core below
    zoo         (cnnbench.zoo, cnnbench.registry,    framework dispatch (the one place that picks a framework's
                 cnnbench: the façade)               package by name), weight transfer, the model registry
    deploy      (cnnbench.deploy)                    the export runtimes: exporters, their backend
    train       (cnnbench.train)                     the training loop, the digits data
    loadgen     (cnnbench.loadgen)                   LoadGen scenarios: settings, the Server search, the SUT
    worker      (cnnbench.worker)                    one measuring process per case: client, server, fork server
    inspection  (cnnbench.inspection)                looking inside a model: profile, summary, diagram, layer times
    reports     (cnnbench.reports)                   saved JSON -> tables, HTML: no framework
    history     (cnnbench.history)                   the results store, series and their steps: no framework
    harness     (cnnbench.harness)                   the pytest-benchmark harness, data-parallel cases: no framework
    ab          (cnnbench.ab)                        the paired A/B engine, bisect: no framework
    cli         (cnnbench.cli, cnnbench.__main__,    the command line, on top: cnnbench.cli registers the commands,
                 every <package>.cli, reports'        each package's ``cli`` module holds its commands' bodies
                 __main__)

Every import statement counts, at module level or inside a function: an import inside a function
hides a dependency from a reader and from structure tools as well as a top-level one would show it.

Above the models layer no module chooses a framework by its name: ``test_no_framework_branch_above_the_models``
reads every module's syntax tree for the two ways of doing it, an import of a framework package
(``cnnbench.models_torch``/``cnnbench.models_tf``; only ``cnnbench.zoo`` may, the one place that dispatches)
and a comparison with a framework's name (``framework == "torch"``, ``fw in ("torch", "tf")``) in a layer
that may import a framework (zoo, deploy, train, worker, inspection, cli): what a command needs of a
framework is on its backend (``cnnbench.core.backend.Zoo``). The framework-free layers (core, reports,
history, harness, ab) cannot run a framework's code at all (``test_layers_that_must_not_touch_a_framework``);
a name there is data (which runtime a row or a case is, how a report labels it). Tables keyed by a
framework's name (the layouts in ``cnnbench.core.case``, the exporters in ``cnnbench.deploy.export``) are
data too, and allowed.
"""
from __future__ import annotations

import ast
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"
LAYERS = ("core", "models", "zoo", "deploy", "train", "loadgen", "worker", "inspection", "reports", "history", "harness",
          "ab", "cli")
RANK = {name: i for i, name in enumerate(LAYERS)}
FRAMEWORKS = {"torch", "tensorflow", "keras", "jax", "fvcore"}
# the package root holds only these; every other module lives in the package of its layer
ROOT_MODULES = {"cnnbench", "cnnbench.__main__", "cnnbench.cli", "cnnbench.registry"}
PACKAGES = {"core": "core", "models_torch": "models", "models_tf": "models", "zoo": "zoo", "deploy": "deploy",
            "train": "train", "loadgen": "loadgen", "worker": "worker", "inspection": "inspection", "reports": "reports",
            "history": "history", "harness": "harness", "ab": "ab"}
FRAMEWORK_FREE = ("core", "reports", "history", "harness", "ab")
FRAMEWORK_NAMES = {"torch", "tf", "tensorflow", "keras", "jax"}  # as the suite spells a framework or its zoo


def modules() -> dict[str, Path]:
    """Every module of the installed package -> its source file."""
    return {".".join(path.relative_to(SRC).with_suffix("").parts).removesuffix(".__init__"): path
            for path in sorted((SRC / "cnnbench").rglob("*.py"))}


def layer(module: str) -> str:
    parts = module.split(".")
    if module in ("cnnbench.cli", "cnnbench.__main__", "cnnbench.reports.__main__") or (
            len(parts) == 3 and parts[2] == "cli"):
        return "cli"  # the command line and each package's commands
    if module in ("cnnbench", "cnnbench.registry"):
        return "zoo"  # the façade and the registry: get_model, transfer_weights, the errors
    return PACKAGES[parts[1]]  # a KeyError: a module outside every named package (test_every_module_has_a_home)


def imports(module: str, path: Path) -> list[tuple[str, int]]:
    """Every module ``path`` imports, anywhere in the file (relative imports resolved)."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out += [(a.name, node.lineno) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            out += [(base, node.lineno)] + [(f"{base}.{a.name}", node.lineno) for a in node.names]
    return out


def resolve(name: str, known: dict) -> str | None:
    while name and name not in known:
        name = name.rpartition(".")[0]
    return name or None


def graph() -> dict[str, dict[str, int]]:
    """module -> {imported module of the package: first line}."""
    known = modules()
    out: dict[str, dict[str, int]] = {}
    for module, path in known.items():
        edges: dict[str, int] = {}
        for name, line in imports(module, path):
            target = resolve(name, known)
            if target and target != module and not module.startswith(target + "."):
                edges.setdefault(target, line)  # a package's own __init__ is not an import of the parent
        out[module] = edges
    return out


def test_every_module_has_a_home():
    """Only the façade, the entry point, the command line and the registry at the package root; every
    package is named above with its layer."""
    known = modules()
    package = SRC / "cnnbench"
    assert not [m for m, path in known.items() if path.parent == package and m not in ROOT_MODULES]
    assert {path.relative_to(package).parts[0] for path in known.values() if path.parent != package} == set(PACKAGES)


def test_every_layer_is_populated():
    found = {layer(m) for m in modules()}
    assert found == set(LAYERS), f"layers without a module: {set(LAYERS) - found}"


def test_no_upward_import():
    known = modules()
    bad = [f"{known[m].relative_to(ROOT)}:{line}: {m} ({layer(m)}) imports {t} ({layer(t)})"
           for m, edges in graph().items() for t, line in edges.items() if RANK[layer(t)] > RANK[layer(m)]]
    assert not bad, "\n".join(bad)


def test_layers_that_must_not_touch_a_framework():
    known = modules()
    bad = []
    for module, path in known.items():
        if layer(module) in FRAMEWORK_FREE:
            for name, line in imports(module, path):
                if name.split(".")[0] in FRAMEWORKS:
                    bad.append(f"{path.relative_to(ROOT)}:{line}: {module} imports {name}")
    assert not bad, "\n".join(bad)


def cycles(edges: dict[str, dict[str, int]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each a sorted list."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def test_cycle_finder_sees_a_cycle_through_a_function_level_import(tmp_path):
    """The two hidden cycles of issue #32 had this shape: a imports b at the top, b imports a in a function."""
    (tmp_path / "a.py").write_text("import b\n")
    (tmp_path / "b.py").write_text("def f():\n    from a import g\n")
    known = {"a": tmp_path / "a.py", "b": tmp_path / "b.py"}
    edges = {m: {t: 0 for n, _ in imports(m, p) if (t := resolve(n, known)) and t != m} for m, p in known.items()}
    assert cycles(edges) == [["a", "b"]]
    assert cycles({"a": {"b": 1}, "b": {"c": 1}, "c": {}}) == []


def test_no_import_cycle_between_modules():
    """Any import, also inside a function: a cycle there still ties two modules into one."""
    edges = graph()
    known = modules()
    found = cycles(edges)
    lines = []
    for component in found:
        members = set(component)
        lines.append(" <-> ".join(component) + ": " + "; ".join(
            f"{known[m].relative_to(ROOT)}:{line} imports {t}" for m in component
            for t, line in edges[m].items() if t in members))
    assert not found, "\n".join(lines)


def _where(path: Path) -> Path:
    return path.relative_to(ROOT) if path.is_relative_to(ROOT) else path


def framework_branches(module: str, path: Path) -> list[str]:
    """Where ``module`` chooses a framework by name: an import of a framework package, or (in a layer that
    may import a framework) a comparison of anything with a framework's name."""
    out = []
    for name, line in imports(module, path):
        if name.startswith(("cnnbench.models_torch", "cnnbench.models_tf")) and not module.startswith("cnnbench.zoo"):
            out.append(f"{_where(path)}:{line}: imports {name}")
    if layer(module) in FRAMEWORK_FREE:
        return out

    def names(node: ast.AST) -> set[str]:
        if isinstance(node, ast.Constant) and node.value in FRAMEWORK_NAMES:
            return {node.value}
        if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
            return set().union(*map(names, node.elts)) if node.elts else set()
        return set()

    for node in sorted(ast.walk(ast.parse(path.read_text())), key=lambda n: getattr(n, "lineno", 0)):
        if isinstance(node, ast.Compare) and not all(isinstance(op, (ast.Is, ast.IsNot)) for op in node.ops):
            found = set().union(*map(names, [node.left, *node.comparators]))
            if found:
                out.append(f"{_where(path)}:{node.lineno}: compares with {', '.join(sorted(found))}: "
                           f"{ast.unparse(node)}")
    return out


def test_no_framework_branch_above_the_models():
    """Everything a command needs of a framework is on its backend (cnnbench.core.backend: Backend, Zoo),
    reached through cnnbench.zoo.dispatch."""
    bad = [b for m, path in modules().items() if RANK[layer(m)] > RANK["models"] for b in framework_branches(m, path)]
    assert not bad, "\n".join(bad)


def test_the_guard_sees_each_way_of_choosing_a_framework(tmp_path):
    src = tmp_path / "m.py"
    src.write_text('from cnnbench.models_torch import backend\nimport cnnbench.models_tf.profile\n'
                   'def f(framework, fw, rt):\n    if framework == "torch": pass\n'
                   '    x = 1 if fw != "tf" else 2\n    y = rt in ("keras", "jax")\n    z = "tensorflow" not in rt\n'
                   '    ok = framework is None or fw in FRAMEWORKS or rt == "keras-jax"\n')
    found = framework_branches("cnnbench.train.m", src)
    assert [f.split(": ", 1)[1].split(":")[0] for f in found] == [
        "imports cnnbench.models_torch", "imports cnnbench.models_torch.backend", "imports cnnbench.models_tf.profile",
        "compares with torch", "compares with tf", "compares with jax, keras", "compares with tensorflow"]
    assert len(framework_branches("cnnbench.reports.m", src)) == 3  # a framework-free layer: the imports only


def test_every_folder_of_the_package_is_a_package():
    """setuptools' find (pyproject) installs regular packages only: a folder without __init__.py would
    be left out of the wheel."""
    folders = {p.parent for p in (SRC / "cnnbench").rglob("*.py")}
    assert not [f for f in folders if not (f / "__init__.py").is_file()]


def test_checkout_has_no_second_copy_of_the_package():
    """No folder of the checkout is imported under two names (the remap this layout replaced)."""
    assert not (ROOT / "cnnbench").exists()
    assert not (ROOT / "bench" / "__init__.py").exists()
    assert sorted(p.name for p in (ROOT / "bench").glob("*.py")) == [
        "conftest.py", "test_loadgen.py", "test_step.py", "test_time_to_accuracy.py"]


@pytest.mark.slow
def test_the_wheel_has_one_top_level_package(tmp_path):
    import shutil

    had_build = (ROOT / "build").exists()
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                           "-w", str(tmp_path), str(ROOT)], capture_output=True, text=True)
    if not had_build:
        shutil.rmtree(ROOT / "build", ignore_errors=True)  # setuptools' build directory
    assert proc.returncode == 0, proc.stderr[-2000:]
    (wheel,) = tmp_path.glob("cnnbench-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    tops = {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")}
    assert tops == {"cnnbench"}
    assert "cnnbench/reports/templates/report.html.j2" in names
    missing = [str(p.relative_to(SRC)) for p in modules().values() if str(p.relative_to(SRC)) not in names]
    assert not missing
    assert not [n for n in names if n.startswith(("tools/", "bench/", "tests/"))]
