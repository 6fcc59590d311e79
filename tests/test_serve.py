"""`python3 -m tandem APP --serve HOST:PORT`: frontend and backend in one command."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time

import pytest

from e2e_support import (APP, APPS_DIR, FRONTEND, PYTHON, REPO, START_TIMEOUT, free_port, request, spawn,
                         tcp_accepts)


def children(pid: int) -> list[int]:
    out = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as f:
                out += [int(x) for x in f.read().split()]
    except FileNotFoundError:
        pass
    return out


def command(pid: int) -> list[bytes]:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().split(b"\0")
    except FileNotFoundError:
        return [b""]


def gone(pid: int) -> bool:
    """True if pid no longer runs (absent, or a zombie nobody reaped yet)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


EXAMPLES = os.path.join(REPO, "examples")


@pytest.fixture
def serve(tmp_path, site):
    """Starts --serve on a free port; yields (proc, port, frontend pid); always stops both.

    By default it serves the e2e app; ``start(example=True)`` runs what `make run`
    runs: examples/app.py from the examples directory with ./public as /static.
    """
    started = []

    def start(example: bool = False, env=None, extra=()):
        for _ in range(3):
            port = free_port()
            if example:
                argv = [PYTHON, "-m", "tandem", "app:app", "--serve", f"127.0.0.1:{port}",
                        "--static", "/static=./public", "--frontend", FRONTEND]
                cwd = EXAMPLES
            else:
                argv = [PYTHON, "-m", "tandem", APP, "--app-dir", APPS_DIR, "--serve", f"127.0.0.1:{port}",
                        "--static", f"/static={site['static']}", "--frontend", FRONTEND, *extra]
                cwd = REPO
            proc = spawn("serve", argv, str(tmp_path), env=env, cwd=cwd, start_new_session=True)
            started.append(proc)
            deadline = time.monotonic() + START_TIMEOUT
            while time.monotonic() < deadline and proc.alive():
                if tcp_accepts(port):
                    try:
                        if request(port, "GET", "/").status == 200:
                            break
                    except OSError:
                        pass
                time.sleep(0.05)
            if proc.alive():
                kids = [k for k in children(proc.pid) if not gone(k) and command(k)[0] == FRONTEND.encode()]
                assert len(kids) == 1, f"expected one frontend child, found {kids}"
                return proc, port, kids[0]
            if "address already in use" not in proc.log().lower():
                break
        raise RuntimeError(f"--serve did not start:\n{started[-1].log()}")

    yield start
    for proc in started:
        if proc.alive():
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        proc.stop(signal.SIGKILL)


def check_serving(port: int) -> None:
    r = request(port, "GET", "/users/12?q=serve")
    assert (r.status, r.body) == (200, b'{"id":12,"q":"serve"}')
    r = request(port, "GET", "/static/hello.txt")
    assert (r.status, r.body) == (200, b"hello static\n")
    assert r.header("content-type") == "text/plain; charset=utf-8"


def test_serve_runs_both_and_sigint_stops_both(serve):
    proc, port, frontend_pid = serve()
    check_serving(port)
    proc.popen.send_signal(signal.SIGINT)
    try:
        code = proc.popen.wait(15)
    except subprocess.TimeoutExpired:
        pytest.fail(f"--serve did not exit after SIGINT:\n{proc.log()}")
    assert code == 0, proc.log()
    assert gone(frontend_pid), "the frontend child outlived --serve"
    assert not tcp_accepts(port)


def test_serve_ctrl_c_to_the_process_group_stops_both(serve):
    # A terminal's Ctrl-C sends SIGINT to the whole foreground process group.
    proc, port, frontend_pid = serve()
    check_serving(port)
    os.killpg(proc.pid, signal.SIGINT)
    try:
        code = proc.popen.wait(15)
    except subprocess.TimeoutExpired:
        pytest.fail(f"--serve did not exit after Ctrl-C:\n{proc.log()}")
    assert code == 0, proc.log()
    assert gone(frontend_pid)
    assert not tcp_accepts(port)


def test_serve_exits_nonzero_if_the_frontend_dies(serve):
    proc, port, frontend_pid = serve()
    os.kill(frontend_pid, signal.SIGKILL)
    try:
        code = proc.popen.wait(15)
    except subprocess.TimeoutExpired:
        pytest.fail(f"--serve kept running without its frontend:\n{proc.log()}")
    assert code == 1
    assert "killed by SIGKILL" in proc.log()


def test_the_example_app_as_make_run_serves_it(serve):
    # examples/app.py is the example; this is the command `make run` uses.
    proc, port, frontend_pid = serve(example=True)
    r = request(port, "GET", "/")
    assert (r.status, r.body) == (200, b"Hello from tandem!")
    assert r.header("content-type") == "text/plain; charset=utf-8"
    r = request(port, "GET", "/users/5?q=hi")
    assert (r.status, r.body) == (200, b'{"id":5,"q":"hi"}')
    assert r.header("content-type") == "application/json"
    assert request(port, "GET", "/users/abc").status == 404
    r = request(port, "POST", "/echo", body=b"echo me")
    assert (r.status, r.body, r.header("x-echo")) == (201, b"echo me", "1")
    r = request(port, "GET", "/hello/%3Ci%3Etandem?item=tea&item=cake")
    assert r.status == 200
    assert r.header("content-type") == "text/html; charset=utf-8"
    assert b"<h1>Hello, &lt;i&gt;tandem!</h1>" in r.body
    assert b"<li>tea</li>" in r.body and b"<li>cake</li>" in r.body
    r = request(port, "PUT", "/echo")
    assert (r.status, r.header("allow")) == (405, "POST")
    with open(os.path.join(EXAMPLES, "public", "hello.txt"), "rb") as f:
        expected = f.read()
    r = request(port, "GET", "/static/hello.txt")
    assert (r.status, r.body) == (200, expected)
    r = request(port, "POST", "/notes", body=b'{"text": "from the e2e suite"}',
                headers={"Content-Type": "application/json"})
    assert r.status == 201
    note = json.loads(r.body)
    assert note["text"] == "from the e2e suite"
    assert r.header("location") == f"/notes/{note['id']}"
    assert json.loads(request(port, "GET", f"/notes/{note['id']}").body) == note
    assert request(port, "DELETE", f"/notes/{note['id']}").status == 204
    assert request(port, "GET", f"/notes/{note['id']}").status == 404
    proc.popen.send_signal(signal.SIGINT)
    assert proc.popen.wait(15) == 0, proc.log()
    assert gone(frontend_pid)


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGHUP], ids=["kill-9", "hup"])
def test_serve_ending_any_way_takes_its_frontend_along(serve, sig):
    # A frontend left behind would hold the port and answer 503 forever.
    proc, port, frontend_pid = serve()
    check_serving(port)
    os.kill(proc.pid, sig)
    deadline = time.monotonic() + 15
    while not gone(frontend_pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert gone(frontend_pid), "the frontend outlived --serve"
    assert not tcp_accepts(port)


def test_serve_passes_the_environment_to_its_frontend(serve):
    # Every frontend setting reaches --serve's frontend through its TANDEM_* variable.
    proc, port, frontend_pid = serve(env={"TANDEM_MAX_BODY_SIZE": "10"})
    assert request(port, "POST", "/echo", body=b"more than ten bytes").status == 413
    assert request(port, "POST", "/echo", body=b"ten bytes!").status == 201


def test_serve_with_workers_runs_them_and_the_frontend_under_one_parent(serve):
    proc, port, frontend_pid = serve(extra=("--workers", "2"))
    check_serving(port)
    workers = [k for k in children(proc.pid) if k != frontend_pid and not gone(k)]
    assert len(workers) == 2, proc.log()
    # The frontend spreads requests over both (each answers with its pid).
    seen = set()
    deadline = time.monotonic() + 30
    while seen != set(workers) and time.monotonic() < deadline:
        seen.add(json.loads(request(port, "GET", "/pid").body)["pid"])
    assert seen == set(workers)
    proc.popen.send_signal(signal.SIGINT)
    assert proc.popen.wait(30) == 0, proc.log()
    assert gone(frontend_pid) and all(gone(w) for w in workers)
    assert not tcp_accepts(port)


@pytest.mark.parametrize("workers", ["1", "2"])
def test_serve_passes_the_access_log_and_metrics_flags(serve, tmp_path, workers):
    """--access-log, --access-log-format and --metrics-listen reach the frontend --serve starts."""
    log = tmp_path / "access.log"
    mport = free_port()
    proc, port, frontend_pid = serve(extra=("--workers", workers, "--access-log", str(log),
                                            "--access-log-format", "json", "--metrics-listen", f"127.0.0.1:{mport}"))
    assert b"--metrics-listen" in b" ".join(command(frontend_pid))
    assert request(port, "GET", "/users/4", headers={"User-Agent": "probe/serve"}).status == 200
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and b"probe/serve" not in (log.read_bytes() if log.exists() else b""):
        time.sleep(0.05)
    (line,) = [x for x in log.read_bytes().splitlines() if b"probe/serve" in x]
    assert json.loads(line)["request"] == "GET /users/4 HTTP/1.1"
    assert request(mport, "GET", "/metrics").status == 200
