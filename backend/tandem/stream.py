"""One stream (one HTTP request and its response) as the application sees it.

Owns the application's side of a stream, ``types.Stream``: the request body
chunks not yet read, a reader waiting for body and a writer waiting for
window, and cancellation (the Task running the application, the waits of
``wait_cancelled()``).  The rules (states, windows, frame sizes, which frame
goes when) are the connection's: a ``ChannelStream`` is its stream's
``connection.StreamState``, whose fields it only reads, and it asks the
connection for frames only through ``StreamLink``.  Its owner tells it what
arrived with ``feed()``, ``window_opened()`` and ``cancel()``.

Calls ``connection`` (the record it extends and the state names), ``types``,
``validation`` (the wire form of headers) and ``protocol`` for types only;
never the channel.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Any, Optional, Protocol, Sequence

from .connection import REQ_BODY_STATES, RESP_BODY_STATES, StreamState
from .protocol import Body, Request
from .types import PreparedHeaders, RawHeaders, StreamCancelled
from .validation import flatten


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


class ChannelStream(StreamState):
    """The channel's implementation of ``types.Stream``."""

    # new_task: the Task the channel made for an app call that waits, until it
    # starts and becomes ``task`` (set only then, never read before).
    __slots__ = ("cancelled", "cancel_code", "task", "new_task", "_link", "_chunks", "_recv_waiter", "_send_waiter",
                 "_cancel_waiter")

    def __init__(self, link: StreamLink, head: Request) -> None:
        # StreamState.__init__'s two fields, set here without calling it: this
        # runs for every request.
        self.id = head.stream_id
        self.head = head
        self._link = link
        self.cancelled = False
        self.cancel_code = 0
        self.task: Optional[asyncio.Task[Any]] = None
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
        """Stop work on the stream: its Task is cancelled, every wait ends, and nothing more is sent on it."""
        if self.cancelled:
            return
        self.cancelled = True
        self.cancel_code = code
        if self.task is not None:
            self.task.cancel()
        # Waiters that are not in the app's Task (an adapter's other task or
        # thread) are woken and see ``cancelled`` at the top of their loops.
        _wake(self._recv_waiter)
        _wake(self._send_waiter)
        if self._cancel_waiter is not None and not self._cancel_waiter.done():
            self._cancel_waiter.set_result(code)


def _wake(waiter: Optional[asyncio.Future[None]]) -> None:
    if waiter is not None and not waiter.done():
        waiter.set_result(None)


def _check_body(body: Any) -> None:
    if type(body) is not bytes and not isinstance(body, (bytearray, memoryview)):
        raise TypeError(f"a body must be bytes, not {type(body).__name__}")
