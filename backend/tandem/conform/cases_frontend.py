"""The frontend kit's cases (``--frontend``): handshake and streams, the groups F1 and F2.

Each case is a function of the ``mirror.MirrorKit`` (fake backends on the
frontend's socket, HTTP clients on its port) and an entry of ``CASES``: its
number (``F``, a group, a number), title, the section of PROTOCOL.md it
checks, and the outcome that section makes binding.  On top of what each case
checks, every frame the frontend sends is held to the rules in ``mirror.py``
(HELLO first, well-formed frames within the kit's max_frame_size, increasing
stream ids within max_streams, request body within the window, nothing after
a CANCEL or an error's GOAWAY), and a frontend that dies fails the case.

The kit's fake backends announce max_frame_size 65536 and initial_window
65536, the least section 7 allows, and max_streams 16 unless a case says
otherwise.  The cases on what a frontend must refuse or survive (F3 to F6) are
in ``cases_frontend_errors.py``; ``CASES`` lists both, in order.

Calls ``protocol``, ``wire``, ``link`` (the exceptions), ``mirror`` (the
kit), ``scenes`` (what the cases share), ``runner`` (the Case record),
``cases_frontend_errors`` and ``cases_frontend_ws`` (section 8, group F7).
"""

from __future__ import annotations

import os
from typing import Any

from .. import protocol
from . import wire
from .cases_frontend_errors import ERROR_CASES
from .cases_frontend_ws import WS_CASES
from .link import CaseFailed, WaitTimedOut
from .mirror import MirrorKit
from .runner import Case
from .scenes import TEXT, ask, bystander, bystander_served, expect, expect_stream_error, no_room, refused


# --- F1. handshake -----------------------------------------------------------------------------


def frontend_hello(kit: MirrorKit) -> None:
    backend = kit.connect_backend()
    # Section 2: the backend may PING before it has the frontend's HELLO.
    backend.hello()
    opaque = backend.fence(" (before the frontend's HELLO)")
    h = backend.wait_hello()
    problems = []
    for name, value, want in (("version", h.version, protocol.VERSION), ("role", h.role, "frontend"),
                              ("generation", h.generation, 0), ("max_streams", h.max_streams, 0)):
        if value != want:
            problems.append(f"{name} {value!r}, not {want!r}")
    for name, value, low, high in (("max_frame_size", h.max_frame_size, protocol.MIN_MAX_FRAME,
                                    protocol.MAX_MAX_FRAME),
                                   ("initial_window", h.initial_window, protocol.MIN_WINDOW, protocol.MAX_WINDOW)):
        if not low <= value <= high:
            problems.append(f"{name} {value} outside {low}..{high} (section 7)")
    if problems:
        raise CaseFailed("the frontend's HELLO has " + "; ".join(problems) + " (section 2, HELLO)")
    backend.wait(lambda: opaque in backend.acks, "the answer to the PING the backend sent before the frontend's HELLO")
    ask(kit, backend, kit.client(), "/hello", b"hello", "GET /hello, once attached")


def limits_refused(kit: MirrorKit) -> None:
    good, client, stream = bystander(kit)
    for label, hello in (("max_frame_size 4096", wire.backend_hello(max_frame_size=4096)),
                         ("max_frame_size 2^24+1", wire.backend_hello(max_frame_size=protocol.MAX_MAX_FRAME + 1)),
                         ("max_streams 0", wire.backend_hello(max_streams=0)),
                         ("initial_window 65535", wire.backend_hello(initial_window=protocol.MIN_WINDOW - 1))):
        bad = kit.connect_backend(f"backend with {label}")
        bad.hello(hello)
        bad.expect_connection_error(protocol.PROTOCOL_ERROR, f"a HELLO with {label}")
        if bad.frontend_hello is not None:
            raise CaseFailed(f"the frontend answered a HELLO with {label} with its own HELLO before it refused it "
                             "(section 2, HELLO)")
    bystander_served(good, client, stream, "the refusals")


def frame_before_hello(kit: MirrorKit) -> None:
    good, client, stream = bystander(kit)
    bad = kit.connect_backend("backend that does not say HELLO")
    bad.send(protocol.ping_frame(0, False, 7), "PING, in place of the backend's HELLO")
    bad.expect_connection_error(protocol.PROTOCOL_ERROR, "a PING before the backend's HELLO")
    bystander_served(good, client, stream, "the refusal")


def second_hello(kit: MirrorKit) -> None:
    good, client, stream = bystander(kit)
    bad = kit.backend("backend that says HELLO twice")
    bad.send(wire.backend_hello(), "HELLO (kit's backend), a second one")
    bad.expect_connection_error(protocol.PROTOCOL_ERROR, "a second HELLO")
    bystander_served(good, client, stream, "the connection error")


def oversized_before_hello(kit: MirrorKit) -> None:
    good, client, stream = bystander(kit)
    bad = kit.connect_backend("backend with a long first frame")
    length = protocol.PRE_HELLO_MAX_FRAME + 1
    bad.send(wire.length_prefix(length), f"length {length} in place of the HELLO (the payload never comes)")
    bad.expect_connection_error(protocol.FRAME_TOO_LARGE, f"a frame length of {length} before HELLO")
    bystander_served(good, client, stream, "the connection error")


def extra_elements(kit: MirrorKit) -> None:
    more = ["a field of version 2", 7]
    backend = kit.connect_backend()
    backend.hello(wire.backend_hello(extra=["a field of version 2", 7, [1, 2]]))
    backend.wait_hello()
    client, other = kit.client(), kit.client()
    client.request("GET", "/extra")
    stream = backend.next_request("GET /extra")
    other.request("GET", "/cancelled")
    cancelled = backend.next_request("GET /cancelled")
    unknown_bits = 0x40 | 1 << 40                # bits section 2 does not define: ignored
    frames = [
        ([protocol.PING, 0, False, 0x0F13], "PING 0xf13"),
        ([protocol.RESPONSE, stream.id, unknown_bits, 200, [b"content-type", b"text/plain"], b"part one,"],
         f"RESPONSE stream {stream.id}, flags with unknown bits and no END"),
        ([protocol.DATA, stream.id, protocol.END | 0x80, b" part two"], f"DATA stream {stream.id} END"),
        ([protocol.CANCEL, cancelled.id, protocol.CANCEL_INTERNAL], f"CANCEL stream {cancelled.id}"),
    ]
    for elements, label in frames:
        backend.send(wire.raw_frame(protocol.pack(elements + more)), f"{label}, with 2 extra elements")
    backend.wait(lambda: 0x0F13 in backend.acks, "the answer to a PING with 2 extra elements")
    stream.resp_started = stream.resp_ended = True
    expect(client.response("GET /extra"), 200, b"part one, part two", "GET /extra, answered in frames with extra "
           "elements and unknown flag bits", "section 1: a receiver MUST ignore elements past the ones this version "
           "defines; section 2: flag bits the receiver does not know are ignored")
    expect(other.response("GET /cancelled"), 502, None, "GET /cancelled, cancelled by a CANCEL with extra elements",
           "section 2, CANCEL")


def integer_encodings(kit: MirrorKit) -> None:
    pack, wide = protocol.pack, wire.wide
    backend = kit.connect_backend()
    hello = b"".join([b"\x9a", wide(protocol.HELLO, wire.UINT16), wide(0, wire.INT64), wide(1, wire.UINT64),
                      pack("backend"), pack(wire.KIT_BACKEND_APP), wide(os.getpid(), wire.UINT64),
                      wide(wire.KIT_GENERATION, wire.INT64), wide(wire.KIT_MAX_FRAME, wire.UINT64),
                      wide(wire.KIT_MAX_STREAMS, wire.UINT32), wide(wire.KIT_WINDOW, wire.UINT64)])
    backend.hello(wire.raw_frame(hello))
    backend.wait_hello()
    client = kit.client()
    client.request("GET", "/wide")
    stream = backend.next_request("GET /wide")
    sid = stream.id
    response = b"".join([b"\xdc\x00\x06", wide(protocol.RESPONSE, wire.INT8), wide(sid, wire.UINT64),
                         wide(0, wire.INT64), wide(200, wire.UINT32), pack([b"content-type", b"text/plain"]),
                         pack(b"wide,")])
    data = b"".join([b"\x94", wide(protocol.DATA, wire.UINT32), wide(sid, wire.INT8), wide(protocol.END, wire.UINT16),
                     pack(b" and wider")])
    ping = b"\x94" + wide(protocol.PING, wire.UINT16) + wide(0, wire.INT64) + b"\xc2" + wide(7, wire.UINT64)
    backend.send(wire.raw_frame(ping), "PING 7: type uint 16, stream id int 64, opaque uint 64")
    backend.send(wire.raw_frame(response), f"RESPONSE stream {sid}: array 16, type int 8, stream id uint 64, flags "
                 "int 64, status uint 32")
    backend.send(wire.raw_frame(data), f"DATA stream {sid} END: type uint 32, stream id int 8, flags uint 16")
    backend.wait(lambda: 7 in backend.acks, "the answer to PING 7")
    stream.resp_started = stream.resp_ended = True
    expect(client.response("GET /wide"), 200, b"wide, and wider", "GET /wide, answered with integers wider than they "
           "need", "section 1: integers use any MessagePack integer encoding")


# --- F2. streams ---------------------------------------------------------------------------------


def request_as_sent(kit: MirrorKit) -> None:
    backend = kit.backend()
    client = kit.client()
    target = "/conform/a%2Fb%20c?x=1&y=%2F"
    client.request("GET", target, [("X-Conform", "one"), ("x-conform", "two"), ("X-Mixed-Case", "Value With Spaces")])
    stream = backend.next_request(f"GET {target}")
    want = protocol.Request(stream.id, protocol.END, "GET", target.encode(), b"/conform/a/b c", b"x=1&y=%2F", "1.1",
                            [(b"host", b"conform.test"), (b"x-conform", b"one"), (b"x-conform", b"two"),
                             (b"x-mixed-case", b"Value With Spaces")],
                            ("127.0.0.1", client.local_port), ("127.0.0.1", kit.port), "http", b"")
    check_request(stream.request, want)
    backend.respond(stream, 204)
    expect(client.response(f"GET {target}"), 204, b"", f"GET {target}", "section 2, RESPONSE")
    client.request("POST", "/conform/post", body=b"hello world", version="HTTP/1.0")
    stream = backend.next_request("POST /conform/post (HTTP/1.0, with an 11-byte body)")
    want = protocol.Request(stream.id, protocol.END, "POST", b"/conform/post", b"/conform/post", b"", "1.0",
                            [(b"host", b"conform.test"), (b"content-length", b"11")],
                            ("127.0.0.1", client.local_port), ("127.0.0.1", kit.port), "http", b"hello world")
    check_request(stream.request, want)
    backend.respond(stream, 200, TEXT, b"ok")
    expect(client.response("POST /conform/post"), 200, b"ok", "POST /conform/post", "section 2, RESPONSE")


def check_request(got: protocol.Request, want: protocol.Request) -> None:
    """Section 2, REQUEST: every field as the client sent it (client and server may be nil: "if unknown")."""
    wrong = []
    for name, value, expected in zip(want._fields, got, want):
        if name in ("client", "server") and value is None:
            continue
        if name == "request_id":
            continue  # made by the frontend: request_ids() checks it
        if value != expected:
            wrong.append(f"{name} {value!r}, not {expected!r}")
    if wrong:
        raise CaseFailed(f"the REQUEST for {want.method} {want.target!r} has " + "; ".join(wrong)
                         + " (section 2, REQUEST)")


REQUEST_ID_MAX = 200   # section 2, REQUEST: at most 200 bytes


def request_ids(kit: MirrorKit) -> None:
    backend = kit.backend()
    first, second = kit.client(), kit.client()
    seen: dict[str, str] = {}
    for client, target in ((first, "/id/1"), (first, "/id/2"), (second, "/id/3")):
        client.request("GET", target)
        stream = backend.next_request(f"GET {target}")
        rid = stream.request.request_id
        if not rid or len(rid) > REQUEST_ID_MAX or not all("!" <= c <= "~" for c in rid):
            raise CaseFailed(f"the REQUEST for GET {target} has request_id {rid!r}: not 1 to {REQUEST_ID_MAX} "
                             "bytes of visible ASCII (section 2, REQUEST)")
        if rid in seen:
            raise CaseFailed(f"GET {target} has the request_id {rid!r} of {seen[rid]} (section 2, REQUEST: "
                             "unique to the request)")
        seen[rid] = f"GET {target}"
        backend.respond(stream, 204)
        expect(client.response(f"GET {target}"), 204, b"", f"GET {target}", "section 2, RESPONSE")


def round_trip(kit: MirrorKit) -> None:
    backend = kit.backend()
    client = kit.client()
    client.request("GET", "/round-trip")
    stream = backend.next_request("GET /round-trip")
    body = bytes(range(256)) * 3 + b"\r\n\r\nHTTP/1.1 200 OK\r\n"
    backend.respond(stream, 201, [(b"content-type", b"application/octet-stream"), (b"x-conform", b"kit; \xe9t\xe9")],
                    body)
    resp = client.response("GET /round-trip")
    expect(resp, 201, body, "GET /round-trip", "section 2, RESPONSE: the body bytes as the backend sent them")
    if resp.all("x-conform") != ["kit; \xe9t\xe9"]:
        raise CaseFailed(f"the client got x-conform {resp.all('x-conform')}, not the backend's value b'kit; "
                         "\\xe9t\\xe9' (a value holds any byte but CR, LF and NUL)")
    if resp.header("content-length") != str(len(body)):
        raise CaseFailed(f"the client got content-length {resp.header('content-length')!r} for a RESPONSE with END "
                         f"and {len(body)} body bytes (section 2, RESPONSE: it sends one when END is set)")


def request_body_window(kit: MirrorKit) -> None:
    backend = kit.backend()
    backend.auto_grant = False
    client = kit.client()
    body = bytes(i * 7 % 251 for i in range(200_000))
    client.request("POST", "/upload", body=body)
    stream = backend.next_request("POST /upload with 200000 body bytes")
    try:
        backend.wait(lambda: len(stream.body) >= wire.KIT_WINDOW,
                     f"the frontend to send the {wire.KIT_WINDOW} request body bytes the window allows")
    except WaitTimedOut:
        kit.note(f"the frontend sent {len(stream.body)} bytes and stopped short of the window; the grants go on")
    backend.roundtrip("the answer to a PING while the window is used up")
    while not stream.req_ended:
        have = len(stream.body)
        backend.grant(stream.id, 30_000)
        backend.wait(lambda: len(stream.body) >= min(have + 30_000, len(body)) or stream.req_ended,
                     f"the 30000 bytes of the kit's WINDOW ({have} of {len(body)} bytes so far)")
    if bytes(stream.body) != body:
        raise CaseFailed(f"the backend got {len(stream.body)} request body bytes that differ from the client's "
                         f"{len(body)}")
    backend.respond(stream, 200, TEXT, b"200000")
    expect(client.response("POST /upload"), 200, b"200000", "POST /upload", "section 2, RESPONSE")


def response_window(kit: MirrorKit) -> None:
    backend = kit.backend()
    client = kit.client()
    client.request("GET", "/big")
    stream = backend.next_request("GET /big")
    size = 2 * backend.frontend_window + 12_345
    body = bytes(i * 13 % 256 for i in range(size))
    backend.respond(stream, 200, TEXT, end=False)
    backend.send_body(stream, body, True)
    resp = client.response("GET /big", timeout=kit.timeout * 2)
    expect(resp, 200, body, f"GET /big ({size} bytes, twice the frontend's window and more)",
           "section 4: the frontend grants WINDOW as it writes the body to the client")
    if stream.granted == 0:
        raise CaseFailed("the frontend sent no WINDOW for a response body beyond its initial_window (section 4)")


def max_streams(kit: MirrorKit) -> None:
    backend = kit.backend(max_streams=2)
    clients = [kit.client(f"client {i + 1}") for i in range(3)]
    for i, client in enumerate(clients):
        client.request("GET", f"/held/{i + 1}")
    held = [backend.next_request("the first of three GETs"), backend.next_request("the second of three GETs")]
    third = next(c for c in clients if c.name[-1] not in "".join(s.what[-1] for s in held))
    try:
        # A third stream now breaks max_streams (mirror's rules fail the case); none is the outcome.
        backend.wait(lambda: bool(backend.new_streams) or third.has_head(), "a third stream (which must not come)",
                     timeout=0.3)
    except WaitTimedOut:
        pass
    backend.respond(held[0], 200, TEXT, held[0].request.target)
    later = no_room(kit, third, backend, f"the third GET ({third.name})")
    for stream in held[1:] + ([later] if later is not None else []):
        backend.respond(stream, 200, TEXT, stream.request.target)
    for stream in held + ([later] if later is not None else []):
        client = clients[int(stream.what[-1]) - 1]
        expect(client.response(stream.what), 200, stream.request.target, stream.what, "section 2, RESPONSE")


def framing(kit: MirrorKit) -> None:
    backend = kit.backend()
    client = kit.client()
    client.request("GET", "/length")
    stream = backend.next_request("GET /length")
    backend.respond(stream, 200, [(b"content-length", b"10")], b"01234", end=False)
    backend.send_body(stream, b"56789", True)
    resp = client.response("GET /length")
    expect(resp, 200, b"0123456789", "GET /length", "section 2, RESPONSE: it keeps a valid content-length")
    if resp.framing != "length" or resp.header("content-length") != "10":
        raise CaseFailed(f"GET /length came {resp.framing}, content-length {resp.header('content-length')!r}, not "
                         "with the backend's content-length 10 (section 2, RESPONSE)")
    client.request("GET", "/chunked")
    stream = backend.next_request("GET /chunked")
    backend.respond(stream, 200, TEXT, b"ab", end=False)
    backend.send_body(stream, b"cd", False)
    backend.send_body(stream, b"", True)
    resp = client.response("GET /chunked")
    expect(resp, 200, b"abcd", "GET /chunked", "section 2, RESPONSE")
    if resp.framing != "chunked":
        raise CaseFailed(f"a response without content-length or END came to an HTTP/1.1 client {resp.framing}"
                         "-delimited, not chunked (section 2, RESPONSE)")
    old = kit.client("an HTTP/1.0 client")
    old.request("GET", "/close-delimited", version="HTTP/1.0")
    stream = backend.next_request("GET /close-delimited (HTTP/1.0)")
    backend.respond(stream, 200, TEXT, b"ab", end=False)
    backend.send_body(stream, b"cd", True)
    resp = old.response("GET /close-delimited")
    expect(resp, 200, b"abcd", "GET /close-delimited (HTTP/1.0)", "section 2, RESPONSE")
    if resp.framing != "close":
        raise CaseFailed(f"a response without content-length or END came to an HTTP/1.0 client {resp.framing}-"
                         "delimited, not close-delimited (section 2, RESPONSE)")


def frontend_headers(kit: MirrorKit) -> None:
    backend = kit.backend()
    client = kit.client()
    client.request("GET", "/headers")
    stream = backend.next_request("GET /headers")
    dropped = [(b"connection", b"x-conform-token"), (b"keep-alive", b"timeout=99"),
               (b"transfer-encoding", b"x-conform"), (b"upgrade", b"x-conform/1")]
    backend.respond(stream, 200, [(b"x-kept", b"yes")] + dropped, b"x")
    resp = client.response("GET /headers")
    expect(resp, 200, b"x", "GET /headers", "section 2, RESPONSE")
    leaked = [f"{k}: {v}" for k, v in resp.headers
              if k.lower() in ("keep-alive", "upgrade") or v in ("x-conform-token", "x-conform", "x-conform/1")]
    missing = [name for name in ("x-kept", "date", "server") if resp.header(name) is None]
    if leaked or missing:
        raise CaseFailed(f"the client got {'the backend headers ' + ', '.join(leaked) if leaked else ''}"
                         f"{' and ' if leaked and missing else ''}{'no ' + ', '.join(missing) if missing else ''} "
                         "(section 2, RESPONSE: it drops connection, keep-alive, transfer-encoding and upgrade, and "
                         "adds date and server when the backend did not send them)")
    client.request("GET", "/own-date")
    stream = backend.next_request("GET /own-date")
    date = "Mon, 01 Jan 2024 00:00:00 GMT"
    backend.respond(stream, 200, [(b"server", b"conform-kit"), (b"date", date.encode())], b"y")
    resp = client.response("GET /own-date")
    expect(resp, 200, b"y", "GET /own-date", "section 2, RESPONSE")
    if resp.all("server") != ["conform-kit"] or resp.all("date") != [date]:
        raise CaseFailed(f"the client got server {resp.all('server')} and date {resp.all('date')}, not the "
                         "backend's alone (section 2, RESPONSE: it adds them only when the backend did not send them)")


def no_body(kit: MirrorKit) -> None:
    backend = kit.backend()
    client = kit.client()
    for method, target, status in (("HEAD", "/head", 200), ("GET", "/no-content", 204),
                                   ("GET", "/not-modified", 304)):
        client.request(method, target)
        stream = backend.next_request(f"{method} {target}")
        backend.respond(stream, status, TEXT, b"a body the client must not get")
        expect(client.response(f"{method} {target}"), status, b"", f"{method} {target}", "section 2, RESPONSE")
    # Body bytes sent after any of those would now be taken for the next response's head.
    ask(kit, backend, client, "/after", b"after", "a GET on the same connection after HEAD, 204 and 304 (section 2, "
        "RESPONSE: for HEAD requests and 204/304 responses the frontend sends no body)")


def connection_close(kit: MirrorKit) -> None:
    backend = kit.backend()
    client = kit.client()
    client.request("GET", "/keep")
    stream = backend.next_request("GET /keep")
    backend.respond(stream, 200, [(b"connection", b"keep-alive")], b"kept")
    expect(client.response("GET /keep"), 200, b"kept", "GET /keep", "section 2, RESPONSE")
    client.request("GET", "/close")
    stream = backend.next_request("GET /close, on the same connection (connection: keep-alive has no effect)")
    backend.respond(stream, 200, [(b"connection", b"Close")], b"closing")
    expect(client.response("GET /close"), 200, b"closing", "GET /close", "section 2, RESPONSE")
    try:
        client.wait_closed("the frontend to close the client connection after a response with connection: Close")
    except WaitTimedOut:
        raise CaseFailed("the client connection stayed open after a response with connection: Close (section 2, "
                         "RESPONSE: a connection header whose value is close, in any case, is honoured)") from None


def file_response(kit: MirrorKit) -> None:
    path = os.path.join(kit.workdir, "file-response.bin")
    data = bytes(i * 31 % 256 for i in range(100_000))
    with open(path, "wb") as f:
        f.write(data)
    backend = kit.backend()
    client = kit.client()
    client.request("GET", "/file")
    stream = backend.next_request("GET /file")
    backend.respond(stream, 200, TEXT, path.encode(), flags=protocol.FILE)
    resp = client.response("GET /file")
    expect(resp, 200, data, "GET /file (a FILE RESPONSE)", "section 2, RESPONSE: the response body is that whole file")
    if resp.header("content-length") != str(len(data)):
        raise CaseFailed(f"a FILE RESPONSE came with content-length {resp.header('content-length')!r}, not the "
                         f"file's size {len(data)} (section 2, RESPONSE)")
    for bad, why in ((b"relative/file", "a path not starting with /"), (path.encode() + b".missing", "a missing file"),
                     (os.path.dirname(path).encode(), "a directory")):
        client = kit.client()
        client.request("GET", "/bad-file")
        stream = backend.next_request(f"GET /bad-file ({why})")
        backend.respond(stream, 200, TEXT, bad, flags=protocol.FILE)
        expect(client.response(f"GET /bad-file ({why})"), 500, None, f"a FILE RESPONSE with {why}",
               "section 2, RESPONSE: the client gets 500")
    client = kit.client()
    client.request("GET", "/file-without-end")
    stream = backend.next_request("GET /file-without-end")
    backend.respond(stream, 200, TEXT, path.encode(), end=False, flags=protocol.FILE)
    expect_stream_error(backend, stream, client, 502, "a FILE RESPONSE without END")


def ping_and_unknown(kit: MirrorKit) -> None:
    backend = kit.backend()
    client = kit.client()
    client.request("GET", "/unknown")
    stream = backend.next_request("GET /unknown")
    unknown: list[tuple[int, int, list[Any]]] = [(99, 0, ["from a later version", 1]), (0, 0, []),
                                                 (200, stream.id, [{"k": "v"}])]
    for ftype, sid, elements in unknown:
        backend.send(protocol.unknown_frame(ftype, sid, elements), f"type {ftype} on stream {sid} (unknown)")
    backend.send(protocol.ping_frame(0, True, 0x1111), "PING ack=true 0x1111 (an answer: not to be answered)")
    for opaque in (2**64 - 1, 0):
        backend.send(protocol.ping_frame(0, False, opaque), f"PING {opaque:#x}")
        backend.wait(lambda: opaque in backend.acks, f"PING(ack=true, {opaque:#x}), the answer to PING {opaque:#x}")
    if 0x1111 in backend.acks:
        raise CaseFailed("the frontend answered a PING that had ack=true (section 2, PING)")
    backend.respond(stream, 200, TEXT, b"known")
    expect(client.response("GET /unknown"), 200, b"known", "GET /unknown after frames of unknown types",
           "section 5: unknown frame types are ignored; the connection goes on")


# --- the list --------------------------------------------------------------------------------------

CASES = [
    Case("F1.1", "frontend HELLO answers the backend's", "§2 HELLO, §7",
         "The frontend answers the backend's HELLO with its own: version 1, role \"frontend\", generation 0, "
         "max_streams 0, max_frame_size in 65536..16777216, initial_window in 65536..2^31-1. A PING the backend "
         "sends before that HELLO is answered (\"the backend sends nothing but PING and GOAWAY before it has "
         "received the frontend's\"), and a request is then forwarded and answered.", frontend_hello),
    Case("F1.2", "HELLO of another version refused", "§2 HELLO",
         "\"A frontend that receives another version answers GOAWAY(VERSION_MISMATCH, ...) and closes\": no "
         "HELLO before it; the code is binding, the message is not checked. A well-behaved backend's request, in "
         "flight meanwhile, is answered.",
         refused(wire.backend_hello(version=2), protocol.VERSION_MISMATCH, "a HELLO of version 2")),
    Case("F1.3", "HELLO with the wrong role refused", "§2 HELLO, §5",
         "\"A peer with the wrong role is refused with PROTOCOL_ERROR\": a HELLO with role \"frontend\" gets "
         "GOAWAY(PROTOCOL_ERROR), then the close; a bystander's request is answered.",
         refused(wire.backend_hello(role="frontend"), protocol.PROTOCOL_ERROR, "a HELLO with role 'frontend'")),
    Case("F1.4", "HELLO with limits out of bounds refused", "§2 HELLO, §7",
         "\"A HELLO whose limits are outside the bounds of section 7 is refused like any malformed frame "
         "(PROTOCOL_ERROR)\": max_frame_size 4096 and 2^24+1, max_streams 0, initial_window 65535, each on its "
         "own connection; a bystander's request is answered.", limits_refused),
    Case("F1.5", "frame before HELLO refused", "§2 HELLO, §5",
         "\"Any other frame before HELLO\" is a connection error PROTOCOL_ERROR: a PING in place of the backend's "
         "HELLO gets GOAWAY(PROTOCOL_ERROR), then the close.", frame_before_hello),
    Case("F1.6", "second HELLO refused", "§5",
         "\"Second HELLO\" is a connection error: GOAWAY(PROTOCOL_ERROR), then the close.", second_hello),
    Case("F1.7", "oversized frame before HELLO refused", "§1, §5",
         "\"Before the HELLO exchange is complete the limit is 65536\": a length of 65537 in place of the HELLO is "
         "FRAME_TOO_LARGE, detected from the 4 length bytes.", oversized_before_hello),
    Case("F1.8", "elements past version 1's and unknown flag bits ignored", "§1, §2",
         "\"A receiver MUST ignore elements past the ones this version defines\": a HELLO with 3 extra elements, "
         "then PING, RESPONSE, DATA and CANCEL with 2 each, are taken as the frames they are; flag bits section 2 "
         "does not define (0x40, 0x80, 2^40) are ignored.", extra_elements),
    Case("F1.9", "integers in any MessagePack encoding", "§1",
         "\"Integers use any MessagePack integer encoding\": a HELLO, RESPONSE (in an array 16), DATA and PING whose "
         "integers are wider than they need, or of the signed formats holding values >= 0, are taken as usual.",
         integer_encodings),
    Case("F2.1", "REQUEST as the client sent it", "§2 REQUEST",
         "GET /conform/a%2Fb%20c?x=1&y=%2F with repeated and mixed-case headers: method, raw target, "
         "percent-decoded path, raw query, http_version \"1.1\", headers in order with repeats and names "
         "lowercased, client and server addresses (or nil), scheme \"http\", empty body with END; then an "
         "HTTP/1.0 POST whose 11-byte body travels in the REQUEST with END.", request_as_sent),
    Case("F2.2", "round trip: the client gets exactly the bytes", "§2 RESPONSE, §6",
         "A RESPONSE with END, status 201, a header and a body holding every byte value (and a fake HTTP head): "
         "the client gets that status, header and body byte for byte, with the content-length the frontend adds.",
         round_trip),
    Case("F2.3", "request body within the backend's window", "§4",
         "POST of 200000 bytes to a backend announcing max_frame_size and initial_window 65536: the frontend sends "
         "no more than the window before the backend's WINDOW, in frames within 65536 bytes, then the rest as "
         "grants of 30000 come; every byte arrives.", request_body_window),
    Case("F2.4", "response body beyond one window", "§4",
         "A response of twice the frontend's initial_window and more, in DATA frames within its max_frame_size and "
         "window: the frontend grants WINDOW as it writes the bytes to the client (\"the frontend when bytes have "
         "been written to the client socket\"), and the client gets every byte, chunked.", response_window),
    Case("F2.5", "no more streams than max_streams", "§2 HELLO",
         "A backend announcing max_streams 2 and three clients: \"the frontend never opens more on that "
         "connection\"; the third REQUEST comes once a stream has ended (or the third client gets 503 at once: "
         "what to do with a request no backend has room for is the frontend's policy), and all are answered.",
         max_streams),
    Case("F2.6", "response framing", "§2 RESPONSE",
         "\"It keeps a valid content-length and then sends exactly that many body bytes\"; without content-length "
         "and END, chunked encoding to an HTTP/1.1 client and close-delimited to an HTTP/1.0 one.", framing),
    Case("F2.7", "headers the frontend handles itself", "§2 RESPONSE",
         "The backend's connection, keep-alive, transfer-encoding and upgrade headers are dropped, its other "
         "headers kept; date and server are added when the backend did not send them, and not when it did.",
         frontend_headers),
    Case("F2.8", "no body for HEAD, 204 and 304", "§2 RESPONSE",
         "\"For HEAD requests and 204/304 responses the frontend sends no body to the client whatever the backend "
         "sends\": a GET on the same connection afterwards is answered cleanly.", no_body),
    Case("F2.9", "connection: close honoured", "§2 RESPONSE",
         "A connection header of value Close closes the client connection after the response; other values "
         "(keep-alive) have no effect.", connection_close),
    Case("F2.10", "file responses", "§2 RESPONSE",
         "With FILE and END the body is an absolute path and the client gets the whole file with its size as "
         "content-length; a relative path, a missing file or a directory gives 500; FILE without END is a stream "
         "error (502, CANCEL(INTERNAL)).", file_response),
    Case("F2.11", "PING answered, unknown frame types ignored", "§2 PING, §5",
         "Frames of unknown types (0, 99 on stream 0, 200 on an open stream) are ignored; PINGs with ack = false "
         "are answered with the same opaque (2^64-1 included), a PING with ack = true is not; the open stream is "
         "then answered as usual.", ping_and_unknown),
    Case("F2.12", "a request id in every REQUEST", "§2 REQUEST",
         "Two requests on one client connection and one on another: each REQUEST carries a request_id of 1 to 200 "
         "bytes of visible ASCII, none the same.", request_ids),
] + ERROR_CASES + WS_CASES
