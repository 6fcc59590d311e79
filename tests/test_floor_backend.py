"""benchmark/floor_backend.c, `make bench`'s cheapest backend, still speaks the protocol to this frontend.

The benchmark's floor row is only a measurement if the frontend serves through
it as through any backend: each request answered once, in order, bodies
waited for, the frontend's GOAWAY obeyed.
"""
from __future__ import annotations

import os
import signal
import socket
from typing import Iterator

import pytest

from e2e_support import (REPO, Stack, build_request, parse_responses, recv_all, request, spawn, stop,
                         wait_until)

FLOOR = os.path.join(REPO, "build", "floor-backend")


@pytest.fixture
def floor(tmp_path: object) -> Iterator[Stack]:
    if not os.path.exists(FLOOR):
        pytest.fail(f"{FLOOR} is not built (make build/floor-backend; `make test` builds it)")
    stack = Stack(str(tmp_path), None)
    stack.start_frontend()
    stack.backends.append(spawn("floor", [FLOOR, stack.sock], stack.tmpdir))
    try:
        wait_until(lambda: request(stack.port, "GET", "/").status == 200, 10, "the floor backend to answer")
        yield stack
    finally:
        stack.close()


def test_answers_every_request(floor: Stack) -> None:
    got = request(floor.port, "GET", "/any/path?q=1")
    assert (got.status, got.body, got.header("content-type")) == (200, b"Hello, World!", "text/plain; charset=utf-8")
    assert got.header("content-length") == "13"


def test_answers_a_request_with_a_body_once_it_has_all_of_it(floor: Stack) -> None:
    got = request(floor.port, "POST", "/echo", body=os.urandom(200_000))
    assert (got.status, got.body) == (200, b"Hello, World!")


def test_pipelined_requests_are_answered_in_order(floor: Stack) -> None:
    paths = [f"/{i}" for i in range(50)]
    with socket.create_connection(("127.0.0.1", floor.port), timeout=10) as s:
        s.sendall(b"".join(build_request("GET", p) for p in paths[:-1])
                  + build_request("GET", paths[-1], [("Connection", "close")]))
        responses = parse_responses(recv_all(s))
    assert [(r.status, r.body) for r in responses] == [(200, b"Hello, World!")] * len(paths)


def test_exits_when_the_frontend_stops(floor: Stack) -> None:
    proc = floor.backends[0]
    assert floor.frontend is not None
    stop(floor.frontend.popen, signal.SIGTERM)
    wait_until(lambda: not proc.alive(), 10, "the floor backend to exit")
    assert proc.popen.returncode == 0, proc.log()
