"""`--reload`: the backend follows the application's source, by live swaps, with --serve and --connect."""

from __future__ import annotations

import os
import signal

import pytest

from e2e_support import (FRONTEND, PYTHON, START_TIMEOUT, ResponseReader, build_request, connect, free_port, request,
                         spawn, tcp_accepts, wait_until)

APP = '''
import asyncio
from tandem import App

app = App()


@app.get("/")
def index(request):
    return "VERSION"


@app.get("/slow")
async def slow(request):
    await asyncio.sleep(1.0)
    return "slow VERSION"
'''

RELOAD_WAIT = 30.0  # seconds a save may take to be served (a fresh interpreter starts)


def write_app(folder, version: str, extra: str = "") -> None:
    (folder / "app.py").write_text(APP.replace("VERSION", version) + extra)


def body(port: int, path: str = "/") -> bytes:
    try:
        return request(port, "GET", path).body
    except OSError:
        return b""


def served(port: int, want: bytes) -> None:
    wait_until(lambda: body(port) == want, RELOAD_WAIT, f"{want!r} to be served")


@pytest.fixture
def reloading(tmp_path):
    """Starts ``--reload`` with --serve (or, with ``frontend_apart``, --connect to a frontend of its own)."""
    started = []

    def start(frontend_apart: bool = False):
        app_dir = tmp_path / "app"
        app_dir.mkdir()
        write_app(app_dir, "v1")
        port = free_port()
        if frontend_apart:
            sock = str(tmp_path / "backend.sock")
            started.append(spawn("frontend", [FRONTEND, "--listen", f"127.0.0.1:{port}", "--backend-socket", sock],
                                 str(tmp_path)))
            where = ["--connect", sock]
        else:
            where = ["--serve", f"127.0.0.1:{port}", "--frontend", FRONTEND]
        proc = spawn("reload", [PYTHON, "-m", "tandem", "app:app", *where, "--reload"], str(tmp_path),
                     cwd=str(app_dir), start_new_session=True)
        started.append(proc)
        wait_until(lambda: tcp_accepts(port) or not proc.alive(), START_TIMEOUT, "the frontend")
        served(port, b"v1")
        return proc, port, app_dir

    yield start
    for proc in reversed(started):
        proc.stop()


@pytest.mark.parametrize("frontend_apart", [False, True], ids=["serve", "connect"])
def test_a_save_is_served_and_requests_in_flight_finish(reloading, frontend_apart):
    proc, port, app_dir = reloading(frontend_apart)
    # A request in flight on the old code when the file is saved.
    s = connect(port)
    s.sendall(build_request("GET", "/slow"))
    write_app(app_dir, "v2")
    served(port, b"v2")
    r = ResponseReader(s).read()
    assert (r.status, r.body) == (200, b"slow v1")
    s.close()
    assert "app.py changed: reloading" in proc.log()


def test_a_syntax_error_keeps_the_old_code_serving(reloading):
    proc, port, app_dir = reloading()
    write_app(app_dir, "v2", extra="\ndef broken(:\n")
    wait_until(lambda: "SyntaxError" in proc.log() and "reload failed" in proc.log(), RELOAD_WAIT,
               "the failed reload to be reported")
    assert body(port) == b"v1"
    # Fixed: the next save is served.
    write_app(app_dir, "v3")
    served(port, b"v3")


def test_files_that_are_not_source_change_nothing(reloading):
    proc, port, app_dir = reloading()
    (app_dir / "notes.txt").write_text("not source")
    (app_dir / ".hidden.py").write_text("x = 1")
    os.makedirs(app_dir / "templates")
    (app_dir / "templates" / "page.html").write_text("<p>a template</p>")
    wait_until(lambda: "templates/page.html changed: reloading" in proc.log(), RELOAD_WAIT,
               "a template change to reload")
    log = proc.log()
    assert "notes.txt" not in log and ".hidden.py" not in log
    assert body(port) == b"v1"


def test_ctrl_c_stops_everything(reloading):
    proc, port, app_dir = reloading()
    os.killpg(proc.pid, signal.SIGINT)
    assert proc.popen.wait(30) == 0, proc.log()
    assert not tcp_accepts(port)
