"""The apps form floors (docs/architecture.md): each imports only the floors below it, the
ground floor none, the project package is the roof; no module imports one that imports it
back (function-local imports count); no Lua in Python strings; no file over 500 lines; no
reference to a path outside the repository."""

from __future__ import annotations

import ast
import re
import subprocess
from collections import defaultdict

from tests.harness.common import ROOT

# Lowest first; an app may import the apps of the floors before its own, never its own
# floor's other apps, never a floor above.
FLOORS = (
    ("hosting",),
    ("tracking", "webhooks"),
    ("enforcement",),
    ("abuse", "limits"),
    ("mailaccess", "reputation"),
    ("ingest", "panel", "api", "ops"),
    ("demo",),
    ("lwsmail",),
)
APPS = tuple(app for floor in FLOORS for app in floor)
FLOOR = {app: n for n, floor in enumerate(FLOORS) for app in floor}


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


def test_every_app_of_the_project_stands_on_a_floor():
    apps = {p.parent.name for p in ROOT.glob("*/apps.py")} | {"lwsmail"}
    assert apps == set(APPS)


def test_each_app_imports_only_the_floors_below_it():
    graph = import_graph()
    upward = sorted(
        f"{module} -> {target}"
        for module, targets in graph.items()
        for target in targets
        if (a := module.split(".")[0]) != (b := target.split(".")[0]) and FLOOR[b] >= FLOOR[a]
    )
    assert upward == []


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


def tracked(pattern: str) -> list[str]:
    out = subprocess.run(
        ["git", "ls-files", pattern], cwd=ROOT, capture_output=True, text=True, check=True
    )
    return out.stdout.split()


def test_no_python_file_holds_lua_and_none_is_over_500_lines():
    lua = re.compile(r"redis\.call\(|\blocal function\b")
    with_lua = [p for p in tracked("*.py") if lua.search((ROOT / p).read_text())]
    too_long = [
        p
        for p in tracked("*.py")
        if "/migrations/" not in p and len((ROOT / p).read_text().splitlines()) > 500
    ]
    assert with_lua == [p for p in with_lua if p.startswith("tests/")] and too_long == []


def test_nothing_tracked_points_outside_the_repository():
    outside = re.compile(r"\.\./shared|shared/DOMAIN|DOMAIN\.md")
    found = [
        p
        for p in tracked("*")
        if (ROOT / p).is_file()
        and not p.endswith((".png", ".ico", ".mo"))
        and outside.search((ROOT / p).read_text(errors="replace"))
        and p != "tests/lwsmail/test_architecture.py"
    ]
    assert found == []


def test_the_scripts_constants_are_the_pythons():
    from enforcement.counters import PREFIX, REFUSED_KEY
    from enforcement.scripts import DECIDE

    assert f"local PREFIX, REFUSED = '{PREFIX}', '{REFUSED_KEY}'" in DECIDE


def test_every_rule_names_code_that_exists():
    """docs/rules.md: each linked file exists and each name after it is defined there."""
    text = (ROOT / "docs" / "rules.md").read_text()
    missing = []
    for row in (line for line in text.splitlines() if line.startswith("|")):
        current = None
        for link, name in re.findall(r"\]\(\.\./([^)]+)\)|`([\w.]+)`", row):
            if link:
                current = ROOT / link
                if not current.exists():
                    missing.append(link)
            elif current is not None and current.suffix == ".py" and name.isidentifier():
                source = current.read_text()
                if not re.search(rf"^\s*(def|class) {re.escape(name)}\b", source, re.M):
                    missing.append(f"{current.relative_to(ROOT)}: {name}")
            elif current is not None and current.suffix == ".py" and "." in name:
                cls, _, attr = name.partition(".")
                source = current.read_text()
                if not re.search(rf"^class {cls}\b", source, re.M) or f"def {attr}" not in source:
                    missing.append(f"{current.relative_to(ROOT)}: {name}")
    assert missing == []
