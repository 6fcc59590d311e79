"""The conformance kit's connection (tandem.conform.peer) against a fake backend on a socketpair.

Each rule the kit holds every backend frame to is broken once here, with the
real bytes, and must fail the case with a reason that names it; the frames
the kit itself sends (grants, PING answers, request body within the window
and the frame size) are read back and decoded.
"""

from __future__ import annotations

import socket

import pytest

from tandem import protocol
from tandem.conform import wire
from tandem.conform.peer import CaseFailed, Peer

BACKEND_HELLO = protocol.hello_frame(0, 1, "backend", "fake", 1, 1, 65536, 16, 65536)


@pytest.fixture
def pair():
    kit_end, backend_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    backend_end.settimeout(2.0)
    peer = Peer(kit_end, timeout=2.0)
    yield peer, backend_end
    peer.close()
    backend_end.close()


def attached(pair) -> tuple[Peer, socket.socket, protocol.Decoder]:
    """The HELLO exchange done; the decoder reads what the kit sends."""
    peer, backend = pair
    backend.sendall(BACKEND_HELLO)
    peer.hello()
    decoder = protocol.Decoder(65536)
    decoder.feed(backend.recv(65536))
    assert type(decoder.next_frame()) is protocol.Hello
    return peer, backend, decoder


def kit_frames(backend: socket.socket, decoder: protocol.Decoder, count: int) -> list[protocol.Frame]:
    frames: list[protocol.Frame] = []
    while len(frames) < count:
        frame = decoder.next_frame()
        if frame is None:
            decoder.feed(backend.recv(1 << 20))
        else:
            frames.append(frame)
    return frames


def fails(peer: Peer, backend: socket.socket, data: bytes, reason: str) -> None:
    backend.sendall(data)
    with pytest.raises(CaseFailed, match=reason):
        peer.pump(lambda: False, "a rule to be broken")


def response(sid: int, body: bytes = b"", flags: int = 0, status: int = 200) -> bytes:
    return protocol.response_frame(sid, flags, status, [], body)


def test_the_first_frame_must_be_hello(pair):
    peer, backend = pair
    fails(peer, backend, protocol.ping_frame(0, False, 1), "first frame is PING, not HELLO")


def test_a_second_hello(pair):
    peer, backend, _ = attached(pair)
    fails(peer, backend, BACKEND_HELLO, "second HELLO")


def test_a_response_on_a_stream_never_opened(pair):
    peer, backend, _ = attached(pair)
    fails(peer, backend, response(1, b"x", protocol.END), "stream 1, which the kit never opened")


@pytest.mark.parametrize("frames, reason", [
    ([protocol.data_frame(1, 0, b"x")], "DATA on stream 1 before RESPONSE"),
    ([response(1), response(1)], "second RESPONSE"),
    ([response(1, b"x", protocol.END), protocol.data_frame(1, 0, b"y")], "after the response's END"),
    ([response(1, status=199)], "status 199, outside 200..599"),
    ([response(1, b"a" * 60000), protocol.data_frame(1, 0, b"b" * 6000)], "464 body bytes beyond its window"),
    ([wire.length_prefix(65537)], "frame of 65537 bytes, above the kit's max_frame_size"),
    ([wire.raw_frame(b"\x93\x06\x01")], "malformed frame"),
])
def test_the_rules_of_a_stream(pair, frames, reason):
    peer, backend, _ = attached(pair)
    peer.open(1, "GET", b"/x", auto_grant=False)
    fails(peer, backend, b"".join(frames), reason)


def test_nothing_after_the_cancel_was_read(pair):
    peer, backend, decoder = attached(pair)
    stream = peer.open(1, "GET", b"/x")
    peer.cancel(1)
    _, cancel, ping = kit_frames(backend, decoder, 3)
    assert cancel == protocol.Cancel(1, protocol.CANCEL_CLIENT_GONE) and not ping.ack
    # In flight when the kit cancelled: tolerated.
    backend.sendall(response(1, b"late"))
    peer.pump(lambda: stream.late_frames == 1, "the late frame")
    backend.sendall(protocol.ping_frame(0, True, ping.opaque))
    peer.pump(lambda: stream.cancel_read, "the PING's answer")
    fails(peer, backend, protocol.data_frame(1, 0, b"x"), "after it had read the kit's CANCEL")


def test_the_kit_grants_what_it_reads_and_answers_pings(pair):
    peer, backend, decoder = attached(pair)
    stream = peer.open(1, "GET", b"/x")
    backend.sendall(response(1, b"a" * 1000) + protocol.ping_frame(0, False, 2**64 - 1))
    peer.pump(lambda: len(stream.body) == 1000, "the body")
    assert set(kit_frames(backend, decoder, 3)[1:]) == {protocol.Window(1, 1000), protocol.Ping(0, True, 2**64 - 1)}


def test_request_body_within_the_window_and_the_frame_size(pair):
    peer, backend, decoder = attached(pair)
    peer.open(1, "POST", b"/x", end=False)
    backend.sendall(protocol.window_frame(1, 10000))
    peer.send_body(1, b"z" * 75536, True)
    # The window of 65536 first, in frames of at most max_frame_size - 16 bytes, then the grant's 10000.
    frames = kit_frames(backend, decoder, 4)[1:]
    assert [len(f.data) for f in frames] == [65536 - 16, 16, 10000]
    assert frames[-1].flags == protocol.END
    assert peer.streams[1].send_window == 0


def test_request_body_waits_for_window(pair):
    peer, backend, _ = attached(pair)
    peer.open(1, "POST", b"/x", b"q" * 65536, end=False)
    with pytest.raises(CaseFailed, match="WINDOW on stream 1"):
        peer.send_body(1, b"more", True)


def test_hexdump():
    assert wire.hexdump(b"\x00\x00\x00\x04\x93\x08\x01\x01", indent="") == (
        "000000  00 00 00 04 93 08 01 01                          ........")
    assert wire.hexdump(bytes(300), limit=16, indent="").splitlines()[-1] == "... 284 more bytes"


def test_integers_wider_than_they_need():
    assert wire.wide(1, wire.UINT64) == b"\xcf" + bytes(7) + b"\x01"
    assert wire.wide(4, wire.INT8) == b"\xd0\x04"
    assert protocol.decode_payload(b"\x94" + wire.wide(3, wire.UINT16) + wire.wide(0, wire.INT64) + b"\xc2"
                                   + wire.wide(7, wire.UINT32)) == protocol.Ping(0, False, 7)
