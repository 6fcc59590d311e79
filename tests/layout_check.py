#!/usr/bin/python3
"""The numbers this tree's layout is held to, measured on a source tree.

    /usr/bin/python3 tests/layout_check.py [--tree DIR]

- no frontend source file (frontend/src, .c and .h) over MAX_FILE_LINES lines;
- no C function (frontend/src and protocol, .c) over MAX_C_FUNCTION_LINES lines;
- no Python function (backend/tandem) over MAX_PY_FUNCTION_LINES lines;
- no cycle between files, in C or in Python.

A C function is a definition at the top level of a file (in this tree, from
column 0): a head that ends in its parameter list, then a body. It counts from the
first line of its signature to the matching closing brace; a prototype is none. A
Python function is every def (nested ones too), counted from `def` to its last
line, as ast reports them.

The C graph has one node per module, x.c with x.h, and an edge A -> B when A's .c
or .h includes B's header with quotes, or names a function or variable that B's
header declares. The Python graph has one node per module of the tandem package
and an edge for every import of another, wherever it stands (inside functions and
under TYPE_CHECKING too); `from . import x` names the module x.

The CLI prints every finding and exits 1 if there is one. tests/test_layout.py
runs each check on this tree; tests/test_layout_check.py checks the checker on
small trees.
"""

from __future__ import annotations

import argparse
import ast
import bisect
import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator, Optional

MAX_FILE_LINES = 1000
MAX_C_FUNCTION_LINES = 100
MAX_PY_FUNCTION_LINES = 80

FRONTEND_SRC = "frontend/src"
PROTOCOL = "protocol"
PY_PACKAGE = "backend/tandem"
# The package's C extension modules, one source each: backend/ext/NAME.c is tandem.NAME.
PY_EXTENSIONS = "backend/ext"


@dataclass(frozen=True)
class Long:
    """A file or function over its limit: `path:name: lines` (name is empty for a file)."""
    path: str
    name: str
    lines: int
    limit: int

    def __str__(self) -> str:
        where = f"{self.path}:{self.name}" if self.name else self.path
        return f"{where}: {self.lines} lines (limit {self.limit})"


@dataclass
class Graph:
    """Files as nodes; edges[a][b] lists why a depends on b (an include, the names used)."""
    edges: dict[str, dict[str, list[str]]] = field(default_factory=dict)

    def add(self, a: str, b: str, why: str) -> None:
        if a == b:
            return
        reasons = self.edges.setdefault(a, {}).setdefault(b, [])
        if why not in reasons:
            reasons.append(why)


# --- the tree's files -----------------------------------------------------------------


def _rel(root: Path, path: Path) -> str:
    return path.relative_to(root).as_posix()


def frontend_sources(root: Path) -> list[Path]:
    base = root / FRONTEND_SRC
    return sorted(p for p in base.rglob("*") if p.suffix in (".c", ".h") and p.is_file()) if base.is_dir() else []


def protocol_sources(root: Path) -> list[Path]:
    """The C codec: protocol/*.c and *.h (its tests and vectors are not part of it)."""
    base = root / PROTOCOL
    return sorted(p for p in base.glob("*") if p.suffix in (".c", ".h") and p.is_file()) if base.is_dir() else []


def c_sources(root: Path) -> list[Path]:
    ext = root / PY_EXTENSIONS
    return frontend_sources(root) + protocol_sources(root) + (sorted(ext.glob("*.c")) if ext.is_dir() else [])


def python_sources(root: Path) -> list[Path]:
    base = root / PY_PACKAGE
    return sorted(p for p in base.rglob("*.py") if p.is_file()) if base.is_dir() else []


def _lines(path: Path) -> int:
    with open(path, "rb") as f:
        return sum(1 for _ in f)


# --- file and function lengths --------------------------------------------------------


def long_files(root: Path, limit: int = MAX_FILE_LINES) -> list[Long]:
    found = []
    for path in frontend_sources(root):
        n = _lines(path)
        if n > limit:
            found.append(Long(_rel(root, path), "", n, limit))
    return found


_C_TOKENS = re.compile(r"""
    (?P<comment>/\*.*?\*/|//[^\n]*)
  | (?P<string>"(?:\\.|[^"\\\n])*"|'(?:\\.|[^'\\\n])*')
  | (?P<directive>^[ \t]*\#(?:[^\n]*\\\n)*[^\n]*)
""", re.S | re.M | re.X)


def strip_c(text: str) -> str:
    """The C text with comments, string and character literals and preprocessor lines
    blanked out, every newline kept, so that braces and names in them count for nothing
    and line numbers stay those of the file."""
    def blank(m: re.Match[str]) -> str:
        s = m.group(0)
        if m.group("string") is not None:
            return s[0] + re.sub(r"[^\n]", " ", s[1:-1]) + s[-1]
        return re.sub(r"[^\n]", " ", s)
    return _C_TOKENS.sub(blank, text)


_C_IDENT = re.compile(r"\b[A-Za-z_]\w*")
_C_NOT_NAMES = {"if", "for", "while", "switch", "return", "sizeof", "defined", "__attribute__", "__typeof__",
                "typeof", "_Alignof", "alignof", "_Static_assert", "static_assert", "__declspec", "asm", "__asm__"}


@dataclass(frozen=True)
class CFunction:
    name: str
    first: int      # line of the signature's first line (1-based)
    last: int       # line of the closing brace

    @property
    def lines(self) -> int:
        return self.last - self.first + 1


def _match_brace(code: str, open_at: int) -> int:
    depth = 0
    for i in range(open_at, len(code)):
        if code[i] == "{":
            depth += 1
        elif code[i] == "}":
            depth -= 1
            if depth == 0:
                return i
    return len(code) - 1


_NON_SPACE = re.compile(r"\S")
_HEAD_END = re.compile(r"[;{]")


def _top_level(code: str) -> Iterator[tuple[int, int, Optional[int]]]:
    """(start, head_end, body_end) of each top-level declaration of blanked C code: its head
    runs from its first character to its `;` (body_end None) or to the `{` of its body,
    which ends at body_end, the matching `}`."""
    pos = 0
    while True:
        m = _NON_SPACE.search(code, pos)
        if not m:
            return
        end = _HEAD_END.search(code, m.start())
        if not end:
            return
        if code[end.start()] == ";":
            yield m.start(), end.start(), None
            pos = end.end()
        else:
            close = _match_brace(code, end.start())
            yield m.start(), end.start(), close
            pos = close + 1


def _function_name(head: str) -> Optional[str]:
    """The name of the function that a declaration's head declares or defines, or None:
    `static int name(args)` and its multi-line forms are; `x[] = {`, `struct s {`, a
    typedef and a pointer to a function (`void (*f)(int)`) are not."""
    depth, first_paren = 0, -1
    for i, ch in enumerate(head):
        if ch == "(":
            if depth == 0 and first_paren < 0:
                first_paren = i
            depth += 1
        elif ch == ")":
            depth -= 1
    if first_paren < 0 or not head.rstrip().endswith(")") or re.match(r"\s*typedef\b", head):
        return None
    if head[first_paren + 1:].lstrip().startswith("*"):
        return None
    m = re.search(r"([A-Za-z_]\w*)$", head[:first_paren].rstrip())
    if not m or m.group(1) in _C_NOT_NAMES:
        return None
    return m.group(1)


def c_functions(text: str) -> list[CFunction]:
    """The function definitions of a C file, in order: from the first line of the
    signature to the line of the matching closing brace."""
    code = strip_c(text)
    line_starts = [0] + [m.end() for m in re.finditer(r"\n", code)]

    def line(pos: int) -> int:
        return bisect.bisect_right(line_starts, pos)

    return [CFunction(name, line(start), line(close))
            for start, head_end, close in _top_level(code)
            if close is not None and (name := _function_name(code[start:head_end]))]


def long_c_functions(root: Path, limit: int = MAX_C_FUNCTION_LINES) -> list[Long]:
    found = []
    for path in c_sources(root):
        if path.suffix != ".c":
            continue
        for fn in c_functions(path.read_text(errors="replace")):
            if fn.lines > limit:
                found.append(Long(_rel(root, path), fn.name, fn.lines, limit))
    return found


def python_functions(tree: ast.AST) -> Iterator[tuple[str, int]]:
    """(qualified name, lines) of every def in a module, nested ones too."""
    def walk(node: ast.AST, prefix: str) -> Iterator[tuple[str, int]]:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                name = prefix + child.name
                assert child.end_lineno is not None
                yield name, child.end_lineno - child.lineno + 1
                yield from walk(child, name + ".")
            elif isinstance(child, ast.ClassDef):
                yield from walk(child, prefix + child.name + ".")
            else:
                yield from walk(child, prefix)
    return walk(tree, "")


def long_python_functions(root: Path, limit: int = MAX_PY_FUNCTION_LINES) -> list[Long]:
    found = []
    for path in python_sources(root):
        tree = ast.parse(path.read_text(), filename=str(path))
        for name, n in python_functions(tree):
            if n > limit:
                found.append(Long(_rel(root, path), name, n, limit))
    return found


# --- the C graph ----------------------------------------------------------------------


def _c_node(root: Path, path: Path) -> str:
    """x.c and x.h are one node, named after the .c where there is one."""
    stem = path.with_suffix("")
    return _rel(root, stem.with_suffix(".c") if stem.with_suffix(".c").exists() else stem.with_suffix(".h"))


_INCLUDE = re.compile(r'^[ \t]*#[ \t]*include[ \t]*"([^"]+)"', re.M)


def _resolve_include(name: str, including: Path, headers: list[Path]) -> Optional[Path]:
    """The tree's header that `#include "name"` in `including` means: next to it, else
    the one header whose path ends with name (the build's -I folders are not read)."""
    near = Path(os.path.normpath(including.parent / name))
    if near in headers:
        return near
    ending = [h for h in headers if h.as_posix().endswith("/" + name)]
    return ending[0] if len(ending) == 1 else None


def header_names(text: str) -> set[str]:
    """The functions and variables a header declares for others: its prototypes, inline
    definitions and extern variables; not its types, fields or macros."""
    code = strip_c(text)
    names: set[str] = set()
    for start, head_end, body_end in _top_level(code):
        head = code[start:head_end]
        name = _function_name(head)
        if name:
            names.add(name)
        elif body_end is None and re.match(r"\s*extern\b", head):
            m = (re.search(r"\(\s*\*\s*([A-Za-z_]\w*)\s*\)", head)            # extern void (*hook)(int)
                 or re.search(r"([A-Za-z_]\w*)\s*(?:\[[^\]]*\]\s*)*$", head))   # extern int x, y[4]
            if m:
                names.add(m.group(1))
    return names


def used_names(text: str) -> set[str]:
    """Every identifier the C text uses, outside comments, strings and directives, other
    than a member after `.` or `->`."""
    code = strip_c(text)
    return {m.group(0) for m in _C_IDENT.finditer(code)
            if not re.search(r"(\.|->)\s*$", code[max(0, m.start() - 4):m.start()])}


def c_graph(root: Path) -> Graph:
    files = c_sources(root)
    headers = [p for p in files if p.suffix == ".h"]
    graph = Graph()
    public: dict[str, str] = {}            # name -> the node whose header declares it
    for h in headers:
        for name in header_names(h.read_text(errors="replace")):
            public.setdefault(name, _c_node(root, h))
    for path in files:
        node = _c_node(root, path)
        graph.edges.setdefault(node, {})
        text = path.read_text(errors="replace")
        for inc in _INCLUDE.findall(text):
            target = _resolve_include(inc, path, headers)
            if target is not None:
                graph.add(node, _c_node(root, target), f"includes {inc}")
        for name in sorted(used_names(text)):
            owner = public.get(name)
            if owner is not None and owner != node:
                graph.add(node, owner, name)
    return graph


# --- the Python graph -----------------------------------------------------------------


def _py_modules(root: Path) -> dict[str, Path]:
    base = root / PY_PACKAGE
    modules = {}
    for path in python_sources(root):
        parts = list(path.relative_to(base.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    return modules


def _py_extensions(root: Path) -> set[str]:
    """The package's C extension modules: they import none of its Python modules."""
    base = root / PY_EXTENSIONS
    package = PY_PACKAGE.rsplit("/", 1)[-1]
    return {f"{package}.{p.stem}" for p in base.glob("*.c")} if base.is_dir() else set()


def _py_imports(tree: ast.AST, module: str, is_package: bool, modules: dict[str, Path],
                extensions: frozenset[str] = frozenset()) -> Iterator[tuple[str, str]]:
    """(module of the package imported, the import as written) for every import in a module."""
    package = module if is_package else module.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                name = alias.name
                while name and name not in modules:
                    name = name.rpartition(".")[0]
                if name:
                    yield name, f"import {alias.name} (line {node.lineno})"
        elif isinstance(node, ast.ImportFrom):
            source = node.module or ""
            if node.level:
                base = package
                for _ in range(node.level - 1):
                    base = base.rpartition(".")[0]
                source = ".".join(p for p in (base, node.module) if p)
            # Each name is a module of its own (`from . import x`) or a name of the source module.
            names: dict[str, list[str]] = {}
            for alias in node.names:
                sub = f"{source}.{alias.name}"
                if sub in extensions:
                    continue
                target = sub if sub in modules else source
                if target in modules:
                    names.setdefault(target, []).append(alias.name)
            shown = "." * node.level + (node.module or "")
            for target, imported in names.items():
                yield target, f"from {shown} import {', '.join(imported)} (line {node.lineno})"


def python_graph(root: Path) -> Graph:
    modules = _py_modules(root)
    extensions = frozenset(_py_extensions(root))
    graph = Graph()
    for module, path in modules.items():
        node = _rel(root, path)
        graph.edges.setdefault(node, {})
        tree = ast.parse(path.read_text(), filename=str(path))
        for target, why in _py_imports(tree, module, path.name == "__init__.py", modules, extensions):
            graph.add(node, _rel(root, modules[target]), why)
    return graph


# --- cycles ---------------------------------------------------------------------------


def cycles(graph: Graph, limit: int = 200) -> list[list[str]]:
    """Every elementary cycle, each once, as a path that starts at its least node and
    ends where it started; at most `limit` of them."""
    nodes = sorted(set(graph.edges) | {b for out in graph.edges.values() for b in out})
    found: list[list[str]] = []
    for start in nodes:
        stack = [(start, [start])]
        while stack and len(found) < limit:
            node, path = stack.pop()
            for nxt in sorted(graph.edges.get(node, {}), reverse=True):
                if nxt == start:
                    found.append(path + [start])
                elif nxt > start and nxt not in path:
                    stack.append((nxt, path + [nxt]))
    return sorted(found, key=lambda c: (len(c), c))


def describe_cycles(graph: Graph, found: list[list[str]]) -> str:
    """The cycles as paths, then what makes each of their edges."""
    lines = [" -> ".join(c) for c in found]
    edges = sorted({(a, b) for c in found for a, b in zip(c, c[1:])})
    if edges:
        lines.append("where:")
        for a, b in edges:
            reasons = graph.edges[a][b]
            shown = ", ".join(reasons[:8]) + (f" and {len(reasons) - 8} more" if len(reasons) > 8 else "")
            lines.append(f"  {a} -> {b}: {shown}")
    return "\n".join(lines)


# --- the command line -----------------------------------------------------------------


def report(root: Path) -> list[str]:
    """Every finding on the tree, as sections of text; empty if the layout holds."""
    sections = []
    lengths = [(f"frontend files over {MAX_FILE_LINES} lines", long_files(root)),
               (f"C functions over {MAX_C_FUNCTION_LINES} lines", long_c_functions(root)),
               (f"Python functions over {MAX_PY_FUNCTION_LINES} lines", long_python_functions(root))]
    for title, found in lengths:
        if found:
            sections.append(f"{title}:\n" + "\n".join(f"  {f}" for f in found))
    for title, graph in (("cycles between C files", c_graph(root)),
                         ("cycles between Python modules", python_graph(root))):
        found_cycles = cycles(graph)
        if found_cycles:
            text = describe_cycles(graph, found_cycles)
            sections.append(f"{title}:\n" + "\n".join("  " + line for line in text.splitlines()))
    return sections


def main(argv: Optional[Iterable[str]] = None) -> int:
    here = Path(__file__).resolve().parent.parent
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tree", type=Path, default=here, help="the tree to check (default: this checkout)")
    args = ap.parse_args(list(argv) if argv is not None else None)
    root = args.tree.resolve()
    if not root.is_dir():
        print(f"layout_check: {root} is not a directory", file=sys.stderr)
        return 2
    sections = report(root)
    for s in sections:
        print(s)
    print(f"layout_check: {root}: " + ("the layout holds" if not sections else f"{len(sections)} check(s) fail"))
    return 1 if sections else 0


if __name__ == "__main__":
    sys.exit(main())
