"""The frontend kit's cases on what a frontend must refuse or survive: the groups F3 to F6.

F3: connection errors (GOAWAY with the code, then the close, and the others
served: ``scenes.connection_error``); F4: stream errors and the backend's own
CANCEL; F5: cancelled and closed streams, and a silent backend; F6: a backend
that goes away, a safe request sent again (or, with nowhere to go, answered
502), a backend's drain, generations.

Calls ``protocol``, ``wire``, ``link`` (the exceptions), ``mirror`` (the kit
and its fake backend), ``scenes`` (what the cases share) and ``runner`` (the
Case record).
"""

from __future__ import annotations

import fcntl
import struct
import termios

from .. import protocol
from . import wire
from .link import CaseFailed, CaseSkipped, WaitTimedOut
from .mirror import BStream, FakeBackend, MirrorKit, cancel_name, code_name
from .runner import Case
from .scenes import (TEXT, Scene, ask, connection_error, connection_goes_on, expect, expect_cut, expect_stream_error,
                     no_room, not_sent_again, scene, survives, victim_gets)

GARBAGE = b"\xc1 tandem-conform: garbage, not a MessagePack array"
GENERATIONS_APP = "tandem-conform-generations"   # F6.6: an app of its own
VICTIM_RCVBUF = 4096
BIG_FRAME = 1 << 20     # F3.7: frames and a body large enough to leave a write half done,
BIG_BODY = 2 << 20      # and the bytes in the socket's queue that show it is
FULL_QUEUE = 64 << 10
# Rounds of overrun when the frontend's window is more than one frame: each sends a window's worth beyond what it
# had granted, and once the kernel's buffers towards the stopped client are full (4 MiB of send buffer at most on
# Linux), the frontend has written nothing more and granted nothing more.
OVERRUN_ROUNDS = 8


# --- F3. connection errors ---------------------------------------------------------------------


def send_garbage(sc: Scene) -> None:
    sc.bad.send(wire.raw_frame(GARBAGE), f"a frame of {len(GARBAGE)} bytes of garbage (not MessagePack)")


def send_empty(sc: Scene) -> None:
    sc.bad.send(wire.length_prefix(0), "length 0")


def send_above_highest(sc: Scene) -> None:
    sid = sc.stream.id + 2
    sc.bad.send(protocol.response_frame(sid, protocol.END, 200, [], b"x"), f"RESPONSE on stream {sid} (never opened)")


def send_on_stream_zero(sc: Scene) -> None:
    sc.bad.send(protocol.data_frame(0, protocol.END, b"x"), "DATA on stream 0")


def send_oversized(sc: Scene) -> None:
    length = sc.bad.frontend_max_frame + 1
    sc.bad.send(wire.length_prefix(length), f"length {length}, one above the frontend's max_frame_size (the payload "
                "never comes: \"detected from the 4 length bytes\")")


def window_overrun(kit: MirrorKit) -> None:
    # The victim's client reads nothing while the body comes, from a small receive buffer: a frontend that grants
    # what it has written to it soon has nothing more to grant (section 4).
    sc = scene(kit, rcvbuf=VICTIM_RCVBUF)
    sc.victim.paused = True
    bad, stream = sc.bad, sc.stream
    window = bad.frontend_window
    frame = protocol.response_frame(stream.id, 0, 200, [], bytes(window + 1))
    if len(frame) - 4 <= bad.frontend_max_frame:
        bad.send(frame, f"RESPONSE stream {stream.id}, {window + 1} body bytes: one beyond the frontend's window")
    else:
        overrun_in_pieces(kit, bad, stream, window)
    bad.expect_connection_error(protocol.FLOW_CONTROL_ERROR, f"{window + 1} response body bytes on a window of {window}")
    sc.victim.paused = False
    not_sent_again(sc)
    resp = sc.victim.response(f"the victim's {stream.what}")
    if not resp.complete and resp.status == 200:
        kit.note("the frontend had sent the response's head to the client before it found the overrun: the "
                 "client's connection was closed (section 5 allows either)")
    else:
        expect(resp, 502, None, f"the victim's {stream.what}", "section 5: 502 if no response byte was sent")
    survives(kit, sc, "a window overrun")


def overrun_in_pieces(kit: MirrorKit, bad: FakeBackend, stream: BStream, window: int) -> None:
    """The frontend's window is more than one frame: body in DATA frames until the bytes beyond every grant the
    frontend had sent (known once a PING sent after them is answered) pass the window.  A grant that crossed the
    overrun makes it none (the receiver counts against what it had granted): then the kit goes on, a round more."""
    bad.respond(stream, 200, [], b"", end=False)
    room = bad.frontend_max_frame - 16
    sent = 0
    for _ in range(OVERRUN_ROUNDS):
        need = window + stream.granted + 1 - sent
        while need > 0:
            n = min(need, room)
            bad.send(protocol.data_frame(stream.id, 0, bytes(n)), f"DATA stream {stream.id}, {n} bytes")
            sent, need = sent + n, need - n
        opaque = bad.fence(" (after the overrun)")
        bad.wait(lambda: opaque in bad.acks or bad.eof or bool(bad.goaways),
                 "a GOAWAY(FLOW_CONTROL_ERROR), or the answer to the PING after the overrun", eof_ok=True)
        if bad.eof or bad.goaways:
            return
        if sent - stream.granted > window:
            raise CaseFailed(f"the frontend took {sent - stream.granted - window} response body bytes beyond its "
                             "window and answered a PING sent after them (section 4: a connection error "
                             "FLOW_CONTROL_ERROR)")
    raise CaseSkipped("the frontend granted window as fast as the kit overran it; the overrun could not be provoked")


def queued(backend: FakeBackend) -> int:
    """Bytes the kernel holds for the kit on a backend connection, not read yet (FIONREAD)."""
    return struct.unpack("i", fcntl.ioctl(backend.fileno(), termios.FIONREAD, b"\0\0\0\0"))[0]


def goaway_after_frame_in_writing(kit: MirrorKit) -> None:
    # The bystander's backend takes one stream, so the victim's POST can only go to the misbehaving one, which
    # announces frames and a window large enough for the body and stops reading: the frontend's writes to it
    # are left half done (the socket's queue full) when it finds the garbage.
    good = kit.backend("well-behaved backend", max_streams=1)
    bystander = kit.client("the bystander's client")
    bystander.request("GET", "/bystander")
    bystream = good.next_request("the bystander's GET /bystander")
    bad = kit.backend("misbehaving backend", max_streams=1, max_frame_size=BIG_FRAME, initial_window=BIG_BODY * 2)
    bad.paused = True
    victim = kit.client("the victim's client")
    victim.request("POST", "/victim", body=bytes(BIG_BODY))
    bad.wait(lambda: queued(bad) >= FULL_QUEUE, f"the frontend to have written {FULL_QUEUE} bytes of the victim's "
             "POST to a backend that does not read")
    send_garbage(Scene(bad, victim, None, good, bystander, bystream))  # type: ignore[arg-type]
    bad.paused = False
    bad.expect_connection_error(protocol.PROTOCOL_ERROR, "a frame of garbage sent while the frontend wrote a large "
                                "body to a backend that was not reading (section 5: the GOAWAY goes after any frame "
                                "the side is in the middle of writing)")
    sc = Scene(bad, victim, bad.new_streams.popleft(), good, bystander, bystream)
    victim_gets(sc, 502, "section 5: 502 if no response byte has been sent")
    survives(kit, sc, "a connection error while the frontend was writing to the backend")


def malformed_kinds(sid: int) -> list[tuple[str, bytes]]:
    """Payloads each malformed in its own way (section 1), for a backend whose open stream is ``sid``."""
    fixarray, uint, wide = wire.fixarray, wire.uint, wire.wide
    ping = fixarray(4) + uint(protocol.PING) + uint(0)
    return [
        ("a map in place of the array", b"\x82\x00\x05\x01\x01"),
        ("an array of 3 elements with 2 in the payload", fixarray(3) + uint(protocol.WINDOW) + uint(sid)),
        ("a PING with one byte after its array", ping + b"\xc2\x01\x00"),
        ("a WINDOW without its increment", fixarray(2) + uint(protocol.WINDOW) + uint(sid)),
        ("a PING whose ack is the integer 0", ping + b"\x00\x05"),
        ("a RESPONSE whose status is a str", protocol.pack([protocol.RESPONSE, sid, 1, "200", [], b""])),
        ("a RESPONSE whose header is a str", protocol.pack([protocol.RESPONSE, sid, 1, 200, ["x", b"y"], b""])),
        ("a WINDOW whose increment is 2^32", fixarray(3) + uint(protocol.WINDOW) + uint(sid)
         + wide(2**32, wire.UINT64)),
        ("a WINDOW on stream 2^31", fixarray(3) + uint(protocol.WINDOW) + uint(2**31) + uint(1)),
        ("a frame of type 2^32", fixarray(2) + wide(2**32, wire.UINT64) + uint(0)),
    ]


def malformed_payloads(kit: MirrorKit) -> None:
    # The bystander's backend takes one stream, so each victim's POST can only go to the misbehaving backend.
    good = kit.backend("well-behaved backend", max_streams=1)
    bystander = kit.client("the bystander's client")
    bystander.request("GET", "/bystander")
    bystream = good.next_request("the bystander's GET /bystander")
    for i in range(len(malformed_kinds(1))):
        bad = kit.backend(f"misbehaving backend {i + 1}", max_streams=1)
        victim = kit.client(f"victim {i + 1}")
        victim.request("POST", "/victim", body=b"the victim's body")
        stream = bad.next_request(f"victim {i + 1}'s POST /victim")
        what, payload = malformed_kinds(stream.id)[i]
        bad.send(wire.raw_frame(payload), what)
        bad.expect_connection_error(protocol.PROTOCOL_ERROR, what)
        victim_gets(Scene(bad, victim, stream, good, bystander, bystream), 502,
                    "section 5: when a backend connection closes, 502 if no response byte has been sent")
    survives(kit, Scene(bad, victim, stream, good, bystander, bystream), "malformed frames")


# --- F4. stream errors ---------------------------------------------------------------------------


def data_before_response(kit: MirrorKit) -> None:
    backend = kit.backend()
    client = kit.client()
    client.request("GET", "/data-first")
    stream = backend.next_request("GET /data-first")
    backend.send(protocol.data_frame(stream.id, 0, b"body before any RESPONSE"), f"DATA stream {stream.id} before "
                 "RESPONSE")
    expect_stream_error(backend, stream, client, 502, "DATA before RESPONSE")
    connection_goes_on(kit, backend, "a stream error")


def second_response(kit: MirrorKit) -> None:
    backend = kit.backend()
    client = kit.client()
    client.request("GET", "/twice")
    stream = backend.next_request("GET /twice")
    backend.respond(stream, 200, TEXT, b"the first response's first bytes", end=False)
    client.pump(lambda: client.has_head() and client.body_so_far() > 0,
                "the first response's head and first bytes at the client", None)
    backend.send(protocol.response_frame(stream.id, protocol.END, 200, [], b"again"),
                 f"RESPONSE stream {stream.id} END, a second one")
    expect_stream_error(backend, stream, client, None, "a second RESPONSE")
    connection_goes_on(kit, backend, "a stream error")


def invalid_status(kit: MirrorKit) -> None:
    backend = kit.backend()
    for status in (99, 100, 199, 600):
        client = kit.client()
        client.request("GET", f"/status/{status}")
        stream = backend.next_request(f"GET /status/{status}")
        backend.respond(stream, status, TEXT, b"x")
        expect_stream_error(backend, stream, client, 500, f"status {status}")
    connection_goes_on(kit, backend, "invalid statuses")


def invalid_headers(kit: MirrorKit) -> None:
    backend = kit.backend()
    for name, value, why in ((b"x-split", b"a\r\nInjected: yes", "CR LF in a value"),
                             (b"x-lf", b"a\nb", "LF in a value"), (b"x-nul", b"a\x00b", "NUL in a value"),
                             (b"bad name", b"v", "a space in a name"), (b"", b"v", "an empty name"),
                             (b"x-colon:", b"v", "a colon in a name")):
        client = kit.client()
        client.request("GET", "/header")
        stream = backend.next_request(f"GET /header ({why})")
        backend.respond(stream, 200, [(name, value)], b"x")
        expect_stream_error(backend, stream, client, 500, f"a header with {why}")
        if client.responses[-1].header("injected") is not None:
            raise CaseFailed("a value with CR LF put a header of the backend's making into the client's response")
    connection_goes_on(kit, backend, "invalid headers")


def content_length_mismatch(kit: MirrorKit) -> None:
    backend = kit.backend()
    client = kit.client()
    client.request("GET", "/short")
    stream = backend.next_request("GET /short")
    backend.respond(stream, 200, [(b"content-length", b"10")], b"12345")
    expect_stream_error(backend, stream, client, 500, "a RESPONSE with END, content-length 10 and 5 body bytes")
    for target, body, more in (("/long", b"ab", b"cdef"), ("/runs-short", b"ab", b"cd")):
        client = kit.client()
        client.request("GET", target)
        stream = backend.next_request(f"GET {target}")
        backend.respond(stream, 200, [(b"content-length", b"4" if target == "/long" else b"10")], body, end=False)
        backend.send_body(stream, more, True)
        resp = client.response(f"GET {target}")
        if target == "/long":
            expect(resp, 200, b"abcd", "GET /long (content-length 4, 6 body bytes)",
                   "section 2, RESPONSE: exactly content-length bytes, then the connection closes")
        else:
            expect_cut(resp, 200, "GET /runs-short (content-length 10, 4 body bytes)",
                       "section 2, RESPONSE: a body that runs short closes the client connection")
        try:
            client.wait_closed(f"the frontend to close the client connection after GET {target}")
        except WaitTimedOut:
            raise CaseFailed(f"the client connection stayed open after a body that ran {target[1:]} of its "
                             "content-length (section 2, RESPONSE: the frontend closes the client connection)") from None
    connection_goes_on(kit, backend, "bodies that did not match their content-length")


def backend_cancels(kit: MirrorKit) -> None:
    backend = kit.backend()
    client = kit.client()
    client.request("GET", "/cancelled")
    stream = backend.next_request("GET /cancelled")
    backend.cancel(stream, protocol.CANCEL_INTERNAL)
    expect(client.response("GET /cancelled"), 502, None, "GET /cancelled, which the backend cancelled (INTERNAL)",
           "section 2, CANCEL: from a backend, the client gets 502 if nothing was sent yet")
    client = kit.client()
    client.request("GET", "/refused")
    stream = backend.next_request("GET /refused")
    backend.cancel(stream, protocol.CANCEL_REFUSED)
    backend.wait(lambda: client.has_head() or bool(backend.new_streams), "a 503, or the request sent again")
    if backend.new_streams:
        kit.note("the frontend sent the refused request again (section 2, CANCEL: it MAY retry it elsewhere)")
        again = backend.next_request("GET /refused, sent again")
        backend.respond(again, 200, TEXT, b"served")
        expect(client.response("GET /refused"), 200, b"served", "GET /refused, sent again", "section 2, CANCEL")
    else:
        expect(client.response("GET /refused"), 503, None, "GET /refused, which the backend refused",
               "section 2, CANCEL: REFUSED, the client gets 503 unless the frontend retries it")
    client = kit.client()
    client.request("GET", "/cut")
    stream = backend.next_request("GET /cut")
    backend.respond(stream, 200, TEXT, b"the response's first bytes", end=False)
    client.pump(lambda: client.has_head() and client.body_so_far() > 0, "the response's first bytes at the client",
                None)
    backend.cancel(stream, protocol.CANCEL_INTERNAL)
    expect_cut(client.response("GET /cut"), 200, "GET /cut, cancelled by the backend during its response",
               "section 2, CANCEL: the frontend closes the client connection if a response was under way")
    connection_goes_on(kit, backend, "the backend's CANCELs")


def response_before_body(kit: MirrorKit) -> None:
    backend = kit.backend()
    client = kit.client()
    client.send(b"POST /early HTTP/1.1\r\nHost: conform.test\r\nContent-Length: 100000\r\n\r\n" + b"b" * 1000,
                "POST /early, 1000 of its 100000 body bytes", "POST")
    stream = backend.next_request("POST /early (its body unfinished)")
    backend.wait(lambda: len(stream.body) >= 1000, "the first 1000 body bytes of POST /early")
    backend.respond(stream, 200, TEXT, b"early")
    backend.send(protocol.data_frame(stream.id, 0, b"after END"), f"DATA stream {stream.id} after the response's END")
    code = backend.wait_cancel(stream, "the request body no longer wanted")
    if code not in (protocol.CANCEL_NO_ERROR, protocol.CANCEL_INTERNAL):
        raise CaseFailed(f"the frontend cancelled the unfinished request body with CANCEL({cancel_name(code)}) "
                         "(section 3: CANCEL(NO_ERROR); or CANCEL(INTERNAL) for the body after END)")
    if code == protocol.CANCEL_INTERNAL:
        kit.note("the frontend took the DATA after the response's END as a stream error, before it cancelled the "
                 "request body (section 5 allows either)")
    expect(client.response("POST /early"), 200, b"early", "POST /early, answered before its body ended",
           "section 3: a backend MAY respond before it has read the whole request body")
    try:
        client.wait_closed("the frontend to close the client connection after the response")
    except WaitTimedOut:
        raise CaseFailed("the client connection stayed open after a response that ended before the request body "
                         "(section 3: it closes the client connection after the response)") from None
    connection_goes_on(kit, backend, "a response that ended before its request body")


# --- F5. cancel and time ---------------------------------------------------------------------------


def client_gone(kit: MirrorKit) -> None:
    backend = kit.backend()
    client = kit.client("a client that goes away")
    client.request("GET", "/gone")
    stream = backend.next_request("GET /gone")
    client.abort()
    try:
        code = backend.wait_cancel(stream, "its client went away")
    except WaitTimedOut:
        raise CaseSkipped("the frontend did not cancel the stream of a client that went away (the spec does not "
                          "require it), so there was no cancelled stream to answer") from None
    if code not in (protocol.CANCEL_CLIENT_GONE, protocol.CANCEL_NO_ERROR):
        raise CaseFailed(f"the frontend cancelled the stream of a client that went away with "
                         f"CANCEL({cancel_name(code)}) (section 2, CANCEL: CLIENT_GONE, the client closed its "
                         "connection)")
    if code == protocol.CANCEL_NO_ERROR:
        kit.note("the frontend said CANCEL(NO_ERROR), not CLIENT_GONE, for a client that went away")
    backend.respond(stream, 200, TEXT, b"too late", end=False)
    backend.send(protocol.data_frame(stream.id, protocol.END, b"still too late"), f"DATA stream {stream.id} END "
                 "(cancelled)")
    backend.send(protocol.window_frame(stream.id, 1000), f"WINDOW stream {stream.id} (cancelled)")
    connection_goes_on(kit, backend, "a RESPONSE, DATA and WINDOW on a stream the frontend had cancelled")
    if backend.goaways:
        raise CaseFailed("the frontend sent GOAWAY for frames on a stream it had cancelled (section 5: ignored)")


def closed_stream(kit: MirrorKit) -> None:
    backend = kit.backend()
    stream = ask(kit, backend, kit.client(), "/done", b"done", "GET /done")
    backend.send(protocol.window_frame(stream.id, 1000), f"WINDOW stream {stream.id} (closed)")
    backend.send(protocol.data_frame(stream.id, protocol.END, b"late"), f"DATA stream {stream.id} END (closed)")
    backend.send(protocol.response_frame(stream.id, protocol.END, 200, [], b"late"),
                 f"RESPONSE stream {stream.id} END (closed)")
    backend.send(protocol.cancel_frame(stream.id, protocol.CANCEL_NO_ERROR), f"CANCEL stream {stream.id} (closed)")
    connection_goes_on(kit, backend, "WINDOW, DATA, RESPONSE and CANCEL on a closed stream")
    if backend.goaways:
        raise CaseFailed("the frontend sent GOAWAY for frames on a closed stream (section 5: ignored)")


def silence(kit: MirrorKit) -> None:
    if not kit.request_timeout:
        raise CaseSkipped("--request-timeout 0: the frontend was said to have no request timeout (the spec leaves "
                          "time limits to the frontend)")
    backend = kit.backend("a silent backend")
    client = kit.client()
    client.request("GET", "/silence")
    stream = backend.next_request("GET /silence")
    wait = kit.request_timeout + kit.timeout
    try:
        resp = client.response("GET /silence, which its backend never answers", timeout=wait)
    except WaitTimedOut:
        raise CaseFailed(f"no answer to GET /silence within {wait:g}s, the frontend's request timeout "
                         f"(--request-timeout {kit.request_timeout:g}, as the kit was told) and the kit's --timeout"
                         ) from None
    expect(resp, 504, None, "GET /silence, which its backend never answers",
           "section 2, CANCEL: TIMEOUT, the request timed out (the client got 504)")
    code = backend.wait_cancel(stream, "the request timed out")
    if code != protocol.CANCEL_TIMEOUT:
        raise CaseFailed(f"the frontend cancelled the timed-out request with CANCEL({cancel_name(code)}), not "
                         "CANCEL(TIMEOUT) (section 2, CANCEL)")
    connection_goes_on(kit, backend, "a request timeout")


# --- F6. a backend goes away ----------------------------------------------------------------------


def gone_before_response(kit: MirrorKit) -> None:
    sc = scene(kit)
    sc.bad.close()
    victim_gets(sc, 502, "section 5: when a backend connection closes, 502 if no response byte has been sent (a POST "
                "is not sent again)")
    survives(kit, sc, "a backend's disconnection")


def gone_during_response(kit: MirrorKit) -> None:
    sc = scene(kit, "GET", "/begun")
    sc.bad.respond(sc.stream, 200, TEXT, b"the response's first bytes", end=False)
    sc.victim.pump(lambda: sc.victim.has_head() and sc.victim.body_so_far() > 0,
                   "the response's first bytes at the victim's client", None)
    sc.bad.close()
    not_sent_again(sc)
    expect_cut(sc.victim.response(f"the victim's {sc.stream.what}"), 200, "the victim's request, its backend gone "
               "during the response", "section 5: otherwise it closes the client connection")
    survives(kit, sc, "a backend's disconnection during a response")


def sent_again(kit: MirrorKit) -> None:
    sc = scene(kit, "GET", "/safe?repeat=1")
    first = sc.stream.request
    sc.bad.close()
    again = sc.good.next_request("GET /safe?repeat=1, sent again after its backend went away (section 5, Sent again)")
    if again.request._replace(stream_id=0) != first._replace(stream_id=0):
        raise CaseFailed(f"the request sent again differs from the first: {again.request} against {first} "
                         "(section 5: the same request, as a new stream)")
    body = b"answered by the second backend"
    sc.good.respond(again, 200, TEXT, body)
    expect(sc.victim.response("GET /safe?repeat=1"), 200, body, "GET /safe?repeat=1, sent again",
           "section 5: the client only sees the answer of the backend that answers")
    survives(kit, sc, "a backend's disconnection")


def no_room_to_send_again(kit: MirrorKit) -> None:
    sc = scene(kit, "GET", "/safe?nowhere=1", good_streams=1)
    sc.bad.close()
    not_sent_again(sc, "the other backend had no room for it (at its max_streams of 1)")
    victim_gets(sc, 502, "section 5, Sent again: if no backend has room, it gets the 502")
    survives(kit, sc, "a backend's disconnection")


def generations(kit: MirrorKit) -> None:
    app = {"app": GENERATIONS_APP}
    old = kit.backend("generation 2", generation=2, **app)
    first = kit.client()
    first.request("GET", "/old")
    held = old.next_request("GET /old")
    new = kit.backend("generation 3", generation=3, **app)
    old.wait(lambda: bool(old.goaways), "GOAWAY(SUPERSEDED) to generation 2 once generation 3 has attached")
    if old.goaways[0].code != protocol.SUPERSEDED:
        raise CaseFailed(f"the frontend sent GOAWAY({code_name(old.goaways[0].code)}), not GOAWAY(SUPERSEDED), to a "
                         "backend whose app a newer generation had joined (section 2, Generations)")
    ask(kit, new, kit.client(), "/new", b"generation 3", "a request once generation 3 has attached (section 2: new "
        "streams only to the highest generation)")
    old.respond(held, 200, TEXT, b"generation 2")
    expect(first.response("GET /old"), 200, b"generation 2", "GET /old, open on generation 2 when it was superseded",
           "section 2, GOAWAY: streams already open continue until they finish")
    older = kit.backend("generation 1", generation=1, **app)
    older.wait(lambda: bool(older.goaways), "GOAWAY(SUPERSEDED) to generation 1 right after its HELLO is answered")
    if older.goaways[0].code != protocol.SUPERSEDED:
        raise CaseFailed(f"the frontend sent GOAWAY({code_name(older.goaways[0].code)}), not GOAWAY(SUPERSEDED), to a "
                         "backend older than one attached of its app (section 2, Generations)")
    ask(kit, new, kit.client(), "/newest", b"generation 3 still", "a request once generation 1 has attached")


def backend_drains(kit: MirrorKit) -> None:
    busy = kit.backend("a backend at its max_streams", max_streams=1)
    x = kit.client("client X")
    x.request("GET", "/x")
    xs = busy.next_request("GET /x")
    draining = kit.backend("a draining backend")
    y = kit.client("client Y")
    y.request("GET", "/y")
    ys = draining.next_request("GET /y (the other backend is at its max_streams)")
    draining.goaway(protocol.NO_ERROR, "tandem-conform: this backend shuts down")
    draining.wait(lambda: draining.goaway_read, "the answer to the PING after the backend's GOAWAY")
    z = kit.client("client Z")
    z.request("GET", "/z")
    try:
        # A REQUEST for /z on the draining backend now breaks section 2 (mirror's rules fail the case).
        draining.wait(lambda: bool(draining.new_streams) or z.has_head(), "a stream (which must not come)",
                      timeout=0.3)
    except WaitTimedOut:
        pass
    busy.respond(xs, 200, TEXT, b"x")
    zs = no_room(kit, z, busy, "GET /z (not to go to the draining backend)")
    if zs is not None:
        busy.respond(zs, 200, TEXT, b"z")
    draining.respond(ys, 200, TEXT, b"y")
    for client, body in ((x, b"x"), (y, b"y")) + (((z, b"z"),) if zs is not None else ()):
        expect(client.response(f"GET /{body.decode()}"), 200, body, f"GET /{body.decode()}",
               "section 2, GOAWAY: streams already open continue until they finish")
    try:
        draining.wait_closed("the frontend to close the drained connection once its last stream ended")
    except WaitTimedOut:
        raise CaseFailed("the frontend did not close a drained backend connection whose streams had all ended "
                         "(section 2, GOAWAY: it closes the connection once no stream is open)") from None
    if draining.error_goaway is not None:
        raise CaseFailed(f"the frontend answered a drain with GOAWAY({draining.error_goaway.code})")


# --- the list ------------------------------------------------------------------------------------

S5_OTHERS = ("; a bystander's request open on another backend is answered during and a new client is served "
             "after, and a backend connecting afterwards serves the victim's client (section 5: other backend "
             "connections and other clients are not affected).")
S5_SURVIVE = "; the victim's in-flight POST gets 502 (it is not sent again: not a safe request)" + S5_OTHERS

ERROR_CASES = [
    Case("F3.1", "malformed frame refused", "§1, §5",
         "A frame whose payload is garbage, not one MessagePack array: GOAWAY(PROTOCOL_ERROR), then the close"
         + S5_SURVIVE, connection_error(send_garbage, protocol.PROTOCOL_ERROR, "a frame of garbage")),
    Case("F3.2", "frame of length 0 refused", "§1, §5",
         "\"A length of 0 is a protocol error\": GOAWAY(PROTOCOL_ERROR), then the close" + S5_SURVIVE,
         connection_error(send_empty, protocol.PROTOCOL_ERROR, "a frame of length 0")),
    Case("F3.3", "frame on a stream above the highest opened refused", "§5",
         "A RESPONSE on a stream id above the highest the frontend opened: GOAWAY(PROTOCOL_ERROR), then the close"
         + S5_SURVIVE, connection_error(send_above_highest, protocol.PROTOCOL_ERROR,
                                         "a RESPONSE on a stream never opened")),
    Case("F3.4", "stream frame on stream 0 refused", "§5",
         "\"Frame on stream 0 that needs a stream\": DATA on stream 0 gets GOAWAY(PROTOCOL_ERROR), then the close"
         + S5_SURVIVE, connection_error(send_on_stream_zero, protocol.PROTOCOL_ERROR, "DATA on stream 0")),
    Case("F3.5", "oversized frame refused from its length", "§1, §5",
         "A length one above the frontend's max_frame_size, and no payload: GOAWAY(FRAME_TOO_LARGE) \"detected "
         "from the 4 length bytes\", then the close" + S5_SURVIVE,
         connection_error(send_oversized, protocol.FRAME_TOO_LARGE, "a frame length above max_frame_size")),
    Case("F3.6", "response body beyond the window refused", "§4, §5",
         "One response body byte beyond the frontend's initial_window (in the RESPONSE itself when it fits a "
         "frame): GOAWAY(FLOW_CONTROL_ERROR), then the close. The victim gets 502, or, if the frontend had sent the "
         "response's head before it found the overrun, its connection is closed (both allowed)" + S5_OTHERS,
         window_overrun),
    Case("F3.7", "connection error while a frame is being written", "§5",
         "A frame of garbage while the frontend writes a 2 MiB body, in frames of up to 1 MiB, to a backend that has "
         "stopped reading: once the kit reads again, every frame before the GOAWAY is whole (\"the GOAWAY goes after "
         "any frame the side is in the middle of writing ... a frame is never cut short for it\"), then "
         "GOAWAY(PROTOCOL_ERROR) and the close; the victim gets 502" + S5_OTHERS, goaway_after_frame_in_writing),
    Case("F3.8", "every kind of malformed payload refused", "§1, §5",
         "On a backend connection each: a map in place of the array, an array cut short inside its payload, bytes "
         "after the array, a missing element, elements of the wrong type (a bool, a status, a header), integers "
         "outside their field (an increment of 2^32, a stream id of 2^31, a type of 2^32): GOAWAY(PROTOCOL_ERROR), "
         "then the close, and the victim's POST gets 502" + S5_OTHERS, malformed_payloads),
    Case("F4.1", "DATA before RESPONSE: stream error", "§3, §5",
         "Stream error: CANCEL(INTERNAL) to the backend, 502 to the client (nothing was sent to it yet); no "
         "GOAWAY, and the backend connection goes on.", data_before_response),
    Case("F4.2", "second RESPONSE: stream error", "§2 RESPONSE, §5",
         "A second RESPONSE once the first one's head and bytes have reached the client: CANCEL(INTERNAL) to the "
         "backend, and the client's connection is closed with its response cut short (never passed as whole); "
         "the backend connection goes on.", second_response),
    Case("F4.3", "invalid status: 500 and CANCEL(INTERNAL)", "§2 RESPONSE",
         "\"status: 200..599. Anything else (1xx included) is a stream error: the frontend answers the client 500 "
         "and sends CANCEL(INTERNAL)\": statuses 99, 100, 199 and 600.", invalid_status),
    Case("F4.4", "invalid header: 500 and CANCEL(INTERNAL)", "§2 RESPONSE",
         "Names must be HTTP tokens and values hold no CR, LF or NUL; otherwise 500 to the client and "
         "CANCEL(INTERNAL): CR LF, LF or NUL in a value, a space or a colon in a name, an empty name. No header of "
         "the backend's making reaches the client.", invalid_headers),
    Case("F4.5", "content-length not matched", "§2 RESPONSE",
         "A RESPONSE with END whose body is shorter than its content-length: 500 and CANCEL(INTERNAL). Over later "
         "DATA frames, a body that runs long gets exactly content-length bytes to the client and one that runs "
         "short is cut; either way the client connection is closed.", content_length_mismatch),
    Case("F4.6", "the backend's CANCEL", "§2 CANCEL",
         "CANCEL(INTERNAL) before the response: the client gets 502; CANCEL(REFUSED): 503 (or the request served "
         "again: the frontend MAY retry it); CANCEL during the response: the client connection is closed.",
         backend_cancels),
    Case("F4.7", "response ends before the request body", "§3, §5",
         "A RESPONSE with END while the request body is still coming, and DATA after it: the frontend sends "
         "CANCEL(NO_ERROR) for the unfinished body (or CANCEL(INTERNAL), if it took the DATA after END as a stream "
         "error first: both allowed), the client gets the whole response, then its connection is closed.",
         response_before_body),
    Case("F5.1", "RESPONSE for a stream the frontend cancelled ignored", "§2 CANCEL, §5",
         "The client goes away (reset): the frontend sends CANCEL(CLIENT_GONE) (NO_ERROR is tolerated with a note; "
         "no CANCEL at all skips the case); the backend's RESPONSE, DATA and WINDOW for it afterwards are ignored, "
         "without GOAWAY, and the connection goes on.", client_gone),
    Case("F5.2", "frames on a closed stream ignored", "§5",
         "\"Frame for a stream that is closed: ignored\": WINDOW, DATA, RESPONSE and CANCEL on a stream whose "
         "exchange is over; the connection goes on.", closed_stream),
    Case("F5.3", "silence: 504 and CANCEL(TIMEOUT)", "§2 CANCEL",
         "A backend that never answers (it does answer PINGs): after the frontend's request timeout the client "
         "gets 504 and the backend CANCEL(TIMEOUT) (\"the request timed out (the client got 504)\"); the "
         "connection goes on. The kit waits --request-timeout plus --timeout; --request-timeout 0 (a frontend "
         "without one: the spec leaves time limits to it) skips the case.", silence),
    Case("F6.1", "backend gone before its response: 502", "§5",
         "A backend closes its connection while a POST waits for its answer" + S5_SURVIVE, gone_before_response),
    Case("F6.2", "backend gone during its response: client closed", "§5",
         "A backend closes its connection once the response to a GET had its head and first bytes at the client: "
         "the GET is not sent again (a RESPONSE had arrived), the client's connection is closed, the response cut "
         "short (no last chunk)" + S5_OTHERS,
         gone_during_response),
    Case("F6.3", "safe request sent again to another backend", "§5 Sent again",
         "A GET whole in its REQUEST, without RESPONSE, whose backend goes away while another has room: the same "
         "REQUEST (but its stream id) goes to the other backend, and the client gets that backend's answer, byte "
         "for byte.", sent_again),
    Case("F6.4", "a backend's drain", "§2 GOAWAY",
         "After a backend's GOAWAY(NO_ERROR) has been read, \"the frontend then sends it no new REQUEST\" (a new "
         "request waits for the other backend, at its max_streams, or gets 503: the frontend's policy), its open "
         "stream finishes, and the frontend \"closes the connection once no stream is open\".", backend_drains),
    Case("F6.5", "a safe request with nowhere to go gets 502", "§5 Sent again",
         "As F6.3, but the only other backend is at its max_streams: \"if no backend has room, it gets the 502\"; "
         "the GET is not sent again" + S5_OTHERS, no_room_to_send_again),
    Case("F6.6", "a newer generation supersedes the older", "§2 GOAWAY, Generations",
         "A backend of generation 3 of an app attaches: the one of generation 2 gets GOAWAY(SUPERSEDED) at once, "
         "its open stream finishes, new requests go to generation 3 only; one of generation 1 that attaches "
         "afterwards gets GOAWAY(SUPERSEDED) right after its HELLO is answered, and no stream.", generations),
]
