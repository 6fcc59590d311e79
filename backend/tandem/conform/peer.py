"""One connection to the backend under test, seen from the frontend's side.

A ``Peer`` is the ``link.Link`` of the backend kit: it writes what the kit
queued, reads what the backend sent, splits it into frames with tandem's
decoder and checks each frame against the rules a backend's frames must keep,
whatever the case is about:

* the first frame is HELLO, and there is no second one (section 2, HELLO);
* a frame's length is within the kit's max_frame_size (section 1) and its
  payload is well-formed (sections 1 and 2);
* RESPONSE comes once per stream the kit opened, before any DATA, with a status
  in 200..599, and nothing follows END (sections 2 and 3);
* body bytes stay within the window the kit granted (section 4);
* WebSocket frames (section 8) come only on a stream the kit opened with
  WEBSOCKET: WS_ACCEPT once and before any message, WS_CLOSE once, message
  bytes within the window;
* nothing arrives on a stream after the kit's CANCEL has been read, which the
  kit knows when the PING it sent right after the CANCEL is answered
  (section 2, CANCEL: frames already in flight are tolerated).

A frame that breaks one of these raises ``CaseFailed`` from ``pump()``, which
ends the case.  The peer answers the backend's PINGs, and grants back the
response body it reads (as a frontend does once the bytes are written to the
client) unless a stream's ``auto_grant`` is off.  Every frame each way goes
into ``transcript`` for the hex dumps of ``--verbose``.

Calls ``protocol`` (the builders), ``wire`` and ``link`` (the connection's I/O
and the kit's exceptions, which it passes on to the backend kit's modules).
"""

from __future__ import annotations

import itertools
import socket
from dataclasses import dataclass, field
from typing import Optional

from .. import protocol
from . import wire
from .link import CaseFailed, CaseSkipped, Entry, Link, WaitTimedOut

__all__ = ["CaseFailed", "CaseSkipped", "Entry", "Peer", "Stream", "WaitTimedOut"]

DATA_OVERHEAD = 16  # bytes a DATA frame's payload spends besides its data (connection.py's bound)

_opaques = itertools.count(0x5EED0001)


@dataclass
class Stream:
    """What the kit knows of one stream it opened."""

    id: int
    what: str                    # "GET /hello", for messages
    send_window: int             # request body bytes the kit may still send
    recv_window: int             # response body bytes the backend may still send
    auto_grant: bool = True
    status: Optional[int] = None
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    body: bytearray = field(default_factory=bytearray)
    frames: int = 0              # RESPONSE and DATA frames received
    ended: bool = False          # the response's END arrived
    reset: Optional[int] = None  # the backend's CANCEL code
    websocket: bool = False      # opened with WEBSOCKET (section 8)
    ws_accept: Optional[protocol.WsAccept] = None
    ws_parts: bytearray = field(default_factory=bytearray)   # the parts of a message under way
    ws_messages: list[tuple[int, bytes]] = field(default_factory=list)   # whole messages: (kind, data)
    ws_close: Optional[protocol.WsClose] = None
    cancel_ping: Optional[int] = None  # the opaque of the PING sent right after the kit's CANCEL
    cancel_read: bool = False    # that PING was answered: the backend has read the CANCEL
    late_frames: int = 0         # frames that were in flight when the kit cancelled

    @property
    def done(self) -> bool:
        return self.ended or self.reset is not None

    @property
    def ws_answered(self) -> bool:
        """The backend has answered the upgrade: WS_ACCEPT, a RESPONSE, WS_CLOSE or CANCEL."""
        return self.ws_accept is not None or self.status is not None or self.ws_close is not None or self.done


class Peer(Link):
    """The kit's end of one connection to the backend (see the module doc)."""

    def __init__(self, sock: socket.socket, timeout: float, name: str = "connection") -> None:
        super().__init__(sock, timeout, name, "backend")
        self.backend_hello: Optional[protocol.Hello] = None
        self.hello_sent = False
        self.backend_max_frame = protocol.PRE_HELLO_MAX_FRAME
        self.backend_window = protocol.MIN_WINDOW
        self.streams: dict[int, Stream] = {}
        self.highest = 0
        self._grants: dict[int, int] = {}

    def _after_read(self) -> None:
        self._send_grants()

    # --- the rules of the backend's frames ------------------------------------------------

    def _check(self, frame: protocol.Frame) -> None:
        kind = type(frame)
        if self.backend_hello is None:
            if kind is not protocol.Hello:
                raise CaseFailed(f"the backend's first frame is {type(frame).__name__.upper()}, not HELLO "
                                 "(section 2, HELLO)")
            self.backend_hello = frame  # type: ignore[assignment]
            return
        if kind is protocol.Hello:
            raise CaseFailed("the backend sent a second HELLO (section 2, HELLO: only once)")
        if kind is protocol.Ping:
            self._on_ping(frame)  # type: ignore[arg-type]
        elif kind is protocol.GoAway:
            self.goaways.append(frame)  # type: ignore[arg-type]
        elif kind in (protocol.Response, protocol.Data, protocol.Window, protocol.Cancel, protocol.WsAccept,
                      protocol.WsMessage, protocol.WsClose):
            if not self.hello_sent:
                raise CaseFailed(f"the backend sent {type(frame).__name__.upper()} before the kit's HELLO "
                                 "(section 2, HELLO: nothing but PING and GOAWAY before it)")
            self._on_stream_frame(frame)

    def _on_ping(self, ping: protocol.Ping) -> None:
        if not ping.ack:
            if self.answer_pings:
                self.send(protocol.ping_frame(0, True, ping.opaque), "PING ack (answer)")
            return
        self.acks.append(ping.opaque)
        for stream in self.streams.values():
            if stream.cancel_ping == ping.opaque:
                stream.cancel_read = True

    def _on_stream_frame(self, frame: protocol.Frame) -> None:
        sid = frame.stream_id
        name = type(frame).__name__.upper()
        stream = self.streams.get(sid)
        if stream is None:
            raise CaseFailed(f"the backend sent {name} on stream {sid}, which the kit never opened (section 3: "
                             "idle streams are opened by REQUEST)")
        if stream.cancel_ping is not None:
            if stream.cancel_read:
                raise CaseFailed(f"the backend sent {name} on stream {sid} after it had read the kit's CANCEL "
                                 "(section 2, CANCEL: no frame for the stream after CANCEL)")
            stream.late_frames += 1
            return
        if stream.reset is not None:
            raise CaseFailed(f"the backend sent {name} on stream {sid} after its own CANCEL (section 2, CANCEL)")
        if type(frame) is protocol.Window:
            stream.send_window += frame.increment
        elif type(frame) is protocol.Cancel:
            stream.reset = frame.code
        elif type(frame) is protocol.Response:
            self._on_response(stream, frame)
        elif type(frame) in (protocol.WsAccept, protocol.WsMessage, protocol.WsClose):
            self._on_ws(stream, frame)  # type: ignore[arg-type]
        else:
            self._on_body(stream, frame.data, frame.flags, "DATA")  # type: ignore[union-attr]

    def _on_response(self, stream: Stream, frame: protocol.Response) -> None:
        if stream.status is not None:
            raise CaseFailed(f"the backend sent a second RESPONSE on stream {stream.id} (section 2, RESPONSE: "
                             "at most once per stream)")
        if not 200 <= frame.status <= 599:
            raise CaseFailed(f"the backend answered {stream.what} with status {frame.status}, outside 200..599 "
                             "(section 2, RESPONSE)")
        stream.status = frame.status
        stream.headers = frame.headers
        if frame.flags & protocol.FILE:
            stream.frames += 1
            stream.ended = True
            return
        self._on_body(stream, frame.body, frame.flags, "RESPONSE")

    def _on_ws(self, stream: Stream, frame: protocol.Frame) -> None:
        """A WebSocket frame of the backend's (section 8)."""
        name = type(frame).__name__
        if not stream.websocket:
            raise CaseFailed(f"the backend sent {name} on stream {stream.id}, which the kit opened without "
                             "WEBSOCKET (section 8)")
        if stream.ws_close is not None or stream.status is not None:
            raise CaseFailed(f"the backend sent {name} on stream {stream.id} after its WS_CLOSE or RESPONSE "
                             "(section 8: each side sends WS_CLOSE once, and no message after it)")
        if type(frame) is protocol.WsAccept:
            if stream.ws_accept is not None:
                raise CaseFailed(f"the backend sent a second WS_ACCEPT on stream {stream.id} (section 8)")
            stream.ws_accept = frame
        elif type(frame) is protocol.WsClose:
            stream.ws_close = frame
        else:
            assert type(frame) is protocol.WsMessage
            if stream.ws_accept is None:
                raise CaseFailed(f"the backend sent WS_MESSAGE on stream {stream.id} before WS_ACCEPT (section 8)")
            if frame.kind not in (protocol.WS_TEXT, protocol.WS_BINARY):
                raise CaseFailed(f"the backend sent a WS_MESSAGE of kind {frame.kind} (section 8: 1 or 2)")
            stream.recv_window -= len(frame.data)
            if stream.recv_window < 0:
                raise CaseFailed(f"the backend sent message bytes beyond its window on stream {stream.id} "
                                 "(sections 4 and 8)")
            stream.ws_parts += frame.data
            if frame.data and stream.auto_grant:
                self._grants[stream.id] = self._grants.get(stream.id, 0) + len(frame.data)
            if frame.flags & protocol.END:
                stream.ws_messages.append((frame.kind, bytes(stream.ws_parts)))
                stream.ws_parts = bytearray()

    def _on_body(self, stream: Stream, data: bytes, flags: int, name: str) -> None:
        if stream.status is None:
            raise CaseFailed(f"the backend sent DATA on stream {stream.id} before RESPONSE (section 3)")
        if stream.ended:
            raise CaseFailed(f"the backend sent {name} on stream {stream.id} after the response's END "
                             "(section 3)")
        stream.frames += 1
        stream.recv_window -= len(data)
        if stream.recv_window < 0:
            raise CaseFailed(f"the backend sent {-stream.recv_window} body bytes beyond its window on stream "
                             f"{stream.id} ({len(stream.body) + len(data)} bytes in all) (section 4: a sender "
                             "MUST NOT send more than its window)")
        stream.body += data
        if flags & protocol.END:
            stream.ended = True
        elif data and stream.auto_grant:
            self._grants[stream.id] = self._grants.get(stream.id, 0) + len(data)

    def _send_grants(self) -> None:
        grants, self._grants = self._grants, {}
        for sid, n in grants.items():
            self.grant(sid, n)

    # --- what the cases call ------------------------------------------------------------

    def hello(self, data: Optional[bytes] = None) -> protocol.Hello:
        """Wait for the backend's HELLO, then send the kit's (``data``, or the usual one)."""
        self.pump(lambda: self.backend_hello is not None, "the backend's HELLO")
        hello = self.backend_hello
        assert hello is not None
        if protocol.MIN_MAX_FRAME <= hello.max_frame_size <= protocol.MAX_MAX_FRAME:
            self.backend_max_frame = hello.max_frame_size
        if protocol.MIN_WINDOW <= hello.initial_window <= protocol.MAX_WINDOW:
            self.backend_window = hello.initial_window
        self.hello_sent = True
        self.send(wire.kit_hello() if data is None else data, "HELLO (kit)")
        return hello

    def open_websocket(self, sid: int, target: bytes) -> Stream:
        """Send a WebSocket upgrade (REQUEST with WEBSOCKET | END) opening stream ``sid``."""
        stream = Stream(sid, f"WebSocket {target.decode('latin-1')}", self.backend_window, wire.KIT_WINDOW,
                        websocket=True)
        self.streams[sid] = stream
        self.highest = max(self.highest, sid)
        self.send(wire.request(sid, "GET", target, headers=wire.WS_HEADERS, flags=protocol.END | protocol.WEBSOCKET),
                  f"REQUEST stream {sid} {stream.what} (WEBSOCKET)")
        return stream

    def open(self, sid: int, method: str, target: bytes, body: bytes = b"", end: bool = True,
             auto_grant: bool = True, request_id: Optional[str] = None) -> Stream:
        """Send a REQUEST opening stream ``sid``; ``body`` must fit one frame and the window.
        ``request_id`` as ``wire.request()`` takes it."""
        stream = Stream(sid, f"{method} {target.decode('latin-1')}", self.backend_window - len(body),
                        wire.KIT_WINDOW, auto_grant)
        self.streams[sid] = stream
        self.highest = max(self.highest, sid)
        self.send(wire.request(sid, method, target, body, end, request_id=request_id),
                  f"REQUEST stream {sid} {stream.what}")
        return stream

    def send_body(self, sid: int, data: bytes, end: bool) -> None:
        """Request body on a stream, in DATA frames within the backend's frame size and window, waiting
        for WINDOW as needed."""
        stream = self.streams[sid]
        if not data:
            if end:
                self.send(protocol.data_frame(sid, protocol.END, b""), f"DATA stream {sid} END, empty")
            return
        view = memoryview(data)
        pos = 0
        while pos < len(data):
            self.pump(lambda: stream.send_window > 0 or stream.done,
                      f"WINDOW on stream {sid} (the kit has sent {pos} of {len(data)} body bytes and its window "
                      "is used up; section 4: the backend grants what the application has read)")
            if stream.done:
                raise CaseFailed(f"the backend ended stream {sid} before reading its request body")
            n = min(len(data) - pos, stream.send_window, self.backend_max_frame - DATA_OVERHEAD)
            last = end and pos + n == len(data)
            stream.send_window -= n
            self.send(protocol.data_frame(sid, protocol.END if last else 0, view[pos:pos + n]),
                      f"DATA stream {sid}, {n} bytes{' END' if last else ''}")
            pos += n

    def register(self, sid: int, what: str) -> Stream:
        """A stream the case opened with a REQUEST of its own making."""
        stream = Stream(sid, what, self.backend_window, wire.KIT_WINDOW)
        self.streams[sid] = stream
        self.highest = max(self.highest, sid)
        return stream

    def grant(self, sid: int, n: int) -> None:
        self.streams[sid].recv_window += n
        self.send(protocol.window_frame(sid, n), f"WINDOW stream {sid} +{n}")

    def cancel(self, sid: int, code: int = protocol.CANCEL_CLIENT_GONE) -> None:
        """CANCEL the stream, and PING right after it: once the PING is answered, the backend has read the
        CANCEL, and any later frame on the stream breaks section 2."""
        stream = self.streams[sid]
        opaque = next(_opaques)
        self.send(protocol.cancel_frame(sid, code), f"CANCEL stream {sid}")
        stream.cancel_ping = opaque
        self.send(protocol.ping_frame(0, False, opaque), f"PING {opaque:#x} (after the CANCEL)")

    def roundtrip(self, what: str = "the answer to the kit's PING") -> None:
        """PING and wait for its answer: the backend has read (and acted on) everything sent before."""
        opaque = next(_opaques)
        self.send(protocol.ping_frame(0, False, opaque), f"PING {opaque:#x}")
        self.pump(lambda: opaque in self.acks, what)

    def response(self, sid: int, timeout: Optional[float] = None) -> Stream:
        """Wait for the stream's whole response (or the backend's CANCEL of it)."""
        stream = self.streams[sid]
        self.pump(lambda: stream.done, f"the response to {stream.what} on stream {sid}", timeout)
        return stream

    def expect_answer(self, sid: int, status: int, body: bytes) -> Stream:
        """The stream's whole response, which must have this status and body."""
        stream = self.response(sid)
        if stream.reset is not None:
            raise CaseFailed(f"the backend cancelled {stream.what} (stream {sid}, code {stream.reset}) "
                             f"instead of answering it")
        if stream.status != status or stream.body != body:
            got = bytes(stream.body[:40]) + (b"..." if len(stream.body) > 40 else b"")
            raise CaseFailed(f"{stream.what} on stream {sid} was answered {stream.status} with "
                             f"{len(stream.body)} bytes {got!r}; the app answers {status} with {len(body)} "
                             f"bytes {body[:40]!r}")
        return stream

    def wait_closed(self, what: str, timeout: Optional[float] = None) -> None:
        """Wait until the backend closes the connection, reading (and checking) what comes first."""
        self.pump(lambda: self.eof, what, timeout, eof_ok=True)
