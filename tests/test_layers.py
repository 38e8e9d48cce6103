"""The package's layers, bottom-up, with no cycle and no upward import; one installed namespace.

    core (cnnbench.core)            specs, analytic graph, arithmetic, statistics, errors: no framework
    backends (models_torch, models_tf)   builders and one backend per framework: import only the core
    app (cnnbench.*.py)             registry, transfer, profile, summary, diagram, train, worker
    reports (cnnbench.reports)      saved JSON -> tables, HTML: no framework, never bench
    bench (cnnbench.bench)          measurement: pytest plugin, harness, paired engine, distributed
    cli (cnnbench.cli)              the command line, on top
"""
from __future__ import annotations

import ast
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FOLDERS = {"cnnbench.bench": "bench", "cnnbench.models_torch": "models_torch", "cnnbench.models_tf": "models_tf",
           "cnnbench.reports": "reports"}
RANK = {"core": 0, "backends": 1, "app": 2, "reports": 3, "bench": 4, "cli": 5}
FRAMEWORKS = {"torch", "tensorflow", "keras", "jax", "fvcore"}


def modules() -> dict[str, Path]:
    """Every module of the installed namespace -> its source file."""
    found = {}
    for path in (ROOT / "cnnbench").rglob("*.py"):
        found[".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")] = path
    for package, folder in FOLDERS.items():
        for path in (ROOT / folder).rglob("*.py"):
            if path.name == "conftest.py" or path.name.startswith("test_"):
                continue  # pytest's entry points into the harness, not part of the package's graph
            rel = path.relative_to(ROOT / folder).with_suffix("").parts
            found[".".join((package, *rel)).removesuffix(".__init__")] = path
    return found


def layer(module: str) -> str:
    if module == "cnnbench" or module == "cnnbench.__main__":
        return "cli" if module.endswith("__main__") else "app"  # the package's lazy façade
    parts = module.split(".")
    if parts[1] == "core":
        return "core"
    if parts[1] in ("models_torch", "models_tf"):
        return "backends"
    if parts[1] in ("reports", "bench", "cli"):
        return parts[1]
    return "app"


def imports(path: Path, top_level_only: bool = False) -> list[tuple[str, int]]:
    tree = ast.parse(path.read_text())
    nodes = tree.body if top_level_only else ast.walk(tree)
    out = []
    for node in nodes:
        if isinstance(node, ast.Import):
            out += [(a.name, node.lineno) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out += [(node.module, node.lineno)] + [(f"{node.module}.{a.name}", node.lineno) for a in node.names]
    return out


def resolve(name: str, known: dict) -> str | None:
    while name and name not in known:
        name = name.rpartition(".")[0]
    return name or None


def test_no_upward_import():
    known = modules()
    bad = []
    for module, path in known.items():
        for name, line in imports(path):
            target = resolve(name, known)
            if target and target != module and RANK[layer(target)] > RANK[layer(module)]:
                bad.append(f"{path.relative_to(ROOT)}:{line}: {module} ({layer(module)}) imports {target} "
                           f"({layer(target)})")
    assert not bad, "\n".join(bad)


def test_layers_that_must_not_touch_a_framework():
    known = modules()
    bad = []
    for module, path in known.items():
        if layer(module) in ("core", "reports", "bench"):
            for name, line in imports(path):
                if name.split(".")[0] in FRAMEWORKS:
                    bad.append(f"{path.relative_to(ROOT)}:{line}: {module} imports {name}")
    assert not bad, "\n".join(bad)


def test_no_import_cycle_between_modules():
    """Module-level imports only: a function-level import runs later and cannot deadlock the import."""
    known = modules()
    graph = {m: {t for n, _ in imports(p, top_level_only=True) if (t := resolve(n, known)) and t != m}
             for m, p in known.items()}
    state: dict[str, int] = {}
    cycle: list[str] = []

    def visit(m: str, stack: list[str]) -> bool:
        state[m] = 1
        for t in graph[m]:
            if state.get(t) == 1:
                cycle.extend(stack[stack.index(t):] + [m, t] if t in stack else [m, t])
                return True
            if t not in state and visit(t, stack + [m]):
                return True
        state[m] = 2
        return False

    for m in graph:
        if m not in state and visit(m, []):
            break
    assert not cycle, " -> ".join(cycle)


def test_framework_dispatch_happens_in_one_place():
    """Only cnnbench.backends chooses between the framework packages by name."""
    offenders = []
    for module, path in modules().items():
        text = path.read_text()
        if module != "cnnbench.backends" and layer(module) != "backends" and (
                '"cnnbench.models_torch.backend"' in text or "'cnnbench.models_torch.backend'" in text):
            offenders.append(module)
    assert not offenders


def test_every_package_is_listed_for_the_wheel():
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    packages = {m for m, p in modules().items() if p.name == "__init__.py"}
    assert listed == packages


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
    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")}
    assert tops == {"cnnbench"}
    assert "cnnbench/reports/templates/report.html.j2" in names
    assert "cnnbench/bench/conftest.py" in names and "cnnbench/models_tf/backend.py" in names
