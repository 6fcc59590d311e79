"""tandem.protocol against the golden vectors, at every truncation point and byte by byte."""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any

import msgpack  # type: ignore[import]
import pytest

from tandem import protocol
from tandem.protocol import END, Decoder, ProtocolError
from tandem.validation import flatten

VECTORS = Path(__file__).resolve().parents[2] / "protocol" / "vectors"

ERRORS = {"EPROTO": protocol.PROTOCOL_ERROR, "E2BIG": protocol.FRAME_TOO_LARGE}


# --- the .txt format ----------------------------------------------------------------
# `key: value` lines; values are integers, true/false/nil, "quoted" strings (their
# UTF-8 bytes, C-like escapes), b"quoted" byte strings, b"unit" * N, `header: b"n"
# b"v"`, addresses `"host" port`, and for `extra:` lists and maps of those.

_TOKEN = re.compile(r'\s*(b?"(?:[^"\\]|\\.)*"|-?\d+\.\d+|-?\d+|true|false|nil|\*|\[|\]|\{|\}|,|:)')


def _unquote(literal: str) -> bytes:
    body = literal[literal.index('"') + 1:-1]
    out = bytearray()
    i = 0
    while i < len(body):
        c = body[i]
        if c != "\\":
            out += c.encode("utf-8")
            i += 1
            continue
        nxt = body[i + 1]
        if nxt == "x":
            out.append(int(body[i + 2:i + 4], 16))
            i += 4
            continue
        out += {"n": b"\n", "r": b"\r", "t": b"\t", '"': b'"', "\\": b"\\"}[nxt]
        i += 2
    return bytes(out)


def _tokens(text: str) -> list[str]:
    tokens = []
    pos = 0
    text = text.rstrip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        assert m, f"cannot parse {text[pos:]!r}"
        tokens.append(m.group(1))
        pos = m.end()
    return tokens


def _value(tokens: list[str]) -> Any:
    tok = tokens.pop(0)
    if tok.startswith('b"'):
        raw = _unquote(tok)
        if tokens and tokens[0] == "*":
            tokens.pop(0)
            raw = raw * int(tokens.pop(0))
        return raw
    if tok.startswith('"'):
        return _unquote(tok).decode("utf-8")
    if tok == "true":
        return True
    if tok == "false":
        return False
    if tok == "nil":
        return None
    if tok == "[":
        items = []
        while tokens[0] != "]":
            items.append(_value(tokens))
            if tokens[0] == ",":
                tokens.pop(0)
        tokens.pop(0)
        return items
    if tok == "{":
        mapping = {}
        while tokens[0] != "}":
            key = _value(tokens)
            assert tokens.pop(0) == ":"
            mapping[key] = _value(tokens)
            if tokens[0] == ",":
                tokens.pop(0)
        tokens.pop(0)
        return mapping
    return ast.literal_eval(tok)


def parse_txt(path: Path) -> dict[str, Any]:
    fields: dict[str, Any] = {"header": [], "extra": []}
    for line in path.read_text().splitlines():
        if not line or line.startswith("#"):
            continue
        key, _, rest = line.partition(": ")
        if key == "error":
            fields["error"] = rest.strip()
            continue
        tokens = _tokens(rest)
        values = []
        while tokens:
            values.append(_value(tokens))
        if key in ("header", "extra"):
            fields[key].append(tuple(values) if key == "header" else values[0])
        elif key in ("client", "server"):
            fields[key] = None if values == [None] else tuple(values)
        else:
            (fields[key],) = values
    return fields


def vector_names(prefix: str = "") -> list[str]:
    if not VECTORS.is_dir():
        return []
    return sorted(p.stem for p in VECTORS.glob("*.bin") if p.stem.startswith(prefix))


VALID = [n for n in vector_names() if not n.startswith("invalid-")]
INVALID = vector_names("invalid-")


def test_vectors_are_there() -> None:
    assert VALID and INVALID, f"no golden vectors in {VECTORS}"


def decode_all(data: bytes, max_frame: int = protocol.DEFAULT_MAX_FRAME) -> list[protocol.Frame]:
    decoder = Decoder(max_frame)
    decoder.feed(data)
    frames = list(decoder)
    assert decoder.buffered == 0
    return frames


def expected_frame(fields: dict[str, Any]) -> protocol.Frame:
    ftype, sid = fields["type"], fields["stream_id"]
    if ftype == protocol.HELLO:
        return protocol.Hello(sid, fields["version"], fields["role"], fields["app"], fields["pid"],
                              fields["generation"], fields["max_frame_size"], fields["max_streams"],
                              fields["initial_window"], fields.get("features", 0))
    if ftype == protocol.GOAWAY:
        return protocol.GoAway(sid, fields["code"], fields["message"])
    if ftype == protocol.PING:
        return protocol.Ping(sid, fields["ack"], fields["opaque"])
    if ftype == protocol.REQUEST:
        return protocol.Request(sid, fields["flags"], fields["method"], fields["target"], fields["path"],
                                fields["query"], fields["http_version"], fields["header"], fields["client"],
                                fields["server"], fields["scheme"], fields["body"], fields.get("request_id", ""))
    if ftype == protocol.RESPONSE:
        return protocol.Response(sid, fields["flags"], fields["status"], fields["header"], fields["body"])
    if ftype == protocol.DATA:
        return protocol.Data(sid, fields["flags"], fields["data"])
    if ftype == protocol.WINDOW:
        return protocol.Window(sid, fields["increment"])
    if ftype == protocol.CANCEL:
        return protocol.Cancel(sid, fields["code"])
    if ftype == protocol.WS_ACCEPT:
        return protocol.WsAccept(sid, fields["subprotocol"], fields["header"])
    if ftype == protocol.WS_MESSAGE:
        return protocol.WsMessage(sid, fields["flags"], fields["kind"], fields["data"])
    if ftype == protocol.WS_CLOSE:
        return protocol.WsClose(sid, fields["code"], fields["reason"])
    return protocol.Unknown(ftype, sid, fields["extra"])


@pytest.mark.parametrize("name", VALID)
def test_valid_vector_decodes_to_its_description(name: str) -> None:
    data = (VECTORS / f"{name}.bin").read_bytes()
    fields = parse_txt(VECTORS / f"{name}.txt")
    (frame,) = decode_all(data)
    assert frame == expected_frame(fields)


def lacks_request_id(fields: dict[str, Any]) -> bool:
    """A REQUEST of a frontend from before request ids (PROTOCOL.md section 2, optional elements)."""
    return fields["type"] == protocol.REQUEST and "request_id" not in fields


@pytest.mark.parametrize("name", VALID)
def test_valid_vector_reencodes_byte_for_byte(name: str) -> None:
    data = (VECTORS / f"{name}.bin").read_bytes()
    fields = parse_txt(VECTORS / f"{name}.txt")
    (frame,) = decode_all(data)
    if fields["extra"] and not isinstance(frame, protocol.Unknown):
        # Elements past the defined ones are ignored, so they do not come back.
        payload = msgpack.unpackb(data[4:])
        assert protocol.encode(frame) == protocol.frame_bytes(msgpack.packb(payload[:-len(fields["extra"])],
                                                                            use_bin_type=True))
    elif lacks_request_id(fields):
        # The optional element comes back, empty: one element more, same meaning.
        payload = msgpack.unpackb(data[4:])
        assert protocol.encode(frame) == protocol.frame_bytes(msgpack.packb(payload + [""], use_bin_type=True))
    else:
        assert protocol.encode(frame) == data
        assert protocol.encode(expected_frame(fields)) == data


@pytest.mark.parametrize("name", VALID)
def test_valid_vector_at_every_truncation_point(name: str) -> None:
    data = (VECTORS / f"{name}.bin").read_bytes()
    (whole,) = decode_all(data)
    for cut in range(len(data)):
        decoder = Decoder(protocol.DEFAULT_MAX_FRAME)
        decoder.feed(data[:cut])
        assert decoder.next_frame() is None, cut
        decoder.feed(data[cut:])
        assert decoder.next_frame() == whole, cut
        assert decoder.next_frame() is None


@pytest.mark.parametrize("name", VALID)
def test_valid_vector_byte_at_a_time(name: str) -> None:
    data = (VECTORS / f"{name}.bin").read_bytes()
    (whole,) = decode_all(data)
    decoder = Decoder(protocol.DEFAULT_MAX_FRAME)
    frames: list[protocol.Frame] = []
    for i in range(len(data)):
        decoder.feed(data[i:i + 1])
        frames.extend(decoder)
    assert frames == [whole]


def read_into(decoder: Decoder, data: bytes) -> None:
    """What BufferedProtocol does: data read into the decoder's own buffer."""
    with decoder.get_buffer(len(data)) as view:
        assert len(view) >= len(data)
        view[:len(data)] = data
        decoder.buffer_updated(len(data))


def test_reads_into_the_buffer_in_pieces_keep_the_frames_whole() -> None:
    """Frames read into the decoder's buffer in pieces that cut them anywhere come out
    whole and in order; what a read leaves unparsed moves to the front for the next."""
    frames = [protocol.Data(sid, 0, bytes([sid]) * (sid * 997 % 70000)) for sid in range(1, 40)]
    data = b"".join(protocol.encode(f) for f in frames)
    for step in (1, 5, 4096, 65537, len(data)):
        decoder = Decoder(protocol.DEFAULT_MAX_FRAME)
        got: list[protocol.Frame] = []
        for pos in range(0, len(data), step):
            read_into(decoder, data[pos:pos + step])
            got.extend(decoder)
        assert got == frames, step
        assert decoder.buffered == 0


def test_the_buffer_holds_a_frame_larger_than_a_read() -> None:
    frame = protocol.Data(1, protocol.END, b"y" * (3 * protocol.READ_SIZE))
    data = protocol.encode(frame)
    decoder = Decoder(protocol.MAX_MAX_FRAME)
    read_into(decoder, data[:10])
    assert decoder.next_frame() is None
    read_into(decoder, data[10:])
    assert decoder.next_frame() == frame
    assert decoder.buffered == 0


def test_frames_taken_while_the_read_view_is_alive() -> None:
    """BufferedProtocol's view of the buffer is still held while the frames are taken:
    taking them must not resize it (a bytearray with exports cannot be)."""
    first, second = protocol.encode(protocol.Ping(0, False, 1)), protocol.encode(protocol.Ping(0, False, 2))
    decoder = Decoder()
    read_into(decoder, first + second[:3])
    view = decoder.get_buffer(8)      # the next read's view, not yet filled
    view[:len(second) - 3] = second[3:]
    decoder.buffer_updated(len(second) - 3)
    assert list(decoder) == [protocol.Ping(0, False, 1), protocol.Ping(0, False, 2)]
    view.release()


def test_all_valid_vectors_back_to_back() -> None:
    data = b"".join((VECTORS / f"{n}.bin").read_bytes() for n in VALID)
    frames = decode_all(data)
    assert frames == [decode_all((VECTORS / f"{n}.bin").read_bytes())[0] for n in VALID]


@pytest.mark.parametrize("name", INVALID)
def test_invalid_vector_is_rejected(name: str) -> None:
    data = (VECTORS / f"{name}.bin").read_bytes()
    code = ERRORS[parse_txt(VECTORS / f"{name}.txt")["error"]]
    decoder = Decoder(protocol.DEFAULT_MAX_FRAME)
    decoder.feed(data)
    with pytest.raises(ProtocolError) as info:
        decoder.next_frame()
    assert info.value.code == code


@pytest.mark.parametrize("name", INVALID)
def test_invalid_vector_rejected_byte_at_a_time(name: str) -> None:
    """Fed one byte at a time, the error comes at the last byte, or at the length for E2BIG."""
    data = (VECTORS / f"{name}.bin").read_bytes()
    code = ERRORS[parse_txt(VECTORS / f"{name}.txt")["error"]]
    decoder = Decoder(protocol.DEFAULT_MAX_FRAME)
    for i in range(len(data)):
        decoder.feed(data[i:i + 1])
        if i < min(len(data), 4) - 1 or (i < len(data) - 1 and code != protocol.FRAME_TOO_LARGE):
            assert decoder.next_frame() is None
            continue
        with pytest.raises(ProtocolError) as info:
            decoder.next_frame()
        assert info.value.code == code
        return


def test_too_large_is_seen_from_the_length_alone() -> None:
    decoder = Decoder(65536)
    decoder.feed(b"\x00\x01\x00\x01")  # 65537: no payload needed to refuse it
    with pytest.raises(ProtocolError) as info:
        decoder.next_frame()
    assert info.value.code == protocol.FRAME_TOO_LARGE


def test_limit_can_be_raised_after_hello() -> None:
    frame = protocol.Data(1, protocol.END, b"x" * 70000)
    data = protocol.encode(frame)
    decoder = Decoder()
    assert decoder.max_frame_size == protocol.PRE_HELLO_MAX_FRAME
    decoder.max_frame_size = protocol.DEFAULT_MAX_FRAME
    decoder.feed(data)
    assert decoder.next_frame() == frame


@pytest.mark.parametrize("elements", [
    [6, 1, 0],                                  # DATA without its data
    [6, 1, True, b"x"],                         # flags a bool
    [6, 1, -1, b"x"],                           # flags negative
    [7, 1, 2**32],                              # increment above 32 bits
    [8, 0, 1],                                  # CANCEL on stream 0
    [3, 1, False, 1],                           # PING on a stream
    [2, 0, 0, b"bytes, not str"],               # GOAWAY message a bin
    [4, 1, 1, "GET", b"/", b"/", b"", "1.1", [], ["h"], None, "http", b""],        # address of one element
    [4, 1, 1, "GET", b"/", b"/", b"", "1.1", [], ["h", -1], None, "http", b""],    # negative port
    [4, 1, 1, "GET", b"/", b"/", b"", "1.1", {}, None, None, "http", b""],         # headers a map
    [1.5, 0],                                   # type a float
    [1, 0, 1, "backend", "a", 1, 1, 65536, 1, 2**32, 9],  # initial_window above 32 bits
])
def test_malformed_elements(elements: list[Any]) -> None:
    decoder = Decoder()
    decoder.feed(protocol.frame_bytes(msgpack.packb(elements, use_bin_type=True)))
    with pytest.raises(ProtocolError) as info:
        decoder.next_frame()
    assert info.value.code == protocol.PROTOCOL_ERROR


def test_invalid_utf8_in_a_str_is_malformed() -> None:
    payload = b"\x94\x02\x00\x00\xa1\xff"  # GOAWAY whose message is the str "\xff"
    decoder = Decoder()
    decoder.feed(protocol.frame_bytes(payload))
    with pytest.raises(ProtocolError):
        decoder.next_frame()


def test_type_zero_is_an_unknown_frame() -> None:
    assert decode_all(protocol.frame_bytes(msgpack.packb([0, 0])))[0] == protocol.Unknown(0, 0, [])


def test_encode_every_frame_type_round_trips() -> None:
    frames: list[protocol.Frame] = [
        protocol.Hello(0, 1, "backend", "app:app", 1, 2, 65536, 3, 65536),
        protocol.GoAway(0, protocol.INTERNAL_ERROR, "oops"),
        protocol.Ping(0, False, 2**64 - 1),
        protocol.Request(1, 0, "PUT", b"/x?y", b"/x", b"y", "1.0", [(b"a", b"b"), (b"a", b"c")], None,
                         ("::1", 1), "https", b"body"),
        protocol.Response(1, protocol.END, 599, [], b"x" * 70000),
        protocol.Data(1, 0, b""),
        protocol.Window(1, 2**31 - 1),
        protocol.Cancel(2**31 - 1, protocol.CANCEL_REFUSED),
        protocol.Unknown(200, 9, ["later"]),
    ]
    assert decode_all(b"".join(protocol.encode(f) for f in frames)) == frames


def test_bin_header_size_matches_msgpack() -> None:
    for n in (0, 255, 256, 65535, 65536):
        assert protocol.bin_header_size(n) == len(msgpack.packb(b"x" * n, use_bin_type=True)) - n


def test_map_with_an_array_key_in_an_ignored_element_is_not_a_crash():
    # Valid MessagePack that is not a Python dict: [99, 5, {[1, 2]: 3}] and a
    # WINDOW with such a map as an extra element.  The C codec takes both; so
    # must this one (an unknown frame, and a WINDOW with its extra ignored).
    unknown = protocol.decode_payload(b"\x93\x63\x05\x81\x92\x01\x02\x03")
    assert isinstance(unknown, protocol.Unknown) and unknown.type == 99 and unknown.stream_id == 5
    window = protocol.decode_payload(b"\x94\x07\x05\x64\x81\x92\x01\x02\x03")
    assert window == protocol.Window(5, 100)


# --- the frame builders: the one way frames are made --------------------------------


BUILDERS = {
    protocol.HELLO: protocol.hello_frame, protocol.GOAWAY: protocol.goaway_frame, protocol.PING: protocol.ping_frame,
    protocol.REQUEST: protocol.request_frame, protocol.RESPONSE: protocol.response_frame,
    protocol.DATA: protocol.data_frame, protocol.WINDOW: protocol.window_frame, protocol.CANCEL: protocol.cancel_frame,
    protocol.WS_ACCEPT: protocol.ws_accept_frame, protocol.WS_MESSAGE: protocol.ws_message_frame,
    protocol.WS_CLOSE: protocol.ws_close_frame,
}


@pytest.mark.parametrize("name", VALID)
def test_builders_make_the_golden_vectors(name: str) -> None:
    """Each builder, given a vector's elements in wire order (headers flat), makes its exact bytes."""
    fields = parse_txt(VECTORS / f"{name}.txt")
    if fields["extra"] and fields["type"] in BUILDERS:
        pytest.skip("elements past the defined ones are not built")
    if lacks_request_id(fields):
        pytest.skip("builders always write the optional request_id")
    frame = expected_frame(fields)
    if isinstance(frame, protocol.Unknown):
        built = protocol.unknown_frame(*frame)
    else:
        elements: list[Any] = list(frame)
        if isinstance(frame, (protocol.Request, protocol.Response, protocol.WsAccept)):
            elements[frame._fields.index("headers")] = flatten(frame.headers)
        built = BUILDERS[fields["type"]](*elements)
    assert built == (VECTORS / f"{name}.bin").read_bytes()


@pytest.mark.parametrize("body", [b"", b"x" * 255, b"x" * 256, b"x" * 65536])
def test_bodies_of_any_bytes_like_type_build_the_same_frame(body: bytes) -> None:
    expected = protocol.response_frame(1, protocol.END, 200, [b"a", b"b"], body)
    for same in (bytearray(body), memoryview(body), memoryview(b"--" + body + b"--")[2:-2]):
        assert protocol.response_frame(1, protocol.END, 200, [b"a", b"b"], same) == expected
        assert protocol.data_frame(3, 0, same) == protocol.encode(protocol.Data(3, 0, body))
    assert expected == protocol.encode(protocol.Response(1, protocol.END, 200, [(b"a", b"b")], body))


def test_a_built_frame_carries_its_payload_length() -> None:
    for frame in (protocol.data_frame(2**31 - 1, 0, b"y" * 70000), protocol.window_frame(1, 2**32 - 1),
                  protocol.goaway_frame(0, protocol.NO_ERROR, "\u00e9" * 300)):
        assert int.from_bytes(frame[:4], "big") == len(frame) - protocol.HEADER_SIZE
        assert protocol.encode(decode_all(frame, protocol.MAX_MAX_FRAME)[0]) == frame


def test_encode_keeps_the_header_bytes_it_is_given_but_not_other_types() -> None:
    # The codec checks no HTTP rule: a REQUEST carries what the client sent.
    frame = protocol.Request(1, END, "GET", b"/", b"/", b"", "1.1", [(b"x", b"a\r\nb"), (b"X Y", b"\x00")],
                             None, None, "http", b"")
    assert decode_all(protocol.encode(frame)) == [frame]
    # But a header that is not bytes would make the frame malformed.
    with pytest.raises(TypeError):
        protocol.encode(frame._replace(headers=[("x", b"1")]))


def test_a_map_with_an_array_key_in_a_truncated_payload_is_malformed() -> None:
    # The retry that decodes such maps as lists of pairs meets the truncation:
    # still a ProtocolError, not the ValueError of msgpack.
    payload = msgpack.packb([protocol.REQUEST, 1, {(1,): 2}, "GET"], use_bin_type=True)[:-2]
    decoder = Decoder()
    decoder.feed(protocol.frame_bytes(payload))
    with pytest.raises(ProtocolError) as info:
        decoder.next_frame()
    assert info.value.code == protocol.PROTOCOL_ERROR
