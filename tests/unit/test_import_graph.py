"""The package's shape: imports point one way (no cycle) and no module outgrows a room.

Every import counts — at module level, inside functions and under ``TYPE_CHECKING`` — because
each one is a dependency a reader has to follow, whether or not it runs at import time.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = "pegbot"
MAX_LINES = 800


def _modules() -> dict[str, Path]:
    """Every module under the package, by dotted name (a package by its ``__init__``)."""
    found: dict[str, Path] = {}
    for path in sorted((ROOT / PACKAGE).rglob("*.py")):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def _imported_names(tree: ast.Module, module: str, is_package: bool) -> Iterator[str]:
    """Dotted names a module imports, relative forms resolved; ``from a import b`` as ``a.b``.

    ``a.b`` may name a module or an attribute of ``a``; :func:`_resolve` decides which. A call
    ``importlib.import_module("a.b")`` with a literal name counts as an import too.
    """
    package = module if is_package else module.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                yield base if alias.name == "*" else f"{base}.{alias.name}"
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "import_module"
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            yield node.args[0].value


def _resolve(name: str, modules: dict[str, Path]) -> str | None:
    """The package module ``name`` loads: itself, else its longest known prefix."""
    while name:
        if name in modules:
            return name
        name = name.rpartition(".")[0]
    return None


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    graph: dict[str, set[str]] = {}
    for module, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        targets = {
            _resolve(name, modules)
            for name in _imported_names(tree, module, path.name == "__init__.py")
            if name == PACKAGE or name.startswith(PACKAGE + ".")
        }
        graph[module] = {t for t in targets if t is not None and t != module}
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []
    for root in sorted(graph):
        if root in index:
            continue
        work: list[tuple[str, Iterator[str]]] = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, edges = work[-1]
            for nxt in edges:
                if nxt not in index:
                    index[nxt] = low[nxt] = len(index)
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, iter(sorted(graph[nxt]))))
                    break
                if nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
            else:
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[node])
                if low[node] == index[node]:
                    component: list[str] = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        components.append(sorted(component))
    return components


def _one_cycle(graph: dict[str, set[str]], component: list[str]) -> list[str]:
    """A concrete import loop through ``component``'s first module, for the message."""
    members = set(component)
    start = component[0]
    paths = {start: [start]}
    queue = [start]
    while queue:
        node = queue.pop(0)
        for nxt in sorted(graph[node] & members):
            if nxt == start:
                return [*paths[node], start]
            if nxt not in paths:
                paths[nxt] = [*paths[node], nxt]
                queue.append(nxt)
    return component


def _resolved(source: str, module: str, is_package: bool = False) -> set[str | None]:
    modules = {"p": Path(), "p.a": Path(), "p.sub": Path(), "p.sub.b": Path()}
    names = _imported_names(ast.parse(source), module, is_package)
    return {_resolve(name, modules) for name in names}


def test_resolves_relative_and_submodule_imports() -> None:
    source = "from .. import a\nfrom .b import x\nfrom p import sub\nimport p.sub.b"
    assert _resolved(source, "p.sub.c") == {"p.a", "p.sub.b", "p.sub"}
    assert _resolved("from . import b\nfrom .. import a", "p.sub", True) == {"p.sub.b", "p.a"}
    assert _resolved("from p.sub import *\nfrom p.sub import name", "p.a") == {"p.sub"}


def test_counts_imports_in_functions_and_under_type_checking() -> None:
    source = (
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from p.sub.b import X\n"
        "def f() -> None:\n    import p.a\n"
        "def g() -> None:\n    importlib.import_module('p.sub')\n"
    )
    assert _resolved(source, "p.x") == {None, "p.sub.b", "p.a", "p.sub"}


def test_finds_a_cycle() -> None:
    graph = {"p.a": {"p.b"}, "p.b": {"p.c"}, "p.c": {"p.a"}, "p.d": {"p.a"}}
    assert _cycles(graph) == [["p.a", "p.b", "p.c"]]
    assert _one_cycle(graph, ["p.a", "p.b", "p.c"]) == ["p.a", "p.b", "p.c", "p.a"]


def test_no_import_cycle() -> None:
    graph = _graph()
    cycles = _cycles(graph)
    report = "\n".join(
        f"  {' -> '.join(_one_cycle(graph, c))}  (modules: {', '.join(c)})" for c in cycles
    )
    assert not cycles, f"import cycles under {PACKAGE}/:\n{report}"


def test_no_module_over_the_line_limit() -> None:
    too_long = {
        str(path.relative_to(ROOT)): n
        for path in _modules().values()
        if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert not too_long, f"modules over {MAX_LINES} lines (split by concern): {too_long}"
