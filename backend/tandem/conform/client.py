"""The frontend kit's HTTP clients: raw sockets, and responses parsed well enough to check them.

A ``Client`` is one TCP connection to the frontend under test.  It writes
requests byte for byte and parses what comes back into ``Response`` records:
the status line, the headers, and a body delimited as HTTP/1.1 delimits it
(none for HEAD, 204 and 304; chunked; content-length; or up to the close).
Interim 1xx responses are skipped.  A response the frontend closed the
connection in the middle of is kept with ``complete`` off: that is how a case
sees "the client connection is closed" after a response had begun.

A client does no waiting of its own: the kit's loop (``mirror``) reads and
writes every connection of a case, fake backends and clients alike, and is
handed to each client as its ``pump``, so that a case waiting on a client
keeps its fake backends served.

Calls ``link`` (the kit's exceptions and transcript entries).
"""

from __future__ import annotations

import re
import socket
import struct
from collections import deque
from dataclasses import dataclass, field
from typing import Callable, Optional

from .link import CaseFailed, Entry

READ_SIZE = 1 << 18
HOST = "conform.test"
STATUS_LINE = re.compile(rb"HTTP/(1\.[01]) (\d{3})(?: (.*))?")

Pump = Callable[[Callable[[], bool], str, Optional[float]], None]


@dataclass
class Response:
    """One response as the client received it."""

    status: int
    reason: str
    version: str
    headers: list[tuple[str, str]]
    body: bytes = b""
    complete: bool = True
    framing: str = "length"      # "length", "chunked", "close" or "none"
    head: bytes = b""

    def header(self, name: str) -> Optional[str]:
        """The first value of a header (names compared without case), or None."""
        values = self.all(name)
        return values[0] if values else None

    def all(self, name: str) -> list[str]:
        name = name.lower()
        return [v for k, v in self.headers if k.lower() == name]

    def __str__(self) -> str:
        shown = self.body[:60] + (b"..." if len(self.body) > 60 else b"")
        cut = "" if self.complete else ", cut short by the close"
        return f"{self.status} {self.reason!r} with {len(self.body)} body bytes {shown!r}{cut}"


class NotHttp(Exception):
    """What the frontend sent the client is not an HTTP/1.x response."""


def _head(buf: bytes, start: int) -> Optional[tuple[Response, int]]:
    """The status line and headers at ``start``, and where the body begins; None if the head is not all here."""
    end = buf.find(b"\r\n\r\n", start)
    if end < 0:
        return None
    lines = buf[start:end].split(b"\r\n")
    m = STATUS_LINE.fullmatch(lines[0])
    if m is None:
        raise NotHttp(f"the status line is {lines[0][:80]!r}")
    headers = []
    for line in lines[1:]:
        name, colon, value = line.partition(b":")
        if not colon or not name or name != name.strip():
            raise NotHttp(f"the header line {line[:80]!r} is not NAME: VALUE")
        headers.append((name.decode("latin-1"), value.strip(b" \t").decode("latin-1")))
    version = "HTTP/" + m.group(1).decode()
    reason = (m.group(3) or b"").decode("latin-1")
    return Response(int(m.group(2)), reason, version, headers, head=buf[start:end + 4]), end + 4


def _chunked(buf: bytes, pos: int) -> tuple[bytes, Optional[int]]:
    """A chunked body from ``pos``: the data so far, and where the message ends (None: not all here)."""
    parts: list[bytes] = []
    while True:
        eol = buf.find(b"\r\n", pos)
        if eol < 0:
            return b"".join(parts), None
        size_text = buf[pos:eol].split(b";")[0].strip()
        try:
            size = int(size_text, 16)
        except ValueError:
            raise NotHttp(f"the chunk size line is {buf[pos:eol][:40]!r}") from None
        pos = eol + 2
        if size == 0:
            while True:        # trailers, up to an empty line
                eol = buf.find(b"\r\n", pos)
                if eol < 0:
                    return b"".join(parts), None
                if eol == pos:
                    return b"".join(parts), eol + 2
                pos = eol + 2
        if len(buf) < pos + size + 2:
            parts.append(buf[pos:pos + size])
            return b"".join(parts), None
        if buf[pos + size:pos + size + 2] != b"\r\n":
            raise NotHttp("a chunk's data is not followed by CRLF")
        parts.append(buf[pos:pos + size])
        pos += size + 2


def parse_response(buf: bytes, method: str, eof: bool) -> Optional[tuple[Response, int]]:
    """The first whole response in ``buf`` and the bytes it took; after EOF, also a response cut short.
    None while more bytes are needed (or, after EOF, when not even a status line had come)."""
    start = 0
    while True:
        parsed = _head(buf, start)
        if parsed is None:
            if eof and buf[start:]:
                raise NotHttp(f"the connection closed inside a response's head: {buf[start:start + 80]!r}")
            return None
        resp, pos = parsed
        if 100 <= resp.status < 200 and resp.status != 101:
            start = pos        # an interim response: the real one follows
            continue
        break
    length = resp.header("content-length")
    chunked = "chunked" in (resp.header("transfer-encoding") or "").lower()
    if method == "HEAD" or resp.status in (101, 204, 304):      # 101: what follows is not HTTP
        resp.framing, end = "none", pos
    elif chunked:
        resp.framing = "chunked"
        resp.body, end_or_none = _chunked(buf, pos)
        end = end_or_none if end_or_none is not None else -1
    elif length is not None:
        if not length.isdigit():
            raise NotHttp(f"content-length is {length!r}")
        end = pos + int(length) if len(buf) >= pos + int(length) else -1
        resp.body = buf[pos:end] if end >= 0 else buf[pos:]
    else:
        resp.framing, end = "close", (len(buf) if eof else -1)
        resp.body = buf[pos:]
    if end >= 0:
        return resp, end
    if not eof:
        return None
    resp.complete = False
    return resp, len(buf)


@dataclass
class Client:
    """One HTTP connection of the kit to the frontend (see the module doc)."""

    sock: socket.socket
    name: str
    pump: Pump
    timeout: float
    transcript: list[Entry] = field(default_factory=list)
    responses: list[Response] = field(default_factory=list)
    eof: bool = False
    reset: bool = False
    paused: bool = False         # the kit reads nothing from it meanwhile (a client that stops reading)
    taken: int = 0               # responses handed to the case
    upgraded: bool = False       # a 101 came: later bytes stay in ``_in``, raw (a WebSocket's frames)
    _in: bytearray = field(default_factory=bytearray)
    _out: bytearray = field(default_factory=bytearray)
    _methods: deque = field(default_factory=deque)

    def __post_init__(self) -> None:
        self.sock.setblocking(False)

    @property
    def legend(self) -> str:
        return "> client to frontend, < frontend to client"

    @property
    def local_port(self) -> int:
        return self.sock.getsockname()[1]

    def fileno(self) -> int:
        return self.sock.fileno()

    # --- I/O, driven by the kit's loop -------------------------------------------------

    def wants_read(self) -> bool:
        return not self.eof and not self.paused and self.sock.fileno() >= 0

    def wants_write(self) -> bool:
        return bool(self._out) and not self.eof and self.sock.fileno() >= 0

    def _write(self) -> None:
        try:
            while self._out:
                n = self.sock.send(self._out)
                del self._out[:n]
        except BlockingIOError:
            pass
        except OSError:
            self._out.clear()    # the frontend has closed; what it sent is still read

    def _read(self) -> None:
        try:
            data = self.sock.recv(READ_SIZE)
        except BlockingIOError:
            return
        except ConnectionResetError:
            data, self.reset = b"", True
        if data:
            self.transcript.append(Entry("<", "bytes from the frontend", data))
            self._in += data
        else:
            self.eof = True
            how = "reset" if self.reset else "closed"
            self.transcript.append(Entry("<", f"EOF (the frontend {how} the connection)", b""))
        self._parse()

    def _parse(self) -> None:
        while (self._in or self.eof) and not self.upgraded:
            method = self._methods[0] if self._methods else "GET"
            try:
                parsed = parse_response(bytes(self._in), method, self.eof)
            except NotHttp as exc:
                raise CaseFailed(f"what the frontend sent {self.name} is not an HTTP response: {exc}") from None
            if parsed is None:
                return
            resp, used = parsed
            del self._in[:used]
            if self._methods:
                self._methods.popleft()
            self.responses.append(resp)
            self.upgraded = resp.status == 101
            if not resp.complete:
                return

    # --- what the cases call ------------------------------------------------------------

    def send(self, data: bytes, label: str, method: Optional[str] = None) -> None:
        """Raw bytes to the frontend; ``method`` is that of the request they hold, if one (for the parse)."""
        self.transcript.append(Entry(">", label, data))
        if method is not None:
            self._methods.append(method)
        self._out += data
        self._write()

    def request(self, method: str, target: str, headers: Optional[list[tuple[str, str]]] = None,
                body: bytes = b"", version: str = "HTTP/1.1", length: bool = True) -> None:
        """One request: Host first, then ``headers``, then content-length for a body (unless ``length`` is off)."""
        lines = [f"{method} {target} {version}", f"Host: {HOST}"]
        lines += [f"{k}: {v}" for k, v in headers or []]
        if body and length:
            lines.append(f"Content-Length: {len(body)}")
        data = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body
        self.send(data, f"{method} {target} {version}" + (f" with {len(body)} body bytes" if body else ""), method)

    def has_head(self) -> bool:
        """The next response's status line and headers have arrived (its body may not have)."""
        return len(self.responses) > self.taken or b"\r\n\r\n" in self._in

    def body_so_far(self) -> int:
        """Bytes received after the next response's head, while it is not complete."""
        end = self._in.find(b"\r\n\r\n")
        return 0 if end < 0 else len(self._in) - end - 4

    def response(self, what: str, timeout: Optional[float] = None) -> Response:
        """The next response, whole or cut short by a close; CaseFailed if none came in time."""
        self.pump(lambda: len(self.responses) > self.taken or self.eof,
                  f"the frontend's answer to {what} on {self.name}", timeout)
        if len(self.responses) == self.taken:
            raise CaseFailed(f"the frontend closed {self.name} without answering {what}"
                             + (f" ({len(self._in)} bytes of no response: {bytes(self._in[:60])!r})"
                                if self._in else ""))
        self.taken += 1
        return self.responses[self.taken - 1]

    def wait_closed(self, what: str, timeout: Optional[float] = None) -> None:
        self.pump(lambda: self.eof, what, timeout)

    def raw(self) -> bytearray:
        """The bytes received after a 101 (the case consumes what it has read of them)."""
        return self._in

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass

    def abort(self) -> None:
        """Close with a reset (SO_LINGER 0): the client is gone, unmistakably."""
        self.transcript.append(Entry(">", "RST (the client goes away)", b""))
        try:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
        self.close()
        self.eof = True
