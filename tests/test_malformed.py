"""Malformed requests get 400 and a closed connection; everyone else is unaffected.

The corpus of tests/hostile/ (test_hostile.py) holds every malformed request
this server refuses, each replayed at every byte split; the requests here
check what the answer looks like, and that the frontend keeps serving others.
"""

from __future__ import annotations

import http.client

import pytest

from e2e_support import ResponseReader, build_request, connect, is_closed, request

BAD_REQUESTS = {
    "garbage request line": b"THIS IS NOT HTTP\r\n\r\n",
    "tls hello on the http port": b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 50,
    "obs-fold header": b"GET / HTTP/1.1\r\nHost: e2e.test\r\nX-Folded: a\r\n b\r\n\r\n",
    "missing host in http/1.1": b"GET / HTTP/1.1\r\n\r\n",
    "transfer-encoding and content-length": (b"POST /echo HTTP/1.1\r\nHost: e2e.test\r\n"
                                             b"Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n"
                                             b"0\r\n\r\n"),
    "bad chunk size after a good chunk": (b"POST /echo HTTP/1.1\r\nHost: e2e.test\r\n"
                                          b"Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\nxyz\r\n"),
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
    # In one write: the good request is still answered in full, then the
    # garbage gets its 400 and the connection closes.
    with connect(port) as s:
        s.sendall(build_request("GET", "/users/1?q=ok") + b"GARBAGE\r\n\r\n")
        reader = ResponseReader(s)
        r = reader.read()
        assert (r.status, r.body) == (200, b'{"id":1,"q":"ok"}')
        r = reader.read()
        assert (r.status, r.header("connection")) == (400, "close")
        assert reader.at_eof()


@pytest.mark.parametrize("status,reason,data", [
    (501, "Not Implemented", b"POST /echo HTTP/1.1\r\nHost: e2e.test\r\nTransfer-Encoding: gzip\r\n\r\n"),
    (505, "HTTP Version Not Supported", b"GET / HTTP/2.0\r\nHost: e2e.test\r\n\r\n"),
    (405, "Method Not Allowed", b"CONNECT e2e.test:443 HTTP/1.1\r\nHost: e2e.test:443\r\n\r\n"),
    (417, "Expectation Failed", b"GET / HTTP/1.1\r\nHost: e2e.test\r\nExpect: foo\r\n\r\n"),
])
def test_other_refusals_say_why_and_close(port, status, reason, data):
    r, closed = read_error(port, data)
    assert (r.status, r.reason) == (status, reason)
    assert r.header("connection") == "close"
    assert r.body.startswith(reason.encode() + b": ")
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
