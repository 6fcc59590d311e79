"""A raw-socket WebSocket client for the tests (RFC 6455, client side), in the
style of e2e_support: real bytes, every wait bounded.  It can break every rule
a test needs it to (unmasked frames, reserved bits, bad close codes...)."""

from __future__ import annotations

import base64
import hashlib
import os
import socket
import struct
from typing import Optional

from e2e_support import IO_TIMEOUT, connect

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

CONT, TEXT, BINARY, CLOSE, PING, PONG = 0, 1, 2, 8, 9, 10


def accept_key(key: bytes) -> bytes:
    return base64.b64encode(hashlib.sha1(key + GUID).digest())


def handshake(path: str, key: bytes, extra: tuple[str, ...] = ()) -> bytes:
    lines = [f"GET {path} HTTP/1.1", "Host: test", "Upgrade: websocket", "Connection: Upgrade",
             f"Sec-WebSocket-Key: {key.decode()}", "Sec-WebSocket-Version: 13", *extra]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def read_head(s: socket.socket) -> tuple[int, dict[str, str], bytes]:
    """The response head's status and headers (lowercase names), and any bytes after it."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = s.recv(65536)
        if not chunk:
            raise ConnectionError(f"closed before the response head ended: {data!r}")
        data += chunk
    head, rest = data.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(lines[0].split()[1]), headers, rest


class WS:
    """One client connection, opened with a valid handshake (or refused: see ``status``)."""

    def __init__(self, port: int, path: str = "/echo", extra: tuple[str, ...] = (), expect: int = 101) -> None:
        self.sock = connect(port)
        key = base64.b64encode(os.urandom(16))
        self.sock.sendall(handshake(path, key, extra))
        self.status, self.headers, self.buf = read_head(self.sock)
        assert self.status == expect, (self.status, self.headers, self.buf)
        if expect == 101:
            assert self.headers["sec-websocket-accept"] == accept_key(key).decode()
            assert self.headers["upgrade"].lower() == "websocket"

    def close_socket(self) -> None:
        self.sock.close()

    # --- sending ---

    def frame(self, opcode: int, payload: bytes = b"", fin: bool = True, mask: bool = True, rsv: int = 0,
              length: Optional[int] = None) -> bytes:
        n = len(payload) if length is None else length
        b0 = (0x80 if fin else 0) | (rsv << 4) | opcode
        head = bytes([b0])
        mbit = 0x80 if mask else 0
        if n < 126:
            head += bytes([mbit | n])
        elif n < 65536:
            head += bytes([mbit | 126]) + struct.pack(">H", n)
        else:
            head += bytes([mbit | 127]) + struct.pack(">Q", n)
        if not mask:
            return head + payload
        key = os.urandom(4)
        return head + key + bytes(b ^ key[i & 3] for i, b in enumerate(payload)) if len(payload) < 4096 \
            else head + key + _mask(payload, key)

    def send(self, opcode: int, payload: bytes = b"", **kw) -> None:
        self.sock.sendall(self.frame(opcode, payload, **kw))

    def send_close(self, code: Optional[int] = 1000, reason: bytes = b"") -> None:
        self.send(CLOSE, b"" if code is None else struct.pack(">H", code) + reason)

    # --- receiving ---

    def _exact(self, n: int) -> bytes:
        while len(self.buf) < n:
            chunk = self.sock.recv(1 << 20)
            if not chunk:
                raise ConnectionError("the server closed the connection")
            self.buf += chunk
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def recv_frame(self) -> tuple[bool, int, bytes]:
        b0, b1 = self._exact(2)
        assert not b1 & 0x80, "a server frame must not be masked"
        n = b1 & 0x7F
        if n == 126:
            (n,) = struct.unpack(">H", self._exact(2))
        elif n == 127:
            (n,) = struct.unpack(">Q", self._exact(8))
        return bool(b0 & 0x80), b0 & 0x0F, self._exact(n)

    def recv_message(self) -> tuple[int, bytes]:
        """The next whole data message (control frames in between are skipped, pings not answered)."""
        kind, data = None, b""
        while True:
            fin, opcode, payload = self.recv_frame()
            if opcode >= CLOSE:
                assert opcode != CLOSE, f"closed: {payload!r}"
                continue
            if kind is None:
                assert opcode in (TEXT, BINARY), opcode
                kind = opcode
            else:
                assert opcode == CONT
            data += payload
            if fin:
                return kind, data

    def expect_close(self, code: Optional[int]) -> bytes:
        """Frames until a close frame: its code must be ``code`` (None: no code); then the server ends TCP."""
        while True:
            fin, opcode, payload = self.recv_frame()
            if opcode == CLOSE:
                break
        got = struct.unpack(">H", payload[:2])[0] if len(payload) >= 2 else None
        assert got == code, (got, payload)
        return payload[2:]

    def expect_eof(self) -> None:
        self.sock.settimeout(IO_TIMEOUT)
        while True:
            try:
                chunk = self.sock.recv(65536)
            except ConnectionResetError:
                return
            if not chunk:
                return
            self.buf += chunk


def _mask(payload: bytes, key: bytes) -> bytes:
    n = len(payload)
    k = int.from_bytes((key * (n // 4 + 1))[:n], "big")
    return (int.from_bytes(payload, "big") ^ k).to_bytes(n, "big")
