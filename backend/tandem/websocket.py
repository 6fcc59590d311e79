"""The WebSocket object of the native API: what an ``@app.websocket(path)`` handler receives.

::

    @app.websocket("/echo")
    async def echo(ws):
        await ws.accept()
        async for text in ws.iter_text():
            await ws.send_text(text)

The handler must ``accept()`` (or ``close()``, which refuses the upgrade with
403) before it exchanges messages.  ``receive_text()``/``receive_bytes()`` wait
for the client's next whole message and raise ``WebSocketDisconnect`` (with the
close code) once the client has closed; a message of the other kind closes the
WebSocket with 1003 and raises too.  Sends wait while the frontend's window is
closed, and raise ``WebSocketDisconnect`` once either side has closed.  When
the handler returns, a WebSocket left open is closed with 1000 (1011 if it
raised).

Calls ``request`` (headers and query of the upgrade request) and ``types``.
"""

from __future__ import annotations

import json
from typing import Any, AsyncIterator, Optional, Union

from .datastructures import Headers, QueryParams
from .request import Request
from .types import WS_BINARY, WS_TEXT, Stream, WebSocketDisconnect, offered_subprotocols

UNSUPPORTED_DATA = 1003   # RFC 6455: a message of a kind the endpoint does not take


class WebSocket:
    """One WebSocket connection, seen from its handler."""

    __slots__ = ("_stream", "request", "accepted", "closed")

    def __init__(self, stream: Stream, path: str, path_params: dict[str, Any]) -> None:
        self._stream = stream
        self.request = Request(stream, path, path_params)  # the upgrade request: headers, query, cookies
        self.accepted = False
        self.closed = False

    def __repr__(self) -> str:
        return f"<WebSocket {self.path}>"

    @property
    def path(self) -> str:
        return self.request.path

    @property
    def path_params(self) -> dict[str, Any]:
        return self.request.path_params

    @property
    def headers(self) -> Headers:
        return self.request.headers

    @property
    def query_params(self) -> QueryParams:
        return self.request.query_params

    @property
    def subprotocols(self) -> list[str]:
        """The subprotocols the client offered, in its order."""
        return offered_subprotocols(self._stream.head.headers)

    async def accept(self, subprotocol: Optional[str] = None, headers: Optional[dict[str, str]] = None) -> None:
        raw = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in (headers or {}).items()]
        await self._stream.ws_accept(subprotocol or "", raw)
        self.accepted = True

    async def receive(self) -> Union[str, bytes]:
        """The next whole message: str for text, bytes for binary."""
        event, kind, data = await self._stream.ws_receive()
        if event == "close":
            self.closed = True
            raise WebSocketDisconnect(kind, data.decode("utf-8", "replace"))
        return data.decode("utf-8") if kind == WS_TEXT else data

    async def _receive_kind(self, want: type) -> Any:
        message = await self.receive()
        if type(message) is not want:
            await self.close(UNSUPPORTED_DATA, f"expected a {'text' if want is str else 'binary'} message")
            raise WebSocketDisconnect(UNSUPPORTED_DATA, "unexpected message kind")
        return message

    async def receive_text(self) -> str:
        return await self._receive_kind(str)  # type: ignore[no-any-return]

    async def receive_bytes(self) -> bytes:
        return await self._receive_kind(bytes)  # type: ignore[no-any-return]

    async def receive_json(self) -> Any:
        return json.loads(await self.receive())

    async def send_text(self, data: str) -> None:
        if type(data) is not str:
            raise TypeError(f"send_text() takes a str, not {type(data).__name__}")
        await self._stream.ws_send(WS_TEXT, data.encode("utf-8"))

    async def send_bytes(self, data: bytes) -> None:
        await self._stream.ws_send(WS_BINARY, bytes(data))

    async def send_json(self, data: Any) -> None:
        await self.send_text(json.dumps(data, separators=(",", ":"), ensure_ascii=False))

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Close the WebSocket; before accept(), refuse it (the client gets 403)."""
        if not self.closed:
            self.closed = True
            await self._stream.ws_close(code, reason)

    async def iter_text(self) -> AsyncIterator[str]:
        """The text messages until the client closes (which ends the loop without raising)."""
        try:
            while True:
                yield await self.receive_text()
        except WebSocketDisconnect:
            return

    async def iter_bytes(self) -> AsyncIterator[bytes]:
        try:
            while True:
                yield await self.receive_bytes()
        except WebSocketDisconnect:
            return
