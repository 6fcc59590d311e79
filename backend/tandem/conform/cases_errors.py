"""The cases on what a backend must refuse or survive: sections 1 and 5, and a frontend that stops reading.

Frames here are built byte by byte (``wire``), since a well-behaved encoder
cannot make them.  A connection error's expected outcome is section 5's:
GOAWAY with the code, then close (``checks.expect_connection_error``).

Calls ``protocol``, ``wire``, ``peer``, ``checks``, ``app`` and ``runner`` (the
Case record).
"""

from __future__ import annotations

import fcntl
import struct
import termios
from typing import Callable

from .. import protocol
from . import wire
from .app import stream_body
from .checks import expect_connection_error, expect_unanswered, stream_target
from .peer import CaseFailed, Peer, WaitTimedOut
from .runner import Case, Kit

HELLO_BODY = b"hello"


# --- 7. frames the backend must ignore or refuse --------------------------------------------


def unknown_type(kit: Kit) -> None:
    peer = kit.open()
    peer.open(1, "POST", b"/echo", b"one,", end=False)
    frames = [(99, 0, ["from a later version", 1]), (0, 0, []), (2**32 - 1, 0, [b"\x00" * 3]),
              (200, 1, [{"k": "v"}])]
    for ftype, sid, elements in frames:
        peer.send(protocol.unknown_frame(ftype, sid, elements), f"type {ftype} on stream {sid} (unknown)")
    peer.roundtrip("the answer to a PING after frames of unknown types")
    peer.send_body(1, b"two", True)
    peer.expect_answer(1, 200, b"one,two")


def closed_stream(kit: Kit) -> None:
    peer = kit.open()
    peer.open(1, "GET", b"/hello")
    peer.expect_answer(1, 200, HELLO_BODY)
    peer.send(protocol.window_frame(1, 1000), "WINDOW stream 1 (closed)")
    peer.send(protocol.data_frame(1, protocol.END, b"late"), "DATA stream 1 END (closed)")
    peer.send(protocol.cancel_frame(1, protocol.CANCEL_NO_ERROR), "CANCEL stream 1 (closed)")
    peer.roundtrip("the answer to a PING after frames on a closed stream")
    peer.open(3, "GET", b"/hello")
    peer.expect_answer(3, 200, HELLO_BODY)


def above_highest(kit: Kit) -> None:
    peer = kit.open()
    peer.open(1, "GET", b"/hello")
    peer.expect_answer(1, 200, HELLO_BODY)
    peer.send(protocol.data_frame(9, protocol.END, b"x"), "DATA stream 9 (never opened)")
    expect_connection_error(peer, protocol.PROTOCOL_ERROR, "DATA on stream 9, above the highest opened (1)",
                            kit.note)


def stream_zero(kit: Kit) -> None:
    peer = kit.open()
    peer.send(wire.raw_frame(protocol.pack([protocol.DATA, 0, protocol.END, b"x"])), "DATA on stream 0")
    expect_connection_error(peer, protocol.PROTOCOL_ERROR, "DATA on stream 0", kit.note)


def request_id_reused(kit: Kit) -> None:
    peer = kit.open()
    peer.open(3, "GET", b"/hello")
    peer.expect_answer(3, 200, HELLO_BODY)
    probe = peer.open(2, "GET", b"/hello")
    expect_connection_error(peer, protocol.PROTOCOL_ERROR, "a REQUEST on stream 2 after stream 3", kit.note)
    expect_unanswered(probe, "its id was not above the highest used")


def body_after_end(kit: Kit) -> None:
    peer = kit.open()
    stream = peer.open(1, "GET", stream_target(64, 16384), auto_grant=False)
    peer.pump(lambda: stream.status is not None or stream.done, "the RESPONSE on stream 1")
    peer.send(protocol.data_frame(1, protocol.END, b"after END"), "DATA stream 1 (its request body had ended)")
    peer.pump(lambda: stream.reset is not None,
              "CANCEL(INTERNAL) on stream 1 (section 5: body after END is a stream error)")
    if stream.reset != protocol.CANCEL_INTERNAL:
        raise CaseFailed(f"the backend answered body after END with CANCEL({stream.reset}), not "
                         "CANCEL(INTERNAL) (section 5)")
    peer.open(3, "GET", b"/hello")
    peer.expect_answer(3, 200, HELLO_BODY)


def oversized(kit: Kit) -> None:
    peer = kit.open()
    length = peer.backend_max_frame + 1
    peer.send(wire.length_prefix(length), f"length {length} (the payload never comes)")
    expect_connection_error(peer, protocol.FRAME_TOO_LARGE,
                            f"a frame length of {length}, above its max_frame_size (only the 4 length bytes were "
                            "sent: \"a receiver rejects a length above its limit as soon as it has read the four "
                            "length bytes\")", kit.note)


def oversized_before_hello(kit: Kit) -> None:
    peer = kit.connect()
    peer.pump(lambda: peer.backend_hello is not None, "the backend's HELLO")
    length = protocol.PRE_HELLO_MAX_FRAME + 1
    peer.send(wire.length_prefix(length), f"length {length} in place of the kit's HELLO (the payload never comes)")
    expect_connection_error(peer, protocol.FRAME_TOO_LARGE,
                            f"a frame length of {length} before the HELLO exchange (the limit is 65536 until it is "
                            "complete)", kit.note)


def zero_length(kit: Kit) -> None:
    peer = kit.open()
    peer.send(wire.length_prefix(0), "length 0")
    expect_connection_error(peer, protocol.PROTOCOL_ERROR, "a frame of length 0", kit.note)


def truncated_eof(kit: Kit) -> None:
    peer = kit.open()
    peer.roundtrip()
    frame = wire.request(1, "GET", b"/hello")
    probe = peer.register(1, "GET /hello")
    peer.send(frame[:len(frame) // 2], f"the first {len(frame) // 2} of the {len(frame)} bytes of a REQUEST")
    peer.shutdown_write()
    try:
        peer.wait_closed("the backend to close the connection after the kit's EOF in the middle of a frame")
    except WaitTimedOut:
        raise CaseFailed(f"the backend did not close the connection within {kit.timeout:g}s after the kit's EOF "
                         "in the middle of a frame") from None
    expect_unanswered(probe, "only half of its REQUEST frame arrived")


# --- 8. malformed payloads ---------------------------------------------------------------------


def malformed(payload: bytes, what: str, open_stream: bool = False) -> Callable[[Kit], None]:
    """A case: ``payload`` in a frame of the right length is a connection error PROTOCOL_ERROR."""

    def run(kit: Kit) -> None:
        peer = kit.open()
        if open_stream:
            peer.open(1, "POST", b"/count", b"x", end=False)
        peer.roundtrip()
        peer.send(wire.raw_frame(payload), what)
        expect_connection_error(peer, protocol.PROTOCOL_ERROR, what, kit.note)

    return run


PING_HEAD = wire.fixarray(4) + wire.uint(protocol.PING) + wire.uint(0)


def invalid_utf8(kit: Kit) -> None:
    peer = kit.open()
    probe = peer.register(1, "GE\\xffT /hello")
    peer.send(wire.raw_request(1, b"GE\xffT", b"/hello"), "REQUEST stream 1 with method b'GE\\xffT' (not UTF-8)")
    opaque = 0x0F11
    peer.send(protocol.ping_frame(0, False, opaque), f"PING {opaque:#x}")
    peer.pump(lambda: opaque in peer.acks or peer.eof, "a GOAWAY(PROTOCOL_ERROR) and close, or the PING's answer")
    if opaque in peer.acks:
        kit.note("the backend took the invalid UTF-8 and went on (section 1: it MAY treat it as malformed)")
        peer.open(3, "GET", b"/hello")
        peer.expect_answer(3, 200, HELLO_BODY)
        return
    expect_connection_error(peer, protocol.PROTOCOL_ERROR, "a str holding invalid UTF-8", kit.note)
    expect_unanswered(probe, "its method was not valid UTF-8 and the backend closed the connection for it")


# --- 9. a frontend that stops reading -----------------------------------------------------------


def queued(peer: Peer) -> int:
    """Bytes waiting in the kit's receive queue (FIONREAD)."""
    return struct.unpack("i", fcntl.ioctl(peer.sock.fileno(), termios.FIONREAD, b"\0\0\0\0"))[0]


def stops_reading(kit: Kit) -> None:
    peer = kit.open()
    n, size = 256, 65536
    stream = peer.open(1, "GET", stream_target(n, size), auto_grant=False)
    peer.grant(1, n * size)
    # The kit reads nothing until the backend's writes have filled the socket's
    # queue (or a second has passed; the outcome checked below does not depend
    # on how long).  Meanwhile it sends more work, which the backend must not
    # lose: a request, a request body and a PING.
    peer.open(3, "GET", b"/hello")
    peer.open(5, "POST", b"/count", b"y" * 60000)
    opaque = 0x0F12
    peer.send(protocol.ping_frame(0, False, opaque), f"PING {opaque:#x} (while the kit does not read)")
    try:
        peer.pump(lambda: queued(peer) >= 1 << 16, "the socket's queue to fill", timeout=1.0, read=False)
    except WaitTimedOut:
        kit.note(f"the backend had queued only {queued(peer)} bytes after a second; the kit reads again")
    peer.pump(lambda: stream.done and opaque in peer.acks, "the whole response once the kit reads again",
              timeout=kit.timeout * 4)
    peer.expect_answer(1, 200, stream_body(n, size))
    peer.expect_answer(3, 200, HELLO_BODY)
    peer.expect_answer(5, 200, b"60000")


ERROR_CASES = [
    Case("7.1", "unknown frame types ignored", "§1, §5",
         "\"Unknown frame type (well-formed array with integer type): ignored; the connection goes on\", type 0 "
         "(reserved) and 2^32-1 included, on stream 0 and on an open stream.", unknown_type),
    Case("7.2", "frames on a closed stream ignored", "§5",
         "\"Frame for a stream that is closed or was cancelled: ignored\": WINDOW, DATA and CANCEL on a stream "
         "whose exchange is over.", closed_stream),
    Case("7.3", "frame on a stream above the highest opened refused", "§5",
         "\"Frame (other than REQUEST) for a stream id above the highest opened: connection error "
         "PROTOCOL_ERROR\".", above_highest),
    Case("7.4", "stream frame on stream 0 refused", "§5",
         "\"Frame on stream 0 that needs a stream\": connection error PROTOCOL_ERROR.", stream_zero),
    Case("7.5", "REQUEST id not above the highest used refused", "§2 REQUEST, §5",
         "\"REQUEST with an id not above the highest used: connection error PROTOCOL_ERROR\"; that REQUEST is "
         "not served.", request_id_reused),
    Case("7.6", "oversized frame refused from its length", "§1, §5",
         "A length above the backend's max_frame_size: connection error FRAME_TOO_LARGE, \"detected from the 4 "
         "length bytes\" (the kit never sends the payload).", oversized),
    Case("7.7", "oversized frame before HELLO refused", "§1, §7",
         "\"Before the HELLO exchange is complete the limit is 65536\": a length of 65537 is FRAME_TOO_LARGE.",
         oversized_before_hello),
    Case("7.8", "frame of length 0 refused", "§1, §5",
         "\"A length of 0 is a protocol error\": PROTOCOL_ERROR.", zero_length),
    Case("7.9", "truncated frame, then EOF", "§1",
         "Half a REQUEST, then the kit's EOF. The spec says nothing of EOF inside a frame; what it binds: the "
         "partial frame is no frame (the request is not served), and the connection is over, so the backend "
         "closes it.", truncated_eof),
    Case("7.10", "request body after END: stream error", "§3, §5",
         "\"Body after END: stream error: CANCEL(INTERNAL) by the receiver\": DATA on a stream whose REQUEST had "
         "END, while its response (GET /stream, waiting on its window) is under way; the stream is cancelled, the "
         "connection goes on.", body_after_end),
    Case("8.1", "payload that is not MessagePack refused", "§1, §5",
         "A payload with the byte 0xc1 (never used by MessagePack): PROTOCOL_ERROR.",
         malformed(wire.fixarray(3) + wire.uint(protocol.PING) + wire.uint(0) + b"\xc1", "a payload with 0xc1")),
    Case("8.2", "array cut short inside its payload refused", "§1, §5",
         "An array header of 4 elements with 3 in the payload: \"the payload is exactly one MessagePack array\"; "
         "PROTOCOL_ERROR.", malformed(PING_HEAD + b"\xc2", "a 4-element array with 3 elements")),
    Case("8.3", "bytes after the array refused", "§1, §5",
         "\"Nothing may follow the array inside the payload\": PROTOCOL_ERROR.",
         malformed(PING_HEAD + b"\xc2\x01\x00", "a PING with one byte after its array")),
    Case("8.4", "payload that is not an array refused", "§1, §5",
         "A map in place of the array: \"payload not one array\" is PROTOCOL_ERROR.",
         malformed(b"\x82\x00\x03\x01\x00", "a map {0: 3, 1: 0}")),
    Case("8.5", "missing element refused", "§1, §5",
         "\"A frame with fewer elements than defined\" is malformed: a WINDOW without its increment.",
         malformed(wire.fixarray(2) + wire.uint(protocol.WINDOW) + wire.uint(1), "WINDOW [7, 1] (no increment)",
                   open_stream=True)),
    Case("8.6", "element of the wrong type refused", "§1, §5",
         "\"An element of the wrong MessagePack type\" is malformed: a PING whose ack is the integer 0.",
         malformed(PING_HEAD + b"\x00\x05", "PING [3, 0, 0, 5] (ack an integer)")),
    Case("8.7", "integer outside its field refused", "§1, §5",
         "\"Stream ids at most 2^31-1 ... A value outside its field's range makes the frame malformed\": a "
         "WINDOW on stream 2^31.",
         malformed(wire.fixarray(3) + wire.uint(protocol.WINDOW) + wire.uint(2**31) + wire.uint(1),
                   "WINDOW on stream 2^31")),
    Case("8.8", "invalid UTF-8 in a str", "§1",
         "Strings \"MUST hold valid UTF-8 (a receiver MAY treat invalid UTF-8 as malformed)\": a REQUEST whose "
         "method is b'GE\\xffT'. Either PROTOCOL_ERROR and close, or the connection goes on; never another "
         "code, never a hang.", invalid_utf8),
    Case("9.1", "a frontend that stops reading", "§4",
         "The kit grants a 16 MiB response its whole window, then stops reading while it sends a request, a "
         "body and a PING. When it reads again, every byte arrives, in order, and every request is answered: "
         "the backend waits for the socket (flow control bounds what it holds) and loses nothing.",
         stops_reading),
]
