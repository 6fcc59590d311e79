"""The numbers this tree's layout is held to, measured on the tree itself by
tests/layout_check.py (run it by hand for the whole report): no frontend file over
1,000 lines, no C function over 100, no Python function over 80, and no files that
include, call or import each other in a loop, in C or in Python."""

from __future__ import annotations

import ast
from pathlib import Path

import layout_check as lc

ROOT = Path(__file__).resolve().parent.parent


def listing(found: list[lc.Long]) -> str:
    return "\n".join(f"  {f}" for f in found)


def test_the_checker_finds_the_sources():
    # Guards every test below against passing on a tree whose sources have moved away.
    assert lc.frontend_sources(ROOT), f"no .c or .h under {lc.FRONTEND_SRC}"
    assert lc.protocol_sources(ROOT), f"no .c or .h in {lc.PROTOCOL}"
    assert lc.python_sources(ROOT), f"no .py under {lc.PY_PACKAGE}"


def test_no_frontend_file_over_1000_lines():
    found = lc.long_files(ROOT)
    assert not found, f"frontend files over {lc.MAX_FILE_LINES} lines:\n{listing(found)}"


def test_no_c_function_over_100_lines():
    found = lc.long_c_functions(ROOT)
    assert not found, f"C functions over {lc.MAX_C_FUNCTION_LINES} lines:\n{listing(found)}"


def test_no_python_function_over_80_lines():
    found = lc.long_python_functions(ROOT)
    assert not found, f"Python functions over {lc.MAX_PY_FUNCTION_LINES} lines:\n{listing(found)}"


def test_no_c_files_include_or_call_each_other_in_a_loop():
    graph = lc.c_graph(ROOT)
    found = lc.cycles(graph)
    assert not found, "C files that include or call each other in a loop:\n" + lc.describe_cycles(graph, found)


def test_no_python_modules_import_each_other_in_a_loop():
    graph = lc.python_graph(ROOT)
    found = lc.cycles(graph)
    assert not found, "Python modules that import each other in a loop:\n" + lc.describe_cycles(graph, found)


def test_the_backends_connection_layers_name_no_higher_one():
    # The codec, the rules and the stream sit below the asyncio shell (README, "Repository layout").
    edges = lc.python_graph(ROOT).edges
    pkg = lc.PY_PACKAGE

    def deps(module: str) -> set[str]:
        return {Path(d).stem for d in edges.get(f"{pkg}/{module}.py", {})}

    assert deps("accelerator") == set()
    assert deps("validation") == {"accelerator"}
    assert deps("protocol") == {"validation", "accelerator"}
    assert deps("connection") == {"protocol"}
    assert "channel" not in deps("stream")


def test_every_source_file_opens_saying_what_it_owns():
    missing = [str(p) for p in lc.python_sources(ROOT)
               if p.stat().st_size and not ast.get_docstring(ast.parse(p.read_text()))]
    missing += [str(p) for p in lc.frontend_sources(ROOT) + lc.protocol_sources(ROOT)
                if not p.read_text().lstrip().startswith("/*")]
    assert not missing, "files without an opening comment or docstring:\n" + "\n".join(missing)
