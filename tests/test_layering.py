"""The package's imports flow one way, down the pipeline, and never in a loop.

Layers, lowest first: the root helpers (`planner.errors`, `planner.paths`) → inputs → engine → axes →
serving → optimize → analyses | batch | report | export → ui → cli. A module may import its own folder and any lower layer; the
folders of the analyses layer do not import each other. Imports inside functions count too (a lazy
import must not hide a loop or an upward edge).
"""

from __future__ import annotations

import ast
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "planner"
LAYERS = {"": 0, "inputs": 1, "engine": 2, "axes": 3, "serving": 4, "optimize": 5, "analyses": 6, "batch": 6, "report": 6, "export": 6,
          "ui": 7, "cli": 8}


def module_name(path: Path, package: Path = PACKAGE) -> str:
    parts = path.relative_to(package.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def folder(module: str) -> str:
    """The pipeline folder of a module ('' for the package root and its helper modules)."""
    parts = module.split(".")
    if len(parts) >= 2 and parts[1] in LAYERS:
        return parts[1]
    return "cli" if module == "planner.__main__" else ""


def imported_modules(path: Path, known: set[str], package_dir: Path = PACKAGE) -> set[str]:
    """Every planner module that `path` imports, at module level or inside a function."""
    me = module_name(path, package_dir)
    package = me if path.name == "__init__.py" else me.rpartition(".")[0]
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
            # `from pkg import mod` imports the module pkg.mod; `from mod import name` imports mod
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names]
        else:
            continue
        for t in targets:
            while t and t not in known:  # `import planner.x.y` as written, down to the longest known module
                t = t.rpartition(".")[0]
            if t and t != me:
                out.add(t)
    return out


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    """Module -> the planner modules it imports."""
    files = sorted(PACKAGE.rglob("*.py"))
    known = {module_name(p) for p in files}
    return {module_name(p): imported_modules(p, known) for p in files}


def test_every_module_sits_in_a_known_folder(graph):
    root_modules = {"planner", "planner.errors", "planner.paths", "planner.__main__"}
    stray = sorted(m for m in graph if folder(m) == "" and m not in root_modules)
    assert not stray, f"modules outside the pipeline folders: {stray}"


def test_no_import_loops(graph):
    try:
        tuple(TopologicalSorter(graph).static_order())
    except CycleError as exc:
        pytest.fail("import loop: " + " -> ".join(exc.args[1]))


def test_imports_flow_down_the_pipeline(graph):
    against = []
    for a, deps in graph.items():
        for b in deps:
            fa, fb = folder(a), folder(b)
            if fa != fb and b != "planner" and LAYERS[fb] >= LAYERS[fa]:
                against.append(f"{a} ({fa or 'root'}) imports {b} ({fb or 'root'})")
    assert not against, "imports against the pipeline:\n" + "\n".join(sorted(against))


def test_the_checker_finds_relative_lazy_and_upward_imports(tmp_path):
    """The parser resolves relative imports, sees imports inside functions, and the layer rule flags an
    engine module that imports the optimizer (the checks above can fail)."""
    pkg = tmp_path / "planner"
    (pkg / "engine").mkdir(parents=True)
    (pkg / "optimize").mkdir()
    for f in ("__init__.py", "engine/__init__.py", "optimize/__init__.py", "optimize/milp.py", "optimize/traffic.py"):
        (pkg / f).write_text("")
    (pkg / "engine" / "roofline.py").write_text(
        "from ..optimize import milp\n\ndef f():\n    from planner.optimize.traffic import x\n")
    known = {module_name(p, pkg) for p in pkg.rglob("*.py")}
    deps = imported_modules(pkg / "engine" / "roofline.py", known, pkg)
    assert deps == {"planner.optimize.milp", "planner.optimize.traffic"}
    assert all(LAYERS[folder(d)] > LAYERS[folder("planner.engine.roofline")] for d in deps)
    with pytest.raises(CycleError):
        tuple(TopologicalSorter({"a": {"b"}, "b": {"a"}}).static_order())
