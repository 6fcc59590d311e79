"""A backend that dies with requests in flight (SIGKILL), and one that stops
reading (SIGSTOP): what each client gets, and that the frontend holds up.

Rules (issue 4): a request its backend had not started answering is sent
again to another connected backend when its method is idempotent (GET, HEAD,
OPTIONS) and its body is still held; the rest get 502; a response already
under way ends with the connection closed.  A non-idempotent request is
never sent twice.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import time

from e2e_support import build_request, connect, marks_by_pid, read_statuses, request, wait_until

N = 50        # of each kind: 2 * N = 100 requests in flight


def wait_attached(st, n: int) -> None:
    wait_until(lambda: st.frontend.log().count(" attached (") >= n, 20, f"{n} backends to attach")


def send_all(port: int) -> tuple[list[socket.socket], list[socket.socket]]:
    gets, posts = [], []
    for i in range(N):
        g = connect(port, timeout=60)
        g.sendall(build_request("GET", f"/delay/2500?tag=get&i={i}"))
        gets.append(g)
    for i in range(N):
        p = connect(port, timeout=60)
        p.sendall(build_request("POST", f"/delay/2500?tag=post&i={i}", body=b"p" * 100))
        posts.append(p)
    return gets, posts


def test_sigkill_with_a_second_backend_resends_idempotent_requests(make_stack):
    st = make_stack()
    st.start_frontend()
    # One generation: two processes of one deployment (as --workers 2 runs).
    victim = st.start_backend("--generation", "1")
    survivor = st.start_backend("--generation", "1")
    wait_attached(st, 2)
    gets, posts = send_all(st.port)
    wait_until(lambda: sum(marks_by_pid(st, "get").values()) == N and sum(marks_by_pid(st, "post").values()) == N,
               20, "all 100 requests in the backends")
    lost_posts = marks_by_pid(st, "post").get(victim.pid, 0)
    lost_gets = marks_by_pid(st, "get").get(victim.pid, 0)
    assert lost_gets > 0 and lost_posts > 0, "both backends should have had requests"
    os.kill(victim.pid, signal.SIGKILL)
    victim.popen.wait(10)

    # Every GET is answered: those of the dead backend by the survivor.
    assert read_statuses(gets) == [200] * N
    # POSTs are never sent twice: those the dead backend had get 502.
    post_statuses = read_statuses(posts)
    assert post_statuses.count(502) == lost_posts
    assert post_statuses.count(200) == N - lost_posts
    assert f"sent again to backend pid {survivor.pid}" in st.frontend.log()
    assert st.frontend.alive() and survivor.alive()
    assert request(st.port, "GET", "/users/5").status == 200


def test_sigkill_without_a_second_backend_gives_502(make_stack):
    st = make_stack()
    st.start_frontend()
    victim = st.start_backend()
    gets, posts = send_all(st.port)
    wait_until(lambda: sum(marks_by_pid(st, "get").values()) == N and sum(marks_by_pid(st, "post").values()) == N,
               20, "all 100 requests in the backend")
    os.kill(victim.pid, signal.SIGKILL)
    victim.popen.wait(10)
    # No other backend is connected: nothing can be sent again.
    assert read_statuses(gets) == [502] * N
    assert read_statuses(posts) == [502] * N
    assert st.frontend.alive()


def rss_kb(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


def test_sigstop_backend_does_not_grow_the_frontend(make_stack):
    st = make_stack()
    st.start_frontend("--request-timeout", "2", "--backend-wait", "1")
    stopped = st.start_backend("--generation", "1")
    other = st.start_backend("--generation", "1")
    wait_attached(st, 2)
    os.kill(stopped.pid, signal.SIGSTOP)
    try:
        before = rss_kb(st.frontend.pid)
        statuses: dict[int, int] = {}
        deadline = time.monotonic() + 6
        sent = 0
        # Bounded load: at most 3000 requests of 64 KiB bodies, for at most 6 s.
        while time.monotonic() < deadline and sent < 3000:
            r = request(st.port, "POST", "/echo", body=b"z" * 65536, timeout=30)
            statuses[r.status] = statuses.get(r.status, 0) + 1
            sent += 1
        grown = rss_kb(st.frontend.pid) - before
        # Nearly everything went to the backend that reads; what was sent to the
        # stopped one before it counted as stalled timed out (504).
        assert set(statuses) <= {201, 504}, statuses
        assert statuses.get(201, 0) >= sent - 10, statuses
        assert grown < 32 * 1024, f"frontend RSS grew by {grown} KiB"
    finally:
        os.kill(stopped.pid, signal.SIGCONT)
    # It recovers: after SIGCONT it takes requests again.
    wait_until(lambda: request_pid(st.port) == stopped.pid, 20, "the resumed backend to answer again")
    assert other.alive()


def request_pid(port: int) -> int:
    r = request(port, "GET", "/pid")
    return json.loads(r.body)["pid"] if r.status == 200 else -1
