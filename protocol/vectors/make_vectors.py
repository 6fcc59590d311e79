#!/usr/bin/python3
"""Writes the golden vectors of protocol/PROTOCOL.md into this directory.

Run with Debian's interpreter (it has python3-msgpack):

    /usr/bin/python3 protocol/vectors/make_vectors.py

For every vector NAME it writes NAME.bin (the frame bytes, length prefix
included) and NAME.txt (what a decoder must make of them); README.md describes
both formats. The frame and its description come from the same data below, so
they cannot disagree. Files from vectors no longer listed here are removed.
"""

import struct
import sys
from pathlib import Path

import msgpack

HERE = Path(__file__).resolve().parent

DEFAULT_MAX_FRAME = 1048576

# Field kinds.
UINT, STR, BIN, BOOL, HEADERS, ADDR = "uint", "str", "bin", "bool", "headers", "addr"

# Elements after type and stream id, per type, as in PROTOCOL.md section 2.
LAYOUTS = {
    1: [("version", UINT), ("role", STR), ("app", STR), ("pid", UINT), ("generation", UINT),
        ("max_frame_size", UINT), ("max_streams", UINT), ("initial_window", UINT), ("features", UINT)],
    2: [("code", UINT), ("message", STR)],
    3: [("ack", BOOL), ("opaque", UINT)],
    4: [("flags", UINT), ("method", STR), ("target", BIN), ("path", BIN), ("query", BIN),
        ("http_version", STR), ("headers", HEADERS), ("client", ADDR), ("server", ADDR),
        ("scheme", STR), ("body", BIN), ("request_id", STR)],
    5: [("flags", UINT), ("status", UINT), ("headers", HEADERS), ("body", BIN)],
    6: [("flags", UINT), ("data", BIN)],
    7: [("increment", UINT)],
    8: [("code", UINT)],
    9: [("subprotocol", STR), ("headers", HEADERS)],
    10: [("flags", UINT), ("kind", UINT), ("data", BIN)],
    11: [("code", UINT), ("reason", BIN)],
}

# Per type, how many elements at the end of its layout a frame may leave out
# (appended to version 1 after its first release, PROTOCOL.md section 2):
# HELLO's features and REQUEST's request_id.
OPTIONAL = {1: 1, 4: 1}

END = 0x1
FILE = 0x2
WEBSOCKET = 0x4


class Repeat(bytes):
    """A byte string written in .txt as `b"unit" * count` to keep big bodies readable."""

    def __new__(cls, unit, count):
        self = super().__new__(cls, unit * count)
        self.unit, self.count = unit, count
        return self


def quote(raw):
    """A double-quoted literal of raw bytes: printable ASCII as is, the rest escaped."""
    out = []
    for c in raw:
        if c in (0x22, 0x5C):
            out.append("\\" + chr(c))
        elif c == 0x0A:
            out.append("\\n")
        elif c == 0x0D:
            out.append("\\r")
        elif c == 0x09:
            out.append("\\t")
        elif 0x20 <= c < 0x7F:
            out.append(chr(c))
        else:
            out.append("\\x%02x" % c)
    return '"' + "".join(out) + '"'


def show_bytes(b):
    if isinstance(b, Repeat):
        return "b%s * %d" % (quote(b.unit), b.count)
    return "b" + quote(b)


def show_str(s):
    return quote(s.encode("utf-8"))


def show_any(v):
    """Any msgpack value, for the informational `extra:` lines."""
    if v is None:
        return "nil"
    if v is True or v is False:
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str):
        return show_str(v)
    if isinstance(v, bytes):
        return show_bytes(v)
    if isinstance(v, list):
        return "[" + ", ".join(show_any(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join("%s: %s" % (show_any(k), show_any(x)) for k, x in v.items()) + "}"
    raise TypeError(v)


def frame_bytes(payload):
    return struct.pack(">I", len(payload)) + payload


class Valid:
    """A well-formed frame: type, stream id, the fields of its layout in order, then extras."""

    def __init__(self, name, comment, ftype, stream_id, *fields, extra=()):
        self.name, self.comment = name, comment
        self.ftype, self.stream_id = ftype, stream_id
        self.fields, self.extra = list(fields), list(extra)
        layout = LAYOUTS.get(ftype, [])
        # A frame of an earlier revision may lack the optional elements at
        # the end of its layout (OPTIONAL, PROTOCOL.md section 2).
        if not len(layout) - OPTIONAL.get(ftype, 0) <= len(self.fields) <= len(layout):
            raise ValueError("%s: %d fields, layout has %d" % (name, len(self.fields), len(layout)))

    def elements(self):
        out = [self.ftype, self.stream_id]
        for (_, kind), value in zip(LAYOUTS.get(self.ftype, []), self.fields):
            if kind == HEADERS:
                out.append([x for pair in value for x in pair])
            elif kind == ADDR:
                out.append(None if value is None else list(value))
            else:
                out.append(value)
        return out + self.extra

    def payload(self):
        return msgpack.packb(self.elements(), use_bin_type=True)

    def describe(self):
        lines = ["# " + self.comment,
                 "type: %d" % self.ftype,
                 "stream_id: %d" % self.stream_id]
        for (key, kind), value in zip(LAYOUTS.get(self.ftype, []), self.fields):
            if kind == UINT:
                lines.append("%s: %d" % (key, value))
            elif kind == STR:
                lines.append("%s: %s" % (key, show_str(value)))
            elif kind == BIN:
                lines.append("%s: %s" % (key, show_bytes(value)))
            elif kind == BOOL:
                lines.append("%s: %s" % (key, "true" if value else "false"))
            elif kind == HEADERS:
                lines.extend("header: %s %s" % (show_bytes(n), show_bytes(v)) for n, v in value)
            elif kind == ADDR:
                lines.append("%s: nil" % key if value is None
                             else "%s: %s %d" % (key, show_str(value[0]), value[1]))
        lines.extend("extra: %s" % show_any(x) for x in self.extra)
        return lines


class Invalid:
    """Bytes a decoder with max_frame_size 1048576 must reject with `error`."""

    def __init__(self, name, comment, error, data):
        self.name, self.comment, self.error, self.data = name, comment, error, data

    def describe(self):
        return ["# %s" % self.comment, "error: %s" % self.error]


HOST = ("host", "x")


def hdrs(*pairs):
    return [(n.encode(), v if isinstance(v, bytes) else v.encode()) for n, v in pairs]


MANY_HEADERS = hdrs(("content-type", "text/html; charset=utf-8"), ("cache-control", "no-store"),
                    *[("set-cookie", "c%d=%d; Path=/; HttpOnly" % (i, i * 7)) for i in range(12)],
                    ("x-request-id", "4f1c2a9e-8d3b-4e57-9a61-2f0c5d7e8b90"), ("vary", "accept-encoding"),
                    ("x-frame-options", "DENY"), ("content-language", "en"), ("etag", '"abc123"'),
                    ("last-modified", "Tue, 15 Nov 1994 12:45:26 GMT"), ("x-empty", ""),
                    ("link", "</style.css>; rel=preload; as=style"))

VALID = [
    Valid("hello-backend", "HELLO a backend sends first (PROTOCOL.md section 6)",
          1, 0, 1, "backend", "app:app", 4242, 1700000000000, 1048576, 1024, 1048576),
    Valid("hello-frontend", "HELLO the frontend answers with (PROTOCOL.md section 6)",
          1, 0, 1, "frontend", "tandem-frontend", 4241, 0, 1048576, 0, 1048576),
    Valid("hello-backend-features", "HELLO of a backend that speaks WebSockets (features: WEBSOCKET)",
          1, 0, 1, "backend", "app:app", 4242, 1700000000000, 1048576, 1024, 1048576, 1),
    Valid("hello-frontend-features", "HELLO with its optional features: WEBSOCKET (PROTOCOL.md section 8)",
          1, 0, 1, "frontend", "tandem-frontend", 4241, 0, 1048576, 0, 1048576, 1),
    Valid("goaway-drain", "GOAWAY(NO_ERROR): the sender drains",
          2, 0, 0, "shutting down"),
    Valid("goaway-superseded", "GOAWAY(SUPERSEDED): a newer generation took over; drain, then exit",
          2, 0, 7, "generation 1700000099000 of app:app has attached"),
    Valid("goaway-version-mismatch", "GOAWAY(VERSION_MISMATCH) with the message of section 2 (a str 8)",
          2, 0, 2, "frontend speaks protocol version 1, backend sent 2"),
    Valid("ping", "PING; the opaque value needs a uint 64",
          3, 0, False, 0x0123456789ABCDEF),
    Valid("ping-ack", "PING with ack: the answer to ping",
          3, 0, True, 0x0123456789ABCDEF),
    Valid("request-get", "REQUEST for GET /hi, whole request in one frame (PROTOCOL.md section 6)",
          4, 1, END, "GET", b"/hi", b"/hi", b"", "1.1", hdrs(HOST),
          ("127.0.0.1", 50000), ("127.0.0.1", 8080), "http", b"", "6f3c0a51d2e8b7940000000000000001"),
    Valid("request-post-body", "REQUEST with END and its whole body; a repeated header; "
          "a percent-decoded path that is not ASCII",
          4, 3, END, "POST", b"/caf%C3%A9/a%2Fb?x=1&y=%41", "/café/a/b".encode(), b"x=1&y=%41", "1.1",
          hdrs(("host", "example.com:8080"), ("content-type", "application/json"),
               ("content-length", "18"), ("accept", "text/html"), ("accept", "application/json"),
               ("x-raw", b"\x00\xff\t\"\\")),
          ("::1", 61234), ("::1", 8080), "https", b'{"name": "tandem"}', "req-42"),
    Valid("request-head-no-end", "REQUEST without END and with an empty body: more body may follow in DATA; "
          "an empty request_id (none)",
          4, 5, 0, "HEAD", b"/", b"/", b"", "1.0", hdrs(HOST, ("user-agent", "curl/8.0")),
          ("10.0.0.2", 1024), ("10.0.0.1", 443), "https", b"", ""),
    Valid("request-unix-client", "REQUEST from a client on a Unix socket: no addresses",
          4, 2147483647, END, "DELETE", b"/items/7", b"/items/7", b"", "1.1", [],
          None, None, "http", b"", "00000000000000000000000000000000"),
    Valid("request-without-id", "REQUEST of a frontend from before request ids: 13 elements, no request_id "
          "(decoders take it as empty; encoders write it, so a re-encoding is one element longer)",
          4, 4, END, "GET", b"/old", b"/old", b"", "1.1", hdrs(HOST),
          ("127.0.0.1", 50001), ("127.0.0.1", 8080), "http", b""),
    Valid("response-hello", "RESPONSE 200 hello with END (PROTOCOL.md section 6)",
          5, 1, END, 200, hdrs(("content-type", "text/plain; charset=utf-8")), b"hello"),
    Valid("response-streaming", "RESPONSE without END and an empty body: DATA follows",
          5, 7, 0, 200, hdrs(("content-type", "text/event-stream"), ("cache-control", "no-cache")), b""),
    Valid("response-file", "RESPONSE with FILE and END: the body is the named file, which the frontend sends",
          5, 13, END | FILE, 200, hdrs(("content-type", "application/pdf")), b"/srv/app/files/report.pdf"),
    Valid("response-many-headers", "RESPONSE with %d headers: the headers array is an array 16"
          % len(MANY_HEADERS), 5, 9, END, 404, MANY_HEADERS, b"<h1>not found</h1>\n"),
    Valid("data-chunk", "DATA in the middle of a body", 6, 7, 0, b"event: tick\ndata: 1\n\n"),
    Valid("data-end-empty", "DATA with no bytes and END: the body is finished", 6, 7, END, b""),
    Valid("data-large", "DATA of 70000 bytes: a bin 32, and a payload length above 65535",
          6, 11, END, Repeat(b"0123456789", 7000)),
    Valid("data-bin16", "DATA of 300 bytes: a bin 16", 6, 12, 0, Repeat(b"ab", 150)),
    Valid("window", "WINDOW granting 524288 more body bytes", 7, 7, 524288),
    Valid("cancel-client-gone", "CANCEL(CLIENT_GONE)", 8, 3, 1),
    Valid("request-websocket", "REQUEST with WEBSOCKET and END: a WebSocket upgrade (PROTOCOL.md section 8)",
          4, 3, END | WEBSOCKET, "GET", b"/ws", b"/ws", b"", "1.1",
          hdrs(HOST, ("upgrade", "websocket"), ("connection", "Upgrade"),
               ("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ=="), ("sec-websocket-version", "13")),
          None, None, "http", b""),
    Valid("ws-accept", "WS_ACCEPT without a subprotocol or headers", 9, 3, "", []),
    Valid("ws-accept-subprotocol", "WS_ACCEPT choosing a subprotocol, with a header for the 101",
          9, 5, "chat.v2", hdrs(("set-cookie", "room=7"))),
    Valid("ws-message-text", "WS_MESSAGE: a whole text message", 10, 3, END, 1, "héllo".encode()),
    Valid("ws-message-binary-part", "WS_MESSAGE: the first part of a binary message, more to follow",
          10, 3, 0, 2, Repeat(b"\x00\xff", 200)),
    Valid("ws-message-empty", "WS_MESSAGE: an empty binary message", 10, 4, END, 2, b""),
    Valid("ws-close", "WS_CLOSE with code 1000 and a reason", 11, 3, 1000, b"bye"),
    Valid("ws-close-abnormal", "WS_CLOSE 1006: the client went without a close frame", 11, 9, 1006, b""),
    Valid("window-extra-elements", "WINDOW with two elements a later version might define: "
          "decoders ignore them", 7, 9, 1000, extra=["ext", 42]),
    Valid("unknown-type-99", "type 99, a well-formed frame of a type this version does not define: "
          "decoders return it as unknown, receivers skip it", 99, 5,
          extra=["future", [1, 2, {"a": b"b"}], None, 3.5, -1]),
]


def p(*elements):
    return msgpack.packb(list(elements), use_bin_type=True)


GET = [4, 1, 1, "GET", b"/hi", b"/hi", b"", "1.1", [b"host", b"x"], None, None, "http", b""]

INVALID = [
    Invalid("invalid-zero-length", "a length of 0", "EPROTO", b"\0\0\0\0"),
    Invalid("invalid-map-payload", "the payload is a map, not an array", "EPROTO",
            frame_bytes(msgpack.packb({"type": 3, "stream": 0}, use_bin_type=True))),
    Invalid("invalid-trailing-bytes", "a valid WINDOW array followed by one more byte", "EPROTO",
            frame_bytes(p(7, 1, 100) + b"\xc0")),
    Invalid("invalid-truncated-array", "the array announces 3 elements but the payload holds 2",
            "EPROTO", frame_bytes(b"\x93\x07\x01")),
    Invalid("invalid-array32-huge-count", "an array 32 announcing 2^32-1 elements in a 5-byte payload",
            "EPROTO", frame_bytes(b"\xdd\xff\xff\xff\xff")),
    Invalid("invalid-reserved-byte", "the payload is the never-used byte 0xc1", "EPROTO",
            frame_bytes(b"\xc1")),
    Invalid("invalid-request-str-target", "REQUEST whose target is a str where bin is required",
            "EPROTO", frame_bytes(p(*GET[:4], "/hi", *GET[5:]))),
    Invalid("invalid-headers-odd", "REQUEST whose headers array has an odd length", "EPROTO",
            frame_bytes(p(*GET[:8], [b"host", b"x", b"accept"], *GET[9:]))),
    Invalid("invalid-header-str", "RESPONSE with a header name that is a str, not bin", "EPROTO",
            frame_bytes(p(5, 1, 1, 200, ["content-type", b"text/plain"], b""))),
    Invalid("invalid-request-too-few", "REQUEST missing its body element", "EPROTO",
            frame_bytes(p(*GET[:-1]))),
    Invalid("invalid-request-id-bin", "REQUEST whose request_id is a bin, not a str", "EPROTO",
            frame_bytes(p(*GET, b"abc"))),
    Invalid("invalid-data-stream-0", "DATA on stream 0", "EPROTO", frame_bytes(p(6, 0, 0, b"x"))),
    Invalid("invalid-hello-stream-5", "HELLO on stream 5", "EPROTO",
            frame_bytes(p(1, 5, 1, "backend", "app:app", 4242, 1, 1048576, 1024, 1048576))),
    Invalid("invalid-stream-id-2-31", "DATA on stream 2^31, above the 31-bit id space", "EPROTO",
            frame_bytes(p(6, 2**31, 0, b"x"))),
    Invalid("invalid-window-zero", "WINDOW with increment 0", "EPROTO", frame_bytes(p(7, 1, 0))),
    Invalid("invalid-ping-ack-int", "PING whose ack is the integer 0, not a bool", "EPROTO",
            frame_bytes(p(3, 0, 0, 1))),
    Invalid("invalid-hello-features-str", "HELLO whose optional features element is a str", "EPROTO",
            frame_bytes(p(1, 0, 1, "backend", "app:app", 4242, 1, 1048576, 1024, 1048576, "ws"))),
    Invalid("invalid-ws-message-too-few", "WS_MESSAGE missing its data", "EPROTO", frame_bytes(p(10, 3, 1, 1))),
    Invalid("invalid-ws-close-reason-str", "WS_CLOSE whose reason is a str, not bin", "EPROTO",
            frame_bytes(p(11, 3, 1000, "bye"))),
    Invalid("invalid-ws-accept-stream-0", "WS_ACCEPT on stream 0", "EPROTO", frame_bytes(p(9, 0, "", []))),
    Invalid("invalid-type-negative", "a type of -1", "EPROTO", frame_bytes(p(-1, 0))),
    Invalid("invalid-type-str", "a type that is a str", "EPROTO", frame_bytes(p("PING", 0, False, 1))),
    Invalid("invalid-one-element", "an array with only a type", "EPROTO", frame_bytes(p(3))),
    Invalid("invalid-status-2-32", "RESPONSE whose status does not fit 32 bits", "EPROTO",
            frame_bytes(p(5, 1, 1, 2**32, [], b""))),
    Invalid("invalid-length-too-big", "only a length prefix, 0x7fffffff: above the default limit "
            "(1048576), which a decoder sees from these four bytes", "E2BIG", b"\x7f\xff\xff\xff"),
    Invalid("invalid-length-limit-plus-one", "a length of 1048577 with no payload yet", "E2BIG",
            struct.pack(">I", DEFAULT_MAX_FRAME + 1)),
]


def main():
    names = set()
    for v in VALID + INVALID:
        if v.name in names:
            sys.exit("duplicate vector name %s" % v.name)
        names.add(v.name)
        data = v.data if isinstance(v, Invalid) else frame_bytes(v.payload())
        (HERE / (v.name + ".bin")).write_bytes(data)
        (HERE / (v.name + ".txt")).write_text("\n".join(v.describe()) + "\n")
    for old in list(HERE.glob("*.bin")) + list(HERE.glob("*.txt")):
        if old.stem not in names:
            old.unlink()
    print("wrote %d vectors (%d valid, %d invalid) to %s" % (len(names), len(VALID), len(INVALID), HERE))


if __name__ == "__main__":
    main()
