"""Backends coming and going: killed mid-request, started early, restarted, draining."""

from __future__ import annotations

import json
import os
import signal
import socket
import stat
import struct
import time

import pytest

from e2e_support import ResponseReader, build_request, connect, recv_all, request, wait_until


def open_slow(port: int, tag: str) -> socket.socket:
    s = connect(port)
    s.sendall(build_request("GET", f"/slow?tag={tag}"))
    return s


def reset(s: socket.socket) -> None:
    """Close abruptly with RST, as a client that crashed or timed out might."""
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()


def read_until(s: socket.socket, marker: bytes, limit: int = 1 << 20) -> bytes:
    data = b""
    while marker not in data and len(data) < limit:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


def test_backend_killed_mid_run(make_stack):
    st = make_stack()
    st.start_frontend()
    backend = st.start_backend()
    port = st.port

    slow = [open_slow(port, "killed") for _ in range(3)]
    drip = connect(port)
    try:
        drip.sendall(build_request("GET", "/drip"))
        started = read_until(drip, b"first piece\n")
        assert started.startswith(b"HTTP/1.1 200 ")
        assert b"first piece\n" in started
        wait_until(lambda: st.in_flight("killed") == 3, 10, "three /slow requests in the backend")

        os.kill(backend.pid, signal.SIGKILL)
        backend.popen.wait(10)

        # Requests that had no response yet get 502.
        for s in slow:
            reader = ResponseReader(s)
            r = reader.read()
            assert r.status == 502
            assert r.body.startswith(b"Bad Gateway")
            assert b"too late" not in r.body
        # A response already under way cannot become a 502: the connection is
        # closed before the chunked body's last chunk.
        rest = recv_all(drip)
        assert not (started + rest).endswith(b"0\r\n\r\n")
        assert b"never sent" not in rest
    finally:
        for s in slow + [drip]:
            s.close()

    # No backend now: a clear 503, and the frontend itself is still up.
    r = request(port, "GET", "/users/1?q=none")
    assert r.status == 503
    assert r.header("retry-after") is not None
    assert b"no backend" in r.body.lower()
    assert st.frontend.alive()
    r = request(port, "GET", "/static/hello.txt")
    assert (r.status, r.body) == (200, b"hello static\n")

    # A new backend brings the app back.
    st.start_backend()
    r = request(port, "GET", "/users/1?q=back")
    assert (r.status, r.body) == (200, b'{"id":1,"q":"back"}')


def test_one_of_two_backends_killed_the_other_keeps_serving(make_stack):
    st = make_stack()
    st.start_frontend()
    # One generation: two processes of one deployment (as --workers 2 runs).
    first = st.start_backend("--generation", "1")
    second = st.start_backend("--generation", "1", wait=False)
    st.wait_attached(second)
    port = st.port
    # Enough slow requests that both backends hold some.
    slow = [open_slow(port, "pair") for _ in range(8)]
    try:
        wait_until(lambda: st.in_flight("pair") == 8, 10, "8 /slow requests in the backends")
        holders = {name.split(".")[1] for name in os.listdir(st.mark_dir)}
        assert holders == {str(first.pid), str(second.pid)}, "the frontend did not spread the load"
        os.kill(first.pid, signal.SIGKILL)
        first.popen.wait(10)
        for i in range(20):
            r = request(port, "GET", f"/users/{i}?q=left")
            assert (r.status, r.body) == (200, f'{{"id":{i},"q":"left"}}'.encode())
        r = request(port, "GET", "/pid")
        assert json.loads(r.body) == {"pid": second.pid}
        assert second.alive()
    finally:
        for s in slow:
            reset(s)


def test_backend_started_before_the_frontend_waits_for_the_socket(make_stack):
    st = make_stack()
    assert not os.path.exists(st.sock)
    # The frontend's port is chosen when it starts; the backend only needs the socket path.
    backend = st.start_backend(wait=False)
    time.sleep(0.5)  # give it time to fail a few connects; it must keep retrying
    assert backend.alive(), backend.log()
    st.start_frontend()
    st.wait_backend_ready(backend)
    r = request(st.port, "GET", "/")
    assert (r.status, r.body) == (200, b"Hello from tandem!")


def test_backend_reconnects_after_a_frontend_restart(make_stack):
    st = make_stack()
    st.start_frontend()
    backend = st.start_backend()
    assert request(st.port, "GET", "/").status == 200
    st.frontend.stop()
    st.frontend = None
    time.sleep(0.2)
    assert backend.alive(), backend.log()
    st.start_frontend()
    st.wait_backend_ready(backend)
    r = request(st.port, "GET", "/users/3?q=again")
    assert (r.status, r.body) == (200, b'{"id":3,"q":"again"}')


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGQUIT])     # SIGQUIT: nginx's graceful stop
def test_sigterm_drains_requests_in_flight(make_stack, sig):
    st = make_stack()
    st.start_frontend()
    backend = st.start_backend()
    with connect(st.port) as s:
        s.sendall(build_request("GET", "/delay/500?tag=drain"))
        wait_until(lambda: st.in_flight("drain") == 1, 10, "the request in the backend")
        backend.popen.send_signal(sig)
        r = ResponseReader(s).read()
        assert (r.status, r.body) == (200, b"delay 500 tag=drain")
    assert backend.popen.wait(10) == 0
    r = request(st.port, "GET", "/")
    assert r.status == 503


def test_sigterm_drain_is_bounded_by_the_shutdown_timeout(make_stack):
    # A request that never ends would keep a stopping backend alive for ever (gunicorn bounds it with
    # --graceful-timeout): after --shutdown-timeout it is cancelled, the client gets 502, the backend exits 0.
    st = make_stack()
    st.start_frontend()
    backend = st.start_backend("--shutdown-timeout", "1")
    with connect(st.port) as s:
        s.sendall(build_request("GET", "/slow?tag=endless"))
        wait_until(lambda: st.in_flight("endless") == 1, 10, "the request in the backend")
        backend.popen.send_signal(signal.SIGTERM)
        r = ResponseReader(s).read()
        assert r.status == 502
    assert backend.popen.wait(20) == 0
    assert "the shutdown timeout (1 s) passed with 1 open stream(s); cancelling them" in backend.log()
    wait_until(lambda: st.in_flight("endless") == 0, 10, "the handler to be cancelled")


def test_backend_socket_is_private(make_stack):
    st = make_stack()
    st.start_frontend()
    mode = os.stat(st.sock).st_mode
    assert stat.S_ISSOCK(mode)
    assert stat.S_IMODE(mode) == 0o600


def test_backend_socket_mode_flag(make_stack):
    st = make_stack()
    st.start_frontend("--backend-socket-mode", "0660")
    assert stat.S_IMODE(os.stat(st.sock).st_mode) == 0o660


def test_client_reset_cancels_the_backend_handler(stack):
    s = open_slow(stack.port, "reset")
    wait_until(lambda: stack.in_flight("reset") == 1, 10, "the /slow request in the backend")
    reset(s)
    wait_until(lambda: stack.in_flight("reset") == 0, 10, "the handler to be cancelled")


def test_client_close_cancels_the_backend_handler(stack):
    s = open_slow(stack.port, "fin")
    wait_until(lambda: stack.in_flight("fin") == 1, 10, "the /slow request in the backend")
    s.close()  # FIN
    wait_until(lambda: stack.in_flight("fin") == 0, 10, "the handler to be cancelled")
