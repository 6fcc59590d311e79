"""The layout of the tandem package: no import cycle between its modules, no function over 80 lines, and
every module opening with a docstring.

The import graph is read from the source with ``ast``, counting every import:
at the top, inside functions, under ``if TYPE_CHECKING``, and ``from . import x``.
Run as a script, this file prints the graph and any cycle.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path
from typing import Iterator

PACKAGE = Path(__file__).resolve().parents[1] / "tandem"
MAX_FUNCTION_LINES = 80


def module_name(path: Path) -> str:
    return "tandem" if path.stem == "__init__" else f"tandem.{path.stem}"


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.glob("*.py"))}


def imports(path: Path, known: set[str]) -> set[str]:
    """The tandem modules ``path`` imports, anywhere in it."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name.split(".")[0] == "tandem")
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0 and (node.module or "").split(".")[0] != "tandem":
                continue
            base = "tandem" if node.level else ""
            target = ".".join(part for part in (base, node.module or "") if part)
            for alias in node.names:
                # from . import x, from tandem import x: x may be a module of its own.
                found.add(f"{target}.{alias.name}" if f"{target}.{alias.name}" in known else target)
    return {name for name in found if name in known} - {module_name(path)}


def import_graph() -> dict[str, set[str]]:
    mods = modules()
    known = set(mods)
    return {name: imports(path, known) for name, path in mods.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every strongly connected group of more than one module (Tarjan), each as a sorted list."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return groups


def functions(path: Path) -> Iterator[tuple[str, int]]:
    """Every function and method of a module with its length in lines, ``def`` to last line."""
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            assert node.end_lineno is not None
            yield f"{path.name}:{node.lineno} {node.name}", node.end_lineno - node.lineno + 1


def test_the_package_is_where_the_tests_look() -> None:
    assert {"tandem.connection", "tandem.channel", "tandem.stream", "tandem.protocol"} <= set(modules())


def test_no_import_cycle() -> None:
    assert cycles(import_graph()) == []


def test_the_cycle_finder_finds_cycles() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": {"e"}}
    assert cycles(graph) == [["a", "b", "c"]]


def test_lower_modules_name_no_higher_one() -> None:
    graph = import_graph()
    assert graph["tandem.protocol"] == {"tandem.validation"}
    assert graph["tandem.validation"] == set()
    assert graph["tandem.connection"] == {"tandem.protocol"}
    assert "tandem.channel" not in graph["tandem.stream"]


def test_no_function_over_80_lines() -> None:
    long = [(name, n) for path in modules().values() for name, n in functions(path) if n > MAX_FUNCTION_LINES]
    assert long == []


def test_every_module_opens_with_a_docstring() -> None:
    missing = [name for name, path in modules().items()
               if path.stat().st_size and not ast.get_docstring(ast.parse(path.read_text()))]
    assert missing == []


if __name__ == "__main__":
    graph = import_graph()
    for name in sorted(graph):
        print(f"{name:24} -> {', '.join(sorted(graph[name])) or '-'}")
    found = cycles(graph)
    print("cycles:", found or "none")
    sys.exit(1 if found else 0)
