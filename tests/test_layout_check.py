"""The layout checker (tests/layout_check.py) on tiny trees made for each rule."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import layout_check as lc

CHECKER = Path(__file__).resolve().parent / "layout_check.py"


def write(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def c_function(name: str, body_lines: int, signature: str = "") -> str:
    """A definition of exactly body_lines + 2 lines (signature line, body, closing brace)."""
    body = "".join(f"    x += {i};\n" for i in range(body_lines))
    return f"{signature or f'int {name}(int x)'} {{\n{body}}}\n"


def py_function(name: str, lines: int, indent: str = "") -> str:
    """A def of exactly `lines` lines."""
    return f"{indent}def {name}():\n" + "".join(f"{indent}    x = {i}\n" for i in range(lines - 1))


# A tree that keeps every rule: a.c uses b (include and call), both use the protocol codec,
# and the Python package imports one way.
CLEAN = {
    "frontend/src/a.h": "#include \"tdm_proto.h\"\nint a_run(int x);\n",
    "frontend/src/a.c": "#include \"a.h\"\n#include \"b.h\"\n\n" + c_function("a_run", 3).replace(
        "x += 0;", "x += b_run(x) + tdm_len();"),
    "frontend/src/b.h": "int b_run(int x);\nextern int b_count;\n",
    "frontend/src/b.c": "#include \"b.h\"\n#include \"tdm_proto.h\"\nint b_count;\n\n" + c_function("b_run", 3),
    "frontend/src/util/c.c": "#include \"../b.h\"\n",
    "protocol/tdm_proto.h": "int tdm_len(void);\n",
    "protocol/tdm_proto.c": "#include \"tdm_proto.h\"\n\n" + c_function("tdm_len", 2, "int tdm_len(void)"),
    "protocol/tests/test_tdm.c": "#include \"../tdm_proto.h\"\n" + c_function("test_all", 300),
    "backend/tandem/__init__.py": "from .app import App\n",
    "backend/tandem/app.py": "from . import protocol\nfrom .protocol import pack\n\nclass App:\n    pass\n",
    "backend/tandem/protocol.py": "import struct\n\ndef pack():\n    return struct.pack('>I', 0)\n",
}


def test_a_clean_tree_has_no_findings(tmp_path):
    root = write(tmp_path, CLEAN)
    assert lc.report(root) == []
    graph = lc.c_graph(root)
    assert set(graph.edges["frontend/src/a.c"]) == {"frontend/src/b.c", "protocol/tdm_proto.c"}
    assert graph.edges["frontend/src/a.c"]["frontend/src/b.c"] == ["includes b.h", "b_run"]
    assert graph.edges["frontend/src/util/c.c"] == {"frontend/src/b.c": ["includes ../b.h"]}
    assert set(lc.python_graph(root).edges["backend/tandem/app.py"]) == {"backend/tandem/protocol.py"}


def test_the_cli_passes_a_clean_tree_and_fails_a_bad_one(tmp_path):
    clean = write(tmp_path / "clean", CLEAN)
    proc = subprocess.run([sys.executable, str(CHECKER), "--tree", str(clean)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "the layout holds" in proc.stdout

    bad = write(tmp_path / "bad", dict(CLEAN, **{"frontend/src/b.h": "#include \"a.h\"\nint b_run(int x);\n"}))
    proc = subprocess.run([sys.executable, str(CHECKER), "--tree", str(bad)], capture_output=True, text=True)
    assert proc.returncode == 1
    assert "frontend/src/a.c -> frontend/src/b.c -> frontend/src/a.c" in proc.stdout
    assert "frontend/src/b.c -> frontend/src/a.c: includes a.h" in proc.stdout


def test_two_files_that_include_each_other_are_a_cycle(tmp_path):
    root = write(tmp_path, {
        "frontend/src/conn.h": "#include \"pool.h\"\nvoid conn_open(void);\n",
        "frontend/src/conn.c": "#include \"conn.h\"\nvoid conn_open(void) {}\n",
        "frontend/src/pool.h": "void pool_get(void);\n",
        "frontend/src/pool.c": "#include \"pool.h\"\n#include \"conn.h\"\nvoid pool_get(void) {}\n",
    })
    graph = lc.c_graph(root)
    assert lc.cycles(graph) == [["frontend/src/conn.c", "frontend/src/pool.c", "frontend/src/conn.c"]]
    assert graph.edges["frontend/src/conn.c"]["frontend/src/pool.c"] == ["includes pool.h"]
    assert graph.edges["frontend/src/pool.c"]["frontend/src/conn.c"] == ["includes conn.h"]


def test_calls_by_name_make_a_cycle_without_includes(tmp_path):
    # Each file declares the other's function itself: no include ties them, the calls do.
    root = write(tmp_path, {
        "frontend/src/up.h": "int up_send(int);\n",
        "frontend/src/up.c": "#include \"up.h\"\nvoid http_on_data(int);\n"
                             "int up_send(int n) {\n    http_on_data(n);\n    return 0;\n}\n",
        "frontend/src/http.h": "void http_on_data(int n);\nvoid http_idle(void);\n",
        "frontend/src/http.c": "#include \"http.h\"\nint up_send(int);\n"
                               "void http_on_data(int n) {\n    up_send(n);\n}\n"
                               "void http_idle(void) {}\n",
        "frontend/src/log.h": "void log_line(const char *s);\n",
        "frontend/src/log.c": "#include \"log.h\"\n/* http_idle() is not called here */\n"
                              "void log_line(const char *s) {\n    hooks->http_idle();\n"
                              "    other.http_idle = 0;\n    (void)\"up_send(1)\";\n}\n",
    })
    graph = lc.c_graph(root)
    assert lc.cycles(graph) == [["frontend/src/http.c", "frontend/src/up.c", "frontend/src/http.c"]]
    assert graph.edges["frontend/src/up.c"]["frontend/src/http.c"] == ["http_on_data"]
    assert graph.edges["frontend/src/http.c"]["frontend/src/up.c"] == ["up_send"]
    # A name in a comment or a string, or a member of the same name, is no call.
    assert graph.edges["frontend/src/log.c"] == {}
    text = lc.describe_cycles(graph, lc.cycles(graph))
    assert "frontend/src/up.c -> frontend/src/http.c: http_on_data" in text


def test_a_loop_of_three_is_one_cycle_and_its_own_header_is_no_edge(tmp_path):
    files = {}
    for name, nxt in (("a", "b"), ("b", "c"), ("c", "a")):
        files[f"frontend/src/{name}.h"] = f"#include \"{name}.h\"\nvoid {name}_go(void);\n"
        files[f"frontend/src/{name}.c"] = (f"#include \"{name}.h\"\n#include \"{nxt}.h\"\n"
                                           f"void {name}_go(void) {{\n    {nxt}_go();\n}}\n")
    graph = lc.c_graph(write(tmp_path, files))
    assert lc.cycles(graph) == [["frontend/src/a.c", "frontend/src/b.c", "frontend/src/c.c", "frontend/src/a.c"]]


def test_a_c_function_over_the_limit_is_named_with_its_lines(tmp_path):
    text = (
        "#include \"x.h\"\n"
        "static int limit(int x);\n"                      # a prototype is no function
        "static const char *names[] = {\n    \"{\", \"}\",\n};\n"
        "struct pair { int a; int b; };\n"
        + c_function("just_under", 98)                    # 100 lines
        + "/* } a brace in a comment { */\n"
        + "static int\nlong_one(int x,\n         int y)\n{\n"
        + "".join(f"    x += y + {i}; /* {{ */ (void)\"}}\";\n" for i in range(96))
        + "}\n"                                           # 101 lines, from `static int` to `}`
        + "#define BODY { return 1; }\n"
        + c_function("after", 1)
    )
    fns = {f.name: f for f in lc.c_functions(text)}
    assert list(fns) == ["just_under", "long_one", "after"]
    assert fns["just_under"].lines == 100
    assert fns["long_one"].lines == 101 and fns["long_one"].first == 108
    root = write(tmp_path, {"frontend/src/x.c": text, "protocol/p.c": c_function("p_big", 200),
                            "frontend/tests/test_x.c": c_function("test_big", 200)})
    assert [str(f) for f in lc.long_c_functions(root)] == [
        "frontend/src/x.c:long_one: 101 lines (limit 100)", "protocol/p.c:p_big: 202 lines (limit 100)"]


def test_a_frontend_file_over_1000_lines_is_named(tmp_path):
    root = write(tmp_path, {"frontend/src/big.c": "\n" * 1001, "frontend/src/fits.h": "\n" * 1000,
                            "protocol/tdm_proto.c": "\n" * 5000})
    assert [str(f) for f in lc.long_files(root)] == ["frontend/src/big.c: 1001 lines (limit 1000)"]


def test_a_python_function_over_the_limit_is_named_nested_ones_too(tmp_path):
    text = (py_function("fits", 80) + "\n\nclass Channel:\n" + py_function("long_method", 81, "    ")
            + "\n\nasync def outer():\n" + py_function("inner", 81, "    ") + "    return inner\n")
    root = write(tmp_path, {"backend/tandem/__init__.py": "", "backend/tandem/channel.py": text,
                            "backend/tests/test_big.py": py_function("test_big", 200)})
    assert [str(f) for f in lc.long_python_functions(root)] == [
        "backend/tandem/channel.py:Channel.long_method: 81 lines (limit 80)",
        "backend/tandem/channel.py:outer: 83 lines (limit 80)",
        "backend/tandem/channel.py:outer.inner: 81 lines (limit 80)",
    ]


def test_python_cycles_through_every_form_of_import(tmp_path):
    root = write(tmp_path, {
        "backend/tandem/__init__.py": "from .app import App\n",
        "backend/tandem/app.py": "class App:\n    pass\n",
        # channel -> stream at the top, stream -> channel inside a function: a cycle.
        "backend/tandem/channel.py": "from .stream import Stream\n",
        "backend/tandem/stream.py": "class Stream:\n    def channel(self):\n        from . import channel\n"
                                    "        return channel\n",
        # cli -> tandem (a name from the package) -> app; app does not import cli: no cycle.
        "backend/tandem/cli.py": "from . import __version__, app\nimport tandem.app\n",
        # a subpackage: its module imports two levels up, absolutely and relatively.
        "backend/tandem/sub/__init__.py": "",
        "backend/tandem/sub/mod.py": "from .. import wsgi\nfrom tandem.sub import other\n",
        "backend/tandem/sub/other.py": "",
        "backend/tandem/wsgi.py": "import os\n\ndef load():\n    import tandem.sub.mod\n",
    })
    graph = lc.python_graph(root)
    assert graph.edges["backend/tandem/cli.py"] == {
        "backend/tandem/__init__.py": ["from . import __version__ (line 1)"],
        "backend/tandem/app.py": ["from . import app (line 1)", "import tandem.app (line 2)"]}
    assert graph.edges["backend/tandem/sub/mod.py"] == {
        "backend/tandem/wsgi.py": ["from .. import wsgi (line 1)"],
        "backend/tandem/sub/other.py": ["from tandem.sub import other (line 2)"]}
    assert lc.cycles(graph) == [
        ["backend/tandem/channel.py", "backend/tandem/stream.py", "backend/tandem/channel.py"],
        ["backend/tandem/sub/mod.py", "backend/tandem/wsgi.py", "backend/tandem/sub/mod.py"],
    ]
    assert graph.edges["backend/tandem/stream.py"]["backend/tandem/channel.py"] == ["from . import channel (line 3)"]


def test_a_c_extension_module_of_the_package_is_no_edge_to_the_package(tmp_path):
    root = write(tmp_path, {
        "backend/tandem/__init__.py": "from .protocol import pack\n",
        # _speedups is backend/ext/_speedups.c: importing it imports no Python module.
        "backend/tandem/protocol.py": "from . import _speedups\nfrom . import missing\n\ndef pack():\n    pass\n",
        "backend/ext/_speedups.c": "int x;\n",
    })
    graph = lc.python_graph(root)
    # A name the package has no module for is the package's own: that one is an edge.
    assert graph.edges["backend/tandem/protocol.py"] == {
        "backend/tandem/__init__.py": ["from . import missing (line 2)"]}
