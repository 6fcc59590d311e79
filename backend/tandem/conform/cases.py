"""The cases on what a backend does right: handshake, streams, flow control, cancel, ping, drain.

Each case is a function of the ``Kit`` (fresh connections from the backend) and
an entry of ``CASES``: its number, title, the section of PROTOCOL.md it checks,
and the outcome that section makes binding.  On top of what each case checks,
every frame the backend sends is held to the rules in ``peer.py`` (HELLO first,
well-formed frames within the kit's max_frame_size, RESPONSE before DATA,
nothing after END, body within the window, nothing after a CANCEL was read).

The kit announces max_frame_size 65536 and initial_window 65536, the least
section 7 allows, and max_streams 0.  The cases on what a backend must refuse
are in ``cases_errors.py``, those of section 8 in ``cases_ws.py``; ``CASES``
lists them all, in order.

Calls ``protocol``, ``wire``, ``peer``, ``checks``, ``app`` (the bodies its
routes answer), ``runner`` (the Case record), ``cases_errors`` and
``cases_ws`` (the WebSocket cases, group 10).
"""

from __future__ import annotations

import signal

from .. import protocol
from . import wire
from .app import stream_body
from .cases_errors import ERROR_CASES
from .cases_ws import WS_CASES
from .checks import code_name, expect_connection_error, expect_unanswered, stream_target
from .peer import CaseFailed, CaseSkipped, Peer, WaitTimedOut
from .runner import Case, Kit

HELLO_BODY = b"hello"
MAX_BODY_TEST = 16 << 20  # a request body test sends at most this much
MAX_STREAMS_TEST = 1024   # the refusal beyond max_streams is tested up to this max_streams


# --- 1. handshake ---------------------------------------------------------------------------


def backend_hello(kit: Kit) -> None:
    peer = kit.connect()
    peer.pump(lambda: peer.backend_hello is not None, "the backend's HELLO, its first frame")
    h = peer.backend_hello
    assert h is not None
    problems = []
    if h.version != protocol.VERSION:
        problems.append(f"version {h.version}, not {protocol.VERSION}")
    if h.role != "backend":
        problems.append(f"role {h.role!r}, not 'backend'")
    bounds = [("max_frame_size", h.max_frame_size, protocol.MIN_MAX_FRAME, protocol.MAX_MAX_FRAME),
              ("max_streams", h.max_streams, 1, protocol.MAX_STREAMS_LIMIT),
              ("initial_window", h.initial_window, protocol.MIN_WINDOW, protocol.MAX_WINDOW)]
    for name, value, low, high in bounds:
        if not low <= value <= high:
            problems.append(f"{name} {value} outside {low}..{high} (section 7)")
    if problems:
        raise CaseFailed("the backend's HELLO has " + "; ".join(problems))
    peer.hello()
    peer.open(1, "GET", b"/hello")
    peer.expect_answer(1, 200, HELLO_BODY)


def extra_elements(kit: Kit) -> None:
    peer = kit.connect()
    peer.hello(wire.kit_hello(extra=["a field of version 2", 7, [1, 2]]))
    more = ["a field of version 2", 7]
    frames = [
        ([protocol.REQUEST, 1, 0, "POST", b"/echo", b"/echo", b"", "1.1", [b"host", b"conform.test"], None, None,
          "http", b"ab", "conform-1"], "REQUEST stream 1 POST /echo"),
        ([protocol.DATA, 1, protocol.END, b"cd"], "DATA stream 1 END"),
        ([protocol.PING, 0, False, 0x0F13], "PING 0xf13"),
    ]
    peer.register(1, "POST /echo")
    for elements, label in frames:
        peer.send(wire.raw_frame(protocol.pack(elements + more)), f"{label}, with 2 extra elements")
    peer.pump(lambda: 0x0F13 in peer.acks, "the answer to a PING with 2 extra elements")
    peer.expect_answer(1, 200, b"abcd")
    peer.open(3, "POST", b"/echo", b"ef", end=False)
    peer.send(wire.raw_frame(protocol.pack([protocol.WINDOW, 3, 5] + more)), "WINDOW stream 3, with 2 extra elements")
    peer.send(wire.raw_frame(protocol.pack([protocol.CANCEL, 3, 0] + more)), "CANCEL stream 3, with 2 extra elements")
    peer.roundtrip("the answer to a PING after a WINDOW and a CANCEL with 2 extra elements")


def version_refused(kit: Kit) -> None:
    peer = kit.connect()
    peer.hello(wire.kit_hello(version=2))
    probe = peer.open(1, "GET", b"/hello")
    try:
        peer.wait_closed("the backend to close the connection after a HELLO of version 2")
    except WaitTimedOut:
        raise CaseFailed(f"the backend did not close the connection within {kit.timeout:g}s after the kit's HELLO "
                         "of version 2 (section 2, HELLO: a backend that receives another version closes)") from None
    expect_unanswered(probe, "the kit's HELLO was of version 2")


def role_refused(kit: Kit) -> None:
    peer = kit.connect()
    peer.hello(wire.kit_hello(role="backend"))
    probe = peer.open(1, "GET", b"/hello")
    expect_connection_error(peer, protocol.PROTOCOL_ERROR, "a HELLO with role 'backend'", kit.note)
    expect_unanswered(probe, "the kit's HELLO had the wrong role")


def limits_refused(kit: Kit) -> None:
    peer = kit.connect()
    peer.hello(wire.kit_hello(max_frame_size=4096))
    probe = peer.open(1, "GET", b"/hello")
    expect_connection_error(peer, protocol.PROTOCOL_ERROR, "a HELLO with max_frame_size 4096", kit.note)
    expect_unanswered(probe, "the kit's HELLO had limits outside section 7's bounds")


def frame_before_hello(kit: Kit) -> None:
    peer = kit.connect()
    peer.pump(lambda: peer.backend_hello is not None, "the backend's HELLO")
    probe = peer.register(1, "GET /hello")
    peer.send(wire.request(1, "GET", b"/hello"), "REQUEST stream 1 GET /hello, before the kit's HELLO")
    expect_connection_error(peer, protocol.PROTOCOL_ERROR, "a REQUEST before the kit's HELLO", kit.note)
    expect_unanswered(probe, "it came before the kit's HELLO")


def second_hello(kit: Kit) -> None:
    peer = kit.open()
    peer.roundtrip()
    peer.send(wire.kit_hello(), "HELLO (kit), a second one")
    probe = peer.open(1, "GET", b"/hello")
    expect_connection_error(peer, protocol.PROTOCOL_ERROR, "a second HELLO", kit.note)
    expect_unanswered(probe, "it followed a second HELLO")


# --- 2. streams ------------------------------------------------------------------------------


def single_frame(kit: Kit) -> None:
    peer = kit.open()
    peer.open(1, "GET", b"/hello")
    peer.expect_answer(1, 200, HELLO_BODY)


def streamed_request(kit: Kit) -> None:
    peer = kit.open()
    peer.open(1, "POST", b"/echo", b"first,", end=False)
    peer.send_body(1, b"second,", False)
    peer.send_body(1, b"third", False)
    peer.send_body(1, b"", True)
    peer.expect_answer(1, 200, b"first,second,third")


def request_id(kit: Kit) -> None:
    peer = kit.open()
    ids = ["conform-4f1c2a9e8d3b4e57", "x" * 200]
    for sid, rid in enumerate(ids, 1):
        peer.open(sid, "GET", b"/request-id", request_id=rid)
        peer.expect_answer(sid, 200, rid.encode())
    # A frontend from before request ids: 13 elements, which the backend must
    # take (section 2, optional elements); the id it uses then is its own.
    sid = len(ids) + 1
    peer.open(sid, "GET", b"/request-id", request_id="")
    stream = peer.response(sid)
    if stream.reset is not None or stream.status != 200:
        raise CaseFailed(f"a REQUEST without request_id (13 elements) got {stream.status} (reset "
                         f"{stream.reset}), not 200 (section 2: the element is optional)")
    if stream.body in (b"", *(i.encode() for i in ids)):
        raise CaseFailed(f"a REQUEST without request_id got the id {stream.body!r}: a backend makes its own, "
                         "new one (section 2, REQUEST)")


def request_beyond_window(kit: Kit) -> None:
    peer = kit.open()
    total = peer.backend_window + 100_000
    if total > MAX_BODY_TEST:
        raise CaseSkipped(f"the backend's initial_window {peer.backend_window} is too large to use up cheaply")
    body = bytes(range(256)) * (total // 256) + b"x" * (total % 256)
    peer.open(1, "POST", b"/count", end=False)
    peer.send_body(1, body, True)
    peer.expect_answer(1, 200, str(total).encode())


def streamed_response(kit: Kit) -> None:
    peer = kit.open()
    n, size = 3, 100_000  # each piece is more than one of the kit's frames can carry
    peer.open(1, "GET", stream_target(n, size))
    stream = peer.expect_answer(1, 200, stream_body(n, size))
    if stream.frames < 2:
        raise CaseFailed(f"{n * size} bytes came in {stream.frames} frame")


def concurrency_needed(peer: Peer, streams: int) -> None:
    """The kit never opens more streams than the backend's max_streams (section 2, HELLO)."""
    announced = peer.backend_hello.max_streams if peer.backend_hello is not None else 0
    if announced < streams:
        raise CaseSkipped(f"needs {streams} streams open at once; the backend's max_streams is {announced}")


def concurrent_streams(kit: Kit) -> None:
    peer = kit.open()
    concurrency_needed(peer, 8)
    held = (1, 3, 5)
    quick = {2: ("GET", b"/hello", b"", HELLO_BODY), 4: ("GET", stream_target(3, 1000), b"", stream_body(3, 1000)),
             6: ("POST", b"/count", b"12345", b"5"), 7: ("GET", b"/hello", b"", HELLO_BODY),
             8: ("POST", b"/echo", b"eight", b"eight")}
    for sid in range(1, 9):
        if sid in held:
            peer.open(sid, "POST", b"/echo", f"stream {sid} part 1;".encode(), end=False)
        else:
            method, target, body, _ = quick[sid]
            peer.open(sid, method, target, body)
    for sid, (_, _, _, answer) in quick.items():
        peer.expect_answer(sid, 200, answer)
    for sid in held:
        if peer.streams[sid].ended:
            raise CaseFailed(f"the backend ended the response on stream {sid} before its request body ended")
    for sid in reversed(held):
        peer.send_body(sid, f"stream {sid} part 2".encode(), True)
        peer.expect_answer(sid, 200, f"stream {sid} part 1;stream {sid} part 2".encode())


def max_streams_refused(kit: Kit) -> None:
    peer = kit.open()
    limit = peer.backend_hello.max_streams if peer.backend_hello is not None else 0
    if not 1 <= limit <= MAX_STREAMS_TEST:
        raise CaseSkipped(f"the backend's max_streams {limit} is too many streams to hold open cheaply")
    for sid in range(1, limit + 1):
        peer.open(sid, "POST", b"/count", b"x", end=False)
    peer.roundtrip(f"the answer to a PING after {limit} streams were opened")
    for sid in range(1, limit + 1):
        if peer.streams[sid].done:
            raise CaseFailed(f"the backend ended stream {sid}, one of the {limit} its max_streams allows, before "
                             "its request body ended")
    extra = peer.open(limit + 1, "GET", b"/hello")
    peer.pump(lambda: extra.done, f"CANCEL(REFUSED) on stream {limit + 1}, one more than max_streams")
    if extra.reset != protocol.CANCEL_REFUSED:
        raise CaseFailed(f"the backend answered stream {limit + 1}, beyond its max_streams of {limit}, with "
                         + (f"CANCEL({extra.reset})" if extra.reset is not None else f"status {extra.status}")
                         + " (section 5: REQUEST beyond the backend's max_streams: CANCEL(REFUSED))")
    peer.send_body(1, b"y", True)
    peer.expect_answer(1, 200, b"2")
    peer.roundtrip()


def integer_encodings(kit: Kit) -> None:
    peer = kit.open()
    pack, wide = protocol.pack, wire.wide
    request = b"".join([
        b"\xdc\x00\x0e", wide(protocol.REQUEST, wire.INT8), wide(1, wire.UINT64), wide(protocol.END, wire.INT64),
        pack("GET"), pack(b"/hello"), pack(b"/hello"), pack(b""), pack("1.1"), pack([b"host", b"conform.test"]),
        b"\x92", pack("127.0.0.1"), wide(40000, wire.UINT32), pack(None), pack("http"), pack(b""),
        pack("conform-1")])
    peer.register(1, "GET /hello")
    peer.send(wire.raw_frame(request), "REQUEST stream 1 GET /hello: array 16, type int 8, stream id uint 64, "
              "flags int 64, port uint 32")
    ping = b"\x94" + wide(protocol.PING, wire.UINT16) + wide(0, wire.INT64) + b"\xc2" + wide(7, wire.UINT64)
    peer.send(wire.raw_frame(ping), "PING 7: type uint 16, stream id int 64, opaque uint 64")
    peer.pump(lambda: 7 in peer.acks, "the answer to PING 7")
    peer.expect_answer(1, 200, HELLO_BODY)
    peer.open(3, "POST", b"/echo", b"ab", end=False)
    data = b"\x94" + wide(protocol.DATA, wire.UINT32) + wide(3, wire.INT8) + wide(protocol.END, wire.UINT16) + pack(b"cd")
    peer.send(wire.raw_frame(data), "DATA stream 3 END: type uint 32, stream id int 8, flags uint 16")
    peer.expect_answer(3, 200, b"abcd")


# --- 3. flow control ------------------------------------------------------------------------


def response_window(kit: Kit) -> None:
    peer = kit.open()
    n, size = 8, 16384
    expected = stream_body(n, size)
    stream = peer.open(1, "GET", stream_target(n, size), auto_grant=False)
    try:
        peer.pump(lambda: len(stream.body) >= wire.KIT_WINDOW or stream.done,
                  f"the backend to send the {wire.KIT_WINDOW} body bytes its window allows")
    except WaitTimedOut:
        kit.note(f"the backend sent {len(stream.body)} bytes and stopped short of its window; the grants go on")
    peer.roundtrip("the answer to a PING while the window is used up")
    step = 10_000
    while not stream.done:
        if len(stream.body) >= len(expected):
            peer.pump(lambda: stream.done, "the END of the response on stream 1")
            break
        target = min(len(stream.body) + step, len(expected))
        peer.grant(1, step)
        peer.pump(lambda: len(stream.body) >= target or stream.done,
                  f"the backend to send the {step} bytes of the kit's WINDOW ({len(stream.body)} of "
                  f"{len(expected)} bytes so far)")
    peer.expect_answer(1, 200, expected)


def request_flow_violation(kit: Kit) -> None:
    peer = kit.open()
    first = 1000
    stream = peer.open(1, "POST", b"/count", b"a" * first, end=False)
    for _ in range(3):
        over = stream.send_window + 1
        room = peer.backend_max_frame - 16
        while over > 0:
            n = min(over, room)
            peer.send(protocol.data_frame(1, 0, b"b" * n), f"DATA stream 1, {n} bytes")
            stream.send_window -= n
            over -= n
        opaque = 0x0F10
        peer.send(protocol.ping_frame(0, False, opaque), "PING (after the body beyond the window)")
        peer.pump(lambda: opaque in peer.acks or peer.eof, "a GOAWAY(FLOW_CONTROL_ERROR) and close, or the PING's answer")
        if peer.eof or peer.goaways:
            expect_connection_error(peer, protocol.FLOW_CONTROL_ERROR, "request body beyond the window", kit.note)
            return
        if stream.send_window < 0:
            raise CaseFailed(f"the backend took {-stream.send_window} request body bytes beyond the window it had "
                             "granted, and answered a PING sent after them (section 4: a connection error "
                             "FLOW_CONTROL_ERROR)")
        peer.acks.remove(opaque)
    raise CaseSkipped("the backend granted window as fast as the kit overran it; the overrun could not be provoked")


# --- 4. cancel ------------------------------------------------------------------------------


def cancel_before_response(kit: Kit) -> None:
    peer = kit.open()
    stream = peer.open(1, "POST", b"/count", b"12345", end=False)
    peer.roundtrip()
    peer.cancel(1)
    peer.pump(lambda: stream.cancel_read, "the answer to the PING sent after the CANCEL")
    # Section 5: a frame for a cancelled stream is ignored.  A backend that
    # ignored the CANCEL would now answer /count on stream 1.
    peer.send(protocol.data_frame(1, protocol.END, b"678"), "DATA stream 1 END (after the CANCEL: to be ignored)")
    peer.open(3, "GET", b"/hello")
    peer.expect_answer(3, 200, HELLO_BODY)
    peer.roundtrip()


def cancel_during_response(kit: Kit) -> None:
    peer = kit.open()
    stream = peer.open(1, "GET", stream_target(64, 16384), auto_grant=False)
    peer.pump(lambda: stream.status is not None and len(stream.body) > 0 or stream.done,
              "the first bytes of the response on stream 1")
    peer.cancel(1)
    peer.pump(lambda: stream.cancel_read, "the answer to the PING sent after the CANCEL")
    peer.send(protocol.window_frame(1, 1 << 20), "WINDOW stream 1 +1048576 (after the CANCEL: to be ignored)")
    peer.open(3, "GET", b"/hello")
    peer.expect_answer(3, 200, HELLO_BODY)
    peer.roundtrip()
    if stream.late_frames:
        kit.note(f"{stream.late_frames} frames on stream 1 were in flight when the kit cancelled it (allowed)")


# --- 5. ping ---------------------------------------------------------------------------------


def ping(kit: Kit) -> None:
    peer = kit.open()
    peer.send(protocol.ping_frame(0, True, 0x1111), "PING ack=true 0x1111 (an answer: not to be answered)")
    for opaque in (2**64 - 1, 0, 0xFEEDFACE):
        peer.send(protocol.ping_frame(0, False, opaque), f"PING {opaque:#x}")
        peer.pump(lambda: opaque in peer.acks, f"PING(ack=true, {opaque:#x}), the answer to PING {opaque:#x}")
    if 0x1111 in peer.acks:
        raise CaseFailed("the backend answered a PING that had ack=true (section 2, PING: only ack=false is answered)")


# --- 6. drain --------------------------------------------------------------------------------


def frontend_drain(kit: Kit) -> None:
    peer = kit.open()
    peer.open(1, "POST", b"/count", b"abc", end=False)
    peer.roundtrip()
    peer.send(protocol.goaway_frame(0, protocol.NO_ERROR, "tandem-conform drains this connection"),
              "GOAWAY(NO_ERROR)")
    peer.send_body(1, b"defg", True)
    peer.expect_answer(1, 200, b"7")
    try:
        peer.wait_closed("the backend to close the drained connection")
    except WaitTimedOut:
        raise CaseFailed(f"the backend finished its streams but did not close the drained connection within "
                         f"{kit.timeout:g}s (section 2, GOAWAY: it finishes its open streams, closes, and "
                         "connects again)") from None
    starts = kit.backend.starts if kit.backend is not None else 0
    again = kit.connect()
    if kit.backend is not None and kit.backend.starts != starts:
        raise CaseFailed("the backend did not connect again after the drain: the kit had to restart it "
                         "(section 2, GOAWAY: it closes, and connects again)")
    again.pump(lambda: again.backend_hello is not None, "the HELLO of the backend's new connection")


def backend_drain(kit: Kit) -> None:
    if kit.backend is None:
        raise CaseSkipped("needs --backend: the kit makes the backend shut down with SIGTERM")
    peer = kit.open()
    peer.open(1, "POST", b"/count", b"abc", end=False)
    peer.roundtrip()
    kit.backend.signal(signal.SIGTERM)
    peer.pump(lambda: bool(peer.goaways), "the backend's GOAWAY(NO_ERROR) after SIGTERM")
    if peer.goaways[0].code != protocol.NO_ERROR:
        raise CaseFailed(f"the backend said GOAWAY({code_name(peer.goaways[0].code)}) when shutting down "
                         "(section 2, GOAWAY: a backend sends GOAWAY(NO_ERROR) when it is shutting down)")
    peer.open(3, "GET", b"/hello")
    peer.expect_answer(3, 200, HELLO_BODY)
    peer.send_body(1, b"defg", True)
    peer.expect_answer(1, 200, b"7")


def superseded(kit: Kit) -> None:
    if kit.backend is None:
        raise CaseSkipped("needs --backend: the kit watches the backend's process exit")
    peer = kit.open()
    peer.open(1, "POST", b"/count", b"abc", end=False)
    peer.roundtrip()
    peer.send(protocol.goaway_frame(0, protocol.SUPERSEDED, "tandem-conform: a newer generation attached"),
              "GOAWAY(SUPERSEDED)")
    peer.send_body(1, b"defg", True)
    peer.expect_answer(1, 200, b"7")
    try:
        peer.wait_closed("the backend to close the superseded connection")
    except WaitTimedOut:
        raise CaseFailed(f"the backend finished its streams but did not close the superseded connection within "
                         f"{kit.timeout:g}s (section 2, GOAWAY: it finishes its open streams, closes, and exits)"
                         ) from None
    what = kit.runner.exit_or_connection(kit.runner.connect_timeout)
    if what != "exited":
        raise CaseFailed("after GOAWAY(SUPERSEDED) the backend " + (
            "connected again" if what == "connected" else f"had not exited {kit.runner.connect_timeout:g}s later")
            + " (section 2, GOAWAY: it \"exits without reconnecting\")")


CASES = [
    Case("1.1", "backend HELLO first, version 1, limits in bounds", "§2 HELLO, §7",
         "The backend's first frame is HELLO on stream 0: version 1, role \"backend\", max_frame_size in "
         "65536..16777216, max_streams in 1..65535, initial_window in 65536..2^31-1. After the kit's HELLO, "
         "GET /hello is answered.", backend_hello),
    Case("1.2", "elements past version 1's are ignored", "§1",
         "\"A receiver MUST ignore elements past the ones this version defines\": a HELLO with 3 extra "
         "elements, then REQUEST, DATA, PING, WINDOW and CANCEL with 2 each, are taken as the frames they are.",
         extra_elements),
    Case("1.3", "HELLO of another version refused", "§2 HELLO",
         "\"A backend that receives another version closes and reports the message to its operator\": after a "
         "HELLO of version 2 the backend closes and answers no REQUEST (a GOAWAY before the close is tolerated; "
         "the spec does not ask for one).", version_refused),
    Case("1.4", "HELLO with the wrong role refused", "§2 HELLO, §5",
         "\"A peer with the wrong role is refused with PROTOCOL_ERROR\": GOAWAY(PROTOCOL_ERROR), close, no "
         "request served.", role_refused),
    Case("1.5", "HELLO with limits out of bounds refused", "§2 HELLO, §7",
         "\"A HELLO whose limits are outside the bounds of section 7 is refused like any malformed frame "
         "(PROTOCOL_ERROR)\": max_frame_size 4096.", limits_refused),
    Case("1.6", "frame before HELLO refused", "§2 HELLO, §5",
         "\"Any other frame before HELLO\" is a connection error PROTOCOL_ERROR: a REQUEST in place of the "
         "kit's HELLO is not served.", frame_before_hello),
    Case("1.7", "second HELLO refused", "§5",
         "\"Second HELLO\" is a connection error PROTOCOL_ERROR.", second_hello),
    Case("2.1", "single-frame request and response", "§2 REQUEST, RESPONSE, §6",
         "GET /hello in one REQUEST with END is answered 200 \"hello\", the response ended by END.", single_frame),
    Case("2.2", "streamed request body", "§2 DATA, §3",
         "POST /echo: REQUEST without END, two DATA frames, then an empty DATA with END (\"a valid way to finish "
         "a body\"); the echo is the whole body.", streamed_request),
    Case("2.3", "request body beyond one window", "§4",
         "POST /count with the backend's initial_window + 100000 bytes: the kit sends what the window allows "
         "and waits; the backend grants WINDOW as the application reads (\"a backend when the application has "
         "read them\") and counts every byte.", request_beyond_window),
    Case("2.4", "streamed response body", "§2 DATA, §3",
         "GET /stream?n=3&size=100000 (pieces larger than the kit's max_frame_size, 300000 bytes in all, more "
         "than its window): RESPONSE, then DATA frames within the kit's limits (the kit grants as it reads), the "
         "last with END.",
         streamed_response),
    Case("2.5", "concurrent streams complete out of order", "§3",
         "Streams 1, 3 and 5 (POST /echo) stay open, their bodies unfinished, while streams 2, 4, 6, 7 and 8 "
         "are answered; then 5, 3 and 1 finish in that order. Assumes the backend serves at least 4 streams at "
         "once (the spec binds the multiplexing, not a degree of concurrency), and skips if its max_streams is "
         "below 8.", concurrent_streams),
    Case("2.6", "REQUEST beyond max_streams refused", "§2 HELLO, §5",
         "\"REQUEST beyond the backend's max_streams: backend answers CANCEL(REFUSED) on that stream\": the kit "
         "holds max_streams POST /count open (skipped above 1024), then one more REQUEST is refused while the "
         "others go on.", max_streams_refused),
    Case("2.7", "integers in any MessagePack encoding", "§1",
         "\"Integers use any MessagePack integer encoding\": REQUEST, PING and DATA whose integers are wider than "
         "they need, or of the signed formats holding values >= 0, in an array 16, are taken as usual.",
         integer_encodings),
    Case("2.8", "the request id reaches the application", "§2 REQUEST",
         "GET /request-id with request_id \"conform-4f1c2a9e8d3b4e57\", then one of 200 bytes: the application "
         "answers the id it was given. A REQUEST of 13 elements (a frontend from before request ids) is served "
         "too, with an id of the backend's own (not empty).", request_id),
    Case("3.1", "response body within the window", "§4",
         "\"A sender MUST NOT send more than its window; when the window is 0 it waits\": GET /stream of 131072 "
         "bytes with the kit's initial_window of 65536 and no grant until it is used, then grants of 10000 bytes.",
         response_window),
    Case("3.2", "request body beyond the window refused", "§4, §5",
         "\"Bytes beyond the window are a connection error FLOW_CONTROL_ERROR\": the kit sends one byte more "
         "than the backend granted on a POST /count.", request_flow_violation),
    Case("4.1", "cancel before the response", "§2 CANCEL, §5",
         "A POST /count whose body is unfinished is cancelled: no frame for the stream after CANCEL; a DATA "
         "with END on it afterwards is ignored (\"frame for a stream that is closed or was cancelled: "
         "ignored\"); the connection goes on.", cancel_before_response),
    Case("4.2", "cancel during the response", "§2 CANCEL, §5",
         "A GET /stream waiting on its window is cancelled: frames in flight are tolerated, none after the "
         "backend read the CANCEL (a WINDOW sent afterwards on the stream is ignored); the connection goes on.",
         cancel_during_response),
    Case("5.1", "PING answered", "§2 PING",
         "\"A PING with ack = false is answered with a PING with ack = true and the same opaque\" (64-bit "
         "values included); a PING with ack = true is not answered.", ping),
    Case("6.1", "drain asked by the frontend", "§2 GOAWAY",
         "After the kit's GOAWAY(NO_ERROR) \"the backend finishes its open streams, closes, and connects "
         "again\".", frontend_drain),
    Case("6.2", "drain when the backend shuts down", "§2 GOAWAY",
         "On SIGTERM the backend sends GOAWAY(NO_ERROR); \"a REQUEST that crossed the backend's GOAWAY ... is "
         "still served\", and open streams finish. Needs --backend (the kit sends the signal).", backend_drain),
    Case("6.3", "superseded: drain, then exit", "§2 GOAWAY",
         "After the kit's GOAWAY(SUPERSEDED) \"the backend finishes its open streams, closes, and exits without "
         "reconnecting\". Needs --backend (the kit watches the process).", superseded),
] + ERROR_CASES + WS_CASES
