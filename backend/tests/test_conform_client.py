"""The mirror kit's HTTP client (tandem.conform.client): its response parser byte by byte, and one client
against a server on a socketpair.

Every response is fed whole, then cut at every byte: a cut before the end
needs more bytes (None) or, after EOF, is a response cut short (``complete``
off) once its head is in, and a head cut by EOF is not HTTP at all.
"""

from __future__ import annotations

import socket
from typing import Callable, Optional

import pytest

from tandem.conform.client import Client, NotHttp, parse_response
from tandem.conform.link import CaseFailed

CASES = [
    # (bytes, method, status, body, framing)
    (b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", "GET", 200, b"hello", "length"),
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n3;x=y\r\ncde\r\n0\r\nT: 1\r\n\r\n", "GET", 200,
     b"abcde", "chunked"),
    (b"HTTP/1.1 204 No Content\r\nX: y\r\n\r\n", "GET", 204, b"", "none"),
    (b"HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n", "HEAD", 200, b"", "none"),
    (b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\ncontent-length: 2\r\n\r\nok", "POST", 201, b"ok",
     "length"),
]


@pytest.mark.parametrize("data, method, status, body, framing", CASES, ids=["length", "chunked", "204", "head", "100"])
def test_whole_and_at_every_cut(data, method, status, body, framing):
    resp, used = parse_response(data + b"HTTP/1.1 200 next", method, False)
    assert (resp.status, resp.body, resp.framing, resp.complete, used) == (status, body, framing, True, len(data))
    head_end = data.index(b"\r\n\r\n", data.rfind(b"HTTP/1.")) + 4
    for cut in range(len(data)):
        assert parse_response(data[:cut], method, False) is None
        if cut < head_end:
            # EOF before the final response's head is whole: no response (nothing, or not HTTP).
            try:
                assert parse_response(data[:cut], method, True) is None
            except NotHttp as exc:
                assert "inside a response's head" in str(exc)
            continue
        cut_resp, _ = parse_response(data[:cut], method, True)
        assert cut_resp.status == status and not cut_resp.complete and body.startswith(cut_resp.body[:1])


def test_close_delimited():
    data = b"HTTP/1.0 200 OK\r\nX: 1\r\n\r\nup to the close"
    assert parse_response(data, "GET", False) is None
    resp, used = parse_response(data, "GET", True)
    assert (resp.body, resp.framing, resp.complete, used) == (b"up to the close", "close", True, len(data))
    assert resp.version == "HTTP/1.0" and resp.all("x") == ["1"]


@pytest.mark.parametrize("data, reason", [
    (b"HTTP/2 200 OK\r\n\r\n", "status line"),
    (b"HTTP/1.1 200 OK\r\nno colon\r\n\r\n", "not NAME: VALUE"),
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "chunk size"),
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabXY", "not followed by CRLF"),
    (b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n", "content-length"),
])
def test_not_http(data, reason):
    with pytest.raises(NotHttp, match=reason):
        parse_response(data, "GET", False)


def test_a_client_on_a_socketpair():
    kit_end, server = socket.socketpair()
    server.settimeout(2.0)
    holder: list[Client] = []

    def pump(until: Callable[[], bool], what: str, timeout: Optional[float] = None) -> None:
        client = holder[0]
        for _ in range(1000):
            if until():
                return
            client._write()
            client._read() if not client.eof else None
        raise CaseFailed(f"no {what}")

    kit_end.setblocking(False)
    client = Client(kit_end, "client", pump, 2.0)
    holder.append(client)
    try:
        client.request("POST", "/x", [("X-A", "b")], b"body")
        assert server.recv(1000) == b"POST /x HTTP/1.1\r\nHost: conform.test\r\nX-A: b\r\nContent-Length: 4\r\n\r\nbody"
        server.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n")
        client.pump(lambda: client.has_head() and client.body_so_far() > 0, "the head", None)
        server.close()
        resp = client.response("POST /x")
        assert (resp.status, resp.body, resp.complete) == (200, b"abc", False)
        with pytest.raises(CaseFailed, match="closed client without answering GET /y"):
            client.request("GET", "/y")
            client.response("GET /y")
    finally:
        client.close()
