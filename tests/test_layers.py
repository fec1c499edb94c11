"""The house plan, checked from the code's own imports (ast; lazy imports inside functions
count): which package may import which, and no package cycle at import time."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1] / "nedsym"

#: what each stage may import besides itself (``errors`` and ``_version`` always allowed)
ALLOWED = {
    "symbolic": set(),
    "codegen": set(),
    "solve": {"codegen"},
}
#: packages nothing in the library may import (they sit on top)
TOP = {"apps"}


def _imports(lazy: bool):
    """``{package: {(imported package, file)}}``; with ``lazy=False`` only module-level
    imports (what runs at import time)."""
    edges: dict[str, set] = defaultdict(set)
    for f in ROOT.rglob("*.py"):
        rel = f.relative_to(ROOT)
        pkg = rel.parts[0] if len(rel.parts) > 1 else rel.stem
        tree = ast.parse(f.read_text())
        nodes = ast.walk(tree) if lazy else iter(tree.body)
        for node in nodes:
            if isinstance(node, ast.ImportFrom) and not node.level and node.module:
                mods = [node.module]
            elif isinstance(node, ast.Import):
                mods = [a.name for a in node.names]
            else:
                continue
            for m in mods:
                parts = m.split(".")
                if parts[0] == "nedsym" and len(parts) > 1 and parts[1] != pkg:
                    edges[pkg].add((parts[1], str(rel)))
    return edges


def test_stages_import_only_what_the_plan_allows():
    edges = _imports(lazy=True)
    bad = []
    for pkg, allowed in ALLOWED.items():
        for target, where in sorted(edges.get(pkg, ())):
            if target not in allowed | {"errors", "_version"}:
                bad.append(f"{where} imports nedsym.{target}")
    assert not bad, "layering violations:\n" + "\n".join(bad)


def test_nothing_in_the_library_imports_the_apps():
    edges = _imports(lazy=True)
    bad = [f"{where} imports nedsym.{t}" for pkg, es in edges.items() for t, where in es
           if t in TOP and pkg not in TOP | {"problems", "cli"}]
    assert not bad, "\n".join(bad)


def test_no_package_cycle_at_import_time():
    edges = _imports(lazy=False)
    graph = {p: {t for t, _ in es} for p, es in edges.items()}
    state: dict[str, int] = {}
    path: list[str] = []

    def visit(p):
        state[p] = 1
        path.append(p)
        for q in sorted(graph.get(p, ())):
            if state.get(q) == 1:
                raise AssertionError("import-time cycle: " + " -> ".join(
                    path[path.index(q):] + [q]))
            if q not in state:
                visit(q)
        path.pop()
        state[p] = 2

    for p in sorted(graph):
        if p not in state:
            visit(p)
