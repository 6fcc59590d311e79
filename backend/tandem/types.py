"""The one interface between the channel and every kind of application.

The channel (``channel.py``) calls exactly one shape of callable for every stream,
whatever the application is: the native ``App`` implements it directly, and
adapters for other interfaces (ASGI, WSGI) wrap themselves to it once at load
time, so the hot path has a single code path::

    async def app(stream: Stream) -> None

``stream.head`` is the decoded REQUEST frame (method, target, path, query,
http_version, headers, client, server, scheme, request_id; read the body with ``receive()``,
not from ``head.body``).  The app reads the request body with ``receive()``,
starts the response once with ``send_response()`` and continues it with
``send_data()``; the sends wait (do not return) while the frontend's flow-control
window is exhausted.  ``send_file()`` instead answers with a whole file that the
frontend sends itself (RESPONSE with END|FILE).

When the frontend cancels the stream (client gone, timeout) the Task running the
app is cancelled, so the app sees ``asyncio.CancelledError`` at its current
await; ``stream.cancelled`` becomes true, ``wait_cancelled()`` returns, and later
``receive``/``send_*`` calls raise ``StreamCancelled``.  Code that runs outside
the Task (a WSGI thread) can poll ``stream.cancelled``.

When the app returns, a response it left unfinished is ended with an empty
DATA(END), and a response it never started becomes a 500.  When it raises, the
client gets a 500 if no response was started, else the stream is cancelled
(CANCEL(INTERNAL)); either way the exception is logged and other streams go on.
All stream methods must be called on the event loop's thread (a WSGI adapter's
worker thread goes through ``asyncio.run_coroutine_threadsafe``).

An app callable may set the attribute ``tandem_fast_path = False`` to always run
in a Task; by default its first step runs inline (``asyncio.current_task()`` is
None until it first suspends; see ``channel.py``).

Calls ``validation`` (PreparedHeaders checks its headers), and ``protocol``
for types only; every other module may call it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Awaitable, Callable, Iterable, Iterator, Optional, Protocol, Sequence

from .validation import prepare

if TYPE_CHECKING:
    # Only for annotations: ``from tandem import App`` must work without msgpack.
    from .protocol import Request as RequestHead

Header = tuple[bytes, bytes]
RawHeaders = Sequence[Header]


class PreparedHeaders:
    """Response headers checked and put in wire form once, for headers sent on many responses.

    A sequence of ``(name, value)`` byte pairs like any ``RawHeaders``, checked
    by ``validation.prepare`` as it is made (a bad header raises TypeError or
    ValueError here; ``lower`` lowercases the names); ``length`` is the
    content-length they declare (None if none); ``flat`` is its wire form
    ``(name, value, ...)``, which the stream then sends as it is instead of
    checking and flattening the pairs on every response.
    """

    __slots__ = ("flat", "length")

    flat: Sequence[bytes]
    length: Optional[int]  # the content-length the headers declare, if any

    def __init__(self, headers: Iterable[Header], lower: bool = False) -> None:
        flat, self.length = prepare(headers, lower)
        self.flat = tuple(flat)

    def _pairs(self) -> list[Header]:
        flat = iter(self.flat)
        return list(zip(flat, flat))

    def __iter__(self) -> Iterator[Header]:
        return iter(self._pairs())

    def __len__(self) -> int:
        return len(self.flat) // 2

    def __getitem__(self, index: int) -> Header:
        return self._pairs()[index]

    def __eq__(self, other: object) -> bool:
        if isinstance(other, PreparedHeaders):
            return self.flat == other.flat
        try:
            return self._pairs() == list(other)  # type: ignore[call-overload]
        except TypeError:
            return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"PreparedHeaders({self._pairs()!r})"


_new_object = object.__new__


def prepared(headers: Iterable[Header], lower: bool = False) -> PreparedHeaders:
    """``PreparedHeaders(headers, lower)`` for one response: its ``flat`` is a list, and no
    ``__init__`` runs (a quarter of the cost of a response's two headers)."""
    self = _new_object(PreparedHeaders)
    self.flat, self.length = prepare(headers, lower)  # type: ignore[assignment]
    return self


class StreamCancelled(Exception):
    """The stream was cancelled (by the frontend, or the connection was lost)."""

    def __init__(self, code: int) -> None:
        super().__init__(f"stream cancelled (code {code})")
        self.code = code


# Wire values of PROTOCOL.md section 8, repeated here so that the app side of the
# package does not import the codec (msgpack); test_protocol checks they agree.
WEBSOCKET_FLAG = 0x4   # REQUEST flags: a WebSocket upgrade
WS_TEXT = 1
WS_BINARY = 2


class WebSocketDisconnect(OSError):
    """The WebSocket is closed: raised by a receive after the client's close, and by a send once either side
    has closed (an OSError, as ASGI servers raise for a send on a closed connection).  ``code`` is the close
    code (1006 if the connection ended without one), ``reason`` its text."""

    def __init__(self, code: int = 1000, reason: str = "") -> None:
        super().__init__(f"WebSocket closed (code {code}{': ' + reason if reason else ''})")
        self.code = code
        self.reason = reason


# What ``Stream.ws_receive()`` returns: ("message", kind, data) for a whole message (kind
# protocol.WS_TEXT or WS_BINARY), or ("close", code, reason) once the client has closed.
WsEvent = tuple[str, int, bytes]


class Stream(Protocol):
    """What the channel hands an application for one request."""

    @property
    def id(self) -> int: ...

    @property
    def head(self) -> RequestHead: ...

    @property
    def cancelled(self) -> bool: ...

    @property
    def response_started(self) -> bool: ...

    @property
    def response_ended(self) -> bool:
        """True once END went out (or the stream was cancelled)."""
        ...

    async def receive(self) -> tuple[bytes, bool]:
        """Next request body chunk and whether more may follow; ``(b"", False)`` at the end."""
        ...

    async def send_response(self, status: int, headers: RawHeaders, body: bytes = b"", end: bool = True) -> None:
        """Start the response (once).  ``end=False`` means ``send_data()`` calls follow."""
        ...

    async def send_file(self, status: int, headers: RawHeaders, path: bytes) -> None:
        """Start and end the response at once: its body is the file at the absolute
        ``path``, which the frontend sends itself (RESPONSE with END|FILE)."""
        ...

    async def send_data(self, data: bytes, end: bool = False) -> None:
        """More response body; ``end=True`` on the last call (``data`` may be empty)."""
        ...

    async def wait_cancelled(self) -> int:
        """Wait until the stream is cancelled; returns the CANCEL code."""
        ...

    # A stream whose ``head.flags`` has protocol.WEBSOCKET is a WebSocket upgrade (PROTOCOL.md section 8):
    # accept it with ws_accept(), or refuse it with send_response() (an HTTP answer) or ws_close() (403).

    async def ws_accept(self, subprotocol: str = "", headers: RawHeaders = ()) -> None:
        """Accept the upgrade, with an optional subprotocol and extra headers for the 101."""
        ...

    async def ws_receive(self) -> WsEvent:
        """The client's next whole message, or its close (then again on every later call)."""
        ...

    async def ws_send(self, kind: int, data: bytes) -> None:
        """Send one message (waits while the window is closed); WebSocketDisconnect once closed."""
        ...

    async def ws_close(self, code: int = 1000, reason: str = "") -> None:
        """Close the WebSocket (before ws_accept(): refuse it; the client gets 403)."""
        ...


AppCallable = Callable[[Stream], Awaitable[None]]


def offered_subprotocols(headers: Sequence[tuple[bytes, bytes]]) -> list[str]:
    """The WebSocket subprotocols a request's Sec-WebSocket-Protocol headers offer, in its order."""
    return [p.strip().decode("latin-1") for name, value in headers if name == b"sec-websocket-protocol"
            for p in value.split(b",") if p.strip()]


def describe(stream: Stream) -> str:
    """``GET /path (request id ID, stream N)``, for a log line about the stream's request: the
    path as the client sent it, without the query (which may hold secrets), cut at 200 bytes."""
    head = stream.head
    path = head.target.partition(b"?")[0][:200].decode("ascii", "backslashreplace")
    return f"{head.method} {path} (request id {head.request_id}, stream {head.stream_id})"

