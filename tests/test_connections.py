"""Keep-alive, HTTP/1.0 and pipelining on one client connection."""

from __future__ import annotations

import http.client
import json
import socket

from e2e_support import ResponseReader, big_body, build_request, connect, is_closed


def test_keep_alive_serves_many_requests_on_one_connection(port):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.connect()
        first_sock = conn.sock
        for i in range(20):
            conn.request("GET", f"/users/{i}?q=n{i}")
            r = conn.getresponse()
            assert r.status == 200
            assert json.loads(r.read()) == {"id": i, "q": f"n{i}"}
            assert not r.will_close
        conn.request("POST", "/echo", body=b"last")
        r = conn.getresponse()
        assert (r.status, r.read()) == (201, b"last")
        assert conn.sock is first_sock, "http.client had to reconnect: keep-alive was not kept"
    finally:
        conn.close()


def test_http10_without_keep_alive_is_closed_after_the_response(port):
    with connect(port) as s:
        s.sendall(b"GET /users/3?q=old HTTP/1.0\r\n\r\n")
        reader = ResponseReader(s)
        r = reader.read()
        assert r.status == 200
        assert r.body == b'{"id":3,"q":"old"}'
        assert (r.header("connection") or "close").lower() == "close"
        assert reader.at_eof()


def test_http10_keep_alive_keeps_the_connection(port):
    with connect(port) as s:
        reader = ResponseReader(s)
        for i in range(3):
            s.sendall(f"GET /users/{i}?q=ka HTTP/1.0\r\nConnection: keep-alive\r\n\r\n".encode())
            r = reader.read()
            assert r.status == 200
            assert r.body == f'{{"id":{i},"q":"ka"}}'.encode()
            assert r.header("connection").lower() == "keep-alive"
            assert r.header("content-length") == str(len(r.body))
        # Without keep-alive the last one closes.
        s.sendall(b"GET / HTTP/1.0\r\n\r\n")
        r = reader.read()
        assert r.body == b"Hello from tandem!"
        assert reader.at_eof()


def test_http10_streamed_response_is_close_delimited(port):
    with connect(port) as s:
        s.sendall(b"GET /stream/200000 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        reader = ResponseReader(s)
        r = reader.read()
        assert r.status == 200
        assert r.header("transfer-encoding") is None
        assert r.body == big_body(200000)


def test_http11_connection_close_is_honoured(port):
    with connect(port) as s:
        s.sendall(build_request("GET", "/", [("Connection", "close")]))
        reader = ResponseReader(s)
        r = reader.read()
        assert r.status == 200
        assert r.header("connection").lower() == "close"
        assert reader.at_eof()


def test_three_pipelined_requests_in_one_write_answer_in_order(port):
    # The first is the slowest and the second the fastest, so the backend
    # finishes them out of order; the client must still see request order.
    data = (build_request("GET", "/delay/400?tag=first")
            + build_request("GET", "/users/2?q=second")
            + build_request("GET", "/delay/100?tag=third"))
    with connect(port) as s:
        s.sendall(data)
        reader = ResponseReader(s)
        r1, r2, r3 = reader.read(), reader.read(), reader.read()
        assert (r1.status, r1.body) == (200, b"delay 400 tag=first")
        assert (r2.status, r2.body) == (200, b'{"id":2,"q":"second"}')
        assert (r3.status, r3.body) == (200, b"delay 100 tag=third")
        # The connection is still usable afterwards.
        s.sendall(build_request("GET", "/"))
        assert reader.read().body == b"Hello from tandem!"


def test_pipelining_mixes_static_dynamic_bodies_and_head(port):
    data = (build_request("GET", "/delay/200?tag=a")
            + build_request("POST", "/echo", body=b"pipelined body")
            + build_request("GET", "/static/hello.txt")
            + build_request("HEAD", "/")
            + build_request("GET", "/nothing")
            + build_request("GET", "/no/such", [("Connection", "close")]))
    with connect(port) as s:
        s.sendall(data)
        reader = ResponseReader(s)
        r = reader.read()
        assert (r.status, r.body) == (200, b"delay 200 tag=a")
        r = reader.read()
        assert (r.status, r.body, r.header("x-echo")) == (201, b"pipelined body", "1")
        r = reader.read()
        assert (r.status, r.body) == (200, b"hello static\n")
        r = reader.read("HEAD")
        assert (r.status, r.body) == (200, b"")
        assert r.header("content-type") == "text/plain; charset=utf-8"
        assert r.header("content-length") in (None, "18")  # MAY be sent for HEAD; if so, GET's length
        r = reader.read()
        assert (r.status, r.body) == (204, b"")
        r = reader.read()
        assert r.status == 404
        assert reader.at_eof()


def test_idle_connection_is_not_closed_early(port):
    with connect(port) as s:
        s.sendall(build_request("GET", "/"))
        reader = ResponseReader(s)
        assert reader.read().status == 200
        assert not is_closed(s, timeout=0.5)
        s.settimeout(10)
        s.sendall(build_request("GET", "/"))
        assert reader.read().status == 200



def test_half_close_is_taken_as_the_client_leaving(port):
    # The frontend takes end of input as the client going away (as nginx and
    # Go do): the connection is closed promptly instead of being kept open.
    with connect(port) as s:
        s.sendall(build_request("GET", "/users/1?q=a"))
        s.shutdown(socket.SHUT_WR)
        reader = ResponseReader(s)
        try:
            r = reader.read()
        except EOFError:
            return  # closed before answering: allowed
        assert (r.status, r.body) == (200, b'{"id":1,"q":"a"}')
        assert reader.at_eof()
