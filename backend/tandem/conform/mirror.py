"""The mirror kit: fake backends and HTTP clients against a real frontend, and the frontend's process.

``python3 -m tandem.conform --frontend CMD`` runs the frontend's command line
(``{socket}`` and ``{port}`` replaced by a socket path and a free port on
127.0.0.1 the kit picks), waits until it listens on both, and runs the cases
of ``cases_frontend``.  Each case is handed a ``MirrorKit``: it connects fake
backends to the socket (``FakeBackend``, which does the backend's HELLO
itself) and HTTP clients to the port (``client.Client``), and one loop,
``MirrorKit.pump``, does the I/O of all of them, so that every connection is
served whatever the case waits for.  The loop also watches the frontend's
process: a frontend that dies during a case fails that case at once (a crash
is the worst outcome a misbehaving backend can cause), and is started again
before the next one (``FrontendRunner``, which also probes the frontend with
a backend's HELLO after each case: one that died a moment ago, or runs but
answers nothing, fails the case too).

Every frame the frontend sends a fake backend is held to the rules of the
frontend's part, whatever the case is about (``FakeBackend._check``):

* its first frame answers the backend's HELLO with HELLO (or refuses it with
  GOAWAY), and there is no second HELLO (section 2, HELLO);
* frames are well-formed and within the max_frame_size the fake backend
  announced (65536 until the HELLO exchange is complete; section 1), and none
  is cut short by the close (section 5);
* nothing follows a GOAWAY that reports an error: the sender closes right
  after it (section 2, GOAWAY);
* REQUEST ids strictly increase, never more streams are open than the
  backend's max_streams, and no REQUEST comes once the frontend has read the
  backend's GOAWAY, or after its own (sections 2 and 3);
* request body stays within the window the kit granted and nothing follows
  its END (sections 3 and 4); no frame names a stream the frontend never
  opened; nothing comes on a stream after the frontend's own CANCEL of it, nor
  after it has read the kit's (known by a PING sent right after the CANCEL);
  a RESPONSE never comes from a frontend (section 2).

Calls ``protocol``, ``wire``, ``link`` (the connection's I/O), ``client`` and
``runner`` (the process code, the Target the report runs).
"""

from __future__ import annotations

import itertools
import os
import select
import shlex
import socket
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

from .. import protocol
from . import wire
from .client import Client
from .link import CaseFailed, Link, WaitTimedOut
from .runner import Child, Result, describe_exit

POLL = 0.05
PORT_TRIES = 3
DATA_OVERHEAD = 16      # bytes a DATA frame's payload spends besides its data
DRAIN_CODES = (protocol.NO_ERROR, protocol.SUPERSEDED)

_opaques = itertools.count(0xF00D0001)


def code_name(code: int) -> str:
    return protocol.GOAWAY_NAMES.get(code, str(code))


def cancel_name(code: Optional[int]) -> str:
    return "none" if code is None else protocol.CANCEL_NAMES.get(code, str(code))


# --- a fake backend ------------------------------------------------------------------------


@dataclass
class BStream:
    """What a fake backend knows of one stream the frontend opened."""

    id: int
    request: protocol.Request
    recv_window: int             # request body bytes the frontend may still send
    send_window: int             # response body bytes the kit may still send
    auto_grant: bool = True
    body: bytearray = field(default_factory=bytearray)
    req_ended: bool = False      # the request body's END arrived
    resp_started: bool = False   # the kit sent RESPONSE
    resp_ended: bool = False     # the kit sent the response's END
    cancel: Optional[int] = None           # the frontend's CANCEL code
    cancel_ping: Optional[int] = None      # the PING sent right after the kit's CANCEL
    cancel_read: bool = False              # answered: the frontend has read the kit's CANCEL
    late: int = 0                          # frames that crossed the kit's END or CANCEL
    granted: int = 0                       # WINDOW increments the frontend sent
    ws_parts: bytearray = field(default_factory=bytearray)   # a WebSocket message under way (section 8)
    ws_messages: list = field(default_factory=list)           # whole messages from the frontend: (kind, data)
    ws_close: Optional[protocol.WsClose] = None                # the frontend's WS_CLOSE

    @property
    def what(self) -> str:
        return f"{self.request.method} {self.request.target.decode('latin-1')}"

    @property
    def open(self) -> bool:
        """Open as far as the kit knows: neither side has cancelled it, and not both directions have ended."""
        return (self.cancel is None and self.cancel_ping is None
                and not (self.req_ended and self.resp_ended))


class FakeBackend(Link):
    """The kit as one backend connection of the frontend under test (see the module doc)."""

    def __init__(self, sock: socket.socket, timeout: float, name: str,
                 loop: Callable[[Callable[[], bool], str, Optional[float]], None]) -> None:
        super().__init__(sock, timeout, name, "frontend")
        self.loop = loop
        self.frontend_hello: Optional[protocol.Hello] = None
        self.hello_sent = False
        self.max_streams = wire.KIT_MAX_STREAMS     # what this backend announced
        self.max_frame = wire.KIT_MAX_FRAME
        self.window = wire.KIT_WINDOW
        self.frontend_max_frame = protocol.PRE_HELLO_MAX_FRAME
        self.frontend_window = protocol.MIN_WINDOW
        self.streams: dict[int, BStream] = {}
        self.new_streams: deque[BStream] = deque()
        self.highest = 0
        self.auto_grant = True
        self.goaway_ping: Optional[int] = None
        self.goaway_read = False
        self.error_goaway: Optional[protocol.GoAway] = None
        self._grants: dict[int, int] = {}

    def frame_limit(self) -> int:
        """What the backend announced, once the HELLO exchange is complete; 65536 until then (section 1)."""
        return self.max_frame if self.frontend_hello is not None else protocol.PRE_HELLO_MAX_FRAME

    # --- the rules of the frontend's frames ----------------------------------------------

    def _check(self, frame: protocol.Frame) -> None:
        kind = type(frame)
        name = kind.__name__.upper()
        if self.error_goaway is not None:
            raise CaseFailed(f"the frontend sent {name} after its GOAWAY({code_name(self.error_goaway.code)}) "
                             "(section 2, GOAWAY: with a code other than NO_ERROR or SUPERSEDED the sender closes "
                             "the connection right after it)")
        if kind is protocol.GoAway:
            self.goaways.append(frame)  # type: ignore[arg-type]
            if frame.code not in DRAIN_CODES:  # type: ignore[union-attr]
                self.error_goaway = frame  # type: ignore[assignment]
            return
        if self.frontend_hello is None:
            if kind is not protocol.Hello:
                raise CaseFailed(f"the frontend's first frame is {name}, not HELLO (section 2, HELLO: it answers "
                                 "the backend's HELLO with its own, or with GOAWAY)")
            if not self.hello_sent:
                raise CaseFailed("the frontend sent HELLO before the backend's (section 2, HELLO: the frontend "
                                 "answers with its own HELLO)")
            self._on_hello(frame)  # type: ignore[arg-type]
            return
        if kind is protocol.Hello:
            raise CaseFailed("the frontend sent a second HELLO (section 2, HELLO: only once)")
        if kind is protocol.Ping:
            self._on_ping(frame)  # type: ignore[arg-type]
        elif kind is protocol.Request:
            self._on_request(frame)  # type: ignore[arg-type]
        elif kind in (protocol.Data, protocol.Window, protocol.Cancel, protocol.WsMessage, protocol.WsClose):
            self._on_stream_frame(frame)
        elif kind is protocol.Response or kind is protocol.WsAccept:
            raise CaseFailed(f"the frontend sent {name} on stream {frame.stream_id}, a frame only backends "
                             "send (sections 2 and 8)")

    def _on_hello(self, hello: protocol.Hello) -> None:
        self.frontend_hello = hello
        if protocol.MIN_MAX_FRAME <= hello.max_frame_size <= protocol.MAX_MAX_FRAME:
            self.frontend_max_frame = hello.max_frame_size
        if protocol.MIN_WINDOW <= hello.initial_window <= protocol.MAX_WINDOW:
            self.frontend_window = hello.initial_window

    def _on_ping(self, ping: protocol.Ping) -> None:
        if not ping.ack:
            if self.answer_pings:
                self.send(protocol.ping_frame(0, True, ping.opaque), "PING ack (answer)")
            return
        self.acks.append(ping.opaque)
        if ping.opaque == self.goaway_ping:
            self.goaway_read = True
        for stream in self.streams.values():
            if stream.cancel_ping == ping.opaque:
                stream.cancel_read = True

    def _on_request(self, r: protocol.Request) -> None:
        sid = r.stream_id
        if self.goaway_read:
            raise CaseFailed(f"the frontend opened stream {sid} ({r.method} {r.target!r}) after it had read the "
                             "backend's GOAWAY (section 2, GOAWAY: the frontend then sends it no new REQUEST)")
        if self.goaways:
            raise CaseFailed(f"the frontend opened stream {sid} ({r.method} {r.target!r}) after its own "
                             f"GOAWAY({code_name(self.goaways[-1].code)}) (section 2, GOAWAY: a drained or superseded "
                             "backend gets no new stream)")
        if sid <= self.highest:
            raise CaseFailed(f"the frontend opened stream {sid} after stream {self.highest} (section 2, REQUEST: "
                             "stream ids strictly increase and are never reused)")
        count = sum(1 for s in self.streams.values() if s.open)
        if count >= self.max_streams:
            raise CaseFailed(f"the frontend opened stream {sid} while {count} streams were open on this connection, "
                             f"the backend's max_streams (section 2, HELLO: the frontend never opens more)")
        if len(r.body) > self.window:
            raise CaseFailed(f"the frontend sent {len(r.body)} body bytes in the REQUEST on stream {sid}, beyond the "
                             f"backend's initial_window of {self.window} (section 4)")
        stream = BStream(sid, r, self.window - len(r.body), self.frontend_window, self.auto_grant,
                         bytearray(r.body), bool(r.flags & protocol.END))
        self.highest = sid
        self.streams[sid] = stream
        self.new_streams.append(stream)
        if r.body and not stream.req_ended and stream.auto_grant:
            self._grants[sid] = self._grants.get(sid, 0) + len(r.body)

    def _on_stream_frame(self, frame: protocol.Frame) -> None:
        sid = frame.stream_id
        name = type(frame).__name__.upper()
        stream = self.streams.get(sid)
        if stream is None:
            where = "above the highest it opened" if sid > self.highest else "an id it skipped"
            raise CaseFailed(f"the frontend sent {name} on stream {sid}, which it never opened ({where}; section 5)")
        if stream.cancel is not None:
            raise CaseFailed(f"the frontend sent {name} on stream {sid} after its own CANCEL "
                             f"({cancel_name(stream.cancel)}) of it (section 2, CANCEL: no frame for the stream "
                             "after CANCEL)")
        if stream.cancel_ping is not None:
            if stream.cancel_read:
                raise CaseFailed(f"the frontend sent {name} on stream {sid} after it had read the backend's CANCEL "
                                 "(section 2, CANCEL: no frame for the stream after CANCEL)")
            stream.late += 1
            return
        if type(frame) is protocol.Cancel:
            stream.cancel = frame.code
        elif type(frame) is protocol.Window:
            stream.granted += frame.increment
            if stream.resp_ended:
                stream.late += 1    # a grant that crossed the response's END
            else:
                stream.send_window += frame.increment
        elif type(frame) in (protocol.WsMessage, protocol.WsClose):
            self._on_ws(stream, frame)
        else:
            self._on_body(stream, frame)  # type: ignore[arg-type]

    def _on_ws(self, stream: BStream, frame: protocol.Frame) -> None:
        """The frontend's WS_MESSAGE or WS_CLOSE (section 8)."""
        if not stream.request.flags & protocol.WEBSOCKET:
            raise CaseFailed(f"the frontend sent {type(frame).__name__} on stream {stream.id}, which it opened "
                             "without WEBSOCKET (section 8)")
        if stream.ws_close is not None:
            raise CaseFailed(f"the frontend sent {type(frame).__name__} on stream {stream.id} after its WS_CLOSE "
                             "(section 8: WS_CLOSE once, and no message after it)")
        if type(frame) is protocol.WsClose:
            stream.ws_close = frame
            return
        assert type(frame) is protocol.WsMessage
        stream.recv_window -= len(frame.data)
        if stream.recv_window < 0:
            raise CaseFailed(f"the frontend sent message bytes beyond the window on stream {stream.id} "
                             "(sections 4 and 8)")
        stream.ws_parts += frame.data
        if frame.data and stream.auto_grant:
            self._grants[stream.id] = self._grants.get(stream.id, 0) + len(frame.data)
        if frame.flags & protocol.END:
            stream.ws_messages.append((frame.kind, bytes(stream.ws_parts)))
            stream.ws_parts = bytearray()

    def _on_body(self, stream: BStream, frame: protocol.Data) -> None:
        if stream.req_ended:
            raise CaseFailed(f"the frontend sent DATA on stream {stream.id} after the request body's END "
                             "(section 3)")
        stream.recv_window -= len(frame.data)
        if stream.recv_window < 0:
            raise CaseFailed(f"the frontend sent {-stream.recv_window} request body bytes beyond the window on "
                             f"stream {stream.id} ({len(stream.body) + len(frame.data)} bytes in all; section 4: a "
                             "sender MUST NOT send more than its window)")
        stream.body += frame.data
        if frame.flags & protocol.END:
            stream.req_ended = True
        elif frame.data and stream.auto_grant:
            self._grants[stream.id] = self._grants.get(stream.id, 0) + len(frame.data)

    def _after_read(self) -> None:
        grants, self._grants = self._grants, {}
        for sid, n in grants.items():
            self.grant(sid, n)

    def _on_eof(self) -> None:
        if self._in:
            raise CaseFailed(f"the frontend closed {self.name} in the middle of a frame ({len(self._in)} bytes of "
                             "it had come; section 5: a frame is never cut short)")

    # --- waiting ---------------------------------------------------------------------------

    def wait(self, until: Callable[[], bool], what: str, timeout: Optional[float] = None,
             eof_ok: bool = False) -> None:
        """Run the kit's loop until ``until()``; CaseFailed if the frontend closes this connection first
        (unless ``eof_ok``) or ``timeout`` passes."""
        def done() -> bool:
            if until():
                return True
            if self.eof:
                if eof_ok:
                    return True
                raise CaseFailed(f"the frontend closed {self.name} while the kit waited for {what}"
                                 + self.goaway_said())
            return False

        self.loop(done, what, timeout)

    def pump(self, until: Callable[[], bool], what: str, timeout: Optional[float] = None,
             read: bool = True, eof_ok: bool = False) -> None:
        self.wait(until, what, timeout, eof_ok)

    # --- what the cases call ---------------------------------------------------------------

    def hello(self, data: Optional[bytes] = None, max_streams: int = wire.KIT_MAX_STREAMS,
              max_frame_size: int = wire.KIT_MAX_FRAME, initial_window: int = wire.KIT_WINDOW, **more: Any) -> None:
        """Send the backend's HELLO: ``data``, or the usual one with these limits (and ``more`` of
        ``wire.backend_hello``'s fields)."""
        self.max_streams, self.max_frame, self.window = max_streams, max_frame_size, initial_window
        self.hello_sent = True
        if data is None:
            data = wire.backend_hello(max_streams=max_streams, max_frame_size=max_frame_size,
                                      initial_window=initial_window, **more)
        self.send(data, "HELLO (kit's backend)")

    def wait_hello(self) -> protocol.Hello:
        self.wait(lambda: self.frontend_hello is not None, "the frontend's HELLO in answer to the backend's")
        assert self.frontend_hello is not None
        return self.frontend_hello

    def fence(self, label: str = "") -> int:
        """A PING; once it is answered, the frontend has read everything sent before it."""
        opaque = next(_opaques)
        self.send(protocol.ping_frame(0, False, opaque), f"PING {opaque:#x}{label}")
        return opaque

    def roundtrip(self, what: str = "the answer to the kit's PING") -> None:
        opaque = self.fence()
        self.wait(lambda: opaque in self.acks, what)

    def next_request(self, what: str, timeout: Optional[float] = None) -> BStream:
        """The next stream the frontend opens on this connection."""
        self.wait(lambda: bool(self.new_streams), f"the REQUEST of {what} on {self.name}", timeout)
        return self.new_streams.popleft()

    def request_body(self, stream: BStream, what: str) -> bytes:
        """The whole request body of the stream (the kit grants window as it reads, unless told not to)."""
        self.wait(lambda: stream.req_ended or stream.cancel is not None,
                  f"the whole request body of {what} on stream {stream.id}")
        return bytes(stream.body)

    def respond(self, stream: BStream, status: int = 200, headers: Optional[list[tuple[bytes, bytes]]] = None,
                body: bytes = b"", end: bool = True, flags: int = 0) -> None:
        """A RESPONSE on the stream, as given (the case keeps it within the window and the frame size)."""
        flat = [x for pair in headers or [] for x in pair]
        flags |= protocol.END if end else 0
        stream.resp_started = True
        stream.resp_ended = stream.resp_ended or end
        if not flags & protocol.FILE:
            stream.send_window -= len(body)
        self.send(protocol.response_frame(stream.id, flags, status, flat, body),
                  f"RESPONSE stream {stream.id} {status}{' END' if end else ''}, {len(body)} body bytes")

    def send_body(self, stream: BStream, data: bytes, end: bool) -> None:
        """Response body in DATA frames within the frontend's frame size and window, waiting for WINDOW."""
        if not data:
            if end:
                stream.resp_ended = True
                self.send(protocol.data_frame(stream.id, protocol.END, b""), f"DATA stream {stream.id} END, empty")
            return
        view = memoryview(data)
        pos = 0
        while pos < len(data):
            self.wait(lambda: stream.send_window > 0 or stream.cancel is not None,
                      f"WINDOW on stream {stream.id} (the kit has sent {pos} of {len(data)} body bytes and its "
                      "window is used up; section 4: the frontend grants what it has written to the client)")
            if stream.cancel is not None:
                raise CaseFailed(f"the frontend cancelled stream {stream.id} ({cancel_name(stream.cancel)}) before "
                                 "its response was over")
            n = min(len(data) - pos, stream.send_window, self.frontend_max_frame - DATA_OVERHEAD)
            last = end and pos + n == len(data)
            stream.send_window -= n
            stream.resp_ended = stream.resp_ended or last
            self.send(protocol.data_frame(stream.id, protocol.END if last else 0, view[pos:pos + n]),
                      f"DATA stream {stream.id}, {n} bytes{' END' if last else ''}")
            pos += n

    def grant(self, sid: int, n: int) -> None:
        self.streams[sid].recv_window += n
        self.send(protocol.window_frame(sid, n), f"WINDOW stream {sid} +{n}")

    def cancel(self, stream: BStream, code: int) -> None:
        """CANCEL the stream, and PING right after it (see ``BStream.cancel_read``)."""
        self.send(protocol.cancel_frame(stream.id, code), f"CANCEL stream {stream.id} ({cancel_name(code)})")
        stream.cancel_ping = self.fence(" (after the CANCEL)")

    def goaway(self, code: int, message: str) -> None:
        """GOAWAY, and PING right after it: once answered, the frontend must open no stream here."""
        self.send(protocol.goaway_frame(0, code, message), f"GOAWAY({code_name(code)})")
        self.goaway_ping = self.fence(" (after the GOAWAY)")

    def wait_cancel(self, stream: BStream, what: str, timeout: Optional[float] = None) -> int:
        """The code of the frontend's CANCEL of the stream."""
        self.wait(lambda: stream.cancel is not None, f"the frontend's CANCEL of stream {stream.id} ({what})", timeout)
        assert stream.cancel is not None
        return stream.cancel

    def wait_closed(self, what: str, timeout: Optional[float] = None) -> None:
        self.wait(lambda: self.eof, what, timeout, eof_ok=True)

    def expect_connection_error(self, code: int, after: str) -> None:
        """Section 5: the frontend sends GOAWAY(code), then closes the connection."""
        try:
            self.wait_closed(f"the frontend to close {self.name} after {after}")
        except WaitTimedOut:
            said = f"; it sent GOAWAY({code_name(self.goaways[-1].code)})" if self.goaways else ""
            raise CaseFailed(f"the frontend did not close {self.name} within {self.timeout:g}s after {after}{said} "
                             f"(section 5: a connection error {code_name(code)}: GOAWAY, then close)") from None
        if not self.goaways:
            raise CaseFailed(f"the frontend closed {self.name} after {after} without a GOAWAY (section 5: the "
                             f"detecting side sends GOAWAY({code_name(code)}) before it closes; it may leave it out "
                             "only when the socket will not take it, and the kit was reading)")
        got = self.goaways[-1]
        if got.code != code:
            raise CaseFailed(f"the frontend answered {after} with GOAWAY({code_name(got.code)}, {got.message!r}), not "
                             f"GOAWAY({code_name(code)}) (section 5)")


# --- the frontend's process ----------------------------------------------------------------


class StartFailed(Exception):
    """The frontend did not come up listening; the message says why."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def tcp_accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


class Frontend(Child):
    """The frontend's process: ``{socket}`` and ``{port}`` in its command line are replaced at each start
    (a new free port each time)."""

    def __init__(self, command: str, socket_path: str, log_path: str) -> None:
        super().__init__(shlex.split(command), log_path, "frontend")
        self.template = list(self.argv)
        self.socket_path = socket_path
        self.port = 0

    def start(self, timeout: float) -> None:
        """Start it and wait until it listens on the port and has made the socket; StartFailed if not."""
        for attempt in range(PORT_TRIES):
            self.port = free_port()
            self.argv = [a.replace("{socket}", self.socket_path).replace("{port}", str(self.port))
                         for a in self.template]
            if os.path.lexists(self.socket_path):
                os.unlink(self.socket_path)     # the kit's path, left by a frontend that died
            self.spawn(self.argv)
            status = self._wait_ready(timeout)
            if status is None:
                return
            in_use = "in use" in self.log_tail().lower()
            if not in_use or attempt == PORT_TRIES - 1:
                raise StartFailed(f"the frontend {describe_exit(status)} before it listened on 127.0.0.1:{self.port} "
                                  f"(last lines of its output:){self.log_lines()}")

    def _wait_ready(self, timeout: float) -> Optional[int]:
        """None once it listens; its exit status if it ends first."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status = self.exit_status()
            if status is not None:
                return status
            if os.path.exists(self.socket_path) and tcp_accepts(self.port):
                return None
            time.sleep(POLL)
        self.stop()
        raise StartFailed(f"the frontend did not listen on 127.0.0.1:{self.port} and {self.socket_path} within "
                          f"{timeout:g}s (last lines of its output:){self.log_lines()}")


class FrontendRunner:
    """The frontend kit's ``runner.Target``: starts the frontend, hands each case a ``MirrorKit``, fails a case
    the frontend died in and starts it again for the next."""

    def __init__(self, frontend: Frontend, workdir: str, timeout: float, connect_timeout: float,
                 request_timeout: float) -> None:
        self.frontend = frontend
        self.workdir = workdir
        self.timeout = timeout
        self.connect_timeout = connect_timeout
        self.request_timeout = request_timeout
        self.gone: Optional[str] = None     # why no frontend will run any more
        self.restarts = 0
        self.death_reported = False

    def start(self) -> None:
        try:
            self.frontend.start(self.connect_timeout)
        except StartFailed as exc:
            self.gone = str(exc)

    def ensure(self) -> None:
        """CaseFailed unless the frontend is running."""
        if self.gone is not None:
            raise CaseFailed(self.gone)
        status = self.frontend.exit_status()
        if status is not None:
            raise CaseFailed(self.died(status))

    def died(self, status: int) -> str:
        self.death_reported = True
        return (f"the frontend {describe_exit(status)} during the case (a crash is the worst outcome; the last lines "
                f"of its output:){self.frontend.log_lines(12)}")

    def new_kit(self) -> "MirrorKit":
        self.death_reported = False
        return MirrorKit(self)

    def after_case(self, result: Result) -> None:
        if self.gone is not None:
            return
        status = self.frontend.exit_status()
        if status is None and not self.answers():
            # A frontend that dies closes its connections a moment before its exit can be seen (and its
            # listening sockets may outlive them); one that still runs and answers no HELLO is as good as dead.
            status = self.frontend.wait_exit(self.connect_timeout)
            if status is None:
                self.fail(result, f"the frontend stopped answering a backend's HELLO during the case (it did not "
                                  f"within {self.connect_timeout:g}s after it); the kit stopped it")
                self.frontend.stop()
        if status is not None and not self.death_reported:
            self.fail(result, self.died(status))
        if self.frontend.exit_status() is not None:
            self.restarts += 1
            self.start()

    def answers(self) -> bool:
        """Whether the frontend answers a backend's HELLO, as a live one does at once (the probe then closes)."""
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
                probe.settimeout(self.connect_timeout)
                probe.connect(self.frontend.socket_path)
                probe.sendall(wire.backend_hello())
                return bool(probe.recv(protocol.HEADER_SIZE))
        except OSError:
            return False

    @staticmethod
    def fail(result: Result, reason: str) -> None:
        result.status = "FAIL"
        result.reason = (result.reason + "\n" if result.reason else "") + reason

    def summary(self) -> str:
        return f"(the frontend was started again {self.restarts} times)" if self.restarts else ""

    def close(self) -> None:
        self.frontend.stop()


# --- what a case is handed -------------------------------------------------------------------


class MirrorKit:
    """Fake backends and clients for one case, the loop that serves them all, and the settings (module doc)."""

    def __init__(self, runner: FrontendRunner) -> None:
        self.runner = runner
        self.timeout = runner.timeout
        self.request_timeout = runner.request_timeout
        self.workdir = runner.workdir
        self.notes: list[str] = []
        self.conns: list = []            # FakeBackend and Client, in the order they were made
        self._backends = 0
        self._clients = 0

    @property
    def port(self) -> int:
        return self.runner.frontend.port

    def note(self, text: str) -> None:
        self.notes.append(text)

    def connections(self) -> list:
        return self.conns

    def close(self) -> None:
        for conn in self.conns:
            conn.close()

    def pump(self, until: Callable[[], bool], what: str, timeout: Optional[float] = None) -> None:
        """The I/O of every connection of the case until ``until()``; CaseFailed if the frontend dies or
        ``timeout`` (the kit's --timeout) passes first."""
        limit = self.timeout if timeout is None else timeout
        deadline = time.monotonic() + limit
        frontend = self.runner.frontend
        while not until():
            status = frontend.exit_status()
            if status is not None:
                raise CaseFailed(self.runner.died(status))
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise WaitTimedOut(f"waited {limit:g}s for {what}; it did not come")
            live = [c for c in self.conns if c.fileno() >= 0]
            readers = [c for c in live if c.wants_read()]
            writers = [c for c in live if c.wants_write()]
            if not readers and not writers:
                time.sleep(min(remaining, POLL))
                continue
            readable, writable, _ = select.select(readers, writers, [], min(remaining, POLL))
            for conn in writable:
                conn._write()
            for conn in readable:
                conn._read()

    def connect_backend(self, name: Optional[str] = None) -> FakeBackend:
        """A new connection to the frontend's backend socket; nothing sent on it yet."""
        self.runner.ensure()
        self._backends += 1
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        deadline = time.monotonic() + self.runner.connect_timeout
        while True:
            try:
                sock.connect(self.runner.frontend.socket_path)
                break
            except (FileNotFoundError, ConnectionRefusedError) as exc:
                if time.monotonic() > deadline:
                    sock.close()
                    raise CaseFailed(f"the kit could not connect to the frontend's backend socket: {exc}") from None
                time.sleep(POLL)
        backend = FakeBackend(sock, self.timeout, name or f"backend {self._backends}", self.pump)
        self.conns.append(backend)
        return backend

    def backend(self, name: Optional[str] = None, max_streams: int = wire.KIT_MAX_STREAMS, **hello: Any) -> FakeBackend:
        """A fake backend attached: its HELLO sent (with ``hello``'s limits and fields: ``FakeBackend.hello``)
        and the frontend's read."""
        backend = self.connect_backend(name)
        backend.hello(max_streams=max_streams, **hello)
        backend.wait_hello()
        return backend

    def client(self, name: Optional[str] = None, rcvbuf: int = 0) -> Client:
        """A new HTTP connection to the frontend's port (``rcvbuf``: a small receive buffer, for a client that
        is to stop reading and soon hold the frontend up)."""
        self.runner.ensure()
        self._clients += 1
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        sock.settimeout(self.timeout)
        try:
            sock.connect(("127.0.0.1", self.port))
        except OSError as exc:
            sock.close()
            raise CaseFailed(f"the kit could not connect to the frontend on 127.0.0.1:{self.port}: {exc}") from None
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        client = Client(sock, name or f"client {self._clients}", self.pump, self.timeout)
        self.conns.append(client)
        return client
