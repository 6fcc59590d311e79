"""One stream (one HTTP request and its response) as the application sees it.

Stream states, exactly the table of PROTOCOL.md section 3 seen from the backend.
"Req" is the request body direction (frontend to backend), "resp" the response
direction; each direction is open until a frame with END passes in it, and CANCEL
either way closes both at once::

    state               event       next state
    OPEN                REQ_END     HALF_CLOSED_REQ
    OPEN                RESP_END    HALF_CLOSED_RESP
    HALF_CLOSED_REQ     RESP_END    CLOSED
    HALF_CLOSED_RESP    REQ_END     CLOSED
    any                 CANCEL      CLOSED

Frames the frontend may send in each state (anything else on a known stream is a
stream error answered with CANCEL(INTERNAL); frames for forgotten streams are
ignored by the channel)::

    OPEN                DATA, WINDOW, CANCEL
    HALF_CLOSED_REQ     WINDOW, CANCEL
    HALF_CLOSED_RESP    DATA, CANCEL        (WINDOW is ignored: nothing left to send)

Flow control (section 4): ``send_window`` starts at the frontend's
``initial_window`` and each body byte sent is taken from it; a send that finds it
at 0 waits for WINDOW.  Request body bytes are taken from ``recv_window`` (our
``initial_window``); what the application has read is granted back with WINDOW
once at least half the initial window has been consumed.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import TYPE_CHECKING, Any, Optional

from . import protocol
from .protocol import END, FILE, HEADER_SIZE, data_frame, response_frame, window_frame
from .types import PreparedHeaders, RawHeaders, StreamCancelled
from .validation import flatten

if TYPE_CHECKING:
    from .channel import Channel

OPEN = "OPEN"
HALF_CLOSED_REQ = "HALF_CLOSED_REQ"
HALF_CLOSED_RESP = "HALF_CLOSED_RESP"
CLOSED = "CLOSED"

REQ_END = "REQ_END"
RESP_END = "RESP_END"

TRANSITIONS: dict[tuple[str, str], str] = {
    (OPEN, REQ_END): HALF_CLOSED_REQ,
    (OPEN, RESP_END): HALF_CLOSED_RESP,
    (HALF_CLOSED_REQ, RESP_END): CLOSED,
    (HALF_CLOSED_RESP, REQ_END): CLOSED,
}

# States in which the frontend may still send request body.
REQ_BODY_STATES = frozenset({OPEN, HALF_CLOSED_RESP})
# States in which we may still send response body.
RESP_BODY_STATES = frozenset({OPEN, HALF_CLOSED_REQ})

# The pseudo cancel code streams get when the connection itself is lost.
CONNECTION_LOST = -1

# Bytes a DATA frame spends besides its data: array header, type, stream id (at
# most 5 bytes), flags, bin header (at most 5 bytes).
DATA_OVERHEAD = 16
# A bin header grows by at most 3 bytes from the empty body the RESPONSE head is
# measured with.
BIN_GROWTH = 3


class ChannelStream:
    """The channel's implementation of ``types.Stream``."""

    __slots__ = (
        "id", "head", "state", "cancelled", "cancel_code", "response_started", "task", "finished",
        "send_window", "recv_window", "_channel", "_chunks", "_unacked", "_recv_waiter", "_send_waiter",
        "_cancel_waiter",
    )

    def __init__(self, channel: "Channel", head: protocol.Request) -> None:
        self.id = head.stream_id
        self.head = head
        self._channel = channel
        self.state = HALF_CLOSED_REQ if head.flags & END else OPEN
        self.cancelled = False
        self.cancel_code = 0
        self.response_started = False
        self.task: Optional[asyncio.Task[Any]] = None
        self.finished = False  # the app callable has returned or raised
        self.send_window = channel.peer_window
        self.recv_window = channel.initial_window - len(head.body)
        # Request body chunks not yet read; a deque only once there is more than
        # the REQUEST's own body (most requests never need one).
        self._chunks: Optional[deque[bytes]] = None
        if head.body:
            self._chunks = deque((head.body,))
        self._unacked = 0
        # A reader waiting for body bytes and a writer waiting for window may wait
        # at the same time (an adapter may read and write from two tasks).
        self._recv_waiter: Optional[asyncio.Future[None]] = None
        self._send_waiter: Optional[asyncio.Future[None]] = None
        self._cancel_waiter: Optional[asyncio.Future[int]] = None

    def __repr__(self) -> str:
        return f"<ChannelStream {self.id} {self.state}{' cancelled' if self.cancelled else ''}>"

    @property
    def response_ended(self) -> bool:
        return self.state not in RESP_BODY_STATES

    @property
    def request_ended(self) -> bool:
        return self.state not in REQ_BODY_STATES

    def event(self, event: str) -> None:
        """Apply a state transition from TRANSITIONS."""
        self.state = TRANSITIONS[(self.state, event)]

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
                    self._consumed(len(chunk))
                return chunk, more
            if self.state not in REQ_BODY_STATES:
                return b"", False
            self._recv_waiter = self._channel.loop.create_future()
            try:
                await self._recv_waiter
            finally:
                self._recv_waiter = None

    def _consumed(self, n: int) -> None:
        self._unacked += n
        if self._unacked >= self._channel.grant_threshold and self.state in REQ_BODY_STATES:
            self.recv_window += self._unacked
            self._channel.write_frame(window_frame(self.id, self._unacked))
            self._unacked = 0

    def feed_data(self, frame: protocol.Data) -> None:
        """A DATA frame from the frontend (the channel checked the state)."""
        data = frame.data
        if data:
            self.recv_window -= len(data)
            if self._chunks is None:
                self._chunks = deque()
            self._chunks.append(data)
        if frame.flags & END:
            self.event(REQ_END)
        _wake(self._recv_waiter)

    # --- response -----------------------------------------------------------

    async def send_response(self, status: int, headers: RawHeaders, body: bytes = b"", end: bool = True) -> None:
        if self.cancelled:
            raise StreamCancelled(self.cancel_code)
        if self.response_started:
            raise RuntimeError(f"stream {self.id}: response already started")
        # A wrongly typed element would make the frame malformed and cost the
        # whole connection, so it is refused here, for this stream only.  What
        # HTTP allows is checked above, by the interface (validation.py).
        if type(status) is not int:
            raise TypeError(f"status must be an int, not {type(status).__name__}")
        if type(body) is not bytes:
            _check_body(body)
        flat = headers.flat if type(headers) is PreparedHeaders else flatten(headers)
        self.response_started = True
        channel = self._channel
        n = len(body)
        if n <= self.send_window and n < channel.peer_max_frame:
            # The common case: the whole response in one frame, no await.
            frame = response_frame(self.id, END if end else 0, status, flat, body)
            if len(frame) - HEADER_SIZE <= channel.peer_max_frame:
                self.send_window -= n
                if end:
                    self.state = TRANSITIONS[(self.state, RESP_END)]
                channel.write_frame(frame)
                return
        head = len(response_frame(self.id, 0, status, flat, b"")) - HEADER_SIZE
        room = channel.peer_max_frame - head - BIN_GROWTH
        if room < 0:
            raise ValueError(f"response headers ({head} bytes) do not fit in one frame")
        first = min(n, room, self.send_window)
        if end and first == n:
            self.event(RESP_END)
            channel.write_frame(response_frame(self.id, END, status, flat, body))
            self.send_window -= n
            return
        view = memoryview(body)
        channel.write_frame(response_frame(self.id, 0, status, flat, view[:first]))
        self.send_window -= first
        await self._send_body(view[first:], end)

    async def send_file(self, status: int, headers: RawHeaders, path: bytes) -> None:
        """The whole response is the file at the absolute ``path``: one RESPONSE with END|FILE.

        The frontend opens the file and sends it with sendfile (PROTOCOL.md,
        RESPONSE); the path's bytes do not count against the window.
        """
        if self.cancelled:
            raise StreamCancelled(self.cancel_code)
        if self.response_started:
            raise RuntimeError(f"stream {self.id}: response already started")
        if type(status) is not int:
            raise TypeError(f"status must be an int, not {type(status).__name__}")
        if type(path) is not bytes or not path.startswith(b"/"):
            raise ValueError(f"send_file() needs an absolute path as bytes, not {path!r}")
        flat = headers.flat if type(headers) is PreparedHeaders else flatten(headers)
        frame = response_frame(self.id, END | FILE, status, flat, path)
        if len(frame) - HEADER_SIZE > self._channel.peer_max_frame:
            raise ValueError(f"file response head ({len(frame) - HEADER_SIZE} bytes) does not fit in one frame")
        self.response_started = True
        self.event(RESP_END)
        self._channel.write_frame(frame)

    async def send_data(self, data: bytes, end: bool = False) -> None:
        if self.cancelled:
            raise StreamCancelled(self.cancel_code)
        if not self.response_started:
            raise RuntimeError(f"stream {self.id}: send_data() before send_response()")
        if self.state not in RESP_BODY_STATES:
            raise RuntimeError(f"stream {self.id}: response already ended")
        _check_body(data)
        if end and len(data) <= self.send_window and len(data) <= self._channel.peer_max_frame - DATA_OVERHEAD:
            self.send_window -= len(data)
            self.event(RESP_END)
            self._channel.write_frame(data_frame(self.id, END, data))
            return
        await self._send_body(memoryview(data), end)

    async def _send_body(self, view: memoryview, end: bool) -> None:
        channel = self._channel
        max_chunk = channel.peer_max_frame - DATA_OVERHEAD
        pos = 0
        n = len(view)
        while pos < n:
            if self.cancelled:
                raise StreamCancelled(self.cancel_code)
            if channel.writing_paused:
                await channel.wait_writable()
                continue
            window = self.send_window
            if window <= 0:
                self._send_waiter = channel.loop.create_future()
                try:
                    await self._send_waiter
                finally:
                    self._send_waiter = None
                continue
            k = min(n - pos, window, max_chunk)
            last = end and pos + k == n
            self.send_window = window - k
            if last:
                self.event(RESP_END)
            channel.write_frame(data_frame(self.id, END if last else 0, view[pos:pos + k]))
            pos += k
        if end and self.state in RESP_BODY_STATES:
            # Only reached for an empty body: END goes in an empty DATA frame.
            self.event(RESP_END)
            channel.write_frame(data_frame(self.id, END, b""))

    def add_window(self, increment: int) -> None:
        """WINDOW from the frontend."""
        self.send_window += increment
        _wake(self._send_waiter)

    # --- waiting and cancellation ------------------------------------------

    async def wait_cancelled(self) -> int:
        if self.cancelled:
            return self.cancel_code
        if self._cancel_waiter is None:
            self._cancel_waiter = self._channel.loop.create_future()
        return await asyncio.shield(self._cancel_waiter)

    def cancel(self, code: int) -> None:
        """Stop work on the stream; nothing more is sent on it."""
        if self.cancelled:
            return
        self.cancelled = True
        self.cancel_code = code
        self.state = CLOSED
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
