"""Streaming bodies through ASGI and WSGI apps, flow control both ways, disconnects.

* 200 MB up and 200 MB down through a Starlette app (ASGI) and a Flask app
  (WSGI, inside wsgiref's validator), with the peak memory of the frontend and
  of the backend process measured around each transfer: a flow-controlled path
  holds a few windows, a buffering one would hold the whole 200 MB.  The test
  process never holds the body either: it makes and hashes it piece by piece.
* A client that reads slowly: the app's send is held, having produced no more
  than the window and the socket buffers beyond what the client has read, while
  other requests are served.
* A client that goes away mid-response: the ASGI app gets ``http.disconnect``,
  the WSGI iterable's ``close()`` runs, and neither keeps producing.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import socket
import struct
import sys
import time
from dataclasses import dataclass
from typing import Iterator, Optional

import pytest

from e2e_support import REPO, Stack, build_request, connect, request, status_kib, wait_until

FRAMEWORKS_DIR = os.path.join(REPO, "tests", "frameworks")
if FRAMEWORKS_DIR not in sys.path:
    sys.path.insert(0, FRAMEWORKS_DIR)

import payload  # noqa: E402  (from tests/frameworks)

MiB = 1024 * 1024
BIG = 200 * MiB
# The most either process's peak resident memory may grow during a 200 MB transfer.
# A flow-controlled path holds a window (1 MiB) per direction plus socket and read
# buffers; one that buffers the body would need 200 MB more.
PEAK_GROWTH_LIMIT = 32 * MiB
# The protocol's default initial_window (PROTOCOL.md section 7), which both sides announce.
WINDOW = 1 * MiB


@dataclass(frozen=True)
class Served:
    id: str
    app: str
    flags: tuple[str, ...]


ASGI_FRAMEWORK = Served("starlette", "starlette_app:app", ())
WSGI_FRAMEWORK = Served("flask", "flask_app:application", ("--interface", "wsgi"))
ASGI_FLOW = Served("flow-asgi", "flow_asgi:app", ("--interface", "asgi3"))
WSGI_FLOW = Served("flow-wsgi", "flow_wsgi:application", ("--interface", "wsgi"))


def start(tmp_path_factory, served: Served) -> Stack:
    st = Stack(str(tmp_path_factory.mktemp(f"st-{served.id}")), None)
    try:
        st.start_frontend()
        st.start_backend(*served.flags, app=served.app, app_dir=FRAMEWORKS_DIR)
    except BaseException:
        print(st.logs())
        st.close()
        raise
    return st


@pytest.fixture(scope="module", params=[ASGI_FRAMEWORK, WSGI_FRAMEWORK], ids=lambda s: s.id)
def framework(request, tmp_path_factory):
    st = start(tmp_path_factory, request.param)
    try:
        yield request.param, st
    finally:
        if request.node.session.testsfailed:
            print(st.logs())
        st.close()


@pytest.fixture(scope="module", params=[ASGI_FLOW, WSGI_FLOW], ids=lambda s: s.id)
def flow(request, tmp_path_factory):
    st = start(tmp_path_factory, request.param)
    try:
        yield request.param, st
    finally:
        if request.node.session.testsfailed:
            print(st.logs())
        st.close()


# --- memory -----------------------------------------------------------------


class PeakMemory:
    """Growth of each process's peak RSS (VmHWM) over its RSS when the block began.

    The peak is reset first (``clear_refs`` 5), so what was reached at start-up does
    not hide what the block reaches.
    """

    def __init__(self, **pids: int) -> None:
        self.pids = pids
        self.baseline: dict[str, int] = {}
        self.growth: dict[str, int] = {}
        self.peak: dict[str, int] = {}

    def __enter__(self) -> "PeakMemory":
        for name, pid in self.pids.items():
            with open(f"/proc/{pid}/clear_refs", "w") as f:
                f.write("5")
            self.baseline[name] = status_kib(pid, "VmRSS") * 1024
        return self

    def __exit__(self, *exc) -> None:
        for name, pid in self.pids.items():
            self.peak[name] = status_kib(pid, "VmHWM") * 1024
            self.growth[name] = self.peak[name] - self.baseline[name]

    def report(self) -> str:
        return ", ".join(f"{name}: {self.baseline[name] / MiB:.1f} MiB -> peak {self.peak[name] / MiB:.1f} MiB "
                         f"(+{self.growth[name] / MiB:.1f})" for name in self.pids)


def memory_of(st: Stack) -> PeakMemory:
    assert st.frontend is not None
    return PeakMemory(frontend=st.frontend.pid, backend=st.backends[0].pid)


# --- 200 MB both ways ---------------------------------------------------------


def hashed_pieces(total: int, h) -> Iterator[bytes]:
    for piece in payload.pieces(total):
        h.update(piece)
        yield piece


def upload(port: int, total: int, chunked: bool) -> tuple[dict, str]:
    """POST payload.pieces(total) to /sink; the app's JSON answer and the hash of what was sent."""
    h = hashlib.sha256()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        headers = {"Content-Type": "application/octet-stream"}
        if not chunked:
            headers["Content-Length"] = str(total)
        conn.request("POST", "/sink", body=hashed_pieces(total, h), headers=headers, encode_chunked=chunked)
        r = conn.getresponse()
        body = r.read()
        assert r.status == 200, body[:500]
        return json.loads(body), h.hexdigest()
    finally:
        conn.close()


def download(port: int, total: int) -> tuple[int, str, Optional[str]]:
    """GET /source?size=total; (length, sha256) of the body, hashed as it arrives, and its content-length."""
    h = hashlib.sha256()
    n = 0
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        conn.request("GET", f"/source?size={total}")
        r = conn.getresponse()
        assert r.status == 200
        while True:
            piece = r.read(MiB)
            if not piece:
                break
            h.update(piece)
            n += len(piece)
        return n, h.hexdigest(), r.getheader("content-length")
    finally:
        conn.close()


def test_200_megabyte_upload_in_bounded_memory(framework):
    served, st = framework
    chunked = served is ASGI_FRAMEWORK  # chunked to the ASGI app, with a length to the WSGI one
    # Warm up: the first body read starts what later ones reuse (threads, buffers).
    answer, digest = upload(st.port, 3 * MiB, chunked)
    assert answer == {"length": 3 * MiB, "sha256": digest}
    started = time.monotonic()
    with memory_of(st) as mem:
        answer, digest = upload(st.port, BIG, chunked)
    took = time.monotonic() - started
    print(f"{served.id}: 200 MB upload ({'chunked' if chunked else 'content-length'}) in {took:.1f}s; {mem.report()}")
    assert answer == {"length": BIG, "sha256": digest}
    assert digest == payload.digest(BIG)
    for name, growth in mem.growth.items():
        assert growth < PEAK_GROWTH_LIMIT, f"{name} peak memory grew by {growth / MiB:.1f} MiB: {mem.report()}"


def test_200_megabyte_download_in_bounded_memory(framework):
    served, st = framework
    assert download(st.port, 3 * MiB)[:2] == (3 * MiB, payload.digest(3 * MiB))
    expected = payload.digest(BIG)
    started = time.monotonic()
    with memory_of(st) as mem:
        n, digest, length = download(st.port, BIG)
    took = time.monotonic() - started
    print(f"{served.id}: 200 MB download in {took:.1f}s; {mem.report()}")
    assert (n, digest) == (BIG, expected)
    assert length in (None, str(BIG))
    for name, growth in mem.growth.items():
        assert growth < PEAK_GROWTH_LIMIT, f"{name} peak memory grew by {growth / MiB:.1f} MiB: {mem.report()}"


# --- a slow reader --------------------------------------------------------------


def state(port: int, tag: str) -> dict:
    r = request(port, "GET", f"/state?tag={tag}", timeout=5)
    assert r.status == 200, r.body
    return json.loads(r.body)


def read_slowly(s: socket.socket, rate: int, seconds: float, on_tick=None) -> int:
    """Read at about ``rate`` bytes a second for ``seconds``; the bytes read."""
    got = 0
    step = 0.05
    started = time.monotonic()
    next_tick = started
    while time.monotonic() - started < seconds:
        want = int(rate * step)
        while want > 0:
            data = s.recv(want)
            assert data, "the server closed the connection"
            got += len(data)
            want -= len(data)
        if on_tick is not None and time.monotonic() >= next_tick:
            on_tick()
            next_tick += 0.5
        time.sleep(step)
    return got


def slow_socket(port: int) -> tuple[socket.socket, int]:
    """A client socket with a small receive buffer; (socket, its receive buffer size)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
    s.settimeout(10)
    s.connect(("127.0.0.1", port))
    return s, s.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)


def tcp_wmem_max() -> int:
    with open("/proc/sys/net/ipv4/tcp_wmem") as f:
        return int(f.read().split()[2])


def test_slow_reader_holds_the_apps_send(flow):
    served, st = flow
    tag = "slow"
    chunk = 16 * 1024
    s, rcvbuf = slow_socket(st.port)
    latencies: list[float] = []

    def other_request() -> None:
        t = time.monotonic()
        r = request(st.port, "GET", "/", timeout=5)
        latencies.append(time.monotonic() - t)
        assert r.status == 200 and r.body.startswith(b"flow ")

    try:
        s.sendall(build_request("GET", f"/produce?tag={tag}&chunk={chunk}&limit={256 * MiB}"))
        # ``got`` counts the response head and the chunk framing too: a few hundred bytes.
        got = read_slowly(s, 400 * 1024, 2.5, on_tick=other_request)
        # Now stop reading: whatever could be buffered is, and the app's send must be held.
        before = state(st.port, tag)["produced"]
        time.sleep(1.0)
        after = state(st.port, tag)["produced"]
        excess = after - got
        # What may lie between the app and the client's reads: the window, the frontend's
        # TCP send buffer (at most tcp_wmem's maximum), the client's receive buffer, and
        # a piece or two in the adapter.
        bound = WINDOW + tcp_wmem_max() + rcvbuf + 4 * chunk
        print(f"{served.id}: client read {got / MiB:.2f} MiB, app produced {after / MiB:.2f} MiB "
              f"(+{excess / MiB:.2f} MiB; bound {bound / MiB:.2f} MiB); other requests took "
              f"{max(latencies) * 1000:.0f} ms at most")
        assert after == before, f"the app kept producing while the client read nothing: {before} -> {after}"
        assert excess <= bound
        assert got > 500 * 1024
        assert len(latencies) >= 4 and max(latencies) < 1.0
        # Reading resumes where it stopped: the held send goes on.
        more = read_slowly(s, 4 * MiB, 0.5)
        assert more > MiB
        assert state(st.port, tag)["produced"] > after
    finally:
        s.close()


def tcp_rmem_max() -> int:
    with open("/proc/sys/net/ipv4/tcp_rmem") as f:
        return int(f.read().split()[2])


def test_app_not_reading_holds_the_upload(flow):
    """The app waits 1.5 s before it reads the body: meanwhile the client can send only a window and buffers."""
    served, st = flow
    tag = "held-upload"
    total = 100 * MiB
    piece = b"h" * (256 * 1024)
    s = connect(st.port)
    try:
        s.sendall(build_request("POST", f"/slurp?tag={tag}&delay_ms=1500",
                                [("Content-Length", str(total))]))
        sndbuf = s.getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF)
        s.setblocking(False)
        sent = 0
        samples: dict[float, int] = {}
        started = time.monotonic()
        while (elapsed := time.monotonic() - started) < 1.0:
            try:
                sent += s.send(piece[: min(len(piece), total - sent)])
            except BlockingIOError:
                time.sleep(0.01)
            for mark in (0.6, 0.95):
                if elapsed >= mark and mark not in samples:
                    samples[mark] = sent
        assert state(st.port, tag)["events"] == [], "the app read before its delay was over"
        # What may lie between the client and the app before it reads: the window, the
        # frontend's TCP receive buffer (at most tcp_rmem's maximum) and the client's send buffer.
        bound = WINDOW + tcp_rmem_max() + sndbuf
        print(f"{served.id}: the client could send {sent / MiB:.2f} MiB of {total / MiB:.0f} MiB before the app "
              f"read (bound {bound / MiB:.1f} MiB)")
        assert samples[0.6] == samples[0.95], f"the upload was not held: {samples}"
        assert sent <= bound
        # Once the app reads, the rest goes through and it gets every byte.
        s.setblocking(True)
        s.settimeout(30)
        while sent < total:
            sent += s.send(piece[: min(len(piece), total - sent)])
        reply = read_at_least(s, 1)
        while b"\r\n\r\n" not in reply:
            reply += read_at_least(s, 1)
        assert reply.startswith(b"HTTP/1.1 200 ")
    finally:
        s.close()
    assert state(st.port, tag)["events"] == [f"body:{total}" if served is ASGI_FLOW else f"input:{total}"]


# --- a client that goes away ------------------------------------------------------


def reset(s: socket.socket) -> None:
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()


def read_at_least(s: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        piece = s.recv(65536)
        assert piece, f"closed after {len(data)} bytes"
        data += piece
    return data


def events_when(port: int, tag: str, done, what: str, timeout: float = 5.0) -> dict:
    seen: dict = {}

    def check() -> bool:
        seen.update(state(port, tag))
        return done(seen["events"])

    try:
        wait_until(check, timeout, what, interval=0.05)
    except TimeoutError:
        raise AssertionError(f"{what}: after {timeout}s the app recorded {seen}") from None
    return seen


def assert_production_stopped(port: int, tag: str) -> int:
    first = state(port, tag)["produced"]
    time.sleep(0.3)
    second = state(port, tag)["produced"]
    assert first == second, f"the app still produces after the client left: {first} -> {second}"
    return second


@pytest.mark.parametrize("how", ["close", "reset"])
def test_client_gone_mid_response(flow, how):
    served, st = flow
    tag = f"gone-{how}"
    s = connect(st.port)
    s.sendall(build_request("GET", f"/produce?tag={tag}&chunk=65536&limit={256 * MiB}&watch=1"))
    head = read_at_least(s, 200 * 1024)
    assert head.startswith(b"HTTP/1.1 200 ")
    if how == "reset":
        reset(s)
    else:
        s.close()
    if served is ASGI_FLOW:
        seen = events_when(st.port, tag, lambda ev: "receive:http.disconnect" in ev
                           and any(e.startswith("send:") for e in ev), "http.disconnect and the end of the send loop")
    else:
        seen = events_when(st.port, tag, lambda ev: "close" in ev, "the iterable's close()")
        assert seen["events"] == ["iteration:stopped", "close"]
    produced = assert_production_stopped(st.port, tag)
    print(f"{served.id} {how}: events {seen['events']}, produced {produced / MiB:.2f} MiB")
    assert produced < 64 * MiB


def test_asgi_long_poll_sees_the_disconnect(flow):
    served, st = flow
    if served is not ASGI_FLOW:
        pytest.skip("ASGI only: a WSGI app cannot wait for the client")
    tag = "longpoll"
    s = connect(st.port)
    s.sendall(build_request("GET", f"/longpoll?tag={tag}"))
    assert b"waiting\n" in read_at_least(s, 10)
    time.sleep(0.2)
    assert state(st.port, tag)["events"] == []
    s.close()
    seen = events_when(st.port, tag, lambda ev: len(ev) >= 2, "http.disconnect, then the send after it")
    # A send after the disconnect does nothing or raises an OSError (ASGI HTTP spec 2.4).
    assert seen["events"] == ["receive:http.disconnect", "send-after-disconnect:returned"] or \
        seen["events"] == ["receive:http.disconnect", "send-after-disconnect:raised OSError"]


def test_client_gone_mid_upload(flow):
    """The client sends 1 MiB of a 16 MiB body and leaves: the app's read of the body ends."""
    served, st = flow
    tag = "upload-gone"
    s = connect(st.port)
    s.sendall(build_request("POST", f"/slurp?tag={tag}", [("Content-Length", str(16 * MiB))]))
    s.sendall(b"u" * MiB)
    time.sleep(0.3)
    assert state(st.port, tag)["events"] == []
    s.close()
    seen = events_when(st.port, tag, lambda ev: bool(ev), "the app's body read to end")
    (event,) = seen["events"]
    print(f"{served.id}: {event}")
    if served is ASGI_FLOW:
        assert event.startswith("receive:http.disconnect after ")
    else:
        # wsgi.input must not pretend the body was complete: a short read or an error.
        assert event.startswith("input:")
        assert event != f"input:{16 * MiB}"


# --- last: what the backends logged -------------------------------------------------

VALIDATOR_COMPLAINTS = ("AssertionError", "WSGIWarning", "garbage collected without being closed")


def test_no_validator_complaints_after_the_transfers(framework):
    served, st = framework
    log = st.backends[0].log(1 << 20)
    for bad in VALIDATOR_COMPLAINTS + ("Traceback",):
        assert bad not in log, f"{served.id}: backend log has {bad!r}:\n{log[-4000:]}"


def test_no_validator_complaints_after_the_disconnects(flow):
    served, st = flow
    log = st.backends[0].log(1 << 20)
    for bad in VALIDATOR_COMPLAINTS:
        assert bad not in log, f"{served.id}: backend log has {bad!r}:\n{log[-4000:]}"
