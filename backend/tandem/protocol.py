"""The tandem channel codec (protocol/PROTOCOL.md), sans-I/O.

Bytes in, frames out; frames in, bytes out.  Nothing here touches a socket or an
event loop, so everything is testable with a byte string (the golden vectors in
``protocol/vectors`` run against this module and against the C codec).

Wire form of a frame: a big-endian uint32 payload length, then the payload, which
is exactly one MessagePack array ``[type, stream_id, ...]``.  Each frame type is a
NamedTuple whose fields are the wire elements after ``type`` in wire order, except
that headers are a list of ``(name, value)`` pairs rather than the flat array.

The decoder checks what needs no connection state (sections 1, 2 and 5 of the
spec): lengths, element count and MessagePack types, and which frame types live on
stream 0.  Stream states and flow control belong to the connection
(``connection.py``).  Every frame is built by this module's ``*_frame``
functions.

REQUEST decoding and RESPONSE encoding, nearly all of a request's share of
this module, go through ``tandem._speedups`` when it is built (``make build``):
the frontend's C codec, which takes the frames it can and hands every other
one back to the Python code here, so both give the same frames and bytes.
``TANDEM_NO_SPEEDUPS=1`` in the environment uses the Python code alone.

Calls msgpack, and of tandem only ``validation.flatten``, the one way a
``[(name, value), ...]`` header list becomes its wire form, and ``accelerator``.
"""

from __future__ import annotations

import struct
from typing import Any, Callable, NamedTuple, Optional, Sequence, Union

import msgpack  # type: ignore[import]

from . import accelerator
from .validation import flatten

VERSION = 1

HEADER_SIZE = 4  # the big-endian uint32 length in front of every payload
DEFAULT_MAX_FRAME = 1048576
PRE_HELLO_MAX_FRAME = 65536  # limit until both HELLOs have been exchanged
MIN_MAX_FRAME = 65536
MAX_MAX_FRAME = 16777216
DEFAULT_WINDOW = 1048576
MIN_WINDOW = 65536
MAX_WINDOW = 2**31 - 1
DEFAULT_MAX_STREAMS = 1024
MAX_STREAMS_LIMIT = 65535
MAX_STREAM_ID = 2**31 - 1

# Frame types.
HELLO = 1
GOAWAY = 2
PING = 3
REQUEST = 4
RESPONSE = 5
DATA = 6
WINDOW = 7
CANCEL = 8
WS_ACCEPT = 9
WS_MESSAGE = 10
WS_CLOSE = 11

# Flags.
END = 0x1
FILE = 0x2   # RESPONSE: the body is the path of a file the frontend sends (PROTOCOL.md)
WEBSOCKET = 0x4   # REQUEST: a WebSocket upgrade the backend may accept (PROTOCOL.md section 8)

# HELLO features.
FEATURE_WEBSOCKET = 0x1

# WS_MESSAGE kinds (the RFC 6455 opcodes of data frames).
WS_TEXT = 1
WS_BINARY = 2

# GOAWAY codes.
NO_ERROR = 0
PROTOCOL_ERROR = 1
VERSION_MISMATCH = 2
FRAME_TOO_LARGE = 3
FLOW_CONTROL_ERROR = 4
INTERNAL_ERROR = 5
REFUSED = 6
SUPERSEDED = 7   # drain, then exit: a newer generation of the app attached

GOAWAY_NAMES = {
    NO_ERROR: "NO_ERROR",
    PROTOCOL_ERROR: "PROTOCOL_ERROR",
    VERSION_MISMATCH: "VERSION_MISMATCH",
    FRAME_TOO_LARGE: "FRAME_TOO_LARGE",
    FLOW_CONTROL_ERROR: "FLOW_CONTROL_ERROR",
    INTERNAL_ERROR: "INTERNAL_ERROR",
    REFUSED: "REFUSED",
    SUPERSEDED: "SUPERSEDED",
}

# CANCEL codes.
CANCEL_NO_ERROR = 0
CANCEL_CLIENT_GONE = 1
CANCEL_TIMEOUT = 2
CANCEL_REFUSED = 3
CANCEL_INTERNAL = 4

CANCEL_NAMES = {
    CANCEL_NO_ERROR: "NO_ERROR",
    CANCEL_CLIENT_GONE: "CLIENT_GONE",
    CANCEL_TIMEOUT: "TIMEOUT",
    CANCEL_REFUSED: "REFUSED",
    CANCEL_INTERNAL: "INTERNAL",
}

Headers = list[tuple[bytes, bytes]]
Address = Optional[tuple[str, int]]


class ProtocolError(Exception):
    """A connection error: the receiver sends GOAWAY(code, message) and closes."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class Hello(NamedTuple):
    stream_id: int
    version: int
    role: str
    app: str
    pid: int
    generation: int
    max_frame_size: int
    max_streams: int
    initial_window: int
    features: int = 0   # optional on the wire: absent means 0, and 0 is not encoded


class GoAway(NamedTuple):
    stream_id: int
    code: int
    message: str


class Ping(NamedTuple):
    stream_id: int
    ack: bool
    opaque: int


class Request(NamedTuple):
    stream_id: int
    flags: int
    method: str
    target: bytes
    path: bytes
    query: bytes
    http_version: str
    headers: Headers
    client: Address
    server: Address
    scheme: str
    body: bytes
    # Optional (PROTOCOL.md section 2): "" when the frontend sent none, as one
    # from before request ids does.
    request_id: str = ""


class Response(NamedTuple):
    stream_id: int
    flags: int
    status: int
    headers: Headers
    body: bytes


class Data(NamedTuple):
    stream_id: int
    flags: int
    data: bytes


class Window(NamedTuple):
    stream_id: int
    increment: int


class Cancel(NamedTuple):
    stream_id: int
    code: int


class WsAccept(NamedTuple):
    stream_id: int
    subprotocol: str   # "" for none
    headers: Headers


class WsMessage(NamedTuple):
    stream_id: int
    flags: int         # END: the message's last part
    kind: int          # WS_TEXT or WS_BINARY
    data: bytes


class WsClose(NamedTuple):
    stream_id: int
    code: int
    reason: bytes


class Unknown(NamedTuple):
    """A well-formed frame of a type this version does not define (ignored)."""

    type: int
    stream_id: int
    elements: list[Any]


Frame = Union[Hello, GoAway, Ping, Request, Response, Data, Window, Cancel, WsAccept, WsMessage, WsClose, Unknown]

FRAME_TYPES: dict[type, int] = {
    Hello: HELLO,
    GoAway: GOAWAY,
    Ping: PING,
    Request: REQUEST,
    Response: RESPONSE,
    Data: DATA,
    Window: WINDOW,
    Cancel: CANCEL,
    WsAccept: WS_ACCEPT,
    WsMessage: WS_MESSAGE,
    WsClose: WS_CLOSE,
}

# --- encoding -----------------------------------------------------------------
#
# Every frame is built by one function of its type below, which returns the
# frame's exact bytes: length prefix and payload.  The arguments are the
# frame's elements after the type, in wire order (the fields of its NamedTuple),
# with headers already flat, ``[name, value, ...]``; a body may be any bytes-like
# object.  The functions check nothing: what goes in is what the caller vouches
# for (the connection keeps to the peer's limits, validation.py to the
# frontend's rules).  encode() builds a frame given as its NamedTuple with the
# same functions, its headers flattened by validation.flatten().

_LENGTH = struct.Struct(">I")
_pack_length = _LENGTH.pack
_unpack_length = _LENGTH.unpack_from
_unpackb = msgpack.unpackb
_join_bytes = b"".join
_tuple_new = tuple.__new__
_packer = msgpack.Packer(use_bin_type=True, autoreset=True)
pack: Callable[[Any], bytes] = _packer.pack

Body = Union[bytes, bytearray, memoryview]
FlatHeaders = Sequence[bytes]


def frame_bytes(payload: bytes) -> bytes:
    """Prefix an already packed payload with its length."""
    return _pack_length(len(payload)) + payload


def hello_frame(stream_id: int, version: int, role: str, app: str, pid: int, generation: int,
                max_frame_size: int, max_streams: int, initial_window: int, features: int = 0) -> bytes:
    elements = [HELLO, stream_id, version, role, app, pid, generation, max_frame_size, max_streams, initial_window]
    if features:
        elements.append(features)
    return frame_bytes(pack(elements))


def goaway_frame(stream_id: int, code: int, message: str) -> bytes:
    return frame_bytes(pack([GOAWAY, stream_id, code, message]))


def ping_frame(stream_id: int, ack: bool, opaque: int) -> bytes:
    return frame_bytes(pack([PING, stream_id, ack, opaque]))


def request_frame(stream_id: int, flags: int, method: str, target: bytes, path: bytes, query: bytes,
                  http_version: str, headers: FlatHeaders, client: Address, server: Address, scheme: str,
                  body: Body, request_id: str = "") -> bytes:
    return frame_bytes(pack([REQUEST, stream_id, flags, method, target, path, query, http_version, headers,
                             None if client is None else [client[0], client[1]],
                             None if server is None else [server[0], server[1]], scheme, body, request_id]))


def _response_frame(stream_id: int, flags: int, status: int, headers: FlatHeaders, body: Body) -> bytes:
    payload = pack([RESPONSE, stream_id, flags, status, headers, body])
    return _pack_length(len(payload)) + payload


response_frame = _response_frame


def data_frame(stream_id: int, flags: int, data: Body) -> bytes:
    payload = pack([DATA, stream_id, flags, data])
    return _pack_length(len(payload)) + payload


def window_frame(stream_id: int, increment: int) -> bytes:
    return frame_bytes(pack([WINDOW, stream_id, increment]))


def cancel_frame(stream_id: int, code: int) -> bytes:
    return frame_bytes(pack([CANCEL, stream_id, code]))


def ws_accept_frame(stream_id: int, subprotocol: str, headers: FlatHeaders) -> bytes:
    return frame_bytes(pack([WS_ACCEPT, stream_id, subprotocol, headers]))


def ws_message_frame(stream_id: int, flags: int, kind: int, data: Body) -> bytes:
    return frame_bytes(pack([WS_MESSAGE, stream_id, flags, kind, data]))


def ws_close_frame(stream_id: int, code: int, reason: bytes) -> bytes:
    return frame_bytes(pack([WS_CLOSE, stream_id, code, reason]))


def unknown_frame(type: int, stream_id: int, elements: list[Any]) -> bytes:
    return frame_bytes(pack([type, stream_id, *elements]))


_BUILDERS: dict[type, Callable[..., bytes]] = {
    Hello: hello_frame,
    GoAway: goaway_frame,
    Ping: ping_frame,
    Data: data_frame,
    Window: window_frame,
    Cancel: cancel_frame,
    WsMessage: ws_message_frame,
    WsClose: ws_close_frame,
    Unknown: unknown_frame,
}


def encode(frame: Frame) -> bytes:
    """The exact bytes of one frame given as its NamedTuple."""
    cls = type(frame)
    if cls is Request:
        f: Any = frame
        return request_frame(f.stream_id, f.flags, f.method, f.target, f.path, f.query, f.http_version,
                             flatten(f.headers), f.client, f.server, f.scheme, f.body, f.request_id)
    if cls is Response:
        f = frame
        return response_frame(f.stream_id, f.flags, f.status, flatten(f.headers), f.body)
    if cls is WsAccept:
        f = frame
        return ws_accept_frame(f.stream_id, f.subprotocol, flatten(f.headers))
    return _BUILDERS[cls](*frame)


def bin_header_size(n: int) -> int:
    """Bytes MessagePack spends in front of a bin of length n."""
    return 2 if n < 0x100 else 3 if n < 0x10000 else 5


# --- decoding -----------------------------------------------------------------


def _malformed(message: str) -> ProtocolError:
    return ProtocolError(PROTOCOL_ERROR, message)


U32_MAX = 2**32 - 1
U64_MAX = 2**64 - 1


def _u32(value: Any, what: str) -> int:
    # bool is an int subclass in Python but a distinct MessagePack type.  The
    # bounds are those of the C codec's fields, so both reject the same frames.
    if type(value) is not int or not 0 <= value <= U32_MAX:
        raise _malformed(f"{what}: expected an unsigned integer of at most 32 bits")
    return value


def _u64(value: Any, what: str) -> int:
    if type(value) is not int or value < 0:
        raise _malformed(f"{what}: expected an unsigned integer")
    return value


def _str(value: Any, what: str) -> str:
    if type(value) is not str:
        raise _malformed(f"{what}: expected a str")
    return value


def _bin(value: Any, what: str) -> bytes:
    if type(value) is not bytes:
        raise _malformed(f"{what}: expected a bin")
    return value


def _headers(value: Any, what: str) -> Headers:
    if type(value) is not list or len(value) & 1:
        raise _malformed(f"{what}: expected an array of bin of even length")
    for item in value:
        if type(item) is not bytes:
            raise _malformed(f"{what}: expected an array of bin of even length")
    return list(zip(value[0::2], value[1::2]))


def _addr(value: Any, what: str) -> Address:
    if value is None:
        return None
    if type(value) is not list or len(value) != 2:
        raise _malformed(f"{what}: expected [host, port] or nil")
    return (_str(value[0], what + " host"), _u32(value[1], what + " port"))


def _need(items: list[Any], count: int, name: str) -> None:
    if len(items) < count:
        raise _malformed(f"{name} frame has {len(items)} elements, needs {count}")


def _on_connection(sid: int, name: str) -> None:
    if sid != 0:
        raise _malformed(f"{name} frame on stream {sid}, must be on stream 0")


def _on_stream(sid: int, name: str) -> None:
    if sid == 0:
        raise _malformed(f"{name} frame on stream 0")


def _hello(sid: int, e: list[Any]) -> Hello:
    _need(e, 10, "HELLO")
    _on_connection(sid, "HELLO")
    return Hello(sid, _u32(e[2], "HELLO version"), _str(e[3], "HELLO role"), _str(e[4], "HELLO app"),
                 _u64(e[5], "HELLO pid"), _u64(e[6], "HELLO generation"),
                 _u32(e[7], "HELLO max_frame_size"), _u32(e[8], "HELLO max_streams"),
                 _u32(e[9], "HELLO initial_window"),
                 _u64(e[10], "HELLO features") if len(e) > 10 else 0)


def _goaway(sid: int, e: list[Any]) -> GoAway:
    _need(e, 4, "GOAWAY")
    _on_connection(sid, "GOAWAY")
    return GoAway(sid, _u32(e[2], "GOAWAY code"), _str(e[3], "GOAWAY message"))


def _ping(sid: int, e: list[Any]) -> Ping:
    _need(e, 4, "PING")
    _on_connection(sid, "PING")
    if type(e[2]) is not bool:
        raise _malformed("PING ack: expected a bool")
    return Ping(sid, e[2], _u64(e[3], "PING opaque"))


def _request(sid: int, e: list[Any]) -> Request:
    # 13 elements: request_id (the 14th) is optional, PROTOCOL.md section 2.
    _need(e, 13, "REQUEST")
    _on_stream(sid, "REQUEST")
    return Request(sid, _u64(e[2], "REQUEST flags"), _str(e[3], "REQUEST method"),
                   _bin(e[4], "REQUEST target"), _bin(e[5], "REQUEST path"), _bin(e[6], "REQUEST query"),
                   _str(e[7], "REQUEST http_version"), _headers(e[8], "REQUEST headers"),
                   _addr(e[9], "REQUEST client"), _addr(e[10], "REQUEST server"),
                   _str(e[11], "REQUEST scheme"), _bin(e[12], "REQUEST body"),
                   _str(e[13], "REQUEST request_id") if len(e) > 13 else "")


def _response(sid: int, e: list[Any]) -> Response:
    _need(e, 6, "RESPONSE")
    _on_stream(sid, "RESPONSE")
    return Response(sid, _u64(e[2], "RESPONSE flags"), _u32(e[3], "RESPONSE status"),
                    _headers(e[4], "RESPONSE headers"), _bin(e[5], "RESPONSE body"))


def _data(sid: int, e: list[Any]) -> Data:
    _need(e, 4, "DATA")
    _on_stream(sid, "DATA")
    return Data(sid, _u64(e[2], "DATA flags"), _bin(e[3], "DATA data"))


def _window(sid: int, e: list[Any]) -> Window:
    _need(e, 3, "WINDOW")
    _on_stream(sid, "WINDOW")
    increment = _u32(e[2], "WINDOW increment")
    if increment == 0:
        raise _malformed("WINDOW increment 0")
    return Window(sid, increment)


def _cancel(sid: int, e: list[Any]) -> Cancel:
    _need(e, 3, "CANCEL")
    _on_stream(sid, "CANCEL")
    return Cancel(sid, _u32(e[2], "CANCEL code"))


def _ws_accept(sid: int, e: list[Any]) -> WsAccept:
    _need(e, 4, "WS_ACCEPT")
    _on_stream(sid, "WS_ACCEPT")
    return WsAccept(sid, _str(e[2], "WS_ACCEPT subprotocol"), _headers(e[3], "WS_ACCEPT headers"))


def _ws_message(sid: int, e: list[Any]) -> WsMessage:
    _need(e, 5, "WS_MESSAGE")
    _on_stream(sid, "WS_MESSAGE")
    return WsMessage(sid, _u64(e[2], "WS_MESSAGE flags"), _u32(e[3], "WS_MESSAGE kind"),
                     _bin(e[4], "WS_MESSAGE data"))


def _ws_close(sid: int, e: list[Any]) -> WsClose:
    _need(e, 4, "WS_CLOSE")
    _on_stream(sid, "WS_CLOSE")
    return WsClose(sid, _u32(e[2], "WS_CLOSE code"), _bin(e[3], "WS_CLOSE reason"))


_DECODERS: dict[int, Callable[[int, list[Any]], Frame]] = {
    HELLO: _hello,
    GOAWAY: _goaway,
    PING: _ping,
    REQUEST: _request,
    RESPONSE: _response,
    DATA: _data,
    WINDOW: _window,
    CANCEL: _cancel,
    WS_ACCEPT: _ws_accept,
    WS_MESSAGE: _ws_message,
    WS_CLOSE: _ws_close,
}


def decode_payload(payload: Any) -> Frame:
    """One frame from one payload (the bytes after the length prefix)."""
    if not payload:
        raise _malformed("frame length 0")
    try:
        try:
            items = _unpackb(payload, raw=False, use_list=True, strict_map_key=False)
        except TypeError:
            # A map with an array or map key: valid MessagePack, but not a Python
            # dict.  No field of a known frame is a map, so only an element this
            # version ignores can hold one; decode maps as lists of pairs and go
            # on, as the C codec does (unless the rest is malformed: below).
            items = _unpackb(payload, raw=False, use_list=True, strict_map_key=False,
                             object_pairs_hook=list)
    except (ValueError, msgpack.UnpackException) as exc:
        # ExtraData (bytes after the array), truncated data and invalid UTF-8 in a
        # str are all ValueErrors.
        raise _malformed(f"payload is not one MessagePack value: {exc}") from None
    # Fast path for well-formed type and stream id; anything else takes the
    # checks below, which say what is wrong.
    if type(items) is list and len(items) >= 2:
        ftype = items[0]
        sid = items[1]
        if type(ftype) is int and type(sid) is int and 0 <= sid <= MAX_STREAM_ID:
            if ftype == REQUEST and len(items) >= 13 and sid:
                # The hot frame: one combined check of every element, here, so
                # a valid REQUEST costs no function call besides the tuple's
                # construction; _request() runs the field by field checks only
                # when something is wrong, to say what.
                flags, method, target, path, query, version, headers, client, server, scheme, body = items[2:13]
                request_id = items[13] if len(items) > 13 else ""
                if (type(flags) is int and flags >= 0 and type(method) is str and type(target) is bytes
                        and type(request_id) is str and type(path) is bytes and type(query) is bytes and type(version) is str
                        and type(scheme) is str and type(body) is bytes
                        and type(headers) is list and not len(headers) & 1
                        and (client is None or (type(client) is list and len(client) == 2
                                                and type(client[0]) is str and type(client[1]) is int
                                                and 0 <= client[1] <= U32_MAX))
                        and (server is None or (type(server) is list and len(server) == 2
                                                and type(server[0]) is str and type(server[1]) is int
                                                and 0 <= server[1] <= U32_MAX))):
                    try:
                        # Of the types MessagePack decodes to, only bytes has the
                        # buffer interface join() needs, so this succeeds exactly
                        # when every header name and value is a bin, in one C call.
                        _join_bytes(headers)
                    except TypeError:
                        pass
                    else:
                        pairs = iter(headers)
                        return _tuple_new(Request, (
                            sid, flags, method, target, path, query, version, list(zip(pairs, pairs)),
                            None if client is None else (client[0], client[1]),
                            None if server is None else (server[0], server[1]), scheme, body, request_id))
            decoder = _DECODERS.get(ftype)
            if decoder is not None:
                return decoder(sid, items)
    return _decode_checked(items)


def _decode_checked(items: Any) -> Frame:
    if type(items) is not list:
        raise _malformed("payload is not an array")
    if len(items) < 2:
        raise _malformed("frame array has fewer than 2 elements")
    ftype = _u32(items[0], "frame type")
    sid = _u32(items[1], "stream id")
    if sid > MAX_STREAM_ID:
        raise _malformed(f"stream id {sid} does not fit in 31 bits")
    decoder = _DECODERS.get(ftype)
    if decoder is None:
        return Unknown(ftype, sid, items[2:])
    return decoder(sid, items)


# Payloads up to this size are copied out of the buffer for decoding: cheaper
# than a memoryview for small frames, while large ones are not copied twice.
_COPY_MAX = 4096


# What the decoder's buffer makes room for at least, for each read into it.
READ_SIZE = 256 * 1024


class Decoder:
    """Splits a byte stream into frames.

    ``feed()`` bytes as they arrive, or read them straight into the decoder's
    buffer (``get_buffer()``, then ``buffer_updated()``: asyncio's
    BufferedProtocol), then call ``next_frame()`` until it returns None (or
    iterate).  A malformed frame raises ProtocolError carrying the GOAWAY code;
    the decoder is unusable afterwards, since the stream has lost framing.
    ``max_frame_size`` may be raised once HELLO has been exchanged.

    The buffer is one bytearray, filled up to ``_end``, with frames taken from
    ``_pos``.  It is never resized while frames are taken (a read's memoryview
    may still be alive then), only when room is made for the next bytes; it
    holds at most a frame, the largest read, and what a read left unparsed.
    """

    __slots__ = ("max_frame_size", "_buf", "_pos", "_end")

    def __init__(self, max_frame_size: int = PRE_HELLO_MAX_FRAME) -> None:
        self.max_frame_size = max_frame_size
        self._buf = bytearray()
        self._pos = 0
        self._end = 0

    def feed(self, data: Body) -> None:
        n = len(data)
        self._make_room(n)
        self._buf[self._end:self._end + n] = data
        self._end += n

    def get_buffer(self, size: int = READ_SIZE) -> memoryview:
        """Where the next bytes may be read to: room for at least ``size`` of them."""
        self._make_room(max(size, READ_SIZE))
        return memoryview(self._buf)[self._end:]

    def buffer_updated(self, n: int) -> None:
        """``n`` bytes were read into the view get_buffer() gave."""
        self._end += n

    def _make_room(self, n: int) -> None:
        buf = self._buf
        if len(buf) - self._end >= n:
            return
        kept = self._end - self._pos
        if self._pos:
            buf[:kept] = buf[self._pos:self._end]     # the same length: no resize
            self._pos, self._end = 0, kept
        if len(buf) - kept < n:
            buf += bytes(max(n - (len(buf) - kept), len(buf)))

    @property
    def buffered(self) -> int:
        """Bytes received but not yet returned as frames."""
        return self._end - self._pos

    def next_frame(self) -> Optional[Frame]:
        buf = self._buf
        start = self._pos + HEADER_SIZE
        if self._end >= start:
            (length,) = _unpack_length(buf, start - HEADER_SIZE)
            # Rejected from the four length bytes alone, before any payload arrives.
            if length > self.max_frame_size:
                raise ProtocolError(
                    FRAME_TOO_LARGE, f"frame length {length} above the maximum frame size {self.max_frame_size}")
            end = start + length
            if end <= self._end:
                if _request_from is not None:
                    frame = _request_from(buf, start, end)
                    if frame is not None:
                        self._pos = end
                        return frame
                if length <= _COPY_MAX:
                    frame = decode_payload(buf[start:end])
                else:
                    with memoryview(buf) as view, view[start:end] as payload:
                        frame = decode_payload(payload)
                self._pos = end
                return frame
        if self._pos == self._end:
            self._pos = self._end = 0
        return None

    def __iter__(self) -> "Decoder":
        return self

    def __next__(self) -> Frame:
        frame = self.next_frame()
        if frame is None:
            raise StopIteration
        return frame


# --- the C accelerator ---------------------------------------------------------------

_request_from: Optional[Callable[[bytearray, int, int], Optional[Request]]] = None

if accelerator.module is not None:
    _speedups = accelerator.module
    _speedups.setup(Request)
    _request_from = _speedups.request_from
    _c_response_frame = _speedups.response_frame

    def response_frame(stream_id: int, flags: int, status: int, headers: FlatHeaders, body: Body) -> bytes:
        # None (never an empty frame) for what only the Python encoder takes.
        return (_c_response_frame(stream_id, flags, status, headers, body)
                or _response_frame(stream_id, flags, status, headers, body))


def speedups() -> bool:
    """Whether the C accelerator is in use."""
    return _request_from is not None
