"""Requests that wait: for a backend to attach (--backend-wait), and for a
backend that does not answer (--request-timeout).  And the limits and
timeouts a client meets: --max-request-line (414), --max-headers (431),
--header-timeout (the whole head, however it trickles in), --body-timeout
(between two reads of a body: 408 and close) and --send-timeout (a client
that stops reading its response is dropped).

The outcomes are asserted, never the durations: a timeout is set short so the
test is quick, and every wait has a generous bound.
"""

from __future__ import annotations

import http.client
import socket
import time

import pytest

from e2e_support import ResponseReader, build_request, connect, is_closed, recv_all, request, wait_until


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


# --- limits and client timeouts -------------------------------------------------

WAIT = 20.0     # seconds any one outcome may take (the timeouts here are 1 or 2 s)


@pytest.fixture(scope="module")
def limited(tmp_path_factory, site):
    from e2e_support import Stack

    st = Stack(str(tmp_path_factory.mktemp("timeouts")), site["static"])
    try:
        st.start_frontend("--max-request-line", "200", "--max-headers", "6", "--header-timeout", "1",
                          "--body-timeout", "2", "--send-timeout", "1")
        st.start_backend()
        yield st
    finally:
        st.close()


def answer_of(port: int, data: bytes) -> tuple[int, bool]:
    """(status, whether the connection closed after it) of the one response to data."""
    with connect(port, WAIT) as s:
        s.sendall(data)
        status = ResponseReader(s).read().status
        return status, is_closed(s, 0.5 if status == 200 else WAIT)


def test_request_line_over_its_limit_is_414(limited):
    # "GET " + target + " HTTP/1.1\r\n": 15 bytes besides the target.
    assert answer_of(limited.port, build_request("GET", "/static/hello.txt?" + "a" * (185 - 18))) == (200, False)
    assert answer_of(limited.port, build_request("GET", "/static/hello.txt?" + "a" * (186 - 18))) == (414, True)
    # Refused before the line ends: no line break is needed.
    with connect(limited.port, WAIT) as s:
        s.sendall(b"GET /" + b"x" * 400)
        assert ResponseReader(s).read().status == 414


def test_header_fields_over_their_limit_are_431(limited):
    five = [(f"X-{i}", "v") for i in range(5)]      # with Host: 6, the limit
    assert answer_of(limited.port, build_request("GET", "/static/hello.txt", five)) == (200, False)
    status, closed = answer_of(limited.port, build_request("GET", "/static/hello.txt", five + [("X-5", "v")]))
    assert (status, closed) == (431, True)


def test_a_head_that_trickles_in_gets_408(limited):
    """Each byte comes well within a second, but the whole head never does within --header-timeout."""
    with connect(limited.port, WAIT) as s:
        s.sendall(b"GET /static/hello.txt HTTP/1.1\r\nHost: x\r\n")
        deadline = time.monotonic() + WAIT
        s.settimeout(0.2)
        data = b""
        while time.monotonic() < deadline:
            try:
                s.send(b"X")
                data = s.recv(4096)
                if data:
                    break
            except socket.timeout:
                continue
            except OSError:
                break
        data += recv_all(s)
    assert data.startswith(b"HTTP/1.1 408 "), data[:200]
    assert b"connection: close" in data.lower()


def test_a_stalled_body_gets_408_and_close(limited):
    with connect(limited.port, WAIT) as s:
        s.sendall(build_request("POST", "/echo", [("Content-Length", "100")]) + b"only ten b")
        reader = ResponseReader(s)
        assert reader.read().status == 408
        assert reader.at_eof()


def test_a_body_that_keeps_moving_outlasts_the_header_timeout(limited):
    """--body-timeout bounds the gap between reads, not the body: 3 s of body at 0.25 s gaps, with
    --header-timeout 1 and --body-timeout 2, is read whole."""
    body = b"0123456789ab"
    with connect(limited.port, WAIT) as s:
        s.sendall(build_request("POST", "/echo", [("Content-Length", str(len(body)))]))
        for i in range(len(body)):
            time.sleep(0.25)
            s.sendall(body[i:i + 1])
        resp = ResponseReader(s).read()
    assert (resp.status, resp.body) == (201, body)


def test_a_client_that_stops_reading_is_dropped(limited):
    size = 32 * 1024 * 1024
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.settimeout(WAIT)
        s.connect(("127.0.0.1", limited.port))
        s.sendall(build_request("GET", f"/big/{size}"))
        # Read nothing until the frontend has given up on us (its log says so), then what is left.
        deadline = time.monotonic() + WAIT
        while "--send-timeout" not in limited.frontend.log(100000) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert "--send-timeout" in limited.frontend.log(100000)
        got = recv_all(s)
    assert got.startswith(b"HTTP/1.1 200 ")
    assert len(got) < size
    # The frontend serves on.
    assert request(limited.port, "GET", "/static/hello.txt").status == 200


def test_an_idle_connection_is_closed_after_its_response(limited):
    """After a response, the keep-alive timeout (75 s here) applies, not the header one: the
    connection is still open after twice --header-timeout, and serves another request."""
    with connect(limited.port, WAIT) as s:
        reader = ResponseReader(s)
        s.sendall(build_request("GET", "/static/hello.txt"))
        assert reader.read().status == 200
        assert not is_closed(s, 2.5)
        s.sendall(build_request("GET", "/static/hello.txt"))
        assert reader.read().status == 200
