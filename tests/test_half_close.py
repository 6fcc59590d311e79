"""A client that half-closes (shutdown(SHUT_WR)) after its requests, as `nc -N` and some scripts do.

What the frontend answers by itself (a static file, a 404 under a mount, a
refusal) is still sent, as nginx sends it, and the connection ends after it;
a request on its way to a backend is cancelled, as for a client that left.
"""
from __future__ import annotations

import socket

from e2e_support import BLOB_SIZE, blob_bytes, build_request, parse_responses, recv_all


def half_closed_exchange(port: int, data: bytes, methods: list[str] | None = None) -> list:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(data)
        s.shutdown(socket.SHUT_WR)
        return parse_responses(recv_all(s), methods)


def test_a_static_file_is_sent_to_a_client_that_half_closed(port, site) -> None:
    with open(f"{site['static']}/hello.txt", "rb") as f:
        hello = f.read()
    got = half_closed_exchange(port, build_request("GET", "/static/hello.txt"))
    assert [(r.status, r.body) for r in got] == [(200, hello)]


def test_a_large_static_file_is_sent_whole(port) -> None:
    got = half_closed_exchange(port, build_request("GET", "/static/blob.bin"))
    assert [(r.status, len(r.body)) for r in got] == [(200, BLOB_SIZE)]
    assert got[0].body == blob_bytes()


def test_a_404_under_a_mount_is_sent(port) -> None:
    got = half_closed_exchange(port, build_request("GET", "/static/no-such-file.txt"))
    assert [r.status for r in got] == [404]


def test_pipelined_static_requests_are_all_answered_in_order(port, site) -> None:
    with open(f"{site['static']}/hello.txt", "rb") as f:
        hello = f.read()
    got = half_closed_exchange(port, build_request("GET", "/static/hello.txt") + build_request("HEAD", "/static/hello.txt")
                               + build_request("GET", "/static/missing"), ["GET", "HEAD", "GET"])
    assert [(r.status, r.body) for r in got] == [(200, hello), (200, b""), (404, got[2].body)]


def test_a_request_for_a_backend_is_cancelled_as_for_a_client_gone(port) -> None:
    # Nothing is sent back: the backend's stream is cancelled (nginx's proxy does the same, 499).
    got = half_closed_exchange(port, build_request("GET", "/delay/300"))
    assert got == []
