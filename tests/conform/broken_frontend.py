#!/usr/bin/python3
"""A toy frontend, written from protocol/PROTOCOL.md alone with raw sockets and msgpack, that can break rules.

    broken_frontend.py --listen 127.0.0.1:PORT --backend-socket PATH [--request-timeout S] [--break RULE ...]

It imports nothing of tandem.  One thread, one select loop: backends connect
to the Unix socket, HTTP/1.1 clients to the port.  It serves one request at a
time per client connection, bodies delimited by content-length only, read
whole before the REQUEST goes out; a request no backend has room for gets 503
at once (a policy section 2 leaves to the frontend).  It announces
max_frame_size 1 MiB and initial_window 256 KiB, as tandem's frontend does,
and has no request timeout unless given one.  Backends of a newer generation
of an app supersede the older.  No static files, no FILE responses, no
pipelining: tests/conform/test_mirror_catches.py runs only the kit's cases
this toy can serve (``SERVED`` there).

Without ``--break`` it keeps every rule those cases check.  Each ``--break
RULE`` breaks exactly one (``BREAKS`` lists them); the test checks that the
kit fails the cases for that rule, and only those.
"""

from __future__ import annotations

import argparse
import email.utils
import os
import re
import select
import signal
import socket
import struct
import sys
import time
import urllib.parse
from typing import Any, Optional

import msgpack

HELLO, GOAWAY, PING, REQUEST, RESPONSE, DATA, WINDOW, CANCEL = range(1, 9)
END, FILE = 0x1, 0x2
NO_ERROR, PROTOCOL_ERROR, VERSION_MISMATCH, FRAME_TOO_LARGE, FLOW_CONTROL_ERROR, SUPERSEDED = 0, 1, 2, 3, 4, 7
C_NO_ERROR, C_CLIENT_GONE, C_TIMEOUT, C_REFUSED, C_INTERNAL = 0, 1, 2, 3, 4
MAX_FRAME = 1 << 20
WINDOW_SIZE = 256 * 1024
PRE_HELLO_MAX_FRAME = 65536
U32, U64 = 2**32 - 1, 2**64 - 1
TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
HOP = {b"connection", b"keep-alive", b"transfer-encoding", b"upgrade"}
REASONS = {200: "OK", 204: "No Content", 500: "Internal Server Error", 502: "Bad Gateway",
           503: "Service Unavailable", 504: "Gateway Timeout"}

BREAKS = {
    "no-request-id": "send REQUEST without its request_id (as a frontend from before it)",
    "no-goaway": "close on a connection error without GOAWAY",
    "wrong-goaway-code": "say PROTOCOL_ERROR in every connection error's GOAWAY",
    "frame-after-goaway": "send a PING after a connection error's GOAWAY, before the close",
    "accept-any-version": "attach a backend whose HELLO has another version",
    "no-frame-limit": "wait for the payload of a frame longer than max_frame_size",
    "ignore-window": "take response body beyond the window",
    "close-everything-on-error": "close every backend and client connection on one backend's connection error",
    "close-client-on-backend-loss": "close the client connection, not answer 502, when its backend goes away",
    "resend-unsafe": "send any request whose backend went away before answering again, a POST too",
    "no-resend": "never send a request again to another backend",
    "ignore-max-streams": "open streams on a backend beyond its max_streams",
    "no-cancel-on-stream-error": "answer a stream error to the client without CANCEL to the backend",
    "pass-invalid-status": "pass any status to the client",
    "pass-bad-headers": "pass response headers to the client unchecked",
    "end-cut-response": "end a response cut short as if whole (chunked: the last chunk) and keep the client",
    "no-timeout-cancel": "answer 504 without CANCEL(TIMEOUT) to the backend",
    "cancelled-is-error": "take frames on a stream it cancelled as a PROTOCOL_ERROR",
    "request-after-drain": "go on opening streams on a backend that sent GOAWAY(NO_ERROR)",
    "crash-on-garbage": "abort (SIGABRT) on a payload that is not MessagePack",
    "no-window-grants": "never grant window for response body written to the client",
    "request-beyond-window": "send the whole request body, beyond the backend's window",
    "raw-path": "send the path as it is in the target, not percent-decoded",
    "cut-frame-for-goaway": "drop the rest of the frame being written to put the GOAWAY in its place",
    "ignore-generations": "never supersede a backend for a newer generation of its app",
    "strict-element-count": "refuse a frame with elements past the ones version 1 defines",
    "accept-trailing-bytes": "ignore bytes after the array in a payload",
}


class Fault(Exception):
    """A connection error: GOAWAY(code, message), then close."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def frame(*items: Any) -> bytes:
    payload = msgpack.packb(list(items), use_bin_type=True)
    return struct.pack(">I", len(payload)) + payload


def is_uint(value: Any, high: int = U32) -> bool:
    return type(value) is int and 0 <= value <= high


def is_headers(value: Any) -> bool:
    return type(value) is list and len(value) % 2 == 0 and all(type(x) is bytes for x in value)


FIELDS = {
    # For each frame type: whether it needs a stream, and the checks of its elements after type and stream id.
    HELLO: (False, [is_uint, str, str, lambda v: is_uint(v, U64), lambda v: is_uint(v, U64), is_uint, is_uint,
                    is_uint]),
    GOAWAY: (False, [is_uint, str]),
    PING: (False, [bool, lambda v: is_uint(v, U64)]),
    RESPONSE: (True, [lambda v: is_uint(v, U64), is_uint, is_headers, bytes]),
    DATA: (True, [lambda v: is_uint(v, U64), bytes]),
    WINDOW: (True, [lambda v: is_uint(v) and v > 0]),
    CANCEL: (True, [is_uint]),
}


def decode(payload: bytes, breaks: set[str]) -> list[Any]:
    unpacker = msgpack.Unpacker(raw=False, strict_map_key=False)
    unpacker.feed(payload)
    try:
        items = unpacker.unpack()
    except (msgpack.OutOfData, ValueError, msgpack.UnpackException) as exc:
        if "crash-on-garbage" in breaks:
            os.abort()
        raise Fault(PROTOCOL_ERROR, f"payload is not MessagePack: {exc!r}") from None
    if unpacker.tell() != len(payload) and "accept-trailing-bytes" not in breaks:
        raise Fault(PROTOCOL_ERROR, "bytes after the array")
    if type(items) is not list or len(items) < 2 or not is_uint(items[0]) or not is_uint(items[1], 2**31 - 1):
        raise Fault(PROTOCOL_ERROR, "not an array of type and stream id")
    if items[0] == REQUEST:
        raise Fault(PROTOCOL_ERROR, "REQUEST from a backend")
    spec = FIELDS.get(items[0])
    if spec is None:
        return items
    needs_stream, checks = spec
    if needs_stream != (items[1] != 0):
        raise Fault(PROTOCOL_ERROR, f"frame type {items[0]} on the wrong stream")
    if len(items) < 2 + len(checks):
        raise Fault(PROTOCOL_ERROR, f"frame type {items[0]} with too few elements")
    if len(items) > 2 + len(checks) and "strict-element-count" in breaks:
        raise Fault(PROTOCOL_ERROR, f"frame type {items[0]} with too many elements")
    for check, value in zip(checks, items[2:]):
        if not (type(value) is check if isinstance(check, type) else check(value)):
            raise Fault(PROTOCOL_ERROR, f"frame type {items[0]}: mistyped element {value!r}")
    return items


class Client:
    """One HTTP connection."""

    def __init__(self, fe: "Frontend", sock: socket.socket) -> None:
        self.fe = fe
        self.sock = sock
        self.peer = sock.getpeername()
        self.inbuf = bytearray()
        self.out = bytearray()
        self.stream: Optional[Stream] = None
        self.close_after = False
        self.closed = False

    def write(self, data: bytes) -> None:
        self.out += data

    def flush(self) -> None:
        try:
            while self.out:
                del self.out[:self.sock.send(self.out)]
        except BlockingIOError:
            return
        except OSError:
            self.gone()
            return
        if self.stream is not None:
            self.stream.grant()
        if self.close_after:
            self.close()

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.sock.close()

    def read(self) -> None:
        try:
            data = self.sock.recv(1 << 18)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self.gone()
            return
        self.inbuf += data
        self.next_request()

    def gone(self) -> None:
        stream = self.stream
        self.close()
        if stream is not None and stream.backend is not None:
            stream.backend.cancel(stream, C_CLIENT_GONE)

    def next_request(self) -> None:
        if self.stream is not None or self.close_after or self.closed:
            return
        end = self.inbuf.find(b"\r\n\r\n")
        if end < 0:
            return
        lines = bytes(self.inbuf[:end]).split(b"\r\n")
        method, target, version = lines[0].split(b" ")
        headers = [(k.strip().lower(), v.strip()) for k, _, v in (line.partition(b":") for line in lines[1:])]
        length = int(dict(headers).get(b"content-length", b"0"))
        if len(self.inbuf) < end + 4 + length:
            return
        body = bytes(self.inbuf[end + 4:end + 4 + length])
        del self.inbuf[:end + 4 + length]
        self.fe.dispatch(self, method.decode(), target, version.decode()[5:], headers, body)


class Stream:
    """One request at a backend."""

    def __init__(self, client: Client, method: str, fields: list[Any], body: bytes, http10: bool) -> None:
        self.client = client
        self.method = method
        self.fields = fields             # REQUEST's elements after the flags, its body left out
        self.after: list[Any] = []       # and after the body: the request_id (none: a frontend from before it)
        self.body = body                 # request body not sent yet
        self.http10 = http10
        self.backend: Optional[Backend] = None
        self.sid = 0
        self.whole = False               # the whole request went in the REQUEST (END set)
        self.send_window = 0
        self.resp_started = False
        self.chunked = False
        self.unacked = 0                 # response body received and not granted
        self.written = 0                 # of which handed to the client's socket
        self.deadline = 0.0

    def grant(self) -> None:
        written, self.written = self.written, 0
        if written and self.backend is not None and "no-window-grants" not in self.client.fe.breaks:
            self.unacked -= written
            self.backend.send(frame(WINDOW, self.sid, written))


class Backend:
    """One backend connection."""

    def __init__(self, fe: "Frontend", sock: socket.socket, number: int) -> None:
        self.fe = fe
        self.breaks = fe.breaks
        self.sock = sock
        self.number = number
        self.inbuf = bytearray()
        self.out = bytearray()
        self.frame_ends: list[int] = []  # where in ``out`` each queued frame ends
        self.hello: Optional[list[Any]] = None
        self.max_frame = PRE_HELLO_MAX_FRAME
        self.max_streams = 0
        self.window = 0
        self.draining = False
        self.closed = False
        self.streams: dict[int, Stream] = {}
        self.cancelled: set[int] = set()
        self.last_sid = 0

    def send(self, data: bytes) -> None:
        if not self.closed:
            self.out += data
            self.frame_ends.append(len(self.out))

    def flush(self) -> None:
        try:
            while self.out:
                n = self.sock.send(self.out)
                del self.out[:n]
                self.frame_ends = [end - n for end in self.frame_ends if end > n]
        except BlockingIOError:
            pass
        except OSError:
            self.lost()

    def has_room(self) -> bool:
        if self.hello is None or self.closed or (self.draining and "request-after-drain" not in self.breaks):
            return False
        return len(self.streams) < self.max_streams or "ignore-max-streams" in self.breaks

    def read(self) -> None:
        try:
            data = self.sock.recv(1 << 18)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self.lost()
            return
        self.inbuf += data
        try:
            self.split()
        except Fault as fault:
            self.fail(fault)

    def split(self) -> None:
        while len(self.inbuf) >= 4 and not self.closed:
            length = struct.unpack(">I", self.inbuf[:4])[0]
            limit = PRE_HELLO_MAX_FRAME if self.hello is None else MAX_FRAME
            if length > limit and "no-frame-limit" not in self.breaks:
                raise Fault(FRAME_TOO_LARGE, f"frame of {length} bytes")
            if length == 0:
                raise Fault(PROTOCOL_ERROR, "frame length 0")
            if len(self.inbuf) < 4 + length:
                return
            payload = bytes(self.inbuf[4:4 + length])
            del self.inbuf[:4 + length]
            self.on_frame(decode(payload, self.breaks))

    def fail(self, fault: Fault) -> None:
        code = PROTOCOL_ERROR if "wrong-goaway-code" in self.breaks else fault.code
        # The frame being written goes whole; the frames queued behind it are dropped (section 5).
        keep = 0 if "cut-frame-for-goaway" in self.breaks or not self.frame_ends else self.frame_ends[0]
        del self.out[keep:]
        if "no-goaway" not in self.breaks:
            self.out += frame(GOAWAY, 0, code, fault.message)
        if "frame-after-goaway" in self.breaks:
            self.out += frame(PING, 0, False, 1)
        try:
            self.sock.setblocking(True)
            self.sock.settimeout(1.0)
            self.sock.sendall(self.out)
        except OSError:
            pass
        self.out.clear()
        if "close-everything-on-error" in self.breaks:
            self.fe.close_everything()
        self.lost()

    def lost(self) -> None:
        """The connection is over: each of its streams is answered (section 5)."""
        if self.closed:
            return
        self.closed = True
        self.sock.close()
        if self in self.fe.backends:
            self.fe.backends.remove(self)
        streams, self.streams = list(self.streams.values()), {}
        for stream in streams:
            stream.backend = None
            self.fe.stream_lost(stream, self)

    def on_frame(self, items: list[Any]) -> None:
        ftype, sid = items[0], items[1]
        if self.hello is None:
            if ftype != HELLO:
                raise Fault(PROTOCOL_ERROR, "frame before HELLO")
            self.on_hello(items)
            return
        if ftype == HELLO:
            raise Fault(PROTOCOL_ERROR, "second HELLO")
        if ftype == PING:
            if not items[2]:
                self.send(frame(PING, 0, True, items[3]))
        elif ftype == GOAWAY:
            if items[2] != NO_ERROR:
                self.lost()
                return
            self.draining = True
            if not self.streams:
                self.lost()
        elif ftype in (RESPONSE, DATA, WINDOW, CANCEL):
            stream = self.streams.get(sid)
            if stream is None:
                if sid > self.last_sid:
                    raise Fault(PROTOCOL_ERROR, f"frame on stream {sid}, never opened")
                if sid in self.cancelled and "cancelled-is-error" in self.breaks:
                    raise Fault(PROTOCOL_ERROR, f"frame on stream {sid}, cancelled")
                return
            stream.deadline = time.monotonic() + self.fe.request_timeout
            self.fe.on_stream_frame(self, stream, items)

    def on_hello(self, items: list[Any]) -> None:
        version, role, _, _, _, max_frame, max_streams, window = items[2:10]
        if version != 1 and "accept-any-version" not in self.breaks:
            raise Fault(VERSION_MISMATCH, f"frontend speaks protocol version 1, backend sent {version}")
        if role != "backend":
            raise Fault(PROTOCOL_ERROR, "expected role backend")
        if not (65536 <= max_frame <= 1 << 24 and 1 <= max_streams <= 65535 and 65536 <= window <= 2**31 - 1):
            raise Fault(PROTOCOL_ERROR, "HELLO limits out of range")
        self.hello = items
        self.max_frame, self.max_streams, self.window = max_frame, max_streams, window
        self.send(frame(HELLO, 0, 1, "frontend", "broken-frontend", os.getpid(), 0, MAX_FRAME, 0, WINDOW_SIZE))
        if "ignore-generations" not in self.breaks:
            self.fe.supersede(self)

    def generation(self) -> tuple[str, int]:
        assert self.hello is not None
        return self.hello[4], self.hello[6]

    def superseded(self) -> None:
        self.send(frame(GOAWAY, 0, SUPERSEDED, "a newer generation has attached"))
        self.draining = True
        self.drained()

    def open(self, stream: Stream) -> None:
        self.last_sid += 1
        stream.sid = self.last_sid
        stream.backend = self
        stream.send_window = self.window
        self.streams[stream.sid] = stream
        stream.deadline = time.monotonic() + self.fe.request_timeout
        head = frame(REQUEST, stream.sid, 0, stream.method, *stream.fields, b"", *stream.after)
        room = min(self.max_frame - (len(head) - 4) - 8, stream.send_window)
        if "request-beyond-window" in self.breaks:
            room = self.max_frame - (len(head) - 4) - 8
        first, stream.body = stream.body[:room], stream.body[room:]
        stream.whole = not stream.body
        stream.send_window -= len(first)
        self.send(frame(REQUEST, stream.sid, END if stream.whole else 0, stream.method, *stream.fields, first,
                        *stream.after))
        self.send_body(stream)

    def send_body(self, stream: Stream) -> None:
        while stream.body:
            n = min(len(stream.body), self.max_frame - 16, stream.send_window)
            if "request-beyond-window" in self.breaks:
                n = min(len(stream.body), self.max_frame - 16)
            if n <= 0:
                return
            data, stream.body = stream.body[:n], stream.body[n:]
            stream.send_window -= n
            self.send(frame(DATA, stream.sid, 0 if stream.body else END, data))

    def cancel(self, stream: Stream, code: int) -> None:
        if self.streams.pop(stream.sid, None) is not None:
            self.cancelled.add(stream.sid)
            self.send(frame(CANCEL, stream.sid, code))
        stream.backend = None
        self.drained()

    def done(self, stream: Stream) -> None:
        self.streams.pop(stream.sid, None)
        stream.backend = None
        self.drained()

    def drained(self) -> None:
        if self.draining and not self.streams and "request-after-drain" not in self.breaks:
            self.flush()
            self.lost()


class Frontend:
    def __init__(self, args: argparse.Namespace) -> None:
        self.breaks: set[str] = set(args.breaks)
        self.request_timeout = args.request_timeout or 1e9
        host, port = args.listen.rsplit(":", 1)
        self.address = (host, int(port))
        self.tcp = socket.create_server(self.address)
        if os.path.exists(args.backend_socket):
            os.unlink(args.backend_socket)
        self.unix = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.unix.bind(args.backend_socket)
        self.unix.listen(64)
        self.backends: list[Backend] = []
        self.clients: list[Client] = []
        self.accepted = 0
        self.requests = 0                # so far, for the request ids

    def run(self) -> None:
        while True:
            self.clients = [c for c in self.clients if not c.closed]
            conns: list[Any] = self.backends + self.clients
            readers = [self.tcp, self.unix] + [c.sock for c in conns]
            writers = [c.sock for c in conns if c.out]
            readable, writable, _ = select.select(readers, writers, [], 0.05)
            for conn in list(conns):
                if conn.sock in readable and not conn.closed:
                    conn.read()
            if self.tcp in readable:
                sock, _ = self.tcp.accept()
                sock.setblocking(False)
                self.clients.append(Client(self, sock))
            if self.unix in readable:
                sock, _ = self.unix.accept()
                sock.setblocking(False)
                self.accepted += 1
                self.backends.append(Backend(self, sock, self.accepted))
            self.check_timeouts()
            for conn in self.backends + self.clients:
                if (conn.out or getattr(conn, "close_after", False)) and not conn.closed:
                    conn.flush()

    def supersede(self, new: Backend) -> None:
        """Of the backends of new's app, only those of the highest generation take streams (section 2)."""
        app, gen = new.generation()
        for other in list(self.backends):
            if other is new or other.hello is None or other.draining or other.generation()[0] != app:
                continue
            if other.generation()[1] < gen:
                other.superseded()
            elif other.generation()[1] > gen:
                new.superseded()
                return

    def close_everything(self) -> None:
        for backend in list(self.backends):
            backend.sock.close()
            backend.closed = True
        self.backends.clear()
        for client in self.clients:
            client.close()

    def check_timeouts(self) -> None:
        now = time.monotonic()
        for backend in list(self.backends):
            for stream in list(backend.streams.values()):
                if stream.deadline < now:
                    if "no-timeout-cancel" in self.breaks:
                        backend.done(stream)
                    else:
                        backend.cancel(stream, C_TIMEOUT)
                    self.local(stream, 504, "Gateway Timeout\n")

    # --- requests ---

    def pick(self, avoid: Optional[Backend] = None) -> Optional[Backend]:
        ready = [b for b in self.backends if b is not avoid and b.has_room()]
        return min(ready, key=lambda b: (len(b.streams) / b.max_streams, b.number), default=None)

    def dispatch(self, client: Client, method: str, target: bytes, version: str, headers: list[tuple[bytes, bytes]],
                 body: bytes) -> None:
        raw_path, _, query = target.partition(b"?")
        path = raw_path if "raw-path" in self.breaks else urllib.parse.unquote_to_bytes(raw_path)
        flat = [x for pair in headers for x in pair]
        fields = [target, path, query, version, flat, list(client.peer), list(self.address), "http"]
        stream = Stream(client, method, fields, body, version == "1.0")
        self.requests += 1
        if "no-request-id" not in self.breaks:
            stream.after = [f"toy-{os.getpid()}-{self.requests}"]
        client.stream = stream
        backend = self.pick()
        if backend is None:
            self.local(stream, 503, "Service Unavailable\n")
            return
        backend.open(stream)

    def stream_lost(self, stream: Stream, gone: Backend) -> None:
        safe = stream.method in ("GET", "HEAD", "OPTIONS") or "resend-unsafe" in self.breaks
        if safe and stream.whole and not stream.resp_started and "no-resend" not in self.breaks:
            other = self.pick(avoid=gone)
            if other is not None:
                other.open(stream)
                return
        if "close-client-on-backend-loss" in self.breaks and not stream.resp_started:
            stream.client.close()
            return
        self.local(stream, 502, "Bad Gateway\n")

    # --- responses ---

    def local(self, stream: Stream, status: int, text: str) -> None:
        """The frontend's own answer, or, after a response began, the client connection closed."""
        client = stream.client
        client.stream = None
        if stream.resp_started:
            if "end-cut-response" in self.breaks:
                if stream.chunked:
                    client.write(b"0\r\n\r\n")
                client.next_request()
                return
            client.close_after = True
            return
        body = text.encode()
        client.write(f"HTTP/1.1 {status} {REASONS.get(status, 'Status')}\r\ncontent-type: text/plain\r\n"
                     f"content-length: {len(body)}\r\n\r\n".encode() + body)
        if stream.http10:
            client.close_after = True
        client.next_request()

    def stream_error(self, backend: Backend, stream: Stream, status: int, text: str) -> None:
        if "no-cancel-on-stream-error" in self.breaks:
            backend.done(stream)
        else:
            backend.cancel(stream, C_INTERNAL)
        self.local(stream, status, text)

    def on_stream_frame(self, backend: Backend, stream: Stream, items: list[Any]) -> None:
        ftype = items[0]
        if ftype == WINDOW:
            stream.send_window += items[2]
            backend.send_body(stream)
        elif ftype == CANCEL:
            backend.done(stream)
            if items[2] == C_REFUSED:
                self.local(stream, 503, "Service Unavailable\n")
            else:
                self.local(stream, 502, "Bad Gateway\n")
        elif ftype == RESPONSE:
            self.on_response(backend, stream, items[2], items[3], items[4], items[5])
        elif not stream.resp_started:
            self.stream_error(backend, stream, 502, "Bad Gateway\n")
        else:
            self.on_body(backend, stream, items[3], items[2] & END)

    def on_response(self, backend: Backend, stream: Stream, flags: int, status: int, flat: list[bytes],
                    body: bytes) -> None:
        if stream.resp_started:
            self.stream_error(backend, stream, 502, "Bad Gateway\n")
            return
        headers = list(zip(flat[::2], flat[1::2]))
        if not 200 <= status <= 599 and "pass-invalid-status" not in self.breaks:
            self.stream_error(backend, stream, 500, "Internal Server Error\n")
            return
        if "pass-bad-headers" not in self.breaks and any(
                not TOKEN.fullmatch(k) or any(c in v for c in b"\r\n\0") for k, v in headers):
            self.stream_error(backend, stream, 500, "Internal Server Error\n")
            return
        if len(body) > WINDOW_SIZE and "ignore-window" not in self.breaks:
            backend.fail(Fault(FLOW_CONTROL_ERROR, "body beyond the window"))
            return
        names = {k.lower() for k, _ in headers}
        lines = [f"HTTP/1.1 {status} {REASONS.get(status, 'Status')}".encode()]
        lines += [k + b": " + v for k, v in headers if k.lower() not in HOP]
        if b"content-length" not in names:
            if flags & END:
                lines.append(b"content-length: %d" % len(body))
            elif not stream.http10:
                stream.chunked = True
                lines.append(b"transfer-encoding: chunked")
            else:
                stream.client.close_after = True
        if b"date" not in names:
            lines.append(b"date: " + email.utils.formatdate(usegmt=True).encode())
        if b"server" not in names:
            lines.append(b"server: broken-frontend")
        stream.client.write(b"\r\n".join(lines) + b"\r\n\r\n")
        stream.resp_started = True
        self.on_body(backend, stream, body, flags & END)

    def on_body(self, backend: Backend, stream: Stream, data: bytes, end: int) -> None:
        stream.unacked += len(data)
        if stream.unacked > WINDOW_SIZE and "ignore-window" not in self.breaks:
            backend.fail(Fault(FLOW_CONTROL_ERROR, "body beyond the window"))
            return
        if data:
            stream.client.write(b"%x\r\n%s\r\n" % (len(data), data) if stream.chunked else data)
            stream.written += len(data)
        if end:
            if stream.chunked:
                stream.client.write(b"0\r\n\r\n")
            backend.done(stream)
            client = stream.client
            client.stream = None
            if stream.http10:
                client.close_after = True
            client.next_request()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--listen", required=True, metavar="HOST:PORT")
    parser.add_argument("--backend-socket", required=True, metavar="PATH")
    parser.add_argument("--request-timeout", type=float, default=0, metavar="SECONDS")
    parser.add_argument("--break", dest="breaks", action="append", default=[], choices=sorted(BREAKS),
                        help="break one rule (repeatable)")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    Frontend(args).run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
