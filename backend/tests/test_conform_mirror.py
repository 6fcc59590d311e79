"""The mirror kit's fake backend (tandem.conform.mirror.FakeBackend) against a fake frontend on a socketpair.

Each rule the kit holds every frontend frame to is broken once here, with the
real bytes, and must fail the case with a reason that names it; what the
fake backend itself sends (its HELLO, grants of request body, PING answers,
response body within the frontend's window and frame size) is read back and
decoded.  The window overrun of case F3.6, for a frontend whose window is more
than one frame, is played against three fake frontends: one that refuses it,
one that takes it, one that grants as fast as it comes.
"""

from __future__ import annotations

import socket
import threading
from typing import Callable, Optional

import pytest

from tandem import protocol
from tandem.conform import wire
from tandem.conform.cases_frontend_errors import overrun_in_pieces
from tandem.conform.link import CaseFailed, CaseSkipped, Link
from tandem.conform.mirror import FakeBackend

FRONTEND_HELLO = protocol.hello_frame(0, 1, "frontend", "fake", 1, 0, 65536, 0, 65536)
TIMEOUT = 2.0


def solo(backend_holder: list) -> Callable[[Callable[[], bool], str, Optional[float]], None]:
    """The kit's loop for one connection: Link's own pump (the fake backend's wait raises on EOF itself)."""

    def loop(until: Callable[[], bool], what: str, timeout: Optional[float] = None) -> None:
        Link.pump(backend_holder[0], until, what, timeout, eof_ok=True)

    return loop


@pytest.fixture
def pair():
    kit_end, frontend_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    frontend_end.settimeout(TIMEOUT)
    holder: list = []
    backend = FakeBackend(kit_end, TIMEOUT, "backend", solo(holder))
    holder.append(backend)
    yield backend, frontend_end
    backend.close()
    frontend_end.close()


def frames(sock: socket.socket, decoder: protocol.Decoder, count: int) -> list[protocol.Frame]:
    """The next ``count`` frames the fake backend sent."""
    out: list[protocol.Frame] = []
    while len(out) < count:
        frame = decoder.next_frame()
        if frame is None:
            decoder.feed(sock.recv(1 << 20))
        else:
            out.append(frame)
    return out


def attached(pair, max_streams: int = wire.KIT_MAX_STREAMS) -> tuple[FakeBackend, socket.socket, protocol.Decoder]:
    """The HELLO exchange done; the decoder reads what the fake backend sends."""
    backend, frontend = pair
    backend.hello(max_streams=max_streams)
    decoder = protocol.Decoder(65536)
    hello = frames(frontend, decoder, 1)[0]
    assert type(hello) is protocol.Hello and hello.role == "backend" and hello.max_streams == max_streams
    assert (hello.max_frame_size, hello.initial_window) == (wire.KIT_MAX_FRAME, wire.KIT_WINDOW)
    frontend.sendall(FRONTEND_HELLO)
    backend.wait_hello()
    return backend, frontend, decoder


def request(sid: int, body: bytes = b"", end: bool = True) -> bytes:
    return wire.request(sid, "POST" if body else "GET", b"/x", body, end)


def fails(backend: FakeBackend, frontend: socket.socket, data: bytes, reason: str) -> None:
    frontend.sendall(data)
    with pytest.raises(CaseFailed, match=reason):
        backend.wait(lambda: False, "a rule to be broken")


def test_the_first_frame_must_be_hello(pair):
    backend, frontend = pair
    backend.hello()
    fails(backend, frontend, protocol.ping_frame(0, False, 1), "first frame is PING, not HELLO")


def test_no_hello_before_the_backends(pair):
    backend, frontend = pair
    fails(backend, frontend, FRONTEND_HELLO, "HELLO before the backend's")


def test_a_refusal_is_a_goaway_and_nothing_after_it(pair):
    backend, frontend = pair
    backend.hello()
    frontend.sendall(protocol.goaway_frame(0, protocol.VERSION_MISMATCH, "no"))
    backend.wait(lambda: bool(backend.goaways), "the GOAWAY")
    fails(backend, frontend, protocol.ping_frame(0, False, 1), r"PING after its GOAWAY\(VERSION_MISMATCH\)")


def test_a_second_hello(pair):
    backend, frontend, _ = attached(pair)
    fails(backend, frontend, FRONTEND_HELLO, "second HELLO")


@pytest.mark.parametrize("data, reason", [
    (request(3) + request(2), "opened stream 2 after stream 3"),
    (request(1) + request(1), "opened stream 1 after stream 1"),
    (request(1, b"a", False) + request(3, b"b", False) + request(5, b"c", False), "while 2 streams were open"),
    (request(1, b"a" * 60000, False) + protocol.data_frame(1, 0, b"b" * 6000), "464 request body bytes beyond"),
    (request(1, b"a") + protocol.data_frame(1, 0, b"b"), "DATA on stream 1 after the request body's END"),
    (request(1) + protocol.window_frame(3, 5), "WINDOW on stream 3, which it never opened"),
    (request(1, b"a", False) + protocol.cancel_frame(1, 1) + protocol.data_frame(1, 0, b"b"),
     "DATA on stream 1 after its own CANCEL"),
    (request(1) + protocol.response_frame(1, 1, 200, [], b""), "RESPONSE on stream 1, a frame only backends send"),
    (wire.length_prefix(65537), "frame of 65537 bytes, above the kit's max_frame_size"),
    (wire.raw_frame(b"\x93\x06\x01"), "malformed frame"),
], ids=["ids-decrease", "id-reused", "beyond-max-streams", "body-beyond-window", "data-after-end", "never-opened",
        "after-own-cancel", "response", "oversized", "malformed"])
def test_the_rules_of_a_frontends_frames(pair, data, reason):
    backend, frontend, _ = attached(pair, max_streams=2)
    backend.auto_grant = False
    fails(backend, frontend, data, reason)


def test_no_request_once_the_goaway_was_read(pair):
    backend, frontend, decoder = attached(pair)
    backend.goaway(protocol.NO_ERROR, "drain")
    goaway, ping = frames(frontend, decoder, 2)
    assert type(goaway) is protocol.GoAway and type(ping) is protocol.Ping
    # Crossed the GOAWAY: allowed.
    frontend.sendall(request(1))
    backend.wait(lambda: bool(backend.new_streams), "the crossing REQUEST")
    frontend.sendall(protocol.ping_frame(0, True, ping.opaque))
    backend.wait(lambda: backend.goaway_read, "the PING's answer")
    fails(backend, frontend, request(3), r"opened stream 3 \(GET b'/x'\) after it had read the backend's GOAWAY")


def test_nothing_after_the_backends_cancel_was_read(pair):
    backend, frontend, decoder = attached(pair)
    frontend.sendall(request(1, b"a", False))
    stream = backend.next_request("POST /x")
    backend.cancel(stream, protocol.CANCEL_INTERNAL)
    cancel, ping = frames(frontend, decoder, 3)[1:]     # the grant of the body's first byte, then these
    assert cancel == protocol.Cancel(1, protocol.CANCEL_INTERNAL) and not ping.ack
    frontend.sendall(protocol.data_frame(1, 0, b"in flight"))
    backend.wait(lambda: stream.late == 1, "the late frame")
    frontend.sendall(protocol.ping_frame(0, True, ping.opaque))
    backend.wait(lambda: stream.cancel_read, "the PING's answer")
    fails(backend, frontend, protocol.data_frame(1, 0, b"x"), "after it had read the backend's CANCEL")


def test_a_close_in_the_middle_of_a_frame(pair):
    backend, frontend, _ = attached(pair)
    frontend.sendall(request(1)[:10])
    frontend.close()
    with pytest.raises(CaseFailed, match="in the middle of a frame"):
        backend.wait_closed("the close")


@pytest.mark.parametrize("data, reason", [
    (b"", "without a GOAWAY"),
    (protocol.goaway_frame(0, protocol.PROTOCOL_ERROR, "x"), r"GOAWAY\(PROTOCOL_ERROR, 'x'\), not GOAWAY\(FRAME_TOO"),
], ids=["no-goaway", "wrong-code"])
def test_a_connection_error_is_goaway_then_close(pair, data, reason):
    backend, frontend, _ = attached(pair)
    frontend.sendall(data)
    frontend.close()
    with pytest.raises(CaseFailed, match=reason):
        backend.expect_connection_error(protocol.FRAME_TOO_LARGE, "a long frame")


def test_goaway_then_close_passes(pair):
    backend, frontend, _ = attached(pair)
    frontend.sendall(protocol.goaway_frame(0, protocol.FRAME_TOO_LARGE, "x"))
    frontend.close()
    backend.expect_connection_error(protocol.FRAME_TOO_LARGE, "a long frame")


def test_the_backend_grants_what_it_reads_and_answers_pings(pair):
    backend, frontend, decoder = attached(pair)
    frontend.sendall(request(1, b"a" * 1000, False) + protocol.ping_frame(0, False, 2**64 - 1))
    stream = backend.next_request("POST /x")
    backend.wait(lambda: 2**64 - 1 not in backend.acks and len(stream.body) == 1000, "the body")
    assert set(frames(frontend, decoder, 2)) == {protocol.Window(1, 1000), protocol.Ping(0, True, 2**64 - 1)}


def test_response_body_within_the_window_and_the_frame_size(pair):
    backend, frontend, decoder = attached(pair)
    frontend.sendall(request(1))
    stream = backend.next_request("GET /x")
    backend.respond(stream, 200, end=False)
    frontend.sendall(protocol.window_frame(1, 10000))
    backend.send_body(stream, b"z" * 75536, True)
    # The window of 65536 first, in frames of at most max_frame_size - 16 bytes, then the grant's 10000.
    sent = frames(frontend, decoder, 4)[1:]
    assert [len(f.data) for f in sent] == [65536 - 16, 16, 10000]
    assert sent[-1].flags == protocol.END and stream.send_window == 0 and stream.resp_ended


def test_response_body_waits_for_window(pair):
    backend, frontend, _ = attached(pair)
    frontend.sendall(request(1))
    stream = backend.next_request("GET /x")
    backend.respond(stream, 200, body=b"q" * 65536, end=False)
    backend.timeout = 0.2
    with pytest.raises(CaseFailed, match="WINDOW on stream 1"):
        backend.send_body(stream, b"more", True)


# --- case F3.6's overrun, for a window of more than one frame -----------------------------------------


def fake_frontend(sock: socket.socket, window: int, behaviour: str) -> None:
    """Reads the backend's frames: answers PINGs; ``refuses`` an overrun (GOAWAY, close), ``takes`` it, or
    ``grants`` every body byte as it comes."""
    decoder = protocol.Decoder(65536)
    unacked = 0
    try:
        while True:
            frame = decoder.next_frame()
            if frame is None:
                data = sock.recv(1 << 20)
                if not data:
                    return
                decoder.feed(data)
                continue
            if type(frame) is protocol.Ping:
                sock.sendall(protocol.ping_frame(0, True, frame.opaque))
            elif type(frame) in (protocol.Response, protocol.Data):
                n = len(frame.body if type(frame) is protocol.Response else frame.data)
                unacked += n
                if behaviour == "grants" and n:
                    sock.sendall(protocol.window_frame(frame.stream_id, n))
                    unacked -= n
                elif unacked > window and behaviour == "refuses":
                    sock.sendall(protocol.goaway_frame(0, protocol.FLOW_CONTROL_ERROR, "overrun"))
                    sock.close()
                    return
    except OSError:
        return


@pytest.mark.parametrize("behaviour", ["refuses", "takes", "grants"])
def test_overrun_in_pieces(pair, behaviour):
    backend, frontend = pair
    window = 100_000
    backend.hello()
    decoder = protocol.Decoder(65536)
    frames(frontend, decoder, 1)
    frontend.sendall(protocol.hello_frame(0, 1, "frontend", "fake", 1, 0, 65536, 0, window) + request(1))
    stream = backend.next_request("GET /x")
    thread = threading.Thread(target=fake_frontend, args=(frontend, window, behaviour), daemon=True)
    thread.start()
    try:
        if behaviour == "refuses":
            overrun_in_pieces(None, backend, stream, window)   # type: ignore[arg-type]
            backend.expect_connection_error(protocol.FLOW_CONTROL_ERROR, "the overrun")
        elif behaviour == "takes":
            with pytest.raises(CaseFailed, match="took 1 response body bytes beyond its window"):
                overrun_in_pieces(None, backend, stream, window)   # type: ignore[arg-type]
        else:
            with pytest.raises(CaseSkipped, match="granted window as fast as the kit overran it"):
                overrun_in_pieces(None, backend, stream, window)   # type: ignore[arg-type]
    finally:
        backend.close()
        thread.join(TIMEOUT)
