"""Pipelined requests whose methods are not safe run one at a time, in their turn (RFC 9112 section 9.3.2).

GET, HEAD, OPTIONS and TRACE pipelined on one connection may run at once (their
answers still go out in order); a POST, PUT, PATCH or DELETE behind a request
not yet answered waits until it is, as nginx runs every pipelined request.  So
when an earlier answer closes the connection, a later request that is not safe
has not run, and the access log does not claim an answer the client never got.
"""
from __future__ import annotations

import socket
import textwrap
from pathlib import Path
from typing import Iterator

import pytest

from e2e_support import Stack, build_request, parse_responses, recv_all, wait_until

APP = textwrap.dedent("""\
    import asyncio, os
    from tandem import App, Response

    app = App()
    EFFECTS = os.environ["EFFECTS"]


    def note(what):
        with open(EFFECTS, "a") as f:
            f.write(what + "\\n")


    # ?s=SECONDS, or ?after=TAG: until /wait?tag=TAG has answered (a request running at once), 10 s at most.
    async def pause(request):
        after = request.query_params.get("after")
        if after is None:
            await asyncio.sleep(float(request.query_params.get("s", "0")))
            return
        for _ in range(1000):
            if os.path.exists(EFFECTS) and f"wait answered {after}\\n" in open(EFFECTS).read():
                return
            await asyncio.sleep(0.01)
        note("gave up waiting for " + after)


    @app.get("/close")
    async def close(request):
        await pause(request)
        note("close answered")
        return Response("bye", headers={"connection": "close"})


    @app.get("/wait")
    async def wait(request):
        await pause(request)
        note("wait answered " + request.query_params.get("tag", ""))
        return "waited"


    @app.route("/effect", methods=["POST", "PUT", "PATCH", "DELETE"])
    async def effect(request):
        note(request.method + " ran")
        return "done " + request.method
    """)


@pytest.fixture
def effects_stack(tmp_path: Path) -> Iterator[tuple[Stack, Path, Path]]:
    app_dir = tmp_path / "app"
    app_dir.mkdir()
    (app_dir / "pipeline_app.py").write_text(APP)
    effects, log = tmp_path / "effects.txt", tmp_path / "access.log"
    stack = Stack(str(tmp_path / "stack"), None)
    try:
        stack.start_frontend("--access-log", str(log))
        stack.start_backend(app="pipeline_app:app", app_dir=str(app_dir), wait=False, env={"EFFECTS": str(effects)})
        stack.wait_attached(stack.backends[0])
        yield stack, effects, log
    finally:
        stack.close()


def exchange(port: int, data: bytes, methods: list[str]) -> list:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(data)
        return parse_responses(recv_all(s), methods)


def lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE"])
def test_a_request_that_is_not_safe_runs_only_after_the_one_before_is_answered(effects_stack, method) -> None:
    stack, effects, _ = effects_stack
    got = exchange(stack.port, build_request("GET", "/wait?s=0.3&tag=first")
                   + build_request(method, "/effect", [("Content-Length", "4")], b"data")
                   + build_request("GET", "/wait?s=0&tag=last", [("Connection", "close")]), ["GET", method, "GET"])
    assert [(r.status, r.body) for r in got] == [(200, b"waited"), (200, f"done {method}".encode()),
                                                  (200, b"waited")]
    # The GET before it had answered when it ran; the GET after it may run at once behind it.
    assert lines(effects)[:2] == ["wait answered first", f"{method} ran"]


def test_a_request_that_is_not_safe_does_not_run_when_an_earlier_answer_closes(effects_stack) -> None:
    stack, effects, log = effects_stack
    got = exchange(stack.port, build_request("GET", "/close?s=0.3")
                   + build_request("POST", "/effect", [("Content-Length", "4")], b"data"), ["GET", "POST"])
    assert [(r.status, r.body) for r in got] == [(200, b"bye")]
    assert lines(effects) == ["close answered"]
    # Only the answered request is logged (the POST was never run: no line, as nginx never reads it).
    wait_until(lambda: len(lines(log)) >= 1, 10, "the access log line")
    logged = lines(log)
    assert len(logged) == 1 and '"GET /close?s=0.3 HTTP/1.1" 200' in logged[0], logged


def test_safe_requests_still_run_at_once(effects_stack) -> None:
    stack, effects, _ = effects_stack
    # The first answers only once the second has: they ran together.
    got = exchange(stack.port, build_request("GET", "/wait?after=second&tag=first")
                   + build_request("GET", "/wait?tag=second", [("Connection", "close")]), ["GET", "GET"])
    assert [(r.status, r.body) for r in got] == [(200, b"waited")] * 2
    assert lines(effects) == ["wait answered second", "wait answered first"]


def test_a_safe_request_dropped_behind_a_closing_answer_is_not_logged_as_answered(effects_stack) -> None:
    stack, effects, log = effects_stack
    got = exchange(stack.port, build_request("GET", "/close?after=dropped")
                   + build_request("GET", "/wait?tag=dropped"), ["GET", "GET"])
    assert [(r.status, r.body) for r in got] == [(200, b"bye")]
    assert lines(effects) == ["wait answered dropped", "close answered"]
    wait_until(lambda: len(lines(log)) >= 2, 10, "two access log lines")
    logged = lines(log)
    # The second ran (safe, at once) but its answer never went out: 499, after the first, not a 200 before it.
    assert '"GET /close?after=dropped HTTP/1.1" 200' in logged[0], logged
    assert '"GET /wait?tag=dropped HTTP/1.1" 499' in logged[1], logged
