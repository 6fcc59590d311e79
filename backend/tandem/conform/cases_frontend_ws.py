"""The frontend kit's WebSocket cases (PROTOCOL.md section 8), group F7.

A frontend's HELLO that announces WEBSOCKET is held to section 8: a client's
valid upgrade reaches a backend that announced WEBSOCKET as a REQUEST with
WEBSOCKET and END; WS_ACCEPT becomes a 101, after which messages go both ways
as WS_MESSAGE (client frames unmasked, whole or in parts) and the close is
passed on as WS_CLOSE; WS_CLOSE before WS_ACCEPT becomes 403.  A backend that
does not announce WEBSOCKET gets the upgrade as a plain request (the version
rule), whatever the frontend speaks.  A frontend without WEBSOCKET is skipped
in the cases that need it.

The client side of RFC 6455 here is the least the cases need: masked frames
out, unmasked frames in.

Calls ``protocol``, ``link`` (the exceptions), ``mirror`` (the kit),
``scenes`` and ``runner``.
"""

from __future__ import annotations

import os
import struct

from .. import protocol
from .link import CaseFailed, CaseSkipped
from .mirror import FakeBackend, MirrorKit
from .runner import Case
from .scenes import expect

KEY = "dGhlIHNhbXBsZSBub25jZQ=="
ACCEPT = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="      # RFC 6455 section 1.3's example
UPGRADE = [("Upgrade", "websocket"), ("Connection", "Upgrade"), ("Sec-WebSocket-Key", KEY),
           ("Sec-WebSocket-Version", "13")]


def client_frame(opcode: int, payload: bytes, fin: bool = True) -> bytes:
    """A masked client frame (payloads under 126 bytes)."""
    key = os.urandom(4)
    return (bytes([(0x80 if fin else 0) | opcode, 0x80 | len(payload)]) + key
            + bytes(b ^ key[i & 3] for i, b in enumerate(payload)))


def server_frame(buf: bytearray) -> tuple[int, bytes] | None:
    """The next whole server frame in buf as (opcode, payload), consumed; None if it has not all come."""
    if len(buf) < 2:
        return None
    n, at = buf[1] & 0x7F, 2
    if buf[1] & 0x80:
        raise CaseFailed("the frontend sent a masked frame to the client (RFC 6455 section 5.1)")
    if n == 126:
        if len(buf) < 4:
            return None
        n, at = struct.unpack(">H", bytes(buf[2:4]))[0], 4
    if len(buf) < at + n:
        return None
    frame = (buf[0] & 0x0F, bytes(buf[at:at + n]))
    del buf[:at + n]
    return frame


def _ws_backend(kit: MirrorKit) -> FakeBackend:
    backend = kit.backend(features=protocol.FEATURE_WEBSOCKET)
    if not backend.frontend_hello or not backend.frontend_hello.features & protocol.FEATURE_WEBSOCKET:
        raise CaseSkipped("the frontend's HELLO does not announce WEBSOCKET (section 8 is optional)")
    return backend


def ws_relay(kit: MirrorKit) -> None:
    backend = _ws_backend(kit)
    client = kit.client()
    client.request("GET", "/chat", UPGRADE)
    stream = backend.next_request("the WebSocket handshake GET /chat")
    if stream.request.flags & (protocol.END | protocol.WEBSOCKET) != protocol.END | protocol.WEBSOCKET:
        raise CaseFailed(f"the handshake came with flags {stream.request.flags:#x}, not END | WEBSOCKET "
                         "(section 8, Opening)")
    backend.send(protocol.ws_accept_frame(stream.id, "", [b"x-kit", b"1"]), f"WS_ACCEPT stream {stream.id}")
    resp = client.response("the WebSocket handshake")
    if resp.status != 101 or resp.header("sec-websocket-accept") != ACCEPT or resp.header("x-kit") != "1":
        raise CaseFailed(f"WS_ACCEPT became {resp}, not 101 with sec-websocket-accept {ACCEPT} and the "
                         "backend's header (section 8: WS_ACCEPT)")
    client.send(client_frame(1, b"hel", fin=False) + client_frame(0, b"lo"), "a text message in two frames")
    backend.wait(lambda: bool(stream.ws_messages), "the client's message as WS_MESSAGE")
    if stream.ws_messages != [(protocol.WS_TEXT, b"hello")]:
        raise CaseFailed(f"the client's text message arrived as {stream.ws_messages!r} (section 8, Messages)")
    backend.send(protocol.ws_message_frame(stream.id, protocol.END, protocol.WS_BINARY, b"\x00\x01"),
                 f"WS_MESSAGE stream {stream.id} binary")
    raw = client.raw()
    got: list[tuple[int, bytes]] = []

    def frames() -> bool:
        frame = server_frame(raw)
        while frame is not None:
            got.append(frame)
            frame = server_frame(raw)
        return bool(got)

    kit.pump(frames, "the backend's message as a WebSocket frame")
    if got[0] != (2, b"\x00\x01"):
        raise CaseFailed(f"the backend's binary message reached the client as {got[0]!r} (section 8, Messages)")
    client.send(client_frame(8, struct.pack(">H", 4002) + b"done"), "a close frame 4002")
    backend.wait(lambda: stream.ws_close is not None, "the client's close as WS_CLOSE")
    assert stream.ws_close is not None
    if (stream.ws_close.code, stream.ws_close.reason) != (4002, b"done"):
        raise CaseFailed(f"the client's close 4002 \"done\" arrived as {stream.ws_close} (section 8, Closing)")
    backend.send(protocol.ws_close_frame(stream.id, 4002, b""), f"WS_CLOSE stream {stream.id} (answer)")
    kit.pump(lambda: frames() and got[-1][0] == 8, "the close frame echoed to the client")
    backend.roundtrip()


def ws_refused(kit: MirrorKit) -> None:
    backend = _ws_backend(kit)
    client = kit.client()
    client.request("GET", "/no", UPGRADE)
    stream = backend.next_request("the WebSocket handshake GET /no")
    backend.send(protocol.ws_close_frame(stream.id, 1000, b""), f"WS_CLOSE stream {stream.id} (refusal)")
    expect(client.response("the refused handshake"), 403, None, "GET /no, refused with WS_CLOSE",
           "section 8: WS_CLOSE before WS_ACCEPT becomes 403")
    backend.roundtrip()


def plain_backend(kit: MirrorKit) -> None:
    backend = kit.backend()                       # no features: a backend without WebSockets
    client = kit.client()
    client.request("GET", "/chat", UPGRADE)
    stream = backend.next_request("the handshake GET /chat")
    if stream.request.flags & protocol.WEBSOCKET:
        raise CaseFailed("a backend that did not announce WEBSOCKET got a REQUEST with WEBSOCKET (section 8: "
                         "the frontend sends the request as before)")
    backend.respond(stream, 200, [(b"content-type", b"text/plain")], b"plain")
    expect(client.response("the handshake to a backend without WebSockets"), 200, b"plain",
           "GET /chat with upgrade headers", "section 8: the application answers it as plain HTTP")


WS_CASES = [
    Case("F7.1", "WebSocket: handshake, messages both ways, close", "§8",
         "A valid handshake reaches a backend with WEBSOCKET as REQUEST with END | WEBSOCKET; WS_ACCEPT becomes "
         "101 with the right sec-websocket-accept and the backend's header; a text message in two client frames "
         "arrives as one WS_MESSAGE text message; the backend's WS_MESSAGE reaches the client as a binary frame; "
         "the client's close 4002 arrives as WS_CLOSE(4002, \"done\"), and the backend's answer is echoed as a "
         "close frame.", ws_relay),
    Case("F7.2", "WebSocket refused before accept: 403", "§8",
         "WS_CLOSE before WS_ACCEPT: the client gets 403.", ws_refused),
    Case("F7.3", "a backend without WebSockets gets a plain request", "§2 HELLO (features), §8",
         "A backend whose HELLO has no features gets a client's handshake without WEBSOCKET, and its RESPONSE "
         "reaches the client as it is.", plain_backend),
]
