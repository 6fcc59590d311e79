"""The hostile-input suite (tests/hostile/): every case of the corpus against the real frontend.

Each case is replayed whole, split in two at every byte boundary, and one byte
at a time (tests/hostile/runner.py), against a frontend with a static mount
and a body limit, and a backend running tests/hostile/hostile_app.py, which
records every request it sees.  The suite prints its figures at the end:
cases, byte splits, crashes, desyncs, and the frontend's peak memory.
"""

from __future__ import annotations

import os
import socket
import sys
import threading
import time

import pytest

HOSTILE_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "hostile")
sys.path.insert(0, HOSTILE_DIR)

import corpus  # noqa: E402
import runner  # noqa: E402
import slow  # noqa: E402
from e2e_support import ResponseReader, status_kib  # noqa: E402

MAX_BODY = 4096     # --max-body-size: cases over it get 413


@pytest.fixture(scope="module")
def hostile_stack(tmp_path_factory, site):
    from e2e_support import Stack

    st = Stack(str(tmp_path_factory.mktemp("hostile")), site["static"])
    try:
        st.start_frontend("--max-body-size", str(MAX_BODY))
        st.start_backend(app="hostile_app:app", app_dir=HOSTILE_DIR)
        yield st
    finally:
        st.close()


def test_every_case_file_parses():
    cases = corpus.load_cases()
    assert len(cases) >= 150, f"the corpus has {len(cases)} cases"
    assert len({c.name for c in cases}) == len(cases)


def test_corpus_every_split(hostile_stack, capsys):
    cases = corpus.load_cases()
    report = runner.run(hostile_stack.port, cases)
    frontend = hostile_stack.frontend
    crashed = 0 if frontend.alive() else 1
    rss = status_kib(frontend.pid, "VmHWM") if not crashed else 0
    with capsys.disabled():     # the figures show in every run, pass or fail
        print(f"\nhostile suite: {report.cases} cases, {report.splits} byte splits, {report.replays} replays "
              f"in {report.seconds:.1f} s; crashes {crashed}, desyncs {report.desyncs}, "
              f"other mismatches {report.mismatches}; frontend peak RSS {rss} KiB")
    failed = report.failed()
    assert not crashed, f"the frontend died:\n{hostile_stack.logs()}"
    assert not failed, "\n".join(failed)


# --- slow and many clients --------------------------------------------------------
#
# Each run below holds the frontend busy in one way while probe requests (a
# static file and a backend route, each on a fresh connection) must keep
# being answered; the outcomes asserted are what the clients see, and the
# only bounds on time are generous waits.  Timeouts are set to a second or
# two so the runs stay short.

SLOW_WAIT = 30.0        # seconds any run may take to reach its outcome


@pytest.fixture(scope="module")
def slow_stack(tmp_path_factory, site):
    from e2e_support import Stack

    st = Stack(str(tmp_path_factory.mktemp("slow")), site["static"])
    try:
        st.start_frontend("--header-timeout", "2", "--body-timeout", "2", "--send-timeout", "60")
        st.start_backend()
        yield st
    finally:
        st.close()


def probe(port: int) -> None:
    from e2e_support import request

    assert request(port, "GET", "/static/hello.txt").status == 200
    assert request(port, "GET", "/users/3").status == 200


def say(capsys, text: str) -> None:
    with capsys.disabled():
        print(f"\nhostile suite: {text}")


def test_slowloris(slow_stack, capsys):
    """300 connections trickle a head, a byte every 0.2 s: each gets 408 (--header-timeout 2), and
    probes are answered all along."""
    st = slow_stack
    probes = 0
    with slow.Trickle(st.port, 300, b"GET /users/1 HTTP/1.1\r\nHost: slow\r\n", b"X-Slow: 1\r\n", 0.2,
                      SLOW_WAIT) as t:
        while t.thread.is_alive() and probes < 20:
            probe(st.port)
            probes += 1
        answers = t.wait()
    rss = status_kib(st.frontend.pid, "VmHWM")
    say(capsys, f"slowloris: {t.opened} connections, {probes * 2} probes answered, peak RSS {rss} KiB")
    assert all(a is not None and a.startswith(b"HTTP/1.1 408 ") for a in answers), \
        [a[:40] if a else a for a in answers if a is None or not a.startswith(b"HTTP/1.1 408 ")][:5]
    assert st.frontend.alive()
    probe(st.port)


def test_slow_bodies(slow_stack, capsys):
    """100 uploads send their head and a few body bytes, then stall: each gets 408 once
    --body-timeout (2 s) passes without a byte, and probes are answered all along."""
    st = slow_stack
    head = b"POST /echo HTTP/1.1\r\nHost: slow\r\nContent-Length: 100000\r\n\r\n"
    probes = 0
    with slow.Trickle(st.port, 100, head, b"body", 0.2, SLOW_WAIT, drip_bytes=4) as t:
        while t.thread.is_alive() and probes < 20:
            probe(st.port)
            probes += 1
        answers = t.wait()
    say(capsys, f"slow bodies: {t.opened} connections, {probes * 2} probes answered")
    assert all(a is not None and a.startswith(b"HTTP/1.1 408 ") for a in answers), \
        [a[:40] if a else a for a in answers if a is None or not a.startswith(b"HTTP/1.1 408 ")][:5]
    probe(st.port)


def test_slow_readers_hold_bounded_memory(slow_stack, capsys):
    """20 clients ask for 16 MB each and read nothing: the frontend holds a bounded share of it
    (backends wait for window, output stops at its high-water mark), not 320 MB."""
    st = slow_stack
    size = 16 * 1024 * 1024
    before = status_kib(st.frontend.pid)
    socks = []
    try:
        for _ in range(20):
            s = socket.socket()
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            s.connect(("127.0.0.1", st.port))
            s.sendall(f"GET /big/{size} HTTP/1.1\r\nHost: slow\r\n\r\n".encode())
            socks.append(s)
        # The responses have begun (the head is in each socket), and the frontend is still serving.
        for s in socks:
            s.settimeout(SLOW_WAIT)
            assert s.recv(12) == b"HTTP/1.1 200"
        probe(st.port)
        time.sleep(1)           # let what can pile up pile up
        grown = status_kib(st.frontend.pid) - before
        say(capsys, f"slow readers: 20 x {size >> 20} MB unread, frontend RSS grew {grown} KiB")
        assert grown < 64 * 1024, f"the frontend grew by {grown} KiB"
    finally:
        for s in socks:
            s.close()
    probe(st.port)


def test_pipelined_requests_are_bounded_per_connection(slow_stack, capsys):
    """3000 requests sent in one go on one connection, read only as they come: each is answered,
    in order, and the frontend reads ahead only a bounded number of them."""
    st = slow_stack
    n = 3000
    before = status_kib(st.frontend.pid)
    req = b"GET /static/hello.txt HTTP/1.1\r\nHost: pipe\r\n\r\n"
    with socket.create_connection(("127.0.0.1", st.port), timeout=SLOW_WAIT) as s:
        writer = threading.Thread(target=s.sendall, args=(req * n,), daemon=True)
        writer.start()
        reader = ResponseReader(s)
        statuses = [reader.read().status for _ in range(n)]
        writer.join(SLOW_WAIT)
    grown = status_kib(st.frontend.pid) - before
    say(capsys, f"pipelining: {n} requests on one connection answered, frontend RSS grew {grown} KiB")
    assert statuses == [200] * n
    assert grown < 32 * 1024


def flood(port: int, pid: int, held: int, extra: int) -> tuple[int, float]:
    """held connections kept, then extra more: (how many of the extra the server closed at once,
    CPU seconds the server spent over 2 s while they stayed)."""
    keep = slow.hold(port, held)
    more: list[socket.socket] = []
    try:
        more = slow.hold(port, extra)
        closed = slow.count_closed(more, extra, 2.0, SLOW_WAIT)
        cpu = slow.cpu_seconds(pid)
        time.sleep(2)
        return closed, slow.cpu_seconds(pid) - cpu
    finally:
        for s in keep + more:
            s.close()


def test_connection_flood_over_max_connections(make_stack, capsys):
    """With --max-connections 20, 20 clients are served and 300 more are each closed at accept;
    the frontend does not spin meanwhile, and serves again once the flood is gone."""
    from e2e_support import request, wait_until

    st = make_stack()
    st.start_frontend("--max-connections", "20")
    # The readiness check's connection may still be counted: wait until it is gone.
    wait_until(lambda: request(st.port, "GET", "/static/hello.txt").status == 200, 10, "a first answer")
    closed, cpu = flood(st.port, st.frontend.pid, 20, 300)
    say(capsys, f"flood: 320 connections over --max-connections 20: {closed} closed at accept, "
                f"{cpu:.2f} s of CPU in 2 s of holding them")
    assert closed >= 300 - 1     # one of the 20 may still be the check's, closing
    assert cpu < 1.0, "the frontend kept busy while at its limit"
    assert "--max-connections (20) reached" in st.frontend.log()
    wait_until(lambda: request(st.port, "GET", "/static/hello.txt").status == 200, 10, "an answer after")


def test_out_of_file_descriptors(tmp_path, site, capsys):
    """With 64 descriptors and --max-connections far above, clients beyond the descriptors are
    closed at accept (libuv's reserve descriptor), the frontend does not spin and serves on."""
    import resource

    from e2e_support import frontend_argv, free_port, request, spawn, tcp_accepts, wait_until

    def few_fds() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))

    port = free_port()
    proc = spawn("frontend-fds", frontend_argv(port, str(tmp_path / "b.sock"), site["static"],
                                               "--max-connections", "1000"),
                 str(tmp_path), preexec_fn=few_fds)
    try:
        wait_until(lambda: tcp_accepts(port) or not proc.alive(), 10, "the frontend to listen")
        closed, cpu = flood(port, proc.pid, 0, 200)
        say(capsys, f"out of descriptors: 200 connections to a frontend with 64: {closed} closed at accept, "
                    f"{cpu:.2f} s of CPU in 2 s of holding them")
        assert proc.alive(), proc.log()
        assert closed > 100
        assert cpu < 1.0, "the frontend kept busy out of descriptors"
        wait_until(lambda: request(port, "GET", "/static/hello.txt").status == 200, 10, "an answer after")
    finally:
        proc.stop()
