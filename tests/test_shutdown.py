"""SIGTERM to the frontend: stop accepting, finish what is in flight, exit 0."""

from __future__ import annotations

import os
import signal
import socket


from e2e_support import ResponseReader, build_request, connect, request, wait_until


def test_sigterm_finishes_requests_in_flight_then_exits_0(make_stack):
    st = make_stack()
    st.start_frontend()
    st.start_backend()
    idle = connect(st.port)          # keep-alive, between requests: closed at once
    assert idle is not None
    busy = connect(st.port)
    busy.sendall(build_request("GET", "/delay/1000?tag=stop"))
    wait_until(lambda: st.in_flight("stop") == 1, 10, "the request in the backend")
    st.frontend.popen.send_signal(signal.SIGTERM)
    # No new clients once it is stopping.
    wait_until(lambda: not accepts(st.port), 10, "the listener to close")
    # The request in flight is answered, and its connection closed after it.
    r = ResponseReader(busy).read()
    assert (r.status, r.body) == (200, b"delay 1000 tag=stop")
    assert r.header("connection") == "close"
    assert busy.recv(1) == b""
    assert idle.recv(1) == b""
    assert st.frontend.popen.wait(30) == 0
    assert not os.path.exists(st.sock)
    busy.close()
    idle.close()


def test_shutdown_timeout_bounds_the_wait(make_stack):
    st = make_stack()
    st.start_frontend("--shutdown-timeout", "1")
    st.start_backend()
    s = connect(st.port)
    s.sendall(build_request("GET", "/slow?tag=forever"))
    wait_until(lambda: st.in_flight("forever") == 1, 10, "the request in the backend")
    st.frontend.popen.send_signal(signal.SIGTERM)
    assert st.frontend.popen.wait(30) == 0
    assert "--shutdown-timeout passed" in st.frontend.log()
    # The unfinished request's connection was closed, not answered.
    try:
        assert s.recv(65536) == b""
    except ConnectionResetError:
        pass
    s.close()
    # Its backend was told: the handler is cancelled.
    wait_until(lambda: st.in_flight("forever") == 0, 10, "the handler to be cancelled")


def accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2):
            return True
    except OSError:
        return False
