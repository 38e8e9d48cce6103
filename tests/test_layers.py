"""The package's layers, bottom-up, with no cycle and no upward import; one installed package.

    core     (cnnbench.core)                       specs, analytic graph, arithmetic, statistics: no framework
    models   (cnnbench.models_torch, .models_tf)   builders and one backend per framework: only the core below
    app      (cnnbench.<module>)                   registry, transfer, profile, summary, diagram, train, worker,
                                                   worker_server, worker_forkserver
    reports  (cnnbench.reports)                    saved JSON -> tables, HTML: no framework
    history  (cnnbench.history)                    the results store, series and their steps: no framework
    harness  (cnnbench.harness)                    the pytest-benchmark harness, data-parallel cases
    ab       (cnnbench.ab)                         the paired A/B engine and its command
    cli      (cnnbench.cli, cnnbench.__main__)     the command line, on top

Every import statement counts, at module level or inside a function: an import inside a function
hides a dependency from a reader and from structure tools as well as a top-level one would show it.
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
LAYERS = ("core", "models", "app", "reports", "history", "harness", "ab", "cli")
RANK = {name: i for i, name in enumerate(LAYERS)}
FRAMEWORKS = {"torch", "tensorflow", "keras", "jax", "fvcore"}


def modules() -> dict[str, Path]:
    """Every module of the installed package -> its source file."""
    return {".".join(path.relative_to(SRC).with_suffix("").parts).removesuffix(".__init__"): path
            for path in sorted((SRC / "cnnbench").rglob("*.py"))}


def layer(module: str) -> str:
    parts = module.split(".")
    if len(parts) == 1:
        return "app"  # the package's lazy façade (cnnbench/__init__.py)
    if parts[1] in ("cli", "__main__"):
        return "cli"
    if parts[1] in ("models_torch", "models_tf"):
        return "models"
    if parts[1] in ("core", "reports", "history", "harness", "ab"):
        return parts[1]
    return "app"


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
        if layer(module) in ("core", "reports", "history", "harness", "ab"):
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


def test_framework_dispatch_happens_in_one_place():
    """Only cnnbench.zoo.dispatch chooses between the framework packages by name."""
    offenders = []
    for module, path in modules().items():
        text = path.read_text()
        if module != "cnnbench.zoo.dispatch" and layer(module) != "models" and (
                '"cnnbench.models_torch.backend"' in text or "'cnnbench.models_torch.backend'" in text):
            offenders.append(module)
    assert not offenders


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
        "conftest.py", "test_step.py", "test_time_to_accuracy.py"]


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
