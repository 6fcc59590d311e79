"""Malformed requests get 400 and a closed connection; everyone else is unaffected."""

from __future__ import annotations

import http.client

import pytest

from e2e_support import ResponseReader, build_request, connect, is_closed, request

BAD_REQUESTS = {
    "garbage request line": b"THIS IS NOT HTTP\r\n\r\n",
    "tls hello on the http port": b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 50,
    "obs-fold header": b"GET / HTTP/1.1\r\nHost: e2e.test\r\nX-Folded: a\r\n b\r\n\r\n",
    "missing host in http/1.1": b"GET / HTTP/1.1\r\n\r\n",
    "two host headers": b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
    "transfer-encoding and content-length": (b"POST /echo HTTP/1.1\r\nHost: e2e.test\r\n"
                                             b"Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n"
                                             b"0\r\n\r\n"),
    "bad chunk size": (b"POST /echo HTTP/1.1\r\nHost: e2e.test\r\nTransfer-Encoding: chunked\r\n\r\n"
                       b"zz\r\nhello\r\n0\r\n\r\n"),
    "bad chunk size after a good chunk": (b"POST /echo HTTP/1.1\r\nHost: e2e.test\r\n"
                                          b"Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\nxyz\r\n"),
    # Not CRLF after a chunk's data: llhttp 8 outside strict mode takes any two bytes.
    "two bytes other than CRLF after chunk data": (b"POST /echo HTTP/1.1\r\nHost: e2e.test\r\n"
                                                   b"Transfer-Encoding: chunked\r\n\r\n"
                                                   b"5\r\nhelloAB1\r\nZ\r\n0\r\n\r\n"),
    "non-numeric content-length": b"POST /echo HTTP/1.1\r\nHost: e2e.test\r\nContent-Length: abc\r\n\r\n",
    "conflicting content-lengths": (b"POST /echo HTTP/1.1\r\nHost: e2e.test\r\nContent-Length: 5\r\n"
                                    b"Content-Length: 6\r\n\r\nhello!"),
    "space in a header name": b"GET / HTTP/1.1\r\nHost: e2e.test\r\nBad Name: v\r\n\r\n",
    "space before the colon": b"GET / HTTP/1.1\r\nHost: e2e.test\r\nX-A : v\r\n\r\n",
    "control byte in a header value": b"GET / HTTP/1.1\r\nHost: e2e.test\r\nX-A: a\x01b\r\n\r\n",
    "nul in the target": b"GET /a\x00b HTTP/1.1\r\nHost: e2e.test\r\n\r\n",
    "percent-encoded nul in the path": b"GET /users/1%00 HTTP/1.1\r\nHost: e2e.test\r\n\r\n",
    "invalid percent-encoding": b"GET /users/%zz HTTP/1.1\r\nHost: e2e.test\r\n\r\n",
}


def read_error(port: int, data: bytes):
    with connect(port) as s:
        s.sendall(data)
        reader = ResponseReader(s)
        r = reader.read()
        closed = reader.at_eof()
    return r, closed


@pytest.mark.parametrize("name", list(BAD_REQUESTS))
def test_malformed_request_is_400_and_closed(port, name):
    r, closed = read_error(port, BAD_REQUESTS[name])
    assert r.status == 400, r
    assert r.reason == "Bad Request"
    assert r.header("connection") == "close"
    assert r.body.startswith(b"Bad Request")
    assert closed, "the connection stayed open after a 400"


def test_malformed_after_a_good_request_on_the_same_connection(port):
    # Sent separately: the good request is answered, then the garbage gets 400 and a close.
    with connect(port) as s:
        reader = ResponseReader(s)
        s.sendall(build_request("GET", "/users/1?q=ok"))
        r = reader.read()
        assert (r.status, r.body) == (200, b'{"id":1,"q":"ok"}')
        s.sendall(b"GARBAGE\r\n\r\n")
        r = reader.read()
        assert r.status == 400
        assert reader.at_eof()


def test_malformed_pipelined_behind_a_good_request(port):
    # In one write: the good request is still answered in full; after it the
    # server may send the 400 or just close (its response says connection: close).
    with connect(port) as s:
        s.sendall(build_request("GET", "/users/1?q=ok") + b"GARBAGE\r\n\r\n")
        reader = ResponseReader(s)
        r = reader.read()
        assert (r.status, r.body) == (200, b'{"id":1,"q":"ok"}')
        if r.header("connection") != "close":
            assert reader.read().status == 400
        assert reader.at_eof()


def test_unsupported_transfer_coding_is_refused_and_closed(port):
    r, closed = read_error(port, b"POST /echo HTTP/1.1\r\nHost: e2e.test\r\nTransfer-Encoding: gzip\r\n\r\n")
    assert r.status in (400, 501)
    assert closed


def test_oversized_header_is_431_and_closed(port):
    r, closed = read_error(port, b"GET / HTTP/1.1\r\nHost: e2e.test\r\nX-Big: " + b"a" * 70000 + b"\r\n\r\n")
    assert r.status == 431
    assert closed


def test_frontend_keeps_serving_after_malformed_requests(port):
    # A keep-alive connection opened before the bad requests keeps working after them.
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", "/users/1?q=before")
        r = conn.getresponse()
        assert (r.status, r.read()) == (200, b'{"id":1,"q":"before"}')
        for data in BAD_REQUESTS.values():
            with connect(port) as s:
                s.sendall(data)
                assert is_closed_after_response(s)
        conn.request("GET", "/users/2?q=after")
        r = conn.getresponse()
        assert (r.status, r.read()) == (200, b'{"id":2,"q":"after"}')
    finally:
        conn.close()
    r = request(port, "GET", "/static/hello.txt")
    assert (r.status, r.body) == (200, b"hello static\n")
    r = request(port, "POST", "/echo", body=b"still fine")
    assert (r.status, r.body) == (201, b"still fine")


def is_closed_after_response(s) -> bool:
    reader = ResponseReader(s)
    reader.read()
    return reader.at_eof() or is_closed(s)
