"""SIGTERM (SIGINT, SIGQUIT) to the frontend: stop accepting, finish what is in flight, exit 0."""

from __future__ import annotations

import os
import signal
import socket


from e2e_support import Hammer, ResponseReader, build_request, connect, request, wait_until


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


def test_sigquit_stops_gracefully_and_sighup_stops_nothing(make_stack):
    # nginx's QUIT is its graceful stop; its HUP is a reload, and a closed terminal must not drop every client.
    st = make_stack()
    st.start_frontend()
    st.start_backend()
    st.frontend.popen.send_signal(signal.SIGHUP)
    wait_until(lambda: "received SIGHUP" in st.frontend.log(), 10, "the SIGHUP to be logged")
    assert request(st.port, "GET", "/users/1").status == 200
    busy = connect(st.port)
    busy.sendall(build_request("GET", "/delay/1000?tag=quit"))
    wait_until(lambda: st.in_flight("quit") == 1, 10, "the request in the backend")
    st.frontend.popen.send_signal(signal.SIGQUIT)
    r = ResponseReader(busy).read()
    assert (r.status, r.body) == (200, b"delay 1000 tag=quit")
    assert st.frontend.popen.wait(30) == 0
    busy.close()


def sigint_with_one_in_flight(make_stack, target: str, tag: str):
    """A stack whose frontend has begun stopping on SIGINT with one request in the backend; and its client."""
    st = make_stack()
    st.start_frontend()
    st.start_backend()
    busy = connect(st.port)
    busy.sendall(build_request("GET", target))
    wait_until(lambda: st.in_flight(tag) == 1, 10, "the request in the backend")
    st.frontend.popen.send_signal(signal.SIGINT)
    wait_until(lambda: "received SIGINT, shutting down" in st.frontend.log(), 10, "the stop to begin")
    return st, busy


def test_another_signal_does_not_cut_the_stop_short(make_stack):
    # Ctrl-C sends SIGINT to --serve's frontend and to its parent, which then sends SIGTERM: the answers in
    # flight must still be finished.
    st, busy = sigint_with_one_in_flight(make_stack, "/delay/1000?tag=first", "first")
    st.frontend.popen.send_signal(signal.SIGTERM)
    r = ResponseReader(busy).read()
    assert (r.status, r.body) == (200, b"delay 1000 tag=first")
    assert st.frontend.popen.wait(30) == 0
    assert "received SIGTERM while shutting down" in st.frontend.log()
    busy.close()


def test_the_same_signal_again_closes_everything(make_stack):
    st, busy = sigint_with_one_in_flight(make_stack, "/slow?tag=again", "again")
    st.frontend.popen.send_signal(signal.SIGINT)
    assert st.frontend.popen.wait(30) == 0
    assert "received SIGINT again, closing everything now" in st.frontend.log()
    busy.close()


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


def open_delayed(port: int, n: int, tag: str, ms: int = 1500) -> list[socket.socket]:
    socks = []
    for i in range(n):
        s = connect(port, timeout=30)
        s.sendall(build_request("GET", f"/delay/{ms}?tag={tag}&i={i}"))
        socks.append(s)
    return socks


def test_sigterm_to_one_of_two_backends_under_load_loses_no_request(make_stack):
    st = make_stack()
    st.start_frontend()
    # One generation: two processes of one deployment.
    leaving = st.start_backend("--generation", "1")
    staying = st.start_backend("--generation", "1", wait=False)
    st.wait_attached(staying)
    slow = open_delayed(st.port, 10, "leave", ms=3000)
    wait_until(lambda: st.in_flight("leave") == 10, 20, "10 requests in the backends")
    held = {name.split(".")[1] for name in os.listdir(st.mark_dir)}
    assert held == {str(leaving.pid), str(staying.pid)}, "the frontend did not spread the requests"
    with Hammer(st.port) as load:
        load.wait_for_more()
        leaving.popen.send_signal(signal.SIGTERM)
        # It finishes what it holds, then exits 0.
        assert leaving.popen.wait(30) == 0
        load.wait_for_more()
    assert not load.errors, load.errors
    assert load.statuses() == {200}
    assert load.pids() <= {leaving.pid, staying.pid}
    for s in slow:
        r = ResponseReader(s).read()
        assert r.status == 200 and r.body.startswith(b"delay 3000 tag=leave")
        s.close()
    assert staying.alive()


def test_sigterm_to_the_frontend_under_load_answers_every_accepted_request(make_stack):
    st = make_stack()
    st.start_frontend()
    st.start_backend()
    slow = open_delayed(st.port, 5, "fe", ms=3000)
    wait_until(lambda: st.in_flight("fe") == 5, 20, "5 requests in the backend")
    # New connections may be refused once it stops, and a request sent on a
    # kept-alive connection as the frontend closes it was never accepted.
    with Hammer(st.port, frontend_stops=True) as load:
        load.wait_for_more()
        st.frontend.popen.send_signal(signal.SIGTERM)
        assert st.frontend.popen.wait(30) == 0
        # Each client goes on until its connection is closed and it is refused a new one.
        load.wait_ended()
    assert not load.errors, load.errors
    # Every request the frontend accepted got its answer: never an error status.
    assert load.statuses() == {200}
    assert load.refused == len(load.threads)
    for s in slow:
        r = ResponseReader(s).read()
        assert r.status == 200 and r.body.startswith(b"delay 3000 tag=fe")
        assert r.header("connection") == "close"
        s.close()
