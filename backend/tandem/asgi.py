"""ASGI applications on tandem streams: ``ASGIAdapter`` is the one app shape of
``types.py`` wrapped around an ASGI 3 application (ASGI 2 ones first go through
``ASGI2Middleware``, as uvicorn does).

For each stream the adapter builds the HTTP ``scope`` (ASGI 3.0, HTTP spec 2.4)
from the REQUEST head and calls the application with a ``receive`` and a
``send`` that speak to the stream:

``receive()``
    ``http.request`` messages as the body streams in (``more_body`` true until
    the last), then ``http.disconnect`` once the stream is cancelled (client
    gone, timeout) or the response is complete.  A ``receive()`` after the whole
    body waits for one of those two.  A client that leaves does not cancel the
    application's Task (``tandem_client_gone_cancels``: as uvicorn, the call goes
    on to its end); a stream cancelled otherwise (the frontend's timeout, a stop)
    cancels it, and if the application's own Task is waiting in ``receive()``
    then, the cancellation is taken back and ``http.disconnect`` returned;
    anywhere else it reaches the app as ``asyncio.CancelledError``.

``send()``
    ``http.response.start`` is checked (``validation.py``: status an int in
    200..599, header names HTTP tokens, values without control characters but
    HTAB; names lowercased) and held back
    until the first body message, so a response given as one start and one
    final body leaves as ONE RESPONSE frame with END.  Later bodies are DATA
    frames; every send waits while the frontend's window is closed.
    ``http.response.pathsend`` (the ``path`` of a file) becomes RESPONSE with
    END|FILE: the frontend sends the file with sendfile.  Messages out of order
    or of unknown type, and invalid starts, raise RuntimeError/TypeError into
    the application's ``send()``; a send once the client has gone raises
    ``ClientDisconnected``, an OSError (spec 2.4, as uvicorn 0.27 raises).

WebSockets (a REQUEST with WEBSOCKET, PROTOCOL.md section 8) get the
``websocket`` scope (spec 2.4, with the ``websocket.http.response`` extension)
and ``WebSocketCycle``: ``websocket.connect`` first, then
``websocket.receive`` per whole message and ``websocket.disconnect`` with the
client's close code; ``websocket.accept`` (subprotocol, headers),
``websocket.send``, ``websocket.close`` (before accepting: a 403), and
``websocket.http.response.start``/``body`` to answer with an HTTP response
instead.  A send on a closed WebSocket raises ``types.WebSocketDisconnect``, an
OSError, as the spec asks.

Outcomes, as uvicorn: an exception before anything was sent, or an application
that returns with a start but no body, gets a plain 500; an exception or a
return in the middle of a response cancels the stream (CANCEL(INTERNAL): the
frontend closes the client connection).  The channel does both and logs why.

ASGI applications need a real Task from their first line (anyio and starlette
call ``asyncio.current_task()``), so the adapter turns the channel's inline fast
path off (``tandem_fast_path = False``).

Calls ``validation`` (the status and header rules of every interface),
``types`` and ``asgi_types``.
"""

from __future__ import annotations

import asyncio
import logging
import os
from typing import Any, Optional

from . import validation
from .validation import MAX_STATUS, MIN_STATUS
from .asgi_types import ASGI2Application, ASGIApplication, Message, Receive, Scope, Send
from .protocol import WEBSOCKET, WS_BINARY, WS_TEXT
from .types import (Header, PreparedHeaders, RawHeaders, StreamCancelled, Stream, WebSocketDisconnect, describe,
                    offered_subprotocols, prepared)

logger = logging.getLogger("tandem.asgi")

ASGI_VERSION = "3.0"
HTTP_SPEC_VERSION = "2.4"     # 2.4: send() raises an OSError once the client has gone
PATHSEND = "http.response.pathsend"
# tandem's own extension (ASGI: a server advertises what it supports in
# scope["extensions"], keyed by name): {"request_id": the request's id}.
TANDEM_EXTENSION = "tandem"
WS_SPEC_VERSION = "2.4"
WS_HTTP_RESPONSE = "websocket.http.response"


CLIENT_GONE = "the client has gone"


class ClientDisconnected(OSError):
    """Raised by an HTTP ``send()`` once the client has gone (ASGI HTTP spec 2.4, as uvicorn 0.27 raises its
    ClientDisconnect): an app that sends without watching for ``http.disconnect`` stops there."""


class ASGI2Middleware:
    """An ASGI 2 application (``app(scope)`` -> ``instance(receive, send)``) as an ASGI 3 one."""

    __slots__ = ("app",)

    def __init__(self, app: ASGI2Application) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        instance = self.app(scope)
        await instance(receive, send)


class ASGIAdapter:
    """An ASGI 3 application as a tandem app (``async def __call__(stream)``).

    ``state`` is the lifespan state (``lifespan.py`` fills it in at startup);
    each request's scope gets a shallow copy.  ``root_path`` is the URL prefix
    the application is mounted at (``--root-path``), the scope's ``root_path``
    on every request.  A proxy in front may strip it or not: a path under it
    (``/api/items`` for ``/api``) reaches the application without it, as WSGI's
    PATH_INFO does, and any other path reaches it unchanged, so the URL the
    client used is always ``root_path + path`` (the HTTP spec 2.3 convention
    starlette and uvicorn 0.x before 0.26 follow).  ``raw_path`` stays the path
    the client sent.
    """

    tandem_fast_path = False
    # A client that leaves does not cancel the application's call: as uvicorn runs it, it goes on to its end,
    # receive() returns http.disconnect and send() raises ClientDisconnected (the spec has no cancellation).
    tandem_client_gone_cancels = False

    def __init__(self, app: ASGIApplication, root_path: str = "", state: Optional[dict[str, Any]] = None,
                 interface: str = "asgi3") -> None:
        self.app: Any = app
        self.root_path = root_path.rstrip("/")
        self.state: dict[str, Any] = {} if state is None else state
        self.interface = interface

    def __repr__(self) -> str:
        return f"<ASGIAdapter {self.interface} {self.app!r}>"

    def scope(self, stream: Stream) -> Scope:
        head = stream.head
        # Bytes of the path that are not UTF-8 become U+FFFD, as uvicorn decodes them: a lone surrogate
        # (the native API's surrogateescape) would make every str.encode() of the path in the app fail.
        path = head.path.decode("utf-8", "replace")
        root = self.root_path
        if root and path.startswith(root) and (len(path) == len(root) or path[len(root)] == "/"):
            path = path[len(root):]
        target = head.target
        if target[:1] == b"/":      # origin-form, nearly every request: raw_path() inline
            i = target.find(b"?")
            raw = target if i < 0 else target[:i]
        else:
            raw = raw_path(target)
        return {
            "type": "http",
            "asgi": {"version": ASGI_VERSION, "spec_version": HTTP_SPEC_VERSION},
            "http_version": head.http_version,
            "method": head.method,
            "scheme": head.scheme,
            "path": path,
            "raw_path": raw,
            "query_string": head.query,
            "root_path": self.root_path,
            "headers": head.headers,
            "client": head.client,
            "server": head.server,
            "state": self.state.copy(),
            "extensions": {PATHSEND: {}, TANDEM_EXTENSION: {"request_id": head.request_id}},
        }

    def websocket_scope(self, stream: Stream) -> Scope:
        scope = self.scope(stream)
        del scope["method"]
        protocols = offered_subprotocols(stream.head.headers)
        scope.update(type="websocket", scheme="wss" if stream.head.scheme == "https" else "ws",
                     asgi={"version": ASGI_VERSION, "spec_version": WS_SPEC_VERSION}, subprotocols=protocols,
                     extensions={WS_HTTP_RESPONSE: {}})
        return scope

    async def __call__(self, stream: Stream) -> None:
        if stream.head.flags & WEBSOCKET:
            ws = WebSocketCycle(stream)
            result = await self.app(self.websocket_scope(stream), ws.receive, ws.send)
            if result is not None:
                logger.error("stream %d: the ASGI application returned %r; it should return None", stream.id, result)
            return
        cycle = RequestResponseCycle(stream)
        try:
            result = await self.app(self.scope(stream), cycle.receive, cycle.send)
        finally:
            cycle.close()
        cycle.finish(result)


class RequestResponseCycle:
    """``receive`` and ``send`` of one request, and what the response has done so far."""

    __slots__ = ("stream", "task", "status", "headers", "sent", "complete", "body_done", "_idle", "_watcher")

    def __init__(self, stream: Stream) -> None:
        self.stream = stream
        # The Task the channel runs the application in: the one it cancels
        # (the channel's streams know it already, which spares a lookup).
        self.task = getattr(stream, "task", None) or asyncio.current_task()
        self.status: Optional[int] = None  # set by http.response.start
        self.headers: RawHeaders = ()
        self.sent = False       # RESPONSE has gone to the stream
        self.complete = False   # the response has ended
        self.body_done = False  # receive() has returned the last body chunk
        self._idle: list[asyncio.Future[None]] = []  # receive() calls waiting for disconnect
        self._watcher: Optional[asyncio.Task[Any]] = None

    # --- receive ------------------------------------------------------------------

    async def receive(self) -> Message:
        stream = self.stream
        if self.complete or stream.cancelled:
            return {"type": "http.disconnect"}
        if not self.body_done:
            try:
                body, more = await stream.receive()
            except StreamCancelled:
                return {"type": "http.disconnect"}
            except asyncio.CancelledError:
                if self._take_back_cancel():
                    return {"type": "http.disconnect"}
                raise
            if not more:
                self.body_done = True
            return {"type": "http.request", "body": body, "more_body": more}
        # The whole body has been read: nothing more comes until the client goes
        # away or the response is complete.
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[None] = loop.create_future()
        self._idle.append(waiter)
        spare = getattr(stream, "spare_task", False)
        if (asyncio.current_task() is not self.task or spare) and self._watcher is None:
            # Another task of the app's is waiting, or the client's leaving does not cancel the app's
            # own Task: this one is woken by a watcher.
            self._watcher = loop.create_task(self._watch())
        try:
            await waiter
        except asyncio.CancelledError:
            if not self._take_back_cancel():
                raise
        finally:
            self._idle.remove(waiter)
        return {"type": "http.disconnect"}

    def _take_back_cancel(self) -> bool:
        """True if the CancelledError just caught is the channel's cancelling of the stream."""
        task = asyncio.current_task()
        if self.stream.cancelled and task is not None and task is self.task:
            task.uncancel()
            return True
        return False

    async def _watch(self) -> None:
        await self.stream.wait_cancelled()
        self._wake_idle()

    def _wake_idle(self) -> None:
        for waiter in self._idle:
            if not waiter.done():
                waiter.set_result(None)

    # --- send ---------------------------------------------------------------------

    async def send(self, message: Message) -> None:
        stream = self.stream
        if stream.cancelled:
            raise ClientDisconnected(CLIENT_GONE)
        kind = message["type"]
        if self.status is None:
            if kind != "http.response.start":
                raise RuntimeError(f"Expected ASGI message 'http.response.start', but got {kind!r}")
            self.headers = check_headers(message.get("headers", ()))
            status = message["status"]
            self.status = status if type(status) is int and MIN_STATUS <= status <= MAX_STATUS else check_status(status)
            return
        if self.complete:
            raise RuntimeError(f"Unexpected ASGI message {kind!r} sent, after the response was complete")
        try:
            if kind == "http.response.body":
                body = message.get("body", b"")
                if type(body) is not bytes:
                    body = check_body(body)
                more = bool(message.get("more_body", False))
                if not self.sent:
                    self.sent = True
                    await stream.send_response(self.status, self.headers, body, not more)
                elif body or not more:
                    await stream.send_data(body, not more)
                if not more:
                    self._completed()
                return
            if kind == PATHSEND and not self.sent:
                path = message["path"]
                if not isinstance(path, (str, os.PathLike)):
                    raise TypeError(f"http.response.pathsend: path must be a str, not {type(path).__name__}")
                self.sent = True
                await stream.send_file(self.status, self.headers, os.fsencode(os.path.abspath(path)))
                self._completed()
                return
        except StreamCancelled:
            raise ClientDisconnected(CLIENT_GONE) from None    # gone while the send waited for the window
        raise RuntimeError(f"Expected ASGI message 'http.response.body', but got {kind!r}")

    def _completed(self) -> None:
        self.complete = True
        self._wake_idle()

    # --- end of the application call -------------------------------------------------

    def close(self) -> None:
        if self._watcher is not None:
            self._watcher.cancel()

    def finish(self, result: Any) -> None:
        """The application returned ``result``: raise if the response is left unfinished.

        The channel answers 500 for an application that returned without
        starting a response; a raise here gets a 500 too if nothing was sent
        yet, else the stream is cancelled (uvicorn closes the connection).
        """
        if result is not None:
            logger.error("%s: the ASGI application returned %r; it should return None",
                         describe(self.stream), result)
        if self.complete or self.stream.cancelled or self.status is None:
            return
        raise RuntimeError("the ASGI application returned without completing the response"
                           + ("" if self.sent else " (it sent http.response.start, but no body)"))


class WebSocketCycle:
    """``receive`` and ``send`` of one WebSocket (ASGI WebSocket spec 2.4)."""

    __slots__ = ("stream", "connected", "accepted", "closed", "status", "headers", "responded", "disconnect")

    def __init__(self, stream: Stream) -> None:
        self.stream = stream
        self.connected = False   # websocket.connect was received
        self.accepted = False
        self.closed = False      # the app sent websocket.close
        self.status: Optional[int] = None  # websocket.http.response.start
        self.headers: RawHeaders = ()
        self.responded = False   # the denial's RESPONSE went out
        self.disconnect: Optional[Message] = None

    async def receive(self) -> Message:
        if not self.connected:
            self.connected = True
            return {"type": "websocket.connect"}
        if self.disconnect is None and (self.status is not None or (self.closed and not self.accepted)):
            self.disconnect = {"type": "websocket.disconnect", "code": 1000, "reason": ""}
        if self.disconnect is not None:
            return self.disconnect
        try:
            event, kind, data = await self.stream.ws_receive()
        except asyncio.CancelledError:
            # The channel cancels the app's Task when the stream ends without a close
            # (the backend's connection lost, a CANCEL): the app hears a disconnect,
            # 1006, as uvicorn says of a connection lost.
            task = asyncio.current_task()
            if not (self.stream.cancelled and task is not None and task is getattr(self.stream, "task", None)):
                raise
            task.uncancel()
            event, kind, data = "close", 1006, b""
        if event == "message":
            if kind == WS_TEXT:
                return {"type": "websocket.receive", "text": data.decode("utf-8")}
            return {"type": "websocket.receive", "bytes": data}
        self.disconnect = {"type": "websocket.disconnect", "code": kind, "reason": data.decode("utf-8", "replace")}
        return self.disconnect

    async def send(self, message: Message) -> None:
        kind = message["type"]
        stream = self.stream
        if not self.accepted and not self.closed and self.status is None:
            if kind == "websocket.accept":
                self.accepted = True
                await stream.ws_accept(message.get("subprotocol") or "", check_headers(message.get("headers", ())))
                return
            if kind == "websocket.close":
                self.closed = True
                await stream.ws_close(message.get("code") or 1000, message.get("reason") or "")
                return
            if kind == "websocket.http.response.start":
                self.headers = check_headers(message.get("headers", ()))
                self.status = check_status(message["status"])
                return
        elif self.accepted and not self.closed:
            if kind == "websocket.send":
                text = message.get("text")
                if text is not None:
                    await stream.ws_send(WS_TEXT, text.encode("utf-8"))
                else:
                    await stream.ws_send(WS_BINARY, check_body(message.get("bytes") or b""))
                return
            if kind == "websocket.close":
                self.closed = True
                await stream.ws_close(message.get("code") or 1000, message.get("reason") or "")
                return
        elif self.accepted and kind in ("websocket.send", "websocket.close"):
            raise WebSocketDisconnect(1000, "the application closed the WebSocket")
        elif self.status is not None and kind == "websocket.http.response.body" and not stream.response_ended:
            await self._response_body(message)
            return
        raise RuntimeError(f"Unexpected ASGI message {kind!r} in the WebSocket's state")

    async def _response_body(self, message: Message) -> None:
        """The body of a denial (websocket.http.response): the stream is an HTTP response from here on."""
        assert self.status is not None
        body = message.get("body", b"")
        if type(body) is not bytes:
            body = check_body(body)
        more = bool(message.get("more_body", False))
        if not self.responded:
            self.responded = True
            await self.stream.send_response(self.status, self.headers, body, not more)
        elif body or not more:
            await self.stream.send_data(body, not more)


def raw_path(target: bytes) -> bytes:
    """The path part of a request target as the client sent it (no query, not decoded)."""
    if target[:1] != b"/" and b"://" in target:
        # absolute-form (http://host/path?query): the path starts after the authority
        rest = target[target.index(b"://") + 3:]
        end = len(rest)
        for sep in (b"/", b"?", b"#"):
            i = rest.find(sep)
            if 0 <= i < end:
                end = i
        target = rest[end:]
        if target[:1] != b"/":
            return b"/"
    i = target.find(b"?")
    return target if i < 0 else target[:i]


# A misused ASGI send() raises RuntimeError, as uvicorn's does; the checks
# themselves are validation.py's, the same for every interface.


def check_status(status: Any) -> int:
    try:
        return validation.check_status(status)
    except TypeError as exc:
        raise TypeError(f"http.response.start: {exc}") from None
    except ValueError as exc:
        raise RuntimeError(f"http.response.start: {exc}") from None


def check_headers(headers: Any) -> PreparedHeaders:
    """ASGI response headers -> ``[(lowercase name, value), ...]`` in wire form; raises on anything invalid."""
    if type(headers) is not list and type(headers) is not tuple:
        headers = list(headers)
    try:
        return prepared(headers, lower=True)
    except TypeError:
        pass  # not all bytes: converted below, which says which is wrong
    except ValueError as exc:
        raise RuntimeError(f"http.response.start: {exc}") from None
    pairs: list[Header] = []
    for name, value in headers:
        if type(name) is not bytes:
            name = _as_bytes(name, "header name")
        if type(value) is not bytes:
            value = _as_bytes(value, "header value")
        pairs.append((name, value))
    try:
        return prepared(pairs, lower=True)
    except ValueError as exc:
        raise RuntimeError(f"http.response.start: {exc}") from None


def check_body(body: Any) -> bytes:
    return _as_bytes(body, "http.response.body: body")


def _as_bytes(value: Any, what: str) -> bytes:
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    raise TypeError(f"{what} must be bytes, not {type(value).__name__}: {value!r}")
