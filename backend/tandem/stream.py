"""One stream (one HTTP request and its response, or one WebSocket) as the application sees it.

Owns the application's side of a stream, ``types.Stream``: the request body
chunks not yet read, a reader waiting for body and a writer waiting for
window, and cancellation (the Task running the application, the waits of
``wait_cancelled()``).  The rules (states, windows, frame sizes, which frame
goes when) are the connection's: a ``ChannelStream`` is its stream's
``connection.StreamState``, whose fields it only reads, and it asks the
connection for frames only through ``StreamLink``.  Its owner tells it what
arrived with ``feed()``, ``window_opened()`` and ``cancel()``, and for a
WebSocket ``ws_feed()`` (message parts, handed to the application whole) and
``ws_closed()``.

Calls ``connection`` (the record it extends and the state names), ``types``,
``validation`` (the wire form of headers) and ``protocol`` for types only;
never the channel.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Any, Optional, Protocol, Sequence

from .connection import REQ_BODY_STATES, RESP_BODY_STATES, StreamState
from .protocol import CANCEL_CLIENT_GONE, Body, Request
from .types import PreparedHeaders, RawHeaders, StreamCancelled, WebSocketDisconnect, WsEvent, offered_subprotocols
from .validation import flatten

# The close code a WebSocket gets when its stream ends without a close (RFC 6455: abnormal closure).
WS_ABNORMAL = 1006


class StreamLink(Protocol):
    """What a stream may ask of the connection that carries it (``connection.Connection`` is one).

    Each call queues frames for the stream and returns at once: how many body
    bytes went is the answer, and a stream with more to send waits for
    ``window_opened()``.  ``headers`` are flat, ``[name, value, ...]``.
    """

    def send_response(self, stream: StreamState, status: int, headers: Sequence[bytes], body: Body,
                      end: bool) -> int: ...

    def send_file(self, stream: StreamState, status: int, headers: Sequence[bytes], path: bytes) -> None: ...

    def send_data(self, stream: StreamState, data: Body, end: bool) -> int: ...

    def consumed(self, stream: StreamState, n: int) -> None:
        """The application has read ``n`` request body bytes (the connection grants window for them)."""

    # WebSocket streams (PROTOCOL.md section 8).
    def ws_accept(self, stream: StreamState, subprotocol: str, headers: Sequence[bytes]) -> None: ...

    def ws_send(self, stream: StreamState, kind: int, data: Body) -> int: ...

    def ws_close(self, stream: StreamState, code: int, reason: bytes) -> bool: ...

    def ws_consumed(self, stream: StreamState, n: int) -> None: ...


class _WsInbox:
    """A WebSocket stream's messages on their way to the application, and its sends' turn."""

    __slots__ = ("messages", "partial", "close", "waiter", "send_lock")

    def __init__(self) -> None:
        # Whole messages: (kind, data, bytes of it not granted back yet).
        self.messages: deque[tuple[int, bytes, int]] = deque()
        self.partial = bytearray()                  # the parts of an unfinished message
        self.close: Optional[tuple[int, bytes]] = None
        self.waiter: Optional[asyncio.Future[None]] = None
        self.send_lock = asyncio.Lock()             # the parts of two messages never interleave


class ChannelStream(StreamState):
    """The channel's implementation of ``types.Stream``."""

    # new_task: the Task the channel made for an app call that waits, until it
    # starts and becomes ``task`` (set only then, never read before).
    # spare_task: the app's call goes on when the client leaves (an ASGI app's, as uvicorn lets it), the
    # stream only marked cancelled and its waits ended.
    __slots__ = ("cancelled", "cancel_code", "task", "new_task", "spare_task", "_link", "_chunks", "_recv_waiter",
                 "_send_waiter", "_cancel_waiter", "_ws")

    def __init__(self, link: StreamLink, head: Request) -> None:
        # StreamState.__init__'s two fields, set here without calling it: this
        # runs for every request.
        self.id = head.stream_id
        self.head = head
        self._link = link
        self.cancelled = False
        self.cancel_code = 0
        self.task: Optional[asyncio.Task[Any]] = None
        self.spare_task = False
        # Request body chunks not yet read; a deque only once there is more than
        # the REQUEST's own body (most requests never need one).
        self._chunks: Optional[deque[bytes]] = None
        if head.body:
            self._chunks = deque((head.body,))
        # A reader waiting for body bytes and a writer waiting for window may wait
        # at the same time (an adapter may read and write from two tasks).
        self._recv_waiter: Optional[asyncio.Future[None]] = None
        self._send_waiter: Optional[asyncio.Future[None]] = None
        self._cancel_waiter: Optional[asyncio.Future[int]] = None
        self._ws: Optional[_WsInbox] = None

    def __repr__(self) -> str:
        return f"<ChannelStream {self.id} {self.state}{' cancelled' if self.cancelled else ''}>"

    @property
    def response_ended(self) -> bool:
        return self.cancelled or self.state not in RESP_BODY_STATES

    @property
    def request_ended(self) -> bool:
        return self.cancelled or self.state not in REQ_BODY_STATES

    # --- request body -------------------------------------------------------

    async def receive(self) -> tuple[bytes, bool]:
        while True:
            if self.cancelled:
                raise StreamCancelled(self.cancel_code)
            chunks = self._chunks
            if chunks:
                chunk = chunks.popleft()
                more = bool(chunks) or self.state in REQ_BODY_STATES
                if more:
                    self._link.consumed(self, len(chunk))
                return chunk, more
            if self.state not in REQ_BODY_STATES:
                return b"", False
            self._recv_waiter = asyncio.get_running_loop().create_future()
            try:
                await self._recv_waiter
            finally:
                self._recv_waiter = None

    def feed(self, data: bytes) -> None:
        """Request body from the frontend (the connection has checked it, and counted any END)."""
        if data:
            if self._chunks is None:
                self._chunks = deque()
            self._chunks.append(data)
        _wake(self._recv_waiter)

    # --- response -----------------------------------------------------------

    async def send_response(self, status: int, headers: RawHeaders, body: bytes = b"", end: bool = True) -> None:
        if self.cancelled:
            raise StreamCancelled(self.cancel_code)
        # A wrongly typed element would make the frame malformed and cost the
        # whole connection, so it is refused here, for this stream only.  What
        # HTTP allows is checked above, by the interface (validation.py).
        if type(status) is not int:
            raise TypeError(f"status must be an int, not {type(status).__name__}")
        if type(body) is not bytes:
            _check_body(body)
        flat = headers.flat if type(headers) is PreparedHeaders else flatten(headers)
        sent = self._link.send_response(self, status, flat, body, end)
        if sent < len(body):
            await self._send_body(memoryview(body)[sent:], end)

    async def send_file(self, status: int, headers: RawHeaders, path: bytes) -> None:
        """The whole response is the file at the absolute ``path``: one RESPONSE with END|FILE.

        The frontend opens the file and sends it with sendfile (PROTOCOL.md,
        RESPONSE).
        """
        if self.cancelled:
            raise StreamCancelled(self.cancel_code)
        if type(status) is not int:
            raise TypeError(f"status must be an int, not {type(status).__name__}")
        if type(path) is not bytes or not path.startswith(b"/"):
            raise ValueError(f"send_file() needs an absolute path as bytes, not {path!r}")
        flat = headers.flat if type(headers) is PreparedHeaders else flatten(headers)
        self._link.send_file(self, status, flat, path)

    async def send_data(self, data: bytes, end: bool = False) -> None:
        if self.cancelled:
            raise StreamCancelled(self.cancel_code)
        _check_body(data)
        sent = self._link.send_data(self, data, end)
        if sent < len(data):
            await self._send_body(memoryview(data)[sent:], end)

    async def _send_body(self, view: memoryview, end: bool) -> None:
        """The rest of a body, sent as the window and the transport allow, waiting while they do not."""
        link = self._link
        pos = 0
        while True:
            if self.cancelled:
                raise StreamCancelled(self.cancel_code)
            pos += link.send_data(self, view[pos:], end)
            if pos >= len(view):
                return
            self._send_waiter = asyncio.get_running_loop().create_future()
            try:
                await self._send_waiter
            finally:
                self._send_waiter = None

    def window_opened(self) -> None:
        """The frontend granted window, or the transport has room again: a waiting send goes on."""
        _wake(self._send_waiter)

    # --- waiting and cancellation ------------------------------------------

    async def wait_cancelled(self) -> int:
        if self.cancelled:
            return self.cancel_code
        if self._cancel_waiter is None:
            self._cancel_waiter = asyncio.get_running_loop().create_future()
        return await asyncio.shield(self._cancel_waiter)

    def cancel(self, code: int) -> None:
        """Stop work on the stream: its Task is cancelled (unless spare_task and the client left), every wait
        ends, and nothing more is sent on it."""
        if self.cancelled:
            return
        self.cancelled = True
        self.cancel_code = code
        if self.task is not None and not (self.spare_task and code == CANCEL_CLIENT_GONE):
            self.task.cancel()
        # Waiters that are not in the app's Task (an adapter's other task or
        # thread) are woken and see ``cancelled`` at the top of their loops.
        _wake(self._recv_waiter)
        _wake(self._send_waiter)
        if self._ws is not None:
            _wake(self._ws.waiter)
        if self._cancel_waiter is not None and not self._cancel_waiter.done():
            self._cancel_waiter.set_result(code)


    # --- WebSocket (PROTOCOL.md section 8) -------------------------------------

    def _inbox(self) -> _WsInbox:
        if self._ws is None:
            self._ws = _WsInbox()
        return self._ws

    async def ws_accept(self, subprotocol: str = "", headers: RawHeaders = ()) -> None:
        if self.cancelled:
            raise StreamCancelled(self.cancel_code)
        if type(subprotocol) is not str:
            raise TypeError(f"subprotocol must be a str, not {type(subprotocol).__name__}")
        if subprotocol and subprotocol not in offered_subprotocols(self.head.headers):
            # RFC 6455 section 4.2.2: the server selects one of the client's values, and a client given
            # another fails the connection; said here, where the app chose it (wsproto raises the same).
            raise ValueError(f"the client did not offer the subprotocol {subprotocol!r} "
                             f"(it offered {offered_subprotocols(self.head.headers)})")
        flat = headers.flat if type(headers) is PreparedHeaders else flatten(headers)
        self._link.ws_accept(self, subprotocol, flat)

    def ws_feed(self, kind: int, data: bytes, end: bool) -> None:
        """A message part from the frontend.  The parts of an unfinished message are granted back at once:
        the application gets messages whole, and the frontend bounds their size."""
        inbox = self._inbox()
        if not end:
            inbox.partial += data
            self._link.ws_consumed(self, len(data))
            return
        whole = bytes(inbox.partial) + data if inbox.partial else data
        inbox.partial = bytearray()
        inbox.messages.append((kind, whole, len(data)))
        _wake(inbox.waiter)

    def ws_closed(self, code: int, reason: bytes) -> None:
        """The frontend's WS_CLOSE: the client closed (or its connection ended)."""
        inbox = self._inbox()
        inbox.close = (code, reason)
        _wake(inbox.waiter)

    async def ws_receive(self) -> WsEvent:
        inbox = self._inbox()
        while True:
            if inbox.messages:
                kind, data, ungranted = inbox.messages.popleft()
                if ungranted and inbox.close is None and not self.cancelled:
                    self._link.ws_consumed(self, ungranted)
                return ("message", kind, data)
            if inbox.close is not None:
                return ("close", inbox.close[0], inbox.close[1])
            if self.cancelled:
                return ("close", WS_ABNORMAL, b"")
            inbox.waiter = asyncio.get_running_loop().create_future()
            try:
                await inbox.waiter
            finally:
                inbox.waiter = None

    def _ws_gone(self) -> WebSocketDisconnect:
        close = self._inbox().close
        if close is not None:
            return WebSocketDisconnect(close[0], close[1].decode("utf-8", "replace"))
        return WebSocketDisconnect(WS_ABNORMAL if self.cancelled else 1000)

    async def ws_send(self, kind: int, data: bytes) -> None:
        _check_body(data)
        inbox = self._inbox()
        async with inbox.send_lock:
            view = memoryview(data)
            pos = 0
            while True:
                if self.cancelled:
                    raise self._ws_gone()
                try:
                    pos += self._link.ws_send(self, kind, view[pos:])
                except RuntimeError:
                    raise self._ws_gone() from None
                if pos >= len(view):
                    return
                self._send_waiter = asyncio.get_running_loop().create_future()
                try:
                    await self._send_waiter
                finally:
                    self._send_waiter = None

    async def ws_close(self, code: int = 1000, reason: str = "") -> None:
        if type(code) is not int or not 0 <= code <= 4999:
            raise ValueError(f"close code must be an int up to 4999, not {code!r}")
        raw = reason.encode("utf-8")
        if len(raw) > 123:
            raw = raw[:123].decode("utf-8", "ignore").encode("utf-8")
        if not self.cancelled:
            self._link.ws_close(self, code, raw)


def _wake(waiter: Optional[asyncio.Future[None]]) -> None:
    if waiter is not None and not waiter.done():
        waiter.set_result(None)


def _check_body(body: Any) -> None:
    if type(body) is not bytes and not isinstance(body, (bytearray, memoryview)):
        raise TypeError(f"a body must be bytes, not {type(body).__name__}")
