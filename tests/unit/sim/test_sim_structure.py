"""The simulator and the matching package keep their dependencies one way and their rooms small.

Every import counts, including those under ``TYPE_CHECKING`` and inside functions: a cycle
hidden there still ties two modules into one unit that cannot be read, tested or compiled
apart.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import pegbot

ROOT = Path(pegbot.__file__).parent
PACKAGES = ("sim", "matching", "backtest")
MAX_LINES = 800


def _imports(package: str) -> dict[str, set[str]]:
    """Module name -> sibling modules it imports, anywhere in its source."""
    here = ROOT / package
    names = {p.stem for p in here.glob("*.py")}
    graph: dict[str, set[str]] = {}
    for path in here.glob("*.py"):
        deps: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                if node.level == 1:
                    if node.module:
                        deps.add(node.module.split(".")[0])
                    else:
                        deps.update(a.name for a in node.names)
                elif node.module and node.module.startswith(f"pegbot.{package}."):
                    deps.add(node.module.split(".")[2])
                elif node.module == f"pegbot.{package}":
                    deps.update(a.name for a in node.names)
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name.startswith(f"pegbot.{package}."):
                        deps.add(alias.name.split(".")[2])
        graph[path.stem] = (deps & names) - {path.stem}
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for dep in sorted(graph.get(node, ())):
            if state.get(dep) == 1:
                return [*stack[stack.index(dep) :], dep]
            if dep not in state:
                found = visit(dep)
                if found:
                    return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


@pytest.mark.parametrize("package", PACKAGES)
def test_no_import_cycles(package: str) -> None:
    graph = _imports(package)
    if package == "matching":
        graph.pop("__init__", None)  # the package's face imports its rooms, not the reverse
    assert _cycle(graph) is None, f"import cycle in pegbot.{package}: {_cycle(graph)}"


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


@pytest.mark.parametrize("package", PACKAGES)
def test_no_module_over_the_line_limit(package: str) -> None:
    long = {
        p.name: n
        for p in (ROOT / package).glob("*.py")
        if (n := len(p.read_text().splitlines())) > MAX_LINES
    }
    assert not long, f"split these by concern: {long}"
