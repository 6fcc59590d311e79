"""Requests that wait: for a backend to attach (--backend-wait), and for a
backend that does not answer (--request-timeout).

The outcomes are asserted, never the durations: a timeout is set short so the
test is quick, and every wait has a generous bound.
"""

from __future__ import annotations

import http.client
import socket

from e2e_support import build_request, connect, recv_all, request, wait_until


def test_request_timeout_gives_504_and_cancels_the_handler(make_stack):
    st = make_stack()
    st.start_frontend("--request-timeout", "1")
    st.start_backend()
    r = request(st.port, "GET", "/slow?tag=timeout", timeout=30)
    assert r.status == 504
    assert b"did not answer in time" in r.body
    # The backend was told (CANCEL(TIMEOUT)) and its handler was cancelled.
    wait_until(lambda: st.in_flight("timeout") == 0, 10, "the handler to be cancelled")
    assert "no answer from the backend" in st.frontend.log()
    # One slow request cost nothing else: the backend serves on.
    assert request(st.port, "GET", "/users/3").status == 200


def test_request_timeout_mid_response_closes_the_connection(make_stack):
    st = make_stack()
    st.start_frontend("--request-timeout", "1")
    st.start_backend()
    with connect(st.port, timeout=30) as s:
        s.sendall(build_request("GET", "/drip"))
        data = recv_all(s)
    # The head and the first piece arrived; then the stream stalled and the
    # connection was closed without the chunked terminator.
    assert data.startswith(b"HTTP/1.1 200 ")
    assert b"first piece" in data
    assert not data.endswith(b"0\r\n\r\n")


def read_response(s: socket.socket) -> tuple[int, bytes]:
    """Status and body of the next response on s."""
    resp = http.client.HTTPResponse(s)
    resp.begin()
    return resp.status, resp.read()


def test_a_request_waits_for_a_backend_to_attach(make_stack):
    st = make_stack()
    st.start_frontend("--backend-wait", "30")
    # Both requests are sent, whole, before the backend process even starts.
    get, post = connect(st.port, timeout=60), connect(st.port, timeout=60)
    try:
        get.sendall(build_request("GET", "/users/7?q=waited"))
        post.sendall(build_request("POST", "/echo", body=b"x" * 300_000))
        st.start_backend(wait=False)
        r, p = read_response(get), read_response(post)
    finally:
        get.close()
        post.close()
    assert r == (200, b'{"id":7,"q":"waited"}')
    assert p == (201, b"x" * 300_000)


def test_backend_wait_ends_in_503_and_the_connection_goes_on(make_stack):
    st = make_stack()
    st.start_frontend("--backend-wait", "1")
    with connect(st.port, timeout=30) as s:
        s.sendall(build_request("POST", "/echo", body=b"y" * 1000))
        head = b""
        while b"\r\n\r\n" not in head:
            head += s.recv(65536)
        assert head.startswith(b"HTTP/1.1 503 ")
        assert b"retry-after: 1\r\n" in head
        assert b"connection: close" not in head
    # Once a backend is there, requests are served at once.
    st.start_backend()
    assert request(st.port, "GET", "/users/1").status == 200


def test_the_wait_queue_is_bounded(make_stack):
    st = make_stack()
    st.start_frontend("--backend-wait", "30", "--backend-queue", "1")
    first = connect(st.port, timeout=60)
    try:
        first.sendall(build_request("GET", "/users/1"))
        # The queue holds one request; the next is refused at once.
        wait_until(lambda: request(st.port, "GET", "/users/2", timeout=30).status == 503, 20,
                   "a second request to be refused while the first waits")
        st.start_backend(wait=False)
        data = b""
        while b"\r\n\r\n" not in data:
            data += first.recv(65536)
        assert data.startswith(b"HTTP/1.1 200 ")
    finally:
        first.close()
