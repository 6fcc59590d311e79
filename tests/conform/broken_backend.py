#!/usr/bin/python3
"""A toy backend, written from protocol/PROTOCOL.md alone with raw sockets and msgpack, that can break rules.

    broken_backend.py --connect SOCK [--break RULE ...]

It imports nothing of tandem.  It serves the conformance kit's application
(GET /hello, POST /echo, POST /count, GET /stream?n=&size=, GET /request-id; see
tandem/conform/app.py) on one connection at a time, in one thread, with a
non-blocking socket.  Unlike tandem's backend it connects again after every
connection, a connection error included, so the kit's reconnection path is
used; SIGTERM drains (GOAWAY(NO_ERROR), open and crossed streams finish, the
close is left to the frontend for 2 s) and exits.

Without ``--break`` it keeps every rule the kit checks.  Each ``--break RULE``
breaks exactly one (``BREAKS`` lists them); tests/conform/test_conform.py
checks that the kit's case for that rule fails, and only the cases that also
see the broken rule.
"""

from __future__ import annotations

import argparse
import os
import select
import signal
import socket
import struct
import sys
import time
from typing import Any, Iterator, Optional

import msgpack

HELLO, GOAWAY, PING, REQUEST, RESPONSE, DATA, WINDOW, CANCEL = range(1, 9)
END = 0x1
NO_ERROR, PROTOCOL_ERROR, FRAME_TOO_LARGE, FLOW_CONTROL_ERROR, INTERNAL_ERROR, SUPERSEDED = 0, 1, 3, 4, 5, 7
CANCEL_REFUSED, CANCEL_INTERNAL = 3, 4
MAX_FRAME = 1 << 20
INITIAL_WINDOW = 1 << 20
MAX_STREAMS = 64
PRE_HELLO_MAX_FRAME = 65536
DATA_OVERHEAD = 16
DRAIN_GRACE = 2.0
U32 = 2**32 - 1
U64 = 2**64 - 1

BREAKS = {
    "wrong-version": "send HELLO with version 2",
    "accept-any-version": "serve a frontend whose HELLO has another version",
    "ignore-window": "send response body without regard to the window",
    "no-window-grants": "never send WINDOW for the request body read",
    "ignore-cancel": "go on serving a stream the frontend cancelled",
    "reject-unknown-types": "treat a frame of unknown type as PROTOCOL_ERROR",
    "no-frame-limit": "wait for the payload of a frame longer than max_frame_size",
    "strict-element-count": "refuse a frame with elements past the ones version 1 defines",
    "accept-trailing-bytes": "ignore bytes after the array in a payload",
    "close-on-drain": "close at once on the frontend's GOAWAY(NO_ERROR), open streams or not",
    "reconnect-when-superseded": "connect again after draining for the frontend's GOAWAY(SUPERSEDED)",
    "ignore-body-after-end": "ignore request body after END instead of cancelling the stream",
    "answer-ping-acks": "answer PINGs that have ack = true too",
    "ignore-max-streams": "serve a REQUEST beyond max_streams instead of refusing it",
    "reuse-ids": "serve a REQUEST whose id is not above the highest used",
    "ignore-unknown-streams": "ignore frames on streams above the highest opened",
    "utf8-internal-error": "answer invalid UTF-8 with GOAWAY(INTERNAL_ERROR)",
    "hang-on-eof": "keep the connection open after an EOF in the middle of a frame",
    "drop-when-blocked": "close the connection when a write would block",
    "require-request-id": "refuse a REQUEST without the optional request_id (a frontend from before it)",
    "empty-own-request-id": "answer GET /request-id with an empty id when the REQUEST has none",
}

LETTERS = b"abcdefghijklmnopqrstuvwxyz"


class ConnectionFault(Exception):
    """A connection error: GOAWAY(code, message), then close."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class Hangup(Exception):
    """The connection is over (``outcome``: reconnect or exit)."""

    def __init__(self, outcome: str) -> None:
        super().__init__(outcome)
        self.outcome = outcome


def frame(*items: Any) -> bytes:
    payload = msgpack.packb(list(items), use_bin_type=True)
    return struct.pack(">I", len(payload)) + payload


# --- payload checks (sections 1 and 2) -----------------------------------------------------


def is_uint(value: Any, high: int = U32) -> bool:
    return type(value) is int and 0 <= value <= high


def is_addr(value: Any) -> bool:
    return value is None or (type(value) is list and len(value) == 2 and type(value[0]) is str
                             and is_uint(value[1]))


FIELDS = {
    # type: (needs a stream, checks of the elements after type and stream id)
    HELLO: (False, [is_uint, str, str, lambda v: is_uint(v, U64), lambda v: is_uint(v, U64), is_uint, is_uint,
                    is_uint]),
    GOAWAY: (False, [is_uint, str]),
    PING: (False, [bool, lambda v: is_uint(v, U64)]),
    REQUEST: (True, [lambda v: is_uint(v, U64), str, bytes, bytes, bytes, str, list, is_addr, is_addr, str, bytes]),
    DATA: (True, [lambda v: is_uint(v, U64), bytes]),
    WINDOW: (True, [lambda v: is_uint(v) and v > 0]),
    CANCEL: (True, [is_uint]),
}
# Elements after those, which a sender of an earlier revision leaves out (PROTOCOL.md section 2, "Optional
# elements"): REQUEST's request_id.
OPTIONAL = {REQUEST: [str]}


def decode(payload: bytes, breaks: set[str]) -> list[Any]:
    unpacker = msgpack.Unpacker(raw=False, strict_map_key=False)
    unpacker.feed(payload)
    try:
        items = unpacker.unpack()
    except UnicodeDecodeError:
        code = INTERNAL_ERROR if "utf8-internal-error" in breaks else PROTOCOL_ERROR
        raise ConnectionFault(code, "invalid UTF-8 in a str") from None
    except (msgpack.OutOfData, ValueError, msgpack.UnpackException) as exc:
        raise ConnectionFault(PROTOCOL_ERROR, f"payload is not MessagePack: {exc!r}") from None
    if unpacker.tell() != len(payload) and "accept-trailing-bytes" not in breaks:
        raise ConnectionFault(PROTOCOL_ERROR, "bytes after the array")
    if type(items) is not list or len(items) < 2 or not is_uint(items[0]) or not is_uint(items[1], 2**31 - 1):
        raise ConnectionFault(PROTOCOL_ERROR, "not an array of type and stream id")
    spec = FIELDS.get(items[0])
    if spec is None:
        return items
    needs_stream, checks = spec
    if needs_stream != (items[1] != 0):
        raise ConnectionFault(PROTOCOL_ERROR, f"frame type {items[0]} on the wrong stream")
    optional = OPTIONAL.get(items[0], [])
    required = checks + optional if "require-request-id" in breaks else checks
    if len(items) < 2 + len(required):
        raise ConnectionFault(PROTOCOL_ERROR, f"frame type {items[0]} with too few elements")
    checks = checks + optional
    if len(items) > 2 + len(checks) and "strict-element-count" in breaks:
        raise ConnectionFault(PROTOCOL_ERROR, f"frame type {items[0]} with too many elements")
    for check, value in zip(checks, items[2:]):
        ok = type(value) is check if isinstance(check, type) else check(value)
        if not ok:
            raise ConnectionFault(PROTOCOL_ERROR, f"frame type {items[0]}: mistyped element {value!r}")
    return items


# --- streams: the kit's application ---------------------------------------------------------


class Stream:
    def __init__(self, sid: int, send_window: int) -> None:
        self.id = sid
        self.send_window = send_window
        self.recv_window = INITIAL_WINDOW
        self.unacked = 0
        self.route = ""
        self.count = 0
        self.pending = bytearray()          # response body not sent yet
        self.pieces: Optional[Iterator[bytes]] = None
        self.body_done = False              # no more response body will be queued
        self.request_ended = False
        self.request_id = ""


def pieces(query: bytes) -> Iterator[bytes]:
    params = dict(p.split(b"=", 1) for p in query.split(b"&") if b"=" in p)
    n, size = int(params.get(b"n", b"4")), int(params.get(b"size", b"1024"))
    for k in range(n):
        yield LETTERS[k % 26:k % 26 + 1] * size


class Connection:
    def __init__(self, sock: socket.socket, breaks: set[str], stopping: list[bool]) -> None:
        self.sock = sock
        self.breaks = breaks
        self.stopping = stopping
        self.inbuf = bytearray()
        self.out = bytearray()
        self.peer_hello: Optional[list[Any]] = None
        self.peer_max_frame = PRE_HELLO_MAX_FRAME
        self.peer_window = 0
        self.streams: dict[int, Stream] = {}
        self.last_id = 0
        self.peer_goaway: Optional[int] = None
        self.goaway_sent = False
        self.idle_since: Optional[float] = None
        version = 2 if "wrong-version" in breaks else 1
        self.send(frame(HELLO, 0, version, "backend", "broken", os.getpid(), int(time.time() * 1000), MAX_FRAME,
                        MAX_STREAMS, INITIAL_WINDOW))

    # --- output ---

    def send(self, data: bytes) -> None:
        self.out += data
        self.write()

    def write(self) -> None:
        while self.out:
            try:
                n = self.sock.send(self.out)
            except BlockingIOError:
                if "drop-when-blocked" in self.breaks:
                    raise Hangup("reconnect") from None
                return
            except OSError:
                raise Hangup("reconnect") from None
            del self.out[:n]

    # --- the loop ---

    def run(self) -> str:
        try:
            while True:
                if self.stopping[0]:
                    self.drain()
                readers = [self.sock] if not self.out or len(self.out) < (8 << 20) else []
                writers = [self.sock] if self.out else []
                readable, writable, _ = select.select(readers, writers, [], 0.05)
                if writable:
                    self.write()
                if readable:
                    self.read()
                self.check_idle()
        except ConnectionFault as fault:
            self.out.clear()
            try:
                self.sock.sendall(frame(GOAWAY, 0, fault.code, fault.message))
            except OSError:
                pass
            return "reconnect"
        except Hangup as hangup:
            return hangup.outcome

    def read(self) -> None:
        try:
            data = self.sock.recv(1 << 18)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            if self.inbuf and "hang-on-eof" in self.breaks:
                while not self.stopping[0]:
                    time.sleep(0.05)
                raise Hangup("exit")
            raise Hangup("exit" if self.goaway_sent or self.peer_goaway == SUPERSEDED else "reconnect")
        self.inbuf += data
        self.split()

    def split(self) -> None:
        buf = self.inbuf
        while len(buf) >= 4:
            length = struct.unpack(">I", buf[:4])[0]
            limit = MAX_FRAME if self.peer_hello is not None else PRE_HELLO_MAX_FRAME
            if length > limit and "no-frame-limit" not in self.breaks:
                raise ConnectionFault(FRAME_TOO_LARGE, f"frame length {length} above {limit}")
            if length == 0:
                raise ConnectionFault(PROTOCOL_ERROR, "frame length 0")
            if len(buf) < 4 + length:
                return
            payload = bytes(buf[4:4 + length])
            del buf[:4 + length]
            self.handle(decode(payload, self.breaks))

    # --- frames (sections 2 to 5) ---

    def handle(self, items: list[Any]) -> None:
        ftype, sid = items[0], items[1]
        if ftype not in FIELDS or ftype == RESPONSE:
            if ftype == RESPONSE or "reject-unknown-types" in self.breaks:
                raise ConnectionFault(PROTOCOL_ERROR, f"frame type {ftype} from the frontend")
            return
        if self.peer_hello is None and ftype not in (HELLO, GOAWAY):
            raise ConnectionFault(PROTOCOL_ERROR, "frame before HELLO")
        if ftype == HELLO:
            self.on_hello(items)
        elif ftype == GOAWAY:
            self.on_goaway(items[2])
        elif ftype == PING:
            if not items[2] or "answer-ping-acks" in self.breaks:
                self.send(frame(PING, 0, True, items[3]))
        elif ftype == REQUEST:
            self.on_request(items)
        else:
            self.on_stream_frame(ftype, sid, items)

    def on_hello(self, items: list[Any]) -> None:
        if self.peer_hello is not None:
            raise ConnectionFault(PROTOCOL_ERROR, "second HELLO")
        if items[2] != 1 and "accept-any-version" not in self.breaks:
            print(f"broken_backend: the frontend speaks version {items[2]}", file=sys.stderr)
            raise Hangup("reconnect")
        if items[3] != "frontend":
            raise ConnectionFault(PROTOCOL_ERROR, "peer is not a frontend")
        if not 65536 <= items[7] <= 16777216 or not 65536 <= items[9] <= 2**31 - 1:
            raise ConnectionFault(PROTOCOL_ERROR, "HELLO limits out of bounds")
        self.peer_hello = items
        self.peer_max_frame = items[7]
        self.peer_window = items[9]

    def on_goaway(self, code: int) -> None:
        if code not in (NO_ERROR, SUPERSEDED):
            raise Hangup("reconnect")
        self.peer_goaway = code
        if code == NO_ERROR and "close-on-drain" in self.breaks:
            raise Hangup("reconnect")

    def on_request(self, items: list[Any]) -> None:
        sid, flags, method, path, query, body = items[1], items[2], items[3], items[5], items[6], items[12]
        if sid <= self.last_id and "reuse-ids" not in self.breaks:
            raise ConnectionFault(PROTOCOL_ERROR, f"REQUEST {sid} not above {self.last_id}")
        self.last_id = max(self.last_id, sid)
        if len(body) > INITIAL_WINDOW:
            raise ConnectionFault(FLOW_CONTROL_ERROR, "request body beyond the window")
        full = len(self.streams) >= MAX_STREAMS and "ignore-max-streams" not in self.breaks
        if self.peer_goaway is not None or full:
            self.send(frame(CANCEL, sid, CANCEL_REFUSED))
            return
        stream = Stream(sid, self.peer_window)
        stream.recv_window -= len(body)
        self.streams[sid] = stream
        stream.request_id = items[13] if len(items) > 13 else ""
        if not stream.request_id and "empty-own-request-id" not in self.breaks:
            stream.request_id = os.urandom(16).hex()
        self.start(stream, method, path, query)
        self.body(stream, body, bool(flags & END))

    def on_stream_frame(self, ftype: int, sid: int, items: list[Any]) -> None:
        stream = self.streams.get(sid)
        if stream is None:
            if sid > self.last_id and "ignore-unknown-streams" not in self.breaks:
                raise ConnectionFault(PROTOCOL_ERROR, f"frame for stream {sid}, above the highest opened")
            return
        if ftype == CANCEL:
            if "ignore-cancel" not in self.breaks:
                del self.streams[sid]
        elif ftype == WINDOW:
            stream.send_window += items[2]
            self.flush(stream)
        elif stream.request_ended:
            if "ignore-body-after-end" not in self.breaks:
                self.send(frame(CANCEL, sid, CANCEL_INTERNAL))
                del self.streams[sid]
        else:
            if len(items[3]) > stream.recv_window:
                raise ConnectionFault(FLOW_CONTROL_ERROR, f"stream {sid}: body beyond the window")
            stream.recv_window -= len(items[3])
            self.body(stream, items[3], bool(items[2] & END))

    # --- the application ---

    def start(self, stream: Stream, method: str, path: bytes, query: bytes) -> None:
        stream.route = f"{method} {path.decode('latin-1')}"
        if stream.route == "GET /hello":
            self.respond(stream, b"hello")
        elif stream.route == "GET /request-id":
            self.respond(stream, stream.request_id.encode())
        elif stream.route in ("POST /echo", "GET /stream"):
            self.send(frame(RESPONSE, stream.id, 0, 200, [b"content-type", b"application/octet-stream"], b""))
            if stream.route == "GET /stream":
                stream.pieces = pieces(query)
                self.flush(stream)
        elif stream.route != "POST /count":
            self.respond(stream, b"Not Found", 404)

    def body(self, stream: Stream, data: bytes, end: bool) -> None:
        """Request body, read by the application at once (and granted back in batches)."""
        stream.count += len(data)
        if stream.route == "POST /echo":
            stream.pending += data
        stream.unacked += len(data)
        if end:
            stream.request_ended = True
            if stream.route == "POST /count":
                self.respond(stream, str(stream.count).encode())
            elif stream.route == "POST /echo":
                stream.body_done = True
        elif stream.unacked >= INITIAL_WINDOW // 2 and "no-window-grants" not in self.breaks:
            self.send(frame(WINDOW, stream.id, stream.unacked))
            stream.recv_window += stream.unacked
            stream.unacked = 0
        if stream.id in self.streams and stream.route == "POST /echo":
            self.flush(stream)

    def respond(self, stream: Stream, body: bytes, status: int = 200) -> None:
        self.send(frame(RESPONSE, stream.id, END, status, [b"content-type", b"text/plain"], body))
        self.streams.pop(stream.id, None)

    def flush(self, stream: Stream) -> None:
        """Send what the window (and the frame size) allows of the stream's pending response body."""
        while True:
            if not stream.pending and stream.pieces is not None:
                piece = next(stream.pieces, None)
                if piece is None:
                    stream.pieces = None
                    stream.body_done = True
                else:
                    stream.pending += piece
            room = len(stream.pending) if "ignore-window" in self.breaks else stream.send_window
            n = min(len(stream.pending), room, self.peer_max_frame - DATA_OVERHEAD)
            if n == 0 and (stream.pending or not stream.body_done):
                return
            last = stream.body_done and n == len(stream.pending) and stream.pieces is None
            self.send(frame(DATA, stream.id, END if last else 0, bytes(stream.pending[:n])))
            del stream.pending[:n]
            stream.send_window -= n
            if last:
                self.streams.pop(stream.id, None)
                return

    # --- draining ---

    def drain(self) -> None:
        if not self.goaway_sent:
            self.goaway_sent = True
            self.send(frame(GOAWAY, 0, NO_ERROR, "broken_backend shutting down"))

    def check_idle(self) -> None:
        """Close a drained connection once no stream is left (after the grace period, for our own drain)."""
        if self.streams or (self.peer_goaway is None and not self.goaway_sent):
            self.idle_since = None
            return
        if self.peer_goaway is not None and not self.out:
            superseded = self.peer_goaway == SUPERSEDED and "reconnect-when-superseded" not in self.breaks
            raise Hangup("exit" if self.goaway_sent or superseded else "reconnect")
        now = time.monotonic()
        if self.idle_since is None:
            self.idle_since = now
        elif now - self.idle_since > DRAIN_GRACE:
            raise Hangup("exit")


def connect(path: str, stopping: list[bool]) -> Optional[socket.socket]:
    deadline = time.monotonic() + 30
    while not stopping[0] and time.monotonic() < deadline:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.connect(path)
        except OSError:
            sock.close()
            time.sleep(0.05)
            continue
        sock.setblocking(False)
        return sock
    return None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--connect", required=True, metavar="SOCK")
    parser.add_argument("--break", dest="breaks", action="append", default=[], choices=sorted(BREAKS))
    args = parser.parse_args()
    stopping = [False]
    signal.signal(signal.SIGTERM, lambda *_: stopping.__setitem__(0, True))
    while not stopping[0]:
        sock = connect(args.connect, stopping)
        if sock is None:
            return 1
        outcome = Connection(sock, set(args.breaks), stopping).run()
        sock.close()
        if outcome == "exit":
            return 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
