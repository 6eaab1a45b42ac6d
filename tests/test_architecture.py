"""The package's shape: no import circles (in ``src/`` and in ``benchmarks/``, imports inside functions included) and
no module importing a higher layer (../shared/DESIGN.md: data, models, operators <- solvers, train, theory <-
evaluate, robust <- reports, cli, web)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# the first part of a module's name under ``genprior`` -> its layer; a module may import its own layer and below
LAYERS = {
    "errors": 0, "io": 0, "devices": 0, "plotting": 0, "linalg": 0, "distributed": 0, "progress": 0,
    "data": 1, "models": 1, "operators": 1, "zoo": 1,
    "solvers": 2, "train": 2, "theory": 2,
    "evaluate": 3, "robust": 3,
    "reports": 4, "cli": 4, "web": 4, "__main__": 4,
}


def module_names(folder: Path, prefix: str = "") -> dict[str, Path]:
    """Dotted module name -> file, for every ``.py`` file under ``folder`` (packages by their ``__init__``)."""
    names = {}
    for f in sorted(folder.rglob("*.py")):
        parts = f.relative_to(folder).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        names[prefix + ".".join(parts)] = f
    return names


def imported(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    """The modules of ``known`` that ``path`` (module ``name``) imports anywhere in its body."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parts + ([node.module] if node.module else []))
            found.add(base)
            found.update(f"{base}.{a.name}" for a in node.names)
    return {m for m in found if m in known and m != name}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def graph_of(folder: Path, prefix: str = "") -> dict[str, set[str]]:
    known = module_names(folder, prefix)
    return {name: imported(name, path, known) for name, path in known.items()}


def test_cycle_finder_sees_a_circle_through_a_package():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": set()}
    assert cycles(graph) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


@pytest.mark.parametrize("folder", ["src", "benchmarks"])
def test_no_import_circles(folder):
    graph = graph_of(ROOT / folder)
    assert cycles(graph) == []


def test_no_module_imports_a_higher_layer():
    graph = graph_of(ROOT / "src")

    def layer(module: str) -> int | None:
        parts = module.split(".")
        return LAYERS.get(parts[1]) if len(parts) > 1 else None

    upward = [f"{a} ({layer(a)}) imports {b} ({layer(b)})" for a, deps in graph.items() for b in deps
              if layer(a) is not None and layer(b) is not None and layer(b) > layer(a)]
    assert upward == []
    unknown = sorted({m.split(".")[1] for m in graph if m.count(".") >= 1 and layer(m) is None})
    assert unknown == [], f"give these modules a layer in LAYERS: {unknown}"
