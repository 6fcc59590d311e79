"""The backend kit's WebSocket cases (PROTOCOL.md section 8), group 10.

A backend that announces WEBSOCKET in its HELLO's features is held to section
8 on the conformance app's ``/ws-echo``: it answers an upgrade with one of
WS_ACCEPT, RESPONSE, WS_CLOSE or CANCEL; once it has accepted, it echoes whole
messages (whatever the parts they came in), answers the kit's WS_CLOSE with
its own, and treats WebSocket frames on a plain stream as a stream error.  A
backend that does not announce it is skipped, and must still serve a plain
request from a frontend that does not speak WebSockets (the version rule).

Calls ``protocol``, ``wire``, ``peer`` and ``runner``.
"""

from __future__ import annotations

from .. import protocol
from . import wire
from .peer import CaseFailed, CaseSkipped, Peer
from .runner import Case, Kit


def _ws_peer(kit: Kit) -> Peer:
    peer = kit.connect()
    hello = peer.hello(wire.kit_hello(features=protocol.FEATURE_WEBSOCKET))
    if not hello.features & protocol.FEATURE_WEBSOCKET:
        raise CaseSkipped("the backend's HELLO does not announce WEBSOCKET (section 8 is optional)")
    return peer


def ws_echo(kit: Kit) -> None:
    peer = _ws_peer(kit)
    stream = peer.open_websocket(1, b"/ws-echo")
    peer.pump(lambda: stream.ws_answered, "the backend's answer to the upgrade (WS_ACCEPT, RESPONSE, WS_CLOSE or "
              "CANCEL)")
    if stream.ws_accept is None:
        how = f"RESPONSE {stream.status}" if stream.status is not None else "WS_CLOSE or CANCEL"
        kit.note(f"the backend refused the upgrade ({how}); nothing more to check")
        return
    snowman = "\u2603".encode()
    peer.send(protocol.ws_message_frame(1, 0, protocol.WS_TEXT, b"a" + snowman[:2]), "WS_MESSAGE stream 1 text part 1")
    peer.send(protocol.ws_message_frame(1, protocol.END, protocol.WS_TEXT, snowman[2:] + b"z"),
              "WS_MESSAGE stream 1 text part 2, END")
    peer.send(protocol.ws_message_frame(1, protocol.END, protocol.WS_BINARY, b""), "WS_MESSAGE stream 1 empty binary")
    peer.pump(lambda: len(stream.ws_messages) >= 2 or stream.done, "the echo of two messages")
    want = [(protocol.WS_TEXT, b"a" + snowman + b"z"), (protocol.WS_BINARY, b"")]
    if stream.ws_messages != want:
        raise CaseFailed(f"the echo is {stream.ws_messages!r}, want {want!r} (section 8: a receiver takes a message "
                         "whole, whatever its parts; an empty message is one WS_MESSAGE with END)")
    peer.send(protocol.ws_close_frame(1, 4001, b"kit"), "WS_CLOSE stream 1 4001")
    peer.pump(lambda: stream.ws_close is not None or stream.done, "the backend's WS_CLOSE in answer")
    if stream.ws_close is None or stream.ws_close.code != 4001:
        raise CaseFailed(f"the backend answered the kit's WS_CLOSE(4001) with {stream.ws_close!r} (section 8: a "
                         "side that receives WS_CLOSE answers with its own; a backend echoes the code)")
    peer.roundtrip()


def ws_frame_on_plain_stream(kit: Kit) -> None:
    peer = _ws_peer(kit)
    stream = peer.open(1, "POST", b"/count", b"ab", end=False)
    peer.send(protocol.ws_message_frame(1, protocol.END, protocol.WS_TEXT, b"x"), "WS_MESSAGE on stream 1 (plain)")
    peer.pump(lambda: stream.done, "CANCEL(INTERNAL) of stream 1")
    if stream.reset != protocol.CANCEL_INTERNAL:
        raise CaseFailed(f"stream 1 ended with {stream.reset!r} and status {stream.status}, not CANCEL(INTERNAL) "
                         "(section 8: a WebSocket frame on a stream opened without WEBSOCKET is a stream error)")
    peer.open(3, "GET", b"/hello")
    peer.expect_answer(3, 200, b"hello")


def plain_frontend(kit: Kit) -> None:
    peer = kit.connect()
    peer.hello()                                    # no features: a frontend without WebSockets
    peer.register(1, "GET /hello with upgrade headers")
    peer.send(wire.request(1, "GET", b"/hello", headers=wire.WS_HEADERS), "REQUEST stream 1 GET /hello (upgrade "
              "headers, no WEBSOCKET)")
    peer.expect_answer(1, 200, b"hello")


WS_CASES = [
    Case("10.1", "WebSocket upgrade answered, messages echoed whole, close answered", "§8",
         "To a REQUEST with WEBSOCKET the backend answers WS_ACCEPT, RESPONSE, WS_CLOSE or CANCEL; after WS_ACCEPT "
         "/ws-echo echoes a text message sent in two parts split inside a UTF-8 character, and an empty binary "
         "message, each whole; the kit's WS_CLOSE(4001) is answered with WS_CLOSE(4001). Skipped for a backend "
         "without WEBSOCKET in its features.", ws_echo),
    Case("10.2", "WebSocket frame on a plain stream", "§8",
         "A WS_MESSAGE on a stream opened without WEBSOCKET is a stream error: CANCEL(INTERNAL); the connection "
         "goes on.", ws_frame_on_plain_stream),
    Case("10.3", "a frontend without WebSockets", "§2 HELLO (features), §8",
         "A frontend whose HELLO has no features sends upgrade requests without WEBSOCKET: GET /hello with the "
         "handshake's headers is served as plain HTTP.", plain_frontend),
]
