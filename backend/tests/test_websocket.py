"""WebSocket streams on the backend (PROTOCOL.md section 8), without a frontend: the connection's rules
driven with bytes, then the ASGI adapter and the native API on a real Channel fed the frontend's frames."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tandem import App, protocol
from tandem.asgi import ASGIAdapter
from tandem.channel import Channel
from tandem.connection import HelloConfig, StreamReset, WsCloseReceived, WsMessageReceived
from tandem.protocol import END, WEBSOCKET, WS_BINARY, WS_TEXT, Decoder

from test_connection import attached

WS_HEADERS = [b"host", b"x", b"upgrade", b"websocket", b"connection", b"Upgrade",
              b"sec-websocket-key", b"dGhlIHNhbXBsZSBub25jZQ==", b"sec-websocket-version", b"13",
              b"sec-websocket-protocol", b"chat, superchat"]


def upgrade(sid: int, path: bytes = b"/ws", flags: int = END | WEBSOCKET) -> bytes:
    return protocol.request_frame(sid, flags, "GET", path, path, b"q=1", "1.1", WS_HEADERS, ("127.0.0.1", 5),
                                  ("127.0.0.1", 80), "http", b"")


# --- the connection ----------------------------------------------------------------------------


def test_the_backend_announces_websockets() -> None:
    frame = HelloConfig("app:app", 1).frame()
    decoder = Decoder()
    decoder.feed(frame)
    assert decoder.next_frame().features == protocol.FEATURE_WEBSOCKET


def test_accept_messages_and_close() -> None:
    conn, rec = attached()
    rec.feed(upgrade(1))
    stream = rec.streams[0]
    conn.ws_accept(stream, "chat", [b"x-a", b"1"])
    rec.feed(protocol.ws_message_frame(1, 0, WS_TEXT, b"he") + protocol.ws_message_frame(1, END, WS_TEXT, b"llo"))
    assert [(e.kind, e.data, e.end) for e in rec.events if isinstance(e, WsMessageReceived)] == [
        (WS_TEXT, b"he", False), (WS_TEXT, b"llo", True)]
    assert conn.ws_send(stream, WS_BINARY, b"\x00" * 10) == 10
    rec.feed(protocol.ws_close_frame(1, 1000, b"bye"))
    assert isinstance(rec.events[-1], WsCloseReceived) and rec.events[-1].code == 1000
    # Our WS_CLOSE answers the frontend's, once; sending after it is refused.
    assert rec.sent() == [protocol.WsAccept(1, "chat", [(b"x-a", b"1")]),
                          protocol.WsMessage(1, END, WS_BINARY, b"\x00" * 10), protocol.WsClose(1, 1000, b"bye")]
    assert conn.ws_close(stream, 1000, b"") is False
    with pytest.raises(RuntimeError):
        conn.ws_send(stream, WS_TEXT, b"late")


def test_a_message_is_split_by_the_window_and_the_frame_size() -> None:
    conn, rec = attached()
    rec.feed(upgrade(1))
    stream = rec.streams[0]
    conn.ws_accept(stream, "", [])
    rec.read()
    data = b"m" * (protocol.DEFAULT_WINDOW + 10)
    sent = conn.ws_send(stream, WS_BINARY, data)
    assert sent == protocol.DEFAULT_WINDOW
    frames = rec.sent()
    assert all(f.flags == 0 and len(f.data) <= protocol.DEFAULT_MAX_FRAME for f in frames)
    assert b"".join(f.data for f in frames) == data[:sent]
    rec.feed(protocol.window_frame(1, 100))
    assert conn.ws_send(stream, WS_BINARY, memoryview(data)[sent:]) == 10
    assert rec.sent() == [protocol.WsMessage(1, END, WS_BINARY, b"m" * 10)]


def test_messages_beyond_the_window_are_a_flow_control_error() -> None:
    conn, rec = attached()
    rec.feed(upgrade(1))
    conn.ws_accept(rec.streams[0], "", [])
    rec.read()
    chunk = b"x" * 500000
    rec.feed(protocol.ws_message_frame(1, 0, WS_BINARY, chunk) * 2)
    rec.feed(protocol.ws_message_frame(1, 0, WS_BINARY, chunk))
    assert rec.sent()[-1].code == protocol.FLOW_CONTROL_ERROR


@pytest.mark.parametrize("frame", [
    protocol.ws_message_frame(1, END, WS_TEXT, b"before accept"),
    protocol.ws_close_frame(1, 1000, b""),
])
def test_websocket_frames_before_accept_are_a_stream_error(frame: bytes) -> None:
    conn, rec = attached()
    rec.feed(upgrade(1))
    rec.feed(frame)
    assert isinstance(rec.events[-1], StreamReset)
    assert rec.sent() == [protocol.Cancel(1, protocol.CANCEL_INTERNAL)]


def test_a_message_of_an_unknown_kind_is_a_stream_error() -> None:
    conn, rec = attached()
    rec.feed(upgrade(1))
    conn.ws_accept(rec.streams[0], "", [])
    rec.read()
    rec.feed(protocol.ws_message_frame(1, END, 9, b"?"))
    assert rec.sent() == [protocol.Cancel(1, protocol.CANCEL_INTERNAL)]


def test_a_plain_stream_takes_no_websocket_frames() -> None:
    conn, rec = attached()
    rec.feed(upgrade(1, flags=END))
    with pytest.raises(RuntimeError):
        conn.ws_accept(rec.streams[0], "", [])
    rec.feed(protocol.ws_message_frame(1, END, WS_TEXT, b"x"))
    assert rec.sent() == [protocol.Cancel(1, protocol.CANCEL_INTERNAL)]


def test_refusing_before_accept_is_one_ws_close() -> None:
    conn, rec = attached()
    rec.feed(upgrade(1))
    assert conn.ws_close(rec.streams[0], 1000, b"") is True
    assert conn.ws_close(rec.streams[0], 1000, b"") is False
    assert rec.sent() == [protocol.WsClose(1, 1000, b"")]


# --- applications on a channel ---------------------------------------------------------------------


class Transport:
    def __init__(self) -> None:
        self.out = bytearray()
        self.closed = False

    def write(self, data: bytes) -> None:
        self.out += data

    def writelines(self, frames: list[bytes]) -> None:
        for data in frames:
            self.out += data

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True


async def converse(app: Any, frames: list[bytes], until: Any) -> list[protocol.Frame]:
    """Runs app on a Channel fed the frontend's HELLO and frames; returns what the backend wrote once
    ``until(frames_so_far)`` holds (bounded)."""
    loop = asyncio.get_running_loop()
    channel = Channel(app, HelloConfig("test:app", 1), loop)
    transport = Transport()
    channel.connection_made(transport)  # type: ignore[arg-type]
    channel.data_received(protocol.hello_frame(0, 1, "frontend", "f", 1, 0, 1048576, 0, 1048576,
                                               protocol.FEATURE_WEBSOCKET))
    decoder = Decoder(protocol.MAX_MAX_FRAME)
    got: list[protocol.Frame] = []
    pending = list(frames)
    for _ in range(400):
        if pending:
            channel.data_received(pending.pop(0))
        await asyncio.sleep(0.005)
        decoder.feed(bytes(transport.out))
        transport.out.clear()
        got.extend(f for f in decoder if not isinstance(f, protocol.Hello))
        if not pending and until(got):
            return got
    raise AssertionError(f"no end: {got}")


def native_app() -> App:
    app = App()

    @app.websocket("/ws")
    async def ws_handler(ws):
        await ws.accept(subprotocol=ws.subprotocols[-1])
        await ws.send_text(ws.query_params["q"])
        text = await ws.receive_text()
        await ws.send_bytes(text.encode() * 2)
        await ws.receive_bytes()          # a text message instead: 1003

    return app


def test_native_api() -> None:
    frames = asyncio.run(converse(native_app(), [
        upgrade(1), protocol.ws_message_frame(1, END, WS_TEXT, "é".encode()),
        protocol.ws_message_frame(1, END, WS_TEXT, b"not bytes")], lambda got: any(
            isinstance(f, protocol.WsClose) for f in got)))
    assert frames == [protocol.WsAccept(1, "superchat", []), protocol.WsMessage(1, END, WS_TEXT, b"1"),
                      protocol.WsMessage(1, END, WS_BINARY, "éé".encode()),
                      protocol.WsClose(1, 1003, b"expected a binary message")]


def test_a_subprotocol_the_client_did_not_offer_is_refused_where_the_app_chose_it() -> None:
    # RFC 6455 section 4.2.2: the server picks one of the client's values (the client fails the connection on any
    # other).  accept() raises at the app's call, and the upgrade is answered 500, as for any app that raised first.
    errors: list[str] = []
    app = App()

    @app.websocket("/ws")
    async def ws_handler(ws):
        try:
            await ws.accept(subprotocol="graphql-ws")
        except ValueError as exc:
            errors.append(str(exc))
            raise

    frames = asyncio.run(converse(app, [upgrade(1)], lambda got: bool(got)))
    assert isinstance(frames[0], protocol.Response) and frames[0].status == 500
    assert errors == ["the client did not offer the subprotocol 'graphql-ws' (it offered ['chat', 'superchat'])"]


def test_native_api_unknown_path_is_404() -> None:
    frames = asyncio.run(converse(native_app(), [upgrade(1, b"/other")], lambda got: bool(got)))
    assert isinstance(frames[0], protocol.Response) and frames[0].status == 404


def test_native_handler_returning_open_closes_1000_and_one_that_raises_1011() -> None:
    app = App()

    @app.websocket("/ok")
    async def ok(ws):
        await ws.accept()

    @app.websocket("/fail")
    async def fail(ws):
        await ws.accept()
        raise ValueError("broken")

    @app.websocket("/silent")
    async def silent(ws):
        return None

    def closed(got):
        return sum(isinstance(f, protocol.WsClose) for f in got) == 3

    frames = asyncio.run(converse(app, [upgrade(1, b"/ok"), upgrade(3, b"/fail"), upgrade(5, b"/silent")], closed))
    assert {f.stream_id: f.code for f in frames if isinstance(f, protocol.WsClose)} == {1: 1000, 3: 1011, 5: 1000}
    assert not any(isinstance(f, protocol.WsAccept) and f.stream_id == 5 for f in frames)


async def asgi_echo(scope, receive, send):
    assert scope["type"] == "websocket" and scope["subprotocols"] == ["chat", "superchat"]
    assert scope["query_string"] == b"q=1" and "websocket.http.response" in scope["extensions"]
    assert (await receive())["type"] == "websocket.connect"
    await send({"type": "websocket.accept", "subprotocol": "chat", "headers": [(b"X-Y", b"z")]})
    while True:
        message = await receive()
        if message["type"] == "websocket.disconnect":
            assert message["code"] == 4001
            return
        await send({"type": "websocket.send", "text": message.get("text"), "bytes": message.get("bytes")})


def test_asgi_websocket() -> None:
    frames = asyncio.run(converse(ASGIAdapter(asgi_echo), [
        upgrade(1), protocol.ws_message_frame(1, 0, WS_BINARY, b"ab"), protocol.ws_message_frame(1, END, WS_BINARY,
                                                                                                  b"cd"),
        protocol.ws_message_frame(1, END, WS_TEXT, b"hi"), protocol.ws_close_frame(1, 4001, b"")],
        lambda got: any(isinstance(f, protocol.WsClose) for f in got)))
    assert frames[:3] == [protocol.WsAccept(1, "chat", [(b"x-y", b"z")]),
                          protocol.WsMessage(1, END, WS_BINARY, b"abcd"), protocol.WsMessage(1, END, WS_TEXT, b"hi")]
    assert frames[3] == protocol.WsClose(1, 4001, b"")


async def asgi_refuse(scope, receive, send):
    await receive()
    await send({"type": "websocket.close", "code": 1008})


def test_asgi_close_before_accept_refuses() -> None:
    frames = asyncio.run(converse(ASGIAdapter(asgi_refuse), [upgrade(1)], lambda got: bool(got)))
    assert frames == [protocol.WsClose(1, 1008, b"")]


def test_asgi_send_after_the_client_closed_raises_oserror() -> None:
    raised: list[int] = []

    async def app(scope, receive, send):
        await receive()
        await send({"type": "websocket.accept"})
        assert (await receive())["type"] == "websocket.disconnect"
        try:
            await send({"type": "websocket.send", "text": "late"})
        except OSError as exc:
            raised.append(exc.code)

    frames = asyncio.run(converse(ASGIAdapter(app), [upgrade(1), protocol.ws_close_frame(1, 1001, b"")],
                                  lambda got: any(isinstance(f, protocol.WsClose) for f in got) and raised))
    assert frames == [protocol.WsAccept(1, "", []), protocol.WsClose(1, 1001, b"")]
    assert raised == [1001]


def test_asgi_hears_a_cancelled_stream_as_disconnect_1006() -> None:
    heard: list[Any] = []

    async def app(scope, receive, send):
        await receive()
        await send({"type": "websocket.accept"})
        heard.append(await receive())

    frames = asyncio.run(converse(ASGIAdapter(app), [upgrade(1), protocol.cancel_frame(1, protocol.CANCEL_CLIENT_GONE)],
                                  lambda got: bool(heard)))
    assert frames == [protocol.WsAccept(1, "", [])]
    assert heard == [{"type": "websocket.disconnect", "code": 1006, "reason": ""}]


def test_an_app_that_raises_before_accepting_gets_500() -> None:
    async def app(scope, receive, send):
        await receive()
        raise ValueError("no")

    frames = asyncio.run(converse(ASGIAdapter(app), [upgrade(1)], lambda got: bool(got)))
    assert isinstance(frames[0], protocol.Response) and frames[0].status == 500
