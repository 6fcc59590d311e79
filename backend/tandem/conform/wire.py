"""The kit's frames: well-formed ones from tandem's codec, malformed ones byte by byte, and hex dumps.

The backend kit plays the frontend (``kit_hello``, ``request``), the frontend
kit a backend (``backend_hello``).  Well-formed frames come from
``tandem.protocol``'s builders, so they are the exact bytes of the golden
vectors.  Malformed frames are assembled here from raw MessagePack bytes,
without an encoder that would refuse to make them: the point is to test the
other side's decoder, not ours.

Calls ``protocol`` only.
"""

from __future__ import annotations

import os
import struct
from typing import Any, Optional

from .. import protocol

KIT_APP = "tandem-conform"
# The kit announces the smallest limits section 7 allows, so that a backend's
# frame splitting and flow control are exercised by modest bodies.
KIT_MAX_FRAME = protocol.MIN_MAX_FRAME
KIT_WINDOW = protocol.MIN_WINDOW


def kit_hello(version: int = protocol.VERSION, role: str = "frontend", max_frame_size: int = KIT_MAX_FRAME,
              initial_window: int = KIT_WINDOW, extra: Optional[list[Any]] = None, features: int = 0) -> bytes:
    """The kit's HELLO; ``extra`` elements are appended after the ones this version defines (the optional
    ``features`` is then sent even if 0)."""
    elements = [protocol.HELLO, 0, version, role, KIT_APP, os.getpid(), 0, max_frame_size, 0, initial_window]
    return protocol.frame_bytes(protocol.pack(elements + _features_and(features, extra)))


def _features_and(features: int, extra: Optional[list[Any]]) -> list[Any]:
    """HELLO's optional features element, and the extra elements after it."""
    if not features and not extra:
        return []
    return [features] + (extra or [])


# What the frontend kit's fake backends announce: the least max_frame_size and
# initial_window section 7 allows (a frontend's splitting and flow control are
# exercised by modest bodies), and one app and generation for all of them, so
# that none supersedes another (section 2, Generations).
KIT_BACKEND_APP = "tandem-conform-backend"
KIT_GENERATION = 1
KIT_MAX_STREAMS = 16


def backend_hello(version: int = protocol.VERSION, role: str = "backend", max_frame_size: int = KIT_MAX_FRAME,
                  max_streams: int = KIT_MAX_STREAMS, initial_window: int = KIT_WINDOW,
                  generation: int = KIT_GENERATION, app: str = KIT_BACKEND_APP,
                  extra: Optional[list[Any]] = None, features: int = 0) -> bytes:
    """A fake backend's HELLO; ``extra`` elements are appended after the ones this version defines (the optional
    ``features`` is then sent even if 0)."""
    elements = [protocol.HELLO, 0, version, role, app, os.getpid(), generation, max_frame_size, max_streams,
                initial_window]
    return protocol.frame_bytes(protocol.pack(elements + _features_and(features, extra)))


def request(stream_id: int, method: str, target: bytes, body: bytes = b"", end: bool = True,
            headers: Optional[list[bytes]] = None, request_id: Optional[str] = None,
            flags: Optional[int] = None) -> bytes:
    """A REQUEST as the tandem frontend sends it (``target`` split into path and query), with
    ``request_id`` (default ``conform-<stream id>``); ``request_id=""`` leaves the optional element out, as
    a frontend from before request ids does.  ``flags`` replaces the END that ``end`` says."""
    path, _, query = target.partition(b"?")
    flat = [b"host", b"conform.test"] + (headers or [])
    if flags is None:
        flags = protocol.END if end else 0
    frame = protocol.request_frame(stream_id, flags, method, target, path, query, "1.1",
                                   flat, ("127.0.0.1", 40000), ("127.0.0.1", 8080), "http", body,
                                   f"conform-{stream_id}" if request_id is None else request_id)
    if request_id == "":
        # The same frame with 13 elements: drop the empty str (0xa0) at the end
        # and count one element less in the fixarray's header.
        payload = frame[protocol.HEADER_SIZE:]
        frame = protocol.frame_bytes(bytes([payload[0] - 1]) + payload[1:-1])
    return frame


# The headers of a WebSocket handshake, as a client sends them (after host).
WS_HEADERS = [b"upgrade", b"websocket", b"connection", b"Upgrade", b"sec-websocket-key", b"dGhlIHNhbXBsZSBub25jZQ==",
              b"sec-websocket-version", b"13"]


def length_prefix(length: int) -> bytes:
    return struct.pack(">I", length)


def raw_frame(payload: bytes) -> bytes:
    """A frame around payload bytes taken as they are (valid or not)."""
    return length_prefix(len(payload)) + payload


def fixarray(count: int) -> bytes:
    """The MessagePack header of an array of ``count`` (< 16) elements."""
    return bytes([0x90 | count])


def uint(value: int) -> bytes:
    """An unsigned MessagePack integer in its shortest encoding."""
    return protocol.pack(value)


def wide(value: int, code: int) -> bytes:
    """``value`` in the MessagePack integer format ``code`` (0xcc..0xcf unsigned, 0xd0..0xd3 signed), however
    short an encoding it has: section 1 lets a sender use any."""
    size = 1 << (code & 0x3)
    return bytes([code]) + value.to_bytes(size, "big", signed=code >= 0xd0)


UINT16, UINT32, UINT64, INT8, INT64 = 0xcd, 0xce, 0xcf, 0xd0, 0xd3


def raw_str(data: bytes) -> bytes:
    """A MessagePack str holding ``data`` as it is, valid UTF-8 or not (str 8 encoding)."""
    return b"\xd9" + bytes([len(data)]) + data


def raw_request(stream_id: int, method: bytes, target: bytes) -> bytes:
    """A REQUEST with END, built byte by byte: ``method`` goes into its str as it is."""
    packed = protocol.pack
    return raw_frame(b"".join([
        fixarray(14), uint(protocol.REQUEST), uint(stream_id), uint(protocol.END), raw_str(method),
        packed(target), packed(target), packed(b""), packed("1.1"), packed([b"host", b"conform.test"]),
        packed(None), packed(None), packed("http"), packed(b""), packed(f"conform-{stream_id}")]))


# --- hex dumps ---------------------------------------------------------------------------

DUMP_LIMIT = 256  # bytes of one frame shown in a dump; the rest is counted


def hexdump(data: bytes, limit: int = DUMP_LIMIT, indent: str = "      ") -> str:
    """``data`` as lines of 16 bytes: offset, hex, printable ASCII."""
    lines = []
    for offset in range(0, min(len(data), limit), 16):
        row = data[offset:offset + 16]
        hexes = " ".join(f"{b:02x}" for b in row)
        text = "".join(chr(b) if 32 <= b < 127 else "." for b in row)
        lines.append(f"{indent}{offset:06x}  {hexes:<47}  {text}")
    if len(data) > limit:
        lines.append(f"{indent}... {len(data) - limit} more bytes")
    return "\n".join(lines)


def describe(frame: Any) -> str:
    """A frame (a ``tandem.protocol`` NamedTuple) in one short line, long bodies abridged."""
    name = type(frame).__name__.upper()
    parts = []
    for field, value in zip(frame._fields, frame):
        if isinstance(value, (bytes, bytearray)) and len(value) > 32:
            value = f"<{len(value)} bytes {bytes(value[:16])!r}...>"
        parts.append(f"{field}={value!r}" if not isinstance(value, str) or len(value) < 80 else f"{field}=...")
    return f"{name}({', '.join(parts)})"
