"""Data flows one way: ingest uses tracking and abuse, abuse reads tracking, tracking uses
neither, and no module imports one that imports it back (function-local imports count)."""

from __future__ import annotations

import ast
from collections import defaultdict

from tests.harness.common import ROOT

APPS = ("lwsmail", "abuse", "ingest", "limits", "ops", "tracking", "webhooks")


def import_graph() -> dict[str, set[str]]:
    modules = {}
    for app in APPS:
        for path in (ROOT / app).rglob("*.py"):
            if "migrations" not in path.parts:
                name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
                modules[name.removesuffix(".__init__")] = path
    graph: dict[str, set[str]] = defaultdict(set)
    for name, path in modules.items():
        for node in ast.walk(ast.parse(path.read_text())):
            targets = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                targets = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            for target in targets:
                while target and target not in modules:
                    target = target.rpartition(".")[0]
                if target and target != name:
                    graph[name].add(target)
    return graph


def test_no_module_imports_one_that_imports_it_back():
    graph = import_graph()
    cycles = []

    def visit(node: str, path: list[str], seen: set[str]) -> None:
        for nxt in graph.get(node, ()):
            if nxt == path[0]:
                cycles.append(" -> ".join([*path, nxt]))
            elif nxt not in seen and nxt > path[0]:  # each cycle once, from its least module
                seen.add(nxt)
                visit(nxt, [*path, nxt], seen)

    for start in sorted(graph):
        visit(start, [start], {start})
    assert cycles == []


def test_tracking_knows_nothing_of_blocks_and_abuse_nothing_of_the_way_in():
    graph = import_graph()

    def uses(app: str, other: str) -> list[str]:
        return sorted(
            f"{m} -> {t}"
            for m, targets in graph.items()
            if m.split(".")[0] == app
            for t in targets
            if t.split(".")[0] == other
        )

    assert uses("tracking", "abuse") == []
    assert uses("tracking", "ingest") == []
    assert uses("abuse", "ingest") == []
