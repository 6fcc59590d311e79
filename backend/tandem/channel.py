"""The backend side of one channel connection: the asyncio.BufferedProtocol around a ``connection.Connection``.

Owns the I/O and the application calls: it hands the bytes uvloop reads for it to
the sans-I/O ``Connection`` (which owns every rule of PROTOCOL.md sections
2-5), acts on the events that come back (one application call per REQUEST, in
the ``types.AppCallable`` shape), writes what the connection queues, and keeps
the clock (the grace period after its own drain).  Outcomes of a connection,
reported through ``Channel.closed`` (``connection.Outcome``):

* ``LOST``: the frontend closed the connection without a GOAWAY (it may be
  restarting; the server reconnects),
* ``DRAINED``: a GOAWAY(NO_ERROR) drain finished (either side asked for it;
  the server exits after its own drain and reconnects after the frontend's),
* ``SUPERSEDED``: drained after GOAWAY(SUPERSEDED) (the server exits),
* ``FAILED``: a connection error, a version mismatch or a refusal (the server
  exits non-zero; ``Channel.error`` says why).

Fast path: each REQUEST's app coroutine is started inline (its first step is
``coro.send(None)``, taken with ``next()`` so that returning raises nothing).
If it finishes without suspending, no Task is created at all; otherwise the
already-started coroutine is handed to a Task through ``_Resume``, which gives the
Task the future the coroutine is waiting on and forwards send/throw, so
cancellation works as with any Task.  One consequence: during that first inline
step ``asyncio.current_task()`` is None; an app that needs a Task from its very
first line (asyncio.timeout, TaskGroup, anyio) sets ``tandem_fast_path = False``.

Cancellation: a stream the frontend cancels has its app call's Task cancelled,
except, for an app that sets ``tandem_client_gone_cancels = False`` (ASGI), when
its client left: that call goes on to its end, its waits ended and its stream
marked cancelled (``ChannelStream.spare_task``).

Write batching: frames produced while handling one read (``buffer_updated``) go out in
one ``transport.writelines`` at its end; frames produced later (by Tasks) schedule one
flush with ``loop.call_soon``, so all frames of one loop iteration share a write.

Calls ``connection``, ``stream`` (to make each ChannelStream and tell it what
arrived) and the application through ``types``.
"""

from __future__ import annotations

import asyncio
import collections.abc
import logging
from types import CoroutineType
from typing import Any, Optional

from . import protocol
from .connection import (
    CLOSED, RESP_BODY_STATES, WAIT, Attached, BodyReceived, Connection, ConnectionFailed, DrainAsked, Event,
    HelloConfig, Outcome, StreamReset, StreamState, WindowOpened, WsCloseReceived, WsMessageReceived, WsState)
from .stream import ChannelStream
from .types import AppCallable, StreamCancelled, describe
from .validation import flatten

__all__ = ["Channel", "HelloConfig", "Outcome", "OWN_DRAIN_CLOSE_GRACE"]

logger = logging.getLogger("tandem.channel")

# Seconds a backend that sent its own GOAWAY waits, once its last stream has
# ended, for the frontend to close the connection before closing it itself.
OWN_DRAIN_CLOSE_GRACE = 2.0

# The pseudo cancel code streams get when the connection itself is lost.
CONNECTION_LOST = -1

# The close code of the WebSockets a stopping backend closes (RFC 6455's registry: service restart).
WS_SERVICE_RESTART = 1012

_ERROR_HEADERS = flatten([(b"content-type", b"text/plain; charset=utf-8")])
_ERROR_BODY = b"Internal Server Error"

_NOTHING: Any = object()
_DONE: Any = object()  # what the first step of an app call gives back when the call has returned


class _Resume(collections.abc.Coroutine):  # type: ignore[type-arg]
    """Continues in a Task a coroutine whose first step already ran.

    The Task's first ``send(None)`` gets back the value the coroutine yielded in
    that first step (the future it waits on); every later send/throw goes
    straight to the coroutine.  A throw before the first send (the Task was
    cancelled) reaches the coroutine at its await as usual.
    """

    __slots__ = ("_coro", "_first")

    def __init__(self, coro: Any, first: Any) -> None:
        self._coro = coro
        self._first = first

    def send(self, value: Any) -> Any:
        first = self._first
        if first is not _NOTHING:
            self._first = _NOTHING
            # The mark the channel cleared when the coroutine yielded (see
            # Channel._on_request) is set again, as the Task expects to find it.
            if getattr(first, "_asyncio_future_blocking", None) is False:
                first._asyncio_future_blocking = True
            return first
        return self._coro.send(value)

    def throw(self, exc: Any, *args: Any) -> Any:
        self._first = _NOTHING
        return self._coro.throw(exc, *args)

    def close(self) -> None:
        self._coro.close()

    def __await__(self) -> "_Resume":
        # Awaited by the call's Task: ``yield from`` drives this iterator with
        # send() and throw() (a generator here would turn the coroutine's
        # StopIteration into a RuntimeError).
        return self

    def __next__(self) -> Any:
        return self.send(None)

    def __repr__(self) -> str:
        return f"<resumed {self._coro!r}>"


class Channel(asyncio.BufferedProtocol):
    """One connection to the frontend."""

    def __init__(self, app: AppCallable, hello: HelloConfig, loop: asyncio.AbstractEventLoop) -> None:
        self.app = app
        self.hello = hello
        self.loop = loop
        self.fast_path = bool(getattr(app, "tandem_fast_path", True))
        # An app whose calls go on when their client leaves (ASGI, as uvicorn runs them): see ChannelStream.
        self.spare_tasks = not getattr(app, "tandem_client_gone_cancels", True)
        self.conn = Connection(hello, on_stream=self._on_request, on_event=self._on_event,
                               on_output=self._output_queued, new_stream=ChannelStream)
        self.transport: Any = None  # uvloop transports do not subclass asyncio.Transport
        self._close_grace: Optional[asyncio.TimerHandle] = None
        # Called once the frontend's HELLO is accepted: the backend is attached (Server.on_attached).
        self.on_attached: Optional[collections.abc.Callable[[], None]] = None
        self.error: Optional[str] = None
        self.closed: asyncio.Future[Outcome] = loop.create_future()
        self.tasks_created = 0  # streams that needed a Task (statistics, tests)
        self._outcome: Optional[Outcome] = None
        self._flush_scheduled = False

    # What the connection knows, for the server and the tests.

    @property
    def streams(self) -> dict[int, Any]:
        """The open streams by id: ChannelStreams whose application call has not ended."""
        return self.conn.streams

    @property
    def peer_hello(self) -> Optional[protocol.Hello]:
        return self.conn.peer_hello

    @property
    def peer_max_frame(self) -> int:
        return self.conn.peer_max_frame

    @property
    def superseded(self) -> bool:
        """The frontend has said GOAWAY(SUPERSEDED): a newer generation took over."""
        return self.conn.peer_goaway == protocol.SUPERSEDED

    # --- output ---------------------------------------------------------------

    def _output_queued(self) -> None:
        """The connection queued frames into an empty buffer outside a read: plan a write."""
        if not self._flush_scheduled:
            self._flush_scheduled = True
            self.loop.call_soon(self._flush)

    def _flush(self) -> None:
        self._flush_scheduled = False
        self._write(self.conn.data_to_send())

    # --- asyncio.BufferedProtocol ---------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        self.conn.start()
        self._flush()

    # The frontend's bytes are read straight into the connection's decoder
    # buffer: no bytes object for each read, nor a copy of it.

    def get_buffer(self, sizehint: int) -> memoryview:
        return self.conn.get_buffer(sizehint)

    def buffer_updated(self, nbytes: int) -> None:
        try:
            out = self.conn.buffer_updated(nbytes)  # calls _on_request and _on_event back
        except BaseException:
            self._flush()
            raise
        self._write(out)

    def data_received(self, data: bytes) -> None:
        """The same with bytes already read (tests feed a channel so)."""
        try:
            out = self.conn.receive_data(data)
        except BaseException:
            self._flush()
            raise
        self._write(out)

    def _write(self, out: list[bytes]) -> None:
        if out and self.transport is not None and not self.transport.is_closing():
            self.transport.writelines(out)

    def eof_received(self) -> Optional[bool]:
        return False  # close our side too

    # Transport flow control: above the transport's high-water mark no response
    # body is sent (Connection.send_data() sends nothing) until it is below the
    # low-water mark again; the streams waiting to send are then woken.  Both
    # calls are idempotent.

    def pause_writing(self) -> None:
        self.conn.writing_paused = True

    def resume_writing(self) -> None:
        if self.conn.writing_paused:
            self.conn.writing_paused = False
            for stream in list(self.conn.streams.values()):
                _stream(stream).window_opened()

    def connection_lost(self, exc: Optional[Exception]) -> None:
        self.transport = None
        if self._close_grace is not None:
            self._close_grace.cancel()
            self._close_grace = None
        if self._outcome is None:
            self._outcome = self.conn.outcome_if_closed()
            if self._outcome is Outcome.LOST and exc is not None:
                logger.warning("connection to the frontend lost: %s", exc)
        for stream in self.conn.close_all():
            _stream(stream).cancel(CONNECTION_LOST)
        if not self.closed.done():
            self.closed.set_result(self._outcome)

    # --- connection control ----------------------------------------------------

    def _close(self, outcome: Outcome) -> None:
        if self._outcome is None:
            self._outcome = outcome
        self.conn.close()
        self._flush()
        if self.transport is not None:
            self.transport.close()

    def drain(self, message: str = "backend shutting down") -> None:
        """Send GOAWAY(NO_ERROR), finish the open streams, then let the frontend close.

        A REQUEST the frontend sent before it read the GOAWAY is still served:
        nobody else would answer it.  The frontend sends no REQUEST after reading
        the GOAWAY and closes once its last stream is answered (PROTOCOL.md,
        GOAWAY), so the close is left to it; closing first would lose REQUESTs
        still on their way.  Only if it has not closed OWN_DRAIN_CLOSE_GRACE
        seconds after the last stream ended does the backend close.

        Open WebSockets would keep a stopping backend alive for as long as their
        clients stay: they are closed with 1012 (service restart, as uvicorn
        closes them on shutdown), and end once their clients answer.  (A backend
        superseded by a newer generation is drained by the frontend instead, and
        keeps its WebSockets until they close.)
        """
        if self._outcome is not None or self.transport is None:
            return
        self.conn.drain(message)
        for sid, ws in list(self.conn.ws.items()):
            if ws.accepted:
                self.conn.ws_close(self.conn.streams[sid], WS_SERVICE_RESTART, b"backend shutting down")
        self._maybe_finish_drain()

    def abort(self) -> None:
        """Close at once; open streams are cancelled."""
        self._close(Outcome.DRAINED if self._outcome is None else self._outcome)

    def _maybe_finish_drain(self) -> None:
        action = self.conn.when_idle()
        if action is None:
            return
        if action is WAIT:
            if self._close_grace is None:
                self._close_grace = self.loop.call_later(OWN_DRAIN_CLOSE_GRACE, self._close_grace_expired)
            return
        self._close(action)  # type: ignore[arg-type]

    def _close_grace_expired(self) -> None:
        self._close_grace = None
        if self._outcome is None and not self.conn.streams:
            logger.warning("the frontend did not close the drained connection within %gs; closing it",
                           OWN_DRAIN_CLOSE_GRACE)
            self._close(Outcome.DRAINED)

    # --- events ---------------------------------------------------------------

    def _on_event(self, event: Event) -> None:
        if isinstance(event, BodyReceived):
            _stream(event.stream).feed(event.data)
        elif isinstance(event, WsMessageReceived):
            _stream(event.stream).ws_feed(event.kind, event.data, event.end)
        elif isinstance(event, WsCloseReceived):
            _stream(event.stream).ws_closed(event.code, event.reason)
        elif isinstance(event, WindowOpened):
            _stream(event.stream).window_opened()
        elif isinstance(event, StreamReset):
            if event.error:
                logger.warning("stream %d: %s; cancelling it", event.stream.id, event.error)
            _stream(event.stream).cancel(event.code)
            self._maybe_finish_drain()
        elif isinstance(event, Attached):
            logger.info("connected to %s (pid %d)", event.hello.app, event.hello.pid)
            if self.on_attached is not None:
                self.on_attached()
        elif isinstance(event, DrainAsked):
            if event.superseded:
                logger.info("superseded: %s; finishing %d open stream(s), then exiting",
                            event.message or "a newer generation attached", len(self.conn.streams))
            else:
                logger.info("frontend asked to drain: %s", event.message or "(no message)")
            self._maybe_finish_drain()
        elif isinstance(event, ConnectionFailed):
            logger.error("%s", event.log)
            self.error = event.error
            self._close(Outcome.FAILED)

    def _on_request(self, record: StreamState) -> bool:
        """A REQUEST opened a stream: run the app for it.  True if it is over already (Connection's on_stream)."""
        stream: ChannelStream = record  # type: ignore[assignment]  # (made by new_stream=ChannelStream)
        coro: Any = self.app(stream)
        if not self.fast_path:
            self._start_task(stream, coro)
            return False
        try:
            # next() with a default is send(None) that reports the end by
            # returning _DONE instead of raising StopIteration into this frame
            # (catching it here costs more than all the rest of a small request).
            yielded = next(coro.__await__() if type(coro) is CoroutineType else coro, _DONE)
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException as exc:
            self._finish(stream, exc)
            return False
        if yielded is _DONE:
            # The usual end: both directions ended (a reset would have cancelled
            # the stream), and nothing is left for _finish() to do but have the
            # connection forget the stream, which the True does.
            if stream.state is CLOSED and not stream.cancelled and not self.conn.draining:
                return True
            self._finish(stream, None)
            return False
        # An awaited future is marked "blocking" as it is yielded, and a Task
        # clears the mark as soon as it receives it; until the mark is cleared,
        # any other await on the same future fails ("await wasn't used with
        # future").  Other requests of this batch may await it before our Task
        # runs, so the mark is cleared now, as a Task would, and _Resume sets
        # it again for the Task.
        if getattr(yielded, "_asyncio_future_blocking", None):
            yielded._asyncio_future_blocking = False
        self._start_task(stream, _Resume(coro, yielded))
        return False

    def _start_task(self, stream: ChannelStream, coro: Any) -> None:
        if self.spare_tasks and not stream.head.flags & protocol.WEBSOCKET:
            stream.spare_task = True
        stream.new_task = self.loop.create_task(self._run_to_end(stream, coro))
        self.tasks_created += 1

    async def _run_to_end(self, stream: ChannelStream, coro: Any) -> None:
        """The Task of an app call that waits; it ends the call itself, in its last step.

        (A done callback would cost the loop another turn.)  The stream learns
        its Task only here, at the Task's first step: a Task cancelled before
        its first step would throw CancelledError into this coroutine before
        it starts, and the app call would never hear of it.  A stream cancelled
        before then has its Task cancel itself now, which reaches the app call
        at its first await.  (_start_task() left the Task in ``new_task``:
        Python 3.11's asyncio.current_task() is a Python function.)
        """
        task = stream.new_task
        stream.task = task
        if stream.cancelled:
            task.cancel()
        try:
            await coro
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException as exc:  # CancelledError too: the stream was cancelled
            self._finish(stream, exc)
            return
        self._finish(stream, None)

    # --- end of an app call --------------------------------------------------------

    def _finish(self, stream: ChannelStream, exc: Optional[BaseException]) -> None:
        """The app call for a stream returned (exc None) or raised."""
        conn = self.conn
        ws = conn.ws.get(stream.id)
        if ws is not None and not stream.cancelled and not stream.response_started:
            _finish_websocket(conn, stream, ws, exc)
        elif stream.cancelled:
            if exc is not None and not isinstance(exc, (asyncio.CancelledError, StreamCancelled)):
                logger.debug("stream %d: app raised after cancellation: %r", stream.id, exc)
        elif exc is None:
            if not stream.response_started:
                logger.error("%s: the app returned without starting a response", describe(stream))
                conn.send_response(stream, 500, _ERROR_HEADERS, _ERROR_BODY, True)
            elif stream.state in RESP_BODY_STATES:
                conn.send_data(stream, b"", True)
        else:
            if isinstance(exc, asyncio.CancelledError):
                logger.error("%s: the app was cancelled", describe(stream))
            else:
                logger.error("%s: the app raised an exception", describe(stream), exc_info=exc)
            if not stream.response_started:
                conn.send_response(stream, 500, _ERROR_HEADERS, _ERROR_BODY, True)
            elif stream.state in RESP_BODY_STATES:
                conn.reset(stream, protocol.CANCEL_INTERNAL)
                stream.cancel(protocol.CANCEL_INTERNAL)
        conn.forget(stream)
        if conn.draining:
            self._maybe_finish_drain()


def _finish_websocket(conn: Connection, stream: ChannelStream, ws: WsState, exc: Optional[BaseException]) -> None:
    """A WebSocket's app call ended: a WebSocket it left open closes (1000, or 1011 after an exception); one it
    never answered is refused, with 403 (WS_CLOSE), or 500 if the app raised, as uvicorn does."""
    failed = exc is not None and not isinstance(exc, (asyncio.CancelledError, StreamCancelled))
    if failed:
        logger.error("stream %d: the WebSocket app raised an exception", stream.id, exc_info=exc)
    if not ws.accepted and not ws.close_sent:
        if failed:
            conn.send_response(stream, 500, _ERROR_HEADERS, _ERROR_BODY, True)
            return
        logger.info("stream %d: the app returned without accepting the WebSocket; refusing it", stream.id)
    conn.ws_close(stream, 1000 if exc is None else 1011, b"")


def _stream(record: StreamState) -> ChannelStream:
    """The connection's record of a stream, which the channel made as a ChannelStream."""
    return record  # type: ignore[return-value]
