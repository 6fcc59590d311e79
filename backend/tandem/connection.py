"""The rules of one channel connection, seen from the backend, without I/O.

Owns what PROTOCOL.md sections 2 to 5 and 8 ask of a backend: the HELLO exchange and
its bounds (announcing WEBSOCKET in its features), stream ids (each REQUEST above the last one), refusals (beyond
max_streams, or while draining), each stream's state and both its windows,
GOAWAY and draining, PING answers, WebSocket streams (WS_ACCEPT, messages within
the windows, each side's WS_CLOSE once: ``WsState``), and which faults are
connection errors.
Bytes in, events out to the owner's callbacks and the frames to write in
answer back (``receive_data()``); calls in (``send_response()``,
``send_data()``, ``drain()`` ...), frames out (``data_to_send()``).  Frames
go out as the list of them, for one ``writelines()``: joining them would copy
every response body once more, into a buffer grown anew for each batch.  Nothing
here touches a socket, an event loop or a clock, so a test drives it with
byte strings, as h11's ``Connection`` is driven.

Calls only the codec, ``protocol``, and the callbacks its owner hands it.  Its
owner (``channel.py``) does the I/O and runs the application; the streams
(``stream.py``) ask it to send through the methods of ``stream.StreamLink``,
which this class provides.
"""

from __future__ import annotations

import enum
import os
from typing import Any, Callable, NamedTuple, Optional, Sequence, Union

from . import protocol
from .protocol import (
    END, FILE, HEADER_SIZE, NO_ERROR, PROTOCOL_ERROR, SUPERSEDED, WEBSOCKET, Body, Decoder, ProtocolError, Request,
    cancel_frame, data_frame, goaway_frame, ping_frame, response_frame, window_frame, ws_accept_frame, ws_close_frame,
    ws_message_frame)


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
                                    self.max_frame_size, self.max_streams, self.initial_window,
                                    protocol.FEATURE_WEBSOCKET)


class Outcome(enum.Enum):
    """How a connection ended, for the server to decide what comes next."""

    LOST = "lost"               # closed by the frontend without a drain: reconnect
    DRAINED = "drained"         # a GOAWAY(NO_ERROR) drain finished
    SUPERSEDED = "superseded"   # drained because a newer generation took over: exit
    FAILED = "failed"           # a connection error, a version mismatch or a refusal


# --- stream states ---------------------------------------------------------------
#
# The table of PROTOCOL.md section 3, seen from the backend.  "Req" is the
# request body direction (frontend to backend), "resp" the response direction;
# each direction is open until a frame with END passes in it, and CANCEL either
# way closes both at once (the stream then leaves the table)::
#
#     state               event       next state
#     OPEN                REQ_END     HALF_CLOSED_REQ
#     OPEN                RESP_END    HALF_CLOSED_RESP
#     HALF_CLOSED_REQ     RESP_END    CLOSED
#     HALF_CLOSED_RESP    REQ_END     CLOSED
#     any                 CANCEL      CLOSED
#
# Frames the frontend may send on a stream in the table, in each state;
# anything else is a stream error answered with CANCEL(INTERNAL).  Frames for
# a stream id no longer in the table are ignored (they may have crossed a
# CANCEL); for one above the highest opened they are a connection error::
#
#     OPEN                DATA, WINDOW, CANCEL
#     HALF_CLOSED_REQ     WINDOW, CANCEL
#     HALF_CLOSED_RESP    DATA, CANCEL        (WINDOW is ignored: nothing left to send)
#     CLOSED              CANCEL              (WINDOW is ignored)
#
# The backend sends RESPONSE once, then DATA, in the states that have the
# response direction open; END in either ends it.

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
# States in which the backend may still send response body.
RESP_BODY_STATES = frozenset({OPEN, HALF_CLOSED_REQ})

# --- draining ----------------------------------------------------------------------
#
# PROTOCOL.md section 2, GOAWAY.  The backend says GOAWAY(NO_ERROR) when it
# shuts down (drain()); the frontend says GOAWAY(NO_ERROR) to have it drain
# and reconnect, or GOAWAY(SUPERSEDED) to have it drain and exit.  What each
# side has said decides whether a new REQUEST is served, what happens once no
# stream is left, and how to read the frontend closing the connection when no
# stream is left::
#
#     ours   frontend's   a new REQUEST   no stream left         frontend closes
#     -      -            served          -                      LOST
#     sent   -            served (a)      WAIT for its close (b) DRAINED
#     -      NO_ERROR     refused         close: DRAINED         LOST
#     -      SUPERSEDED   refused         close: SUPERSEDED      SUPERSEDED
#     sent   NO_ERROR     served (a)      close: DRAINED         DRAINED
#     sent   SUPERSEDED   served (a)      close: SUPERSEDED      SUPERSEDED
#
# (a) It crossed our GOAWAY: the frontend sent it before reading ours, and
#     nobody else would answer it.
# (b) The frontend closes the connection once its last stream is answered; a
#     backend that closed first would lose the REQUESTs still on their way.
#     The owner closes after a grace period if the frontend does not.
#
# The backend sends no GOAWAY of its own once the frontend has sent one, and a
# frontend's SUPERSEDED is not taken back by a later NO_ERROR.  The frontend
# closing the connection while streams are open is always LOST.

WAIT = "WAIT"

DRAIN_RULES: dict[tuple[bool, Optional[int]], tuple[bool, Union[None, str, Outcome], Outcome]] = {
    (False, None): (True, None, Outcome.LOST),
    (True, None): (True, WAIT, Outcome.DRAINED),
    (False, NO_ERROR): (False, Outcome.DRAINED, Outcome.LOST),
    (False, SUPERSEDED): (False, Outcome.SUPERSEDED, Outcome.SUPERSEDED),
    (True, NO_ERROR): (True, Outcome.DRAINED, Outcome.DRAINED),
    (True, SUPERSEDED): (True, Outcome.SUPERSEDED, Outcome.SUPERSEDED),
}

# Bytes a DATA frame spends besides its data: array header, type, stream id (at
# most 5 bytes), flags, bin header (at most 5 bytes).
DATA_OVERHEAD = 16
# A bin header grows by at most 3 bytes from the empty body a RESPONSE head is
# measured with.
BIN_GROWTH = 3


class StreamState:
    """One stream's place in the connection: its state and windows.

    ``id`` and ``head`` (the REQUEST frame) are set when it is made; the other
    fields belong to the Connection, which alone changes them.  The owner's
    streams are subclasses (``stream.ChannelStream``) that add what the
    application sees.
    """

    __slots__ = ("id", "head", "state", "response_started", "send_window", "recv_window", "unacked")

    id: int
    head: Request
    state: str
    response_started: bool
    send_window: int   # body bytes we may still send (the frontend's grants)
    recv_window: int   # body bytes the frontend may still send
    unacked: int       # body bytes the application has read and we have not granted back yet

    def __init__(self, head: Request) -> None:
        self.id = head.stream_id
        self.head = head

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.id} {getattr(self, 'state', 'new')}>"


# --- what the connection tells its owner ---------------------------------------------
#
# receive_data() tells the owner about each frame that concerns it as the
# frame is read, through the callbacks the owner gave when it made the
# connection (STYLE.md 18: a lower module is handed its owner's callbacks and
# never names it).  ``on_stream(stream)`` comes for each stream a REQUEST opens,
# the hot path; ``on_event(event)`` with one of the events below for the rest.
# What the owner does in a callback counts for the next frame: a stream it is
# done with leaves room under max_streams, and close() stops the reading.


class Attached(NamedTuple):
    """The frontend's HELLO was accepted: streams may come."""

    hello: protocol.Hello


class BodyReceived(NamedTuple):
    """Request body bytes on a stream (``end``: the last)."""

    stream: StreamState
    data: bytes
    end: bool


class WindowOpened(NamedTuple):
    """The frontend granted the stream more window: a waiting send may go on."""

    stream: StreamState


class StreamReset(NamedTuple):
    """The stream is over, and out of the table: cancelled by the frontend (``error`` empty), or by us for a
    frame its state does not allow (``error`` says which; CANCEL(INTERNAL) is queued)."""

    stream: StreamState
    code: int
    error: str


class DrainAsked(NamedTuple):
    """The frontend sent GOAWAY(NO_ERROR) or GOAWAY(SUPERSEDED): finish the open streams, take no new ones."""

    superseded: bool
    message: str


class ConnectionFailed(NamedTuple):
    """The connection is over: close it.  ``error`` says why in a few words, ``log`` in a line for the log.

    Any GOAWAY this side owes is queued already; nothing more is read.
    """

    error: str
    log: str


class WsMessageReceived(NamedTuple):
    """A part of a client's WebSocket message (``end``: its last part; PROTOCOL.md section 8)."""

    stream: StreamState
    kind: int
    data: bytes
    end: bool


class WsCloseReceived(NamedTuple):
    """The frontend closed the WebSocket (our WS_CLOSE in answer is queued already, if we owed one)."""

    stream: StreamState
    code: int
    reason: bytes


Event = Union[Attached, BodyReceived, WindowOpened, StreamReset, DrainAsked, ConnectionFailed, WsMessageReceived,
              WsCloseReceived]


class WsState:
    """A WebSocket stream's place in the connection (PROTOCOL.md section 8): whether each side has closed."""

    __slots__ = ("accepted", "close_sent", "close_received")

    def __init__(self) -> None:
        self.accepted = False
        self.close_sent = False
        self.close_received = False

# The owner's callbacks (see above).  on_stream returns True when the owner is
# done with the stream already (the whole exchange happened inside the call),
# and the stream then leaves the table.  on_output comes when frames are queued
# into an empty buffer outside receive_data(), for the owner to plan a write;
# what is queued inside receive_data() is what it returns.
OnStream = Callable[[StreamState], bool]
OnEvent = Callable[[Event], None]
OnOutput = Callable[[], None]
def own_request_id() -> str:
    """A request id for a REQUEST that came without one: 32 random hex digits, as the frontend's."""
    return os.urandom(16).hex()


NewStream = Callable[["Connection", Request], StreamState]


def _plain_stream(connection: "Connection", head: Request) -> StreamState:
    return StreamState(head)


def _ignore(*args: Any) -> Any:
    return None


class Connection:
    """One connection's rules, telling its owner what happens through callbacks.

    ``new_stream(connection, head)`` makes the record of each stream the frontend
    opens: the owner's subclass of StreamState, or a plain one.
    """

    def __init__(self, hello: HelloConfig, on_stream: OnStream = _ignore, on_event: OnEvent = _ignore,
                 on_output: OnOutput = _ignore, new_stream: NewStream = _plain_stream) -> None:
        self.hello = hello
        self._on_stream = on_stream
        self._on_event = on_event
        self._on_output = on_output
        self._new_stream = new_stream
        self.initial_window = hello.initial_window
        self.grant_threshold = max(1, hello.initial_window // 2)
        self.max_streams = hello.max_streams
        # Learned from the frontend's HELLO.
        self.peer_hello: Optional[protocol.Hello] = None
        self.peer_max_frame = protocol.PRE_HELLO_MAX_FRAME
        self.peer_window = 0
        self.streams: dict[int, StreamState] = {}
        # The WebSocket streams among them (a REQUEST with WEBSOCKET).
        self.ws: dict[int, WsState] = {}
        self.last_id = 0
        # The transport's buffer is full: no response body goes out (send_data() sends nothing).
        self.writing_paused = False
        self.goaway_sent = False                # our GOAWAY(NO_ERROR) is queued
        self.peer_goaway: Optional[int] = None  # the frontend's GOAWAY code, NO_ERROR or SUPERSEDED
        # From the two above: either side has said GOAWAY (the connection ends
        # once its streams have), and DRAIN_RULES' first column.
        self.draining = False
        self._accepting = True
        self._closed = False      # a connection error, or the owner's close(): nothing more is read
        self._receiving = False   # inside receive_data(): what is queued is its answer
        self._decoder = Decoder(protocol.PRE_HELLO_MAX_FRAME)
        self._out: list[bytes] = []

    # --- output ---------------------------------------------------------------------

    def start(self) -> None:
        """Queue our HELLO, the first frame on the connection."""
        self._queue(self.hello.frame())

    def data_to_send(self) -> list[bytes]:
        """The frames queued so far, in order (handed over: the caller may keep the list)."""
        out = self._out
        self._out = []
        return out

    def _queue(self, frame: bytes) -> None:
        if not self._receiving and not self._out:
            self._on_output()
        self._out.append(frame)

    def close(self) -> None:
        """The owner is closing the connection: receive_data() reads no further frame."""
        self._closed = True

    # --- input ----------------------------------------------------------------------

    def receive_data(self, data: Body) -> list[bytes]:
        """Take bytes from the frontend and tell the owner about each frame they complete, in order.

        A connection error ends the reading with on_event(ConnectionFailed), its
        GOAWAY queued; so does the owner's close(), without an event.  Returns what
        is queued to send by then, as data_to_send() would: the answers to the
        whole batch, for one write.
        """
        self._decoder.feed(data)
        return self._receive()

    def get_buffer(self, size: int) -> memoryview:
        """Where the frontend's next bytes may be read to, without a copy (BufferedProtocol.get_buffer)."""
        return self._decoder.get_buffer(size)

    def buffer_updated(self, n: int) -> list[bytes]:
        """``n`` bytes were read into get_buffer()'s view: as receive_data() with them."""
        self._decoder.buffer_updated(n)
        return self._receive()

    def _receive(self) -> list[bytes]:
        next_frame = self._decoder.next_frame
        streams = self.streams
        on_stream = self._on_stream
        new_stream = self._new_stream
        initial_window = self.initial_window
        max_streams = self.max_streams
        self._receiving = True
        try:
            while not self._closed:
                frame = next_frame()
                if frame is None:
                    break
                if type(frame) is Request and self.peer_hello is not None:
                    # Nearly every frame is a REQUEST: it is opened here, inline.
                    sid = frame.stream_id
                    if sid <= self.last_id:
                        raise ProtocolError(PROTOCOL_ERROR,
                                            f"REQUEST on stream {sid}, not above the highest used ({self.last_id})")
                    self.last_id = sid
                    body = len(frame.body)
                    if body > initial_window:
                        raise ProtocolError(protocol.FLOW_CONTROL_ERROR,
                                            f"stream {sid}: request body beyond the window")
                    if not self._accepting or len(streams) >= max_streams:
                        self._queue(cancel_frame(sid, protocol.CANCEL_REFUSED))
                        continue
                    if not frame.request_id:
                        # A frontend from before request ids (PROTOCOL.md
                        # section 2): the request gets one of ours.
                        frame = frame._replace(request_id=own_request_id())
                    stream = new_stream(self, frame)
                    stream.state = HALF_CLOSED_REQ if frame.flags & END else OPEN
                    stream.response_started = False
                    stream.send_window = self.peer_window
                    stream.recv_window = initial_window - body
                    stream.unacked = 0
                    streams[sid] = stream
                    if frame.flags & WEBSOCKET:
                        self.ws[sid] = WsState()
                    if on_stream(stream):
                        del streams[sid]
                        if frame.flags & WEBSOCKET:
                            self.ws.pop(sid, None)
                    continue
                event = self._dispatch(frame)
                if event is not None:
                    self._on_event(event)
        except ProtocolError as exc:
            self._on_event(self._fail(exc.code, exc.message))
        finally:
            self._receiving = False
        out = self._out
        self._out = []
        return out

    def _dispatch(self, frame: protocol.Frame) -> Optional[Event]:
        cls = type(frame)
        if self.peer_hello is None:
            if cls is protocol.Hello:
                return self._on_hello(frame)  # type: ignore[arg-type]
            if cls is protocol.GoAway:
                return self._on_goaway(frame)  # type: ignore[arg-type]
            if cls is protocol.Unknown:
                return None
            raise ProtocolError(PROTOCOL_ERROR, f"{cls.__name__.upper()} frame before HELLO")
        if (cls is protocol.Data or cls is protocol.Window or cls is protocol.Cancel or cls is protocol.WsMessage
                or cls is protocol.WsClose):
            sid = frame.stream_id
            stream = self.streams.get(sid)
            if stream is None:
                if sid > self.last_id:
                    raise ProtocolError(PROTOCOL_ERROR,
                                        f"{cls.__name__.upper()} frame for stream {sid}, above the highest opened")
                return None  # a stream that ended: late frames are ignored
            if cls is protocol.Data:
                return self._on_data(stream, frame)  # type: ignore[arg-type]
            if cls is protocol.WsMessage or cls is protocol.WsClose:
                return self._on_ws(stream, frame)  # type: ignore[arg-type]
            if cls is protocol.Window:
                if stream.state not in RESP_BODY_STATES:
                    return None
                stream.send_window += frame.increment  # type: ignore[union-attr]
                return WindowOpened(stream)
            return self._close_stream(stream, frame.code, "")  # type: ignore[union-attr]
        if cls is protocol.Ping:
            if not frame.ack:  # type: ignore[union-attr]
                self._queue(ping_frame(0, True, frame.opaque))  # type: ignore[union-attr]
            return None
        if cls is protocol.GoAway:
            return self._on_goaway(frame)  # type: ignore[arg-type]
        if cls is protocol.Hello:
            raise ProtocolError(PROTOCOL_ERROR, "second HELLO")
        if cls is protocol.Response or cls is protocol.WsAccept:
            raise ProtocolError(PROTOCOL_ERROR, f"{cls.__name__.upper()} frame from the frontend")
        return None  # Unknown: ignored

    def _on_hello(self, hello: protocol.Hello) -> Event:
        if hello.version != protocol.VERSION:
            # Not a malformed frame: no GOAWAY, the operator is told (PROTOCOL.md, HELLO).
            message = (f"frontend speaks protocol version {hello.version}, "
                       f"this backend speaks version {protocol.VERSION}")
            self._closed = True
            return ConnectionFailed(message, f"{message}; upgrade one of them so that they match")
        if hello.role != "frontend":
            raise ProtocolError(PROTOCOL_ERROR, f"peer HELLO has role {hello.role!r}, expected 'frontend'")
        if not protocol.MIN_MAX_FRAME <= hello.max_frame_size <= protocol.MAX_MAX_FRAME:
            raise ProtocolError(PROTOCOL_ERROR, f"HELLO max_frame_size {hello.max_frame_size} out of bounds")
        if not protocol.MIN_WINDOW <= hello.initial_window <= protocol.MAX_WINDOW:
            raise ProtocolError(PROTOCOL_ERROR, f"HELLO initial_window {hello.initial_window} out of bounds")
        self.peer_hello = hello
        self.peer_max_frame = hello.max_frame_size
        self.peer_window = hello.initial_window
        self._decoder.max_frame_size = self.hello.max_frame_size
        return Attached(hello)

    def _on_goaway(self, goaway: protocol.GoAway) -> Event:
        if goaway.code == NO_ERROR or goaway.code == SUPERSEDED:
            if self.peer_goaway != SUPERSEDED:
                self.peer_goaway = goaway.code
            self.draining = True
            self._accepting = DRAIN_RULES[(self.goaway_sent, self.peer_goaway)][0]
            return DrainAsked(goaway.code == SUPERSEDED, goaway.message)
        name = protocol.GOAWAY_NAMES.get(goaway.code, str(goaway.code))
        message = f"frontend closed the connection with GOAWAY({name}): {goaway.message}"
        self._closed = True
        return ConnectionFailed(message, message)

    def _on_data(self, stream: StreamState, frame: protocol.Data) -> Event:
        if stream.state not in REQ_BODY_STATES:
            self._queue(cancel_frame(stream.id, protocol.CANCEL_INTERNAL))
            return self._close_stream(stream, protocol.CANCEL_INTERNAL, "request body after END")
        data = frame.data
        if len(data) > stream.recv_window:
            raise ProtocolError(protocol.FLOW_CONTROL_ERROR, f"stream {stream.id}: request body beyond the window")
        stream.recv_window -= len(data)
        end = bool(frame.flags & END)
        if end:
            stream.state = TRANSITIONS[(stream.state, REQ_END)]
        return BodyReceived(stream, data, end)

    def _on_ws(self, stream: StreamState, frame: Union[protocol.WsMessage, protocol.WsClose]) -> Optional[Event]:
        """A WebSocket frame on a stream in the table (PROTOCOL.md section 8)."""
        ws = self.ws.get(stream.id)
        if ws is None or not ws.accepted or ws.close_received or (
                type(frame) is protocol.WsMessage and frame.kind not in (protocol.WS_TEXT, protocol.WS_BINARY)):
            self._queue(cancel_frame(stream.id, protocol.CANCEL_INTERNAL))
            return self._close_stream(stream, protocol.CANCEL_INTERNAL,
                                      f"{type(frame).__name__} the stream's WebSocket state does not allow")
        if type(frame) is protocol.WsMessage:
            data = frame.data
            if len(data) > stream.recv_window:
                raise ProtocolError(protocol.FLOW_CONTROL_ERROR, f"stream {stream.id}: message beyond the window")
            stream.recv_window -= len(data)
            if ws.close_sent:
                return None  # crossed our WS_CLOSE: dropped
            return WsMessageReceived(stream, frame.kind, data, bool(frame.flags & END))
        ws.close_received = True
        if not ws.close_sent:
            ws.close_sent = True
            self._queue(ws_close_frame(stream.id, frame.code, frame.reason))
        return WsCloseReceived(stream, frame.code, frame.reason)

    def _close_stream(self, stream: StreamState, code: int, error: str) -> StreamReset:
        stream.state = CLOSED
        del self.streams[stream.id]
        self.ws.pop(stream.id, None)
        return StreamReset(stream, code, error)

    def _fail(self, code: int, message: str) -> ConnectionFailed:
        """A connection error we detected: GOAWAY(code), then the owner closes."""
        self._queue(goaway_frame(0, code, message))
        self._closed = True
        name = protocol.GOAWAY_NAMES.get(code, str(code))
        return ConnectionFailed(message, f"protocol error ({name}): {message}; closing the connection")

    # --- sending on a stream (stream.StreamLink) -----------------------------------------

    def send_response(self, stream: StreamState, status: int, headers: Sequence[bytes], body: Body,
                      end: bool) -> int:
        """Start the stream's response: RESPONSE with as much of ``body`` as its window and the frame allow.

        ``headers`` are flat.  Returns how many body bytes went; the rest is for
        send_data().  ``end`` goes with the last byte, so only if all went.
        """
        if stream.response_started or stream.state not in RESP_BODY_STATES:
            raise _cannot_start(stream)
        stream.response_started = True
        n = len(body)
        max_frame = self.peer_max_frame
        if n <= stream.send_window and n < max_frame:
            # The common case: the whole response in one frame.
            frame = response_frame(stream.id, END if end else 0, status, headers, body)
            if len(frame) - HEADER_SIZE <= max_frame:
                stream.send_window -= n
                if end:
                    stream.state = TRANSITIONS[(stream.state, RESP_END)]
                if not self._receiving and not self._out:
                    self._on_output()
                self._out.append(frame)
                return n
        head = len(response_frame(stream.id, 0, status, headers, b"")) - HEADER_SIZE
        room = max_frame - head - BIN_GROWTH
        if room < 0:
            raise ValueError(f"response headers ({head} bytes) do not fit in one frame")
        first = min(n, room, stream.send_window)
        if end and first == n:
            stream.state = TRANSITIONS[(stream.state, RESP_END)]
            self._queue(response_frame(stream.id, END, status, headers, body))
        else:
            self._queue(response_frame(stream.id, 0, status, headers, memoryview(body)[:first]))
        stream.send_window -= first
        return first

    def send_file(self, stream: StreamState, status: int, headers: Sequence[bytes], path: bytes) -> None:
        """The whole response is the file at ``path``, which the frontend sends: RESPONSE with END|FILE.

        The path's bytes do not count against the window (PROTOCOL.md, RESPONSE).
        """
        if stream.response_started or stream.state not in RESP_BODY_STATES:
            raise _cannot_start(stream)
        frame = response_frame(stream.id, END | FILE, status, headers, path)
        if len(frame) - HEADER_SIZE > self.peer_max_frame:
            raise ValueError(f"file response head ({len(frame) - HEADER_SIZE} bytes) does not fit in one frame")
        stream.response_started = True
        stream.state = TRANSITIONS[(stream.state, RESP_END)]
        self._queue(frame)

    def send_data(self, stream: StreamState, data: Body, end: bool) -> int:
        """More of the stream's response: as much of ``data`` as its window, the frame size and the transport allow.

        Returns how many bytes went (0 while the window is closed or the transport
        paused); ``end`` goes with the last byte, or alone in an empty DATA frame
        when ``data`` is empty.
        """
        if not stream.response_started:
            raise RuntimeError(f"stream {stream.id}: send_data() before send_response()")
        if stream.state not in RESP_BODY_STATES:
            raise RuntimeError(f"stream {stream.id}: response already ended")
        n = len(data)
        if n == 0:
            if end:
                stream.state = TRANSITIONS[(stream.state, RESP_END)]
                self._queue(data_frame(stream.id, END, b""))
            return 0
        if self.writing_paused:
            return 0
        max_chunk = self.peer_max_frame - DATA_OVERHEAD
        view = memoryview(data)
        pos = 0
        while pos < n and stream.send_window > 0:
            k = min(n - pos, stream.send_window, max_chunk)
            last = end and pos + k == n
            stream.send_window -= k
            if last:
                stream.state = TRANSITIONS[(stream.state, RESP_END)]
            self._queue(data_frame(stream.id, END if last else 0, view[pos:pos + k]))
            pos += k
        return pos

    def consumed(self, stream: StreamState, n: int) -> None:
        """The application has read ``n`` request body bytes: grant them back with WINDOW, in batches.

        Grants wait until half the initial window has been read (PROTOCOL.md
        section 4), and stop once the request body has ended.
        """
        stream.unacked += n
        if stream.unacked >= self.grant_threshold and stream.state in REQ_BODY_STATES:
            stream.recv_window += stream.unacked
            self._queue(window_frame(stream.id, stream.unacked))
            stream.unacked = 0

    # --- WebSocket streams (PROTOCOL.md section 8; stream.StreamLink) ------------------------

    def _ws_open(self, stream: StreamState, what: str) -> WsState:
        ws = self.ws.get(stream.id)
        if ws is None or stream.id not in self.streams:
            raise RuntimeError(f"stream {stream.id}: {what}: not an open WebSocket stream")
        return ws

    def ws_accept(self, stream: StreamState, subprotocol: str, headers: Sequence[bytes]) -> None:
        """Accept the upgrade: WS_ACCEPT."""
        ws = self._ws_open(stream, "accept")
        if ws.accepted or ws.close_sent or stream.response_started:
            raise RuntimeError(f"stream {stream.id}: the WebSocket was already answered")
        ws.accepted = True
        self._queue(ws_accept_frame(stream.id, subprotocol, headers))

    def ws_send(self, stream: StreamState, kind: int, data: Body) -> int:
        """Send (more of) one message: as much as the window, the frame size and the transport allow.

        Returns how many bytes went; END goes with the last byte (an empty
        message is one WS_MESSAGE with END).  Raises RuntimeError once the
        WebSocket is closed either way.
        """
        ws = self._ws_open(stream, "send")
        if not ws.accepted or ws.close_sent or ws.close_received:
            raise RuntimeError(f"stream {stream.id}: the WebSocket is not open")
        n = len(data)
        if n == 0:
            self._queue(ws_message_frame(stream.id, END, kind, b""))
            return 0
        if self.writing_paused:
            return 0
        max_chunk = self.peer_max_frame - DATA_OVERHEAD - 5
        view = memoryview(data)
        pos = 0
        while pos < n and stream.send_window > 0:
            k = min(n - pos, stream.send_window, max_chunk)
            stream.send_window -= k
            self._queue(ws_message_frame(stream.id, END if pos + k == n else 0, kind, view[pos:pos + k]))
            pos += k
        return pos

    def ws_close(self, stream: StreamState, code: int, reason: bytes) -> bool:
        """Close the WebSocket (or refuse it, before accepting): WS_CLOSE, once.  False if it was closed already."""
        ws = self.ws.get(stream.id)
        if ws is None or ws.close_sent or stream.id not in self.streams:
            return False
        ws.close_sent = True
        self._queue(ws_close_frame(stream.id, code, reason))
        return True

    def ws_consumed(self, stream: StreamState, n: int) -> None:
        """The application took ``n`` message bytes (or they wait in an unfinished message): WINDOW, in batches."""
        stream.unacked += n
        ws = self.ws.get(stream.id)
        if stream.unacked >= self.grant_threshold and ws is not None and not ws.close_received:
            stream.recv_window += stream.unacked
            self._queue(window_frame(stream.id, stream.unacked))
            stream.unacked = 0

    # --- the owner's calls -----------------------------------------------------------------

    # Stream ids are never used twice on a connection, so the table's entry for
    # a stream's id, if there is one, is that stream.

    def reset(self, stream: StreamState, code: int) -> None:
        """Cancel the stream from our side (CANCEL(code)); it leaves the table."""
        if stream.id in self.streams:
            self._queue(cancel_frame(stream.id, code))
            self._close_stream(stream, code, "")

    def forget(self, stream: StreamState) -> None:
        """The owner is done with the stream (its application call has ended): it leaves the table.

        If its request body is unfinished, the frontend stops sending it once the
        response has ended (section 3); whatever still arrives is ignored.
        """
        self.streams.pop(stream.id, None)
        self.ws.pop(stream.id, None)

    def close_all(self) -> list[StreamState]:
        """The connection is gone: every stream leaves the table, CLOSED; returns them."""
        streams = list(self.streams.values())
        self.streams.clear()
        self.ws.clear()
        for stream in streams:
            stream.state = CLOSED
        return streams

    def drain(self, message: str) -> None:
        """Say GOAWAY(NO_ERROR): this backend is going away (see DRAIN_RULES)."""
        if not self.draining and not self._closed:
            self.goaway_sent = self.draining = True
            self._accepting = DRAIN_RULES[(True, self.peer_goaway)][0]
            self._queue(goaway_frame(0, NO_ERROR, message))

    def when_idle(self) -> Union[None, str, Outcome]:
        """What to do now: None (streams are open, or nobody drains), WAIT, or close with an Outcome."""
        if self.streams or self._closed:
            return None
        return DRAIN_RULES[(self.goaway_sent, self.peer_goaway)][1]

    def outcome_if_closed(self) -> Outcome:
        """How to read the frontend closing the connection now."""
        if self.streams:
            return Outcome.LOST
        return DRAIN_RULES[(self.goaway_sent, self.peer_goaway)][2]


def _cannot_start(stream: StreamState) -> RuntimeError:
    if stream.response_started:
        return RuntimeError(f"stream {stream.id}: response already started")
    return RuntimeError(f"stream {stream.id}: cancelled")
