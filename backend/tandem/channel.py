"""The backend side of one channel connection: an asyncio.Protocol.

It decodes frames with ``protocol.Decoder``, runs one application call per
REQUEST (the ``types.AppCallable`` shape), and enforces the connection rules of
PROTOCOL.md sections 2-5.  Outcomes of a connection, reported through
``Channel.closed``:

* ``LOST``: the frontend closed the connection without a GOAWAY (it may be
  restarting; the server reconnects),
* ``DRAINED``: a GOAWAY(NO_ERROR) drain finished (either side asked for it;
  the server exits after its own drain and reconnects after the frontend's),
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

Write batching: frames produced while handling one ``data_received`` go out in
one ``transport.write`` at its end; frames produced later (by Tasks) schedule one
flush with ``loop.call_soon``, so all frames of one loop iteration share a write.
"""

from __future__ import annotations

import asyncio
import collections.abc
import enum
import logging
import os
from types import CoroutineType
from typing import Any, Generator, Optional

from . import protocol
from .protocol import END, Decoder, ProtocolError, cancel_frame, data_frame, goaway_frame, ping_frame, response_frame
from .stream import CLOSED, CONNECTION_LOST, REQ_BODY_STATES, RESP_BODY_STATES, RESP_END, ChannelStream
from .types import AppCallable, StreamCancelled

logger = logging.getLogger("tandem.channel")

_Request = protocol.Request

# Seconds a backend that sent its own GOAWAY waits, once its last stream has
# ended, for the frontend to close the connection before closing it itself.
OWN_DRAIN_CLOSE_GRACE = 2.0


class Outcome(enum.Enum):
    LOST = "lost"
    DRAINED = "drained"
    SUPERSEDED = "superseded"   # drained because a newer generation took over: exit
    FAILED = "failed"


class HelloConfig:
    """What this backend announces in its HELLO."""

    __slots__ = ("app_name", "pid", "generation", "max_frame_size", "max_streams", "initial_window")

    def __init__(self, app_name: str, generation: int, max_frame_size: int = protocol.DEFAULT_MAX_FRAME,
                 max_streams: int = protocol.DEFAULT_MAX_STREAMS,
                 initial_window: int = protocol.DEFAULT_WINDOW, pid: Optional[int] = None) -> None:
        self.app_name = app_name
        self.pid = os.getpid() if pid is None else pid
        self.generation = generation
        self.max_frame_size = max_frame_size
        self.max_streams = max_streams
        self.initial_window = initial_window

    def frame(self) -> bytes:
        return protocol.hello_frame(0, protocol.VERSION, "backend", self.app_name, self.pid, self.generation,
                                    self.max_frame_size, self.max_streams, self.initial_window)


_NOTHING: Any = object()
_DONE: Any = object()  # what the first step of an app call gives back when the call has returned


class _Resume(collections.abc.Coroutine):  # type: ignore[type-arg]
    """Continues in a Task a coroutine whose first step already ran.

    The Task's first ``send(None)`` gets back the value the coroutine yielded in
    that first step (the future it waits on); every later send/throw goes
    straight to the coroutine.  A Task cancelled before its first step throws
    CancelledError, which reaches the coroutine at its await as usual.
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

    def __await__(self) -> Generator[Any, None, Any]:
        return (yield from self._step())  # pragma: no cover - Tasks use send/throw

    def _step(self) -> Generator[Any, None, Any]:  # pragma: no cover
        value = None
        while True:
            value = yield self.send(value)

    def __repr__(self) -> str:
        return f"<resumed {self._coro!r}>"


class Channel(asyncio.Protocol):
    """One connection to the frontend."""

    def __init__(self, app: AppCallable, hello: HelloConfig, loop: asyncio.AbstractEventLoop) -> None:
        self.app = app
        self.hello = hello
        self.loop = loop
        self.fast_path = bool(getattr(app, "tandem_fast_path", True))
        self.initial_window = hello.initial_window
        self.grant_threshold = max(1, hello.initial_window // 2)
        self.max_streams = hello.max_streams
        # Learned from the frontend's HELLO.
        self.peer_hello: Optional[protocol.Hello] = None
        self.peer_max_frame = protocol.PRE_HELLO_MAX_FRAME
        self.peer_window = 0
        self.transport: Any = None  # uvloop transports do not subclass asyncio.Transport
        self.streams: dict[int, ChannelStream] = {}
        self.last_id = 0
        self.draining = False
        self.superseded = False  # GOAWAY(SUPERSEDED): exit once drained, do not reconnect
        # Our own GOAWAY(NO_ERROR) went out, and the frontend's GOAWAY has not come in:
        # REQUESTs it sent before reading ours may still arrive (see drain()).
        self.goaway_sent = False
        self.peer_goaway = False
        self._close_grace: Optional[asyncio.TimerHandle] = None
        # Called once the frontend's HELLO is accepted: the backend is attached (Server.on_attached).
        self.on_attached: Optional[collections.abc.Callable[[], None]] = None
        self.error: Optional[str] = None
        self.closed: asyncio.Future[Outcome] = loop.create_future()
        self.tasks_created = 0  # streams that needed a Task (statistics, tests)
        self._outcome: Optional[Outcome] = None
        self._decoder = Decoder(protocol.PRE_HELLO_MAX_FRAME)
        self._out = bytearray()
        self._in_receive = False
        self._flush_scheduled = False
        self.writing_paused = False
        self._drain_waiter: Optional[asyncio.Future[None]] = None

    # --- output ---------------------------------------------------------------

    def write_frame(self, frame: bytes) -> None:
        """Queue one frame (its bytes, from a protocol.*_frame function) for the next flush."""
        self._out += frame
        if not self._in_receive and not self._flush_scheduled:
            self._flush_scheduled = True
            self.loop.call_soon(self._flush)

    def _flush(self) -> None:
        self._flush_scheduled = False
        if self._out:
            out = self._out
            # The transport may keep a view of the buffer, so it is replaced, not cleared.
            self._out = bytearray()
            if self.transport is not None and not self.transport.is_closing():
                self.transport.write(out)

    # --- asyncio.Protocol -----------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        self.write_frame(self.hello.frame())
        self._flush()

    def data_received(self, data: bytes) -> None:
        self._in_receive = True
        try:
            decoder = self._decoder
            decoder.feed(data)
            next_frame = decoder.next_frame
            while self._outcome is None:
                frame = next_frame()
                if frame is None:
                    break
                # Nearly every frame is a REQUEST: it skips _dispatch's tests.
                if type(frame) is _Request and self.peer_hello is not None:
                    self._on_request(frame)
                else:
                    self._dispatch(frame)
        except ProtocolError as exc:
            self._fail(exc.code, exc.message)
        finally:
            self._in_receive = False
            self._flush()

    def eof_received(self) -> Optional[bool]:
        return False  # close our side too

    # Transport flow control: above the transport's high-water mark, streams
    # sending response bodies wait in wait_writable() until it is below the low-water
    # mark again.  Both calls are idempotent.

    def pause_writing(self) -> None:
        self.writing_paused = True

    def resume_writing(self) -> None:
        self.writing_paused = False
        waiter = self._drain_waiter
        self._drain_waiter = None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def wait_writable(self) -> None:
        """Wait while the transport's write buffer is too full."""
        if self.writing_paused:
            if self._drain_waiter is None:
                self._drain_waiter = self.loop.create_future()
            # Shared by all waiting streams: one cancelled stream must not cancel it.
            await asyncio.shield(self._drain_waiter)

    def connection_lost(self, exc: Optional[Exception]) -> None:
        self.transport = None
        self.resume_writing()
        if self._close_grace is not None:
            self._close_grace.cancel()
            self._close_grace = None
        if self._outcome is None and self.superseded and not self.streams:
            # The frontend closed first once the last stream ended: the same drain.
            self._outcome = Outcome.SUPERSEDED
        elif self._outcome is None and self.goaway_sent and not self.streams:
            # The frontend closed the connection we drained: the expected end.
            self._outcome = Outcome.DRAINED
        if self._outcome is None:
            self._outcome = Outcome.LOST
            if exc is not None:
                logger.warning("connection to the frontend lost: %s", exc)
        for stream in list(self.streams.values()):
            stream.cancel(CONNECTION_LOST)
        self.streams.clear()
        if not self.closed.done():
            self.closed.set_result(self._outcome)

    # --- connection control ----------------------------------------------------

    def _close(self, outcome: Outcome) -> None:
        if self._outcome is None:
            self._outcome = outcome
        self._flush()
        if self.transport is not None:
            self.transport.close()

    def _fail(self, code: int, message: str) -> None:
        """A connection error we detected: GOAWAY, close."""
        logger.error("protocol error (%s): %s; closing the connection", protocol.GOAWAY_NAMES.get(code, code), message)
        self.error = message
        self.write_frame(goaway_frame(0, code, message))
        self._close(Outcome.FAILED)

    def drain(self, message: str = "backend shutting down") -> None:
        """Send GOAWAY(NO_ERROR), finish the open streams, then let the frontend close.

        A REQUEST the frontend sent before it read the GOAWAY is still served:
        nobody else would answer it.  The frontend sends no REQUEST after reading
        the GOAWAY and closes once its last stream is answered (PROTOCOL.md,
        GOAWAY), so the close is left to it; closing first would lose REQUESTs
        still on their way.  Only if it has not closed OWN_DRAIN_CLOSE_GRACE
        seconds after the last stream ended does the backend close.
        """
        if self._outcome is not None or self.transport is None:
            return
        if not self.draining:
            self.draining = True
            self.goaway_sent = True
            self.write_frame(goaway_frame(0, protocol.NO_ERROR, message))
        self._maybe_finish_drain()

    def abort(self) -> None:
        """Close at once; open streams are cancelled."""
        self._close(Outcome.DRAINED if self._outcome is None else self._outcome)

    def _maybe_finish_drain(self) -> None:
        if self.draining and not self.streams:
            if self.goaway_sent and not self.peer_goaway:
                if self._close_grace is None:
                    self._close_grace = self.loop.call_later(OWN_DRAIN_CLOSE_GRACE, self._close_grace_expired)
                return
            self._close(Outcome.SUPERSEDED if self.superseded else Outcome.DRAINED)

    def _close_grace_expired(self) -> None:
        self._close_grace = None
        if self._outcome is None and not self.streams:
            logger.warning("the frontend did not close the drained connection within %gs; closing it",
                           OWN_DRAIN_CLOSE_GRACE)
            self._close(Outcome.DRAINED)

    # --- frames ---------------------------------------------------------------

    def _dispatch(self, frame: protocol.Frame) -> None:
        cls = type(frame)
        if self.peer_hello is None:
            if cls is protocol.Hello:
                return self._on_hello(frame)  # type: ignore[arg-type]
            if cls is protocol.GoAway:
                return self._on_goaway(frame)  # type: ignore[arg-type]
            if cls is protocol.Unknown:
                return None
            raise ProtocolError(protocol.PROTOCOL_ERROR, f"{cls.__name__.upper()} frame before HELLO")
        if cls is protocol.Request:
            return self._on_request(frame)  # type: ignore[arg-type]
        if cls is protocol.Data or cls is protocol.Window or cls is protocol.Cancel:
            sid = frame.stream_id
            stream = self.streams.get(sid)
            if stream is None:
                if sid > self.last_id:
                    raise ProtocolError(protocol.PROTOCOL_ERROR,
                                        f"{cls.__name__.upper()} frame for stream {sid}, above the highest opened")
                return None  # a closed or cancelled stream: late frames are ignored
            if cls is protocol.Data:
                return self._on_data(stream, frame)  # type: ignore[arg-type]
            if cls is protocol.Window:
                return self._on_window(stream, frame)  # type: ignore[arg-type]
            return self._on_cancel(stream, frame)  # type: ignore[arg-type]
        if cls is protocol.Ping:
            if not frame.ack:  # type: ignore[union-attr]
                self.write_frame(ping_frame(0, True, frame.opaque))  # type: ignore[union-attr]
            return None
        if cls is protocol.GoAway:
            return self._on_goaway(frame)  # type: ignore[arg-type]
        if cls is protocol.Hello:
            raise ProtocolError(protocol.PROTOCOL_ERROR, "second HELLO")
        if cls is protocol.Response:
            raise ProtocolError(protocol.PROTOCOL_ERROR, "RESPONSE frame from the frontend")
        return None  # Unknown: ignored

    def _on_hello(self, hello: protocol.Hello) -> None:
        if hello.version != protocol.VERSION:
            message = (f"frontend speaks protocol version {hello.version}, "
                       f"this backend speaks version {protocol.VERSION}")
            logger.error("%s; upgrade one of them so that they match", message)
            self.error = message
            self._close(Outcome.FAILED)
            return
        if hello.role != "frontend":
            raise ProtocolError(protocol.PROTOCOL_ERROR, f"peer HELLO has role {hello.role!r}, expected 'frontend'")
        if not protocol.MIN_MAX_FRAME <= hello.max_frame_size <= protocol.MAX_MAX_FRAME:
            raise ProtocolError(protocol.PROTOCOL_ERROR, f"HELLO max_frame_size {hello.max_frame_size} out of bounds")
        if not protocol.MIN_WINDOW <= hello.initial_window <= protocol.MAX_WINDOW:
            raise ProtocolError(protocol.PROTOCOL_ERROR, f"HELLO initial_window {hello.initial_window} out of bounds")
        self.peer_hello = hello
        self.peer_max_frame = hello.max_frame_size
        self.peer_window = hello.initial_window
        self._decoder.max_frame_size = self.hello.max_frame_size
        logger.info("connected to %s (pid %d)", hello.app, hello.pid)
        if self.on_attached is not None:
            self.on_attached()

    def _on_goaway(self, goaway: protocol.GoAway) -> None:
        if goaway.code == protocol.SUPERSEDED:
            logger.info("superseded: %s; finishing %d open stream(s), then exiting",
                        goaway.message or "a newer generation attached", len(self.streams))
            self.superseded = True
            self.draining = True
            self.peer_goaway = True
            self._maybe_finish_drain()
            return
        if goaway.code == protocol.NO_ERROR:
            logger.info("frontend asked to drain: %s", goaway.message or "(no message)")
            self.draining = True
            self.peer_goaway = True
            self._maybe_finish_drain()
            return
        name = protocol.GOAWAY_NAMES.get(goaway.code, str(goaway.code))
        message = f"frontend closed the connection with GOAWAY({name}): {goaway.message}"
        logger.error("%s", message)
        self.error = message
        self._close(Outcome.FAILED)

    def _on_request(self, head: protocol.Request) -> None:
        sid = head.stream_id
        if sid <= self.last_id:
            raise ProtocolError(protocol.PROTOCOL_ERROR,
                                f"REQUEST on stream {sid}, not above the highest used ({self.last_id})")
        self.last_id = sid
        if len(head.body) > self.initial_window:
            raise ProtocolError(protocol.FLOW_CONTROL_ERROR, f"stream {sid}: request body beyond the window")
        # After the frontend's GOAWAY no REQUEST comes; after our own, one that
        # crossed it is served (drain()).
        if (self.draining and not self.goaway_sent) or len(self.streams) >= self.max_streams:
            self.write_frame(cancel_frame(sid, protocol.CANCEL_REFUSED))
            return
        stream = ChannelStream(self, head)
        self.streams[sid] = stream
        coro: Any = self.app(stream)
        if not self.fast_path:
            self._start_task(stream, coro)
            return
        try:
            # next() with a default is send(None) that reports the end by
            # returning _DONE instead of raising StopIteration into this frame
            # (catching it here costs more than all the rest of a small request).
            yielded = next(coro.__await__() if type(coro) is CoroutineType else coro, _DONE)
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException as exc:
            self._finish(stream, exc)
            return
        if yielded is _DONE:
            if stream.state is CLOSED and stream.response_started and not stream.cancelled and not self.draining:
                # The usual end: the whole response went out and nothing is left
                # for _finish() to do but forget the stream.
                stream.finished = True
                del self.streams[sid]
            else:
                self._finish(stream, None)
            return
        # An awaited future is marked "blocking" as it is yielded, and a Task
        # clears the mark as soon as it receives it; until the mark is cleared,
        # any other await on the same future fails ("await wasn't used with
        # future").  Other requests of this batch may await it before our Task
        # runs, so the mark is cleared now, as a Task would, and _Resume sets
        # it again for the Task.
        if getattr(yielded, "_asyncio_future_blocking", None):
            yielded._asyncio_future_blocking = False
        self._start_task(stream, _Resume(coro, yielded))

    def _start_task(self, stream: ChannelStream, coro: Any) -> None:
        task = self.loop.create_task(coro)
        self.tasks_created += 1
        stream.task = task
        task.add_done_callback(self._task_done)
        # The done callback finds its stream through the task.
        task.tandem_stream = stream  # type: ignore[attr-defined]

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        stream: ChannelStream = task.tandem_stream  # type: ignore[attr-defined]
        if task.cancelled():
            exc: Optional[BaseException] = asyncio.CancelledError()
        else:
            exc = task.exception()
        self._finish(stream, exc)

    def _on_data(self, stream: ChannelStream, frame: protocol.Data) -> None:
        if stream.state not in REQ_BODY_STATES:
            self._stream_error(stream, "request body after END")
            return
        if len(frame.data) > stream.recv_window:
            raise ProtocolError(protocol.FLOW_CONTROL_ERROR, f"stream {stream.id}: request body beyond the window")
        stream.feed_data(frame)

    def _on_window(self, stream: ChannelStream, frame: protocol.Window) -> None:
        if stream.state in RESP_BODY_STATES:
            stream.add_window(frame.increment)

    def _on_cancel(self, stream: ChannelStream, frame: protocol.Cancel) -> None:
        stream.cancel(frame.code)
        self._forget(stream)

    def _stream_error(self, stream: ChannelStream, message: str) -> None:
        logger.warning("stream %d: %s; cancelling it", stream.id, message)
        self.write_frame(cancel_frame(stream.id, protocol.CANCEL_INTERNAL))
        stream.cancel(protocol.CANCEL_INTERNAL)
        self._forget(stream)

    # --- end of an app call --------------------------------------------------------

    def _finish(self, stream: ChannelStream, exc: Optional[BaseException]) -> None:
        """The app call for a stream returned (exc None) or raised."""
        stream.finished = True
        if stream.cancelled:
            if exc is not None and not isinstance(exc, (asyncio.CancelledError, StreamCancelled)):
                logger.debug("stream %d: app raised after cancellation: %r", stream.id, exc)
            self._forget(stream)
            return
        if exc is None:
            if not stream.response_started:
                logger.error("stream %d: the app returned without starting a response", stream.id)
                self._write_500(stream)
            elif stream.state in RESP_BODY_STATES:
                stream.event(RESP_END)
                self.write_frame(data_frame(stream.id, END, b""))
        else:
            if isinstance(exc, asyncio.CancelledError):
                logger.error("stream %d: the app was cancelled", stream.id)
            else:
                logger.error("stream %d: the app raised an exception", stream.id, exc_info=exc)
            if not stream.response_started:
                self._write_500(stream)
            elif stream.state in RESP_BODY_STATES:
                self.write_frame(cancel_frame(stream.id, protocol.CANCEL_INTERNAL))
                stream.cancel(protocol.CANCEL_INTERNAL)
        # If the request body is unfinished, the frontend stops sending it once the
        # response has ended (section 3); whatever still arrives is ignored.
        self._forget(stream)

    def _write_500(self, stream: ChannelStream) -> None:
        stream.response_started = True
        stream.event(RESP_END)
        self.write_frame(response_frame(stream.id, END, 500, [b"content-type", b"text/plain; charset=utf-8"],
                                        b"Internal Server Error"))

    def _forget(self, stream: ChannelStream) -> None:
        if stream.finished or stream.cancelled:
            if self.streams.pop(stream.id, None) is not None:
                if self.draining:
                    self._maybe_finish_drain()
