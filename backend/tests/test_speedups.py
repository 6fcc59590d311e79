"""tandem._speedups (the C codec under protocol.py) against the Python code it stands in for.

For every input the C functions return what the Python ones return, or None
(the Python code then takes the input): the golden vectors, and random and
mutated frames and arguments.  The Python code alone passes the codec's and
the connection's tests too.  ``make test`` builds the module and sets
TANDEM_EXPECT_SPEEDUPS=1, so that a build that lost it fails here instead of
skipping.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
from pathlib import Path
from typing import Any

import msgpack  # type: ignore[import]
import pytest

from tandem import protocol, validation

VECTORS = Path(__file__).resolve().parents[2] / "protocol" / "vectors"
HERE = Path(__file__).resolve().parent

needs_speedups = pytest.mark.skipif(not protocol.speedups(), reason="tandem._speedups is not built (make build)")


def test_the_module_is_in_use_where_make_built_it() -> None:
    if os.environ.get("TANDEM_EXPECT_SPEEDUPS"):
        assert protocol.speedups(), "tandem._speedups did not load"


def python_decode(payload: bytes) -> Any:
    """The Python decoder's frame, or the ProtocolError it raises."""
    try:
        return protocol.decode_payload(payload)
    except protocol.ProtocolError as exc:
        return exc


def c_decode(payload: bytes) -> Any:
    buf = bytearray(b"\x00\x00\x00\x00" + payload)
    return protocol._request_from(buf, 4, len(buf))


def check_same(payload: bytes) -> Any:
    ours = c_decode(payload)
    theirs = python_decode(payload)
    if ours is not None:
        assert type(ours) is protocol.Request
        assert ours == theirs, payload
        assert [type(x) for x in ours] == [type(x) for x in theirs]
    return ours


@needs_speedups
def test_golden_vectors_decode_as_in_python() -> None:
    taken = 0
    for path in sorted(VECTORS.glob("*.bin")):
        data = path.read_bytes()
        if check_same(data[4:]) is not None:
            taken += 1
            assert not path.name.startswith("invalid-")
    # The vectors' REQUESTs are plain ones: the C decoder takes them all.
    requests = [p for p in VECTORS.glob("request-*.bin")]
    assert requests and taken == len(requests)


def random_str(rng: random.Random) -> Any:
    return rng.choice(["GET", "POST", "", "é" * rng.randrange(40), "x" * rng.choice([31, 32, 255, 256, 70000])])


def random_bin(rng: random.Random) -> bytes:
    size = rng.choice([0, 1, 31, 255, 256]) if rng.random() < 0.9 else rng.choice([65535, 65536, 70000])
    return rng.randbytes(size)


def random_element(rng: random.Random) -> Any:
    return rng.choice([None, True, -1, 0, 2**32, 2**64 - 1, 1.5, "s", b"b", [], [b"a"], {"k": 1}, {1: 2},
                       msgpack.ExtType(1, b"x")])


def random_request(rng: random.Random) -> list[Any]:
    headers: list[Any] = []
    for _ in range(rng.choice([0, 1, 2, 8, 20, 40])):
        headers += [random_bin(rng)[:40], random_bin(rng)[:300]]
    addr = [lambda: None, lambda: ["127.0.0.1", rng.randrange(65536)], lambda: ["::1", 2**32 - 1]]
    e = [protocol.REQUEST, rng.choice([1, 5, 127, 128, 255, 256, 65536, 2**31 - 1]),
         rng.choice([0, 1, 3, 2**32 - 1, 2**32, 2**64 - 1]), random_str(rng), random_bin(rng), random_bin(rng),
         random_bin(rng), "1.1", headers, rng.choice(addr)(), rng.choice(addr)(), "https", random_bin(rng)]
    # Most with the optional request_id, some without (a frontend from before it).
    if rng.random() < 0.7:
        e.append(random_str(rng))
    # Now and then one element of the wrong type, a bad stream id, or more elements.
    roll = rng.random()
    if roll < 0.3:
        e[rng.randrange(len(e))] = random_element(rng)
    elif roll < 0.35:
        e[1] = rng.choice([0, 2**31, -1])
    elif roll < 0.45:
        e.append(random_element(rng))
    elif roll < 0.5:
        e = e[:rng.randrange(len(e))]
    return e


@needs_speedups
def test_random_requests_decode_as_in_python() -> None:
    rng = random.Random(12)
    taken = 0
    for _ in range(3000):
        if check_same(msgpack.packb(random_request(rng), use_bin_type=True)) is not None:
            taken += 1
    assert taken > 1000


@needs_speedups
def test_mutated_requests_decode_as_in_python() -> None:
    rng = random.Random(34)
    for _ in range(8000):
        payload = bytearray(msgpack.packb(random_request(rng), use_bin_type=True))
        for _ in range(rng.randrange(1, 4)):
            roll = rng.random()
            i = rng.randrange(len(payload))
            if roll < 0.6:
                payload[i] = rng.randrange(256)
            elif roll < 0.8:
                del payload[i:]
            else:
                payload[i:i] = bytes([rng.randrange(256)])
            if not payload:
                break
        if payload:
            check_same(bytes(payload))


@needs_speedups
def test_non_utf8_and_wide_flags_are_left_to_python() -> None:
    e = [protocol.REQUEST, 1, 1, "GET", b"/", b"/", b"", "1.1", [], None, None, "http", b""]
    plain = msgpack.packb(e, use_bin_type=True)
    assert c_decode(plain) is not None
    bad_utf8 = plain.replace(b"\xa3GET", b"\xa3G\xffT")
    assert c_decode(bad_utf8) is None and isinstance(python_decode(bad_utf8), protocol.ProtocolError)
    # Two of them (found by test_protocol_mutations.py): the second was decoded
    # with the first one's exception still set, and raised SystemError.
    bad_twice = bad_utf8.replace(b"\xa4http", b"\xa4\xafttp")
    assert bad_twice != bad_utf8
    assert c_decode(bad_twice) is None and isinstance(python_decode(bad_twice), protocol.ProtocolError)
    e[2] = 2**40 + 1
    wide = msgpack.packb(e, use_bin_type=True)
    assert c_decode(wide) is None and python_decode(wide).flags == 2**40 + 1


@needs_speedups
def test_the_optional_request_id() -> None:
    e = [protocol.REQUEST, 1, 1, "GET", b"/", b"/", b"", "1.1", [], None, None, "http", b""]
    assert check_same(msgpack.packb(e, use_bin_type=True)).request_id == ""
    assert check_same(msgpack.packb(e + ["abc"], use_bin_type=True)).request_id == "abc"
    assert isinstance(check_same(msgpack.packb(e + [b"abc"], use_bin_type=True)), type(None))
    assert isinstance(python_decode(msgpack.packb(e + [b"abc"], use_bin_type=True)), protocol.ProtocolError)


@needs_speedups
def test_a_request_inside_a_larger_buffer() -> None:
    frame = protocol.request_frame(3, 1, "GET", b"/x", b"/x", b"", "1.1", [b"a", b"b"], None, None, "http", b"")
    buf = bytearray(b"junk" + frame + b"more")
    start = 4 + protocol.HEADER_SIZE
    assert protocol._request_from(buf, start, start + len(frame) - protocol.HEADER_SIZE) == \
        protocol.decode_payload(frame[protocol.HEADER_SIZE:])
    # Offsets outside the buffer are never read.
    assert protocol._request_from(buf, start, len(buf) + 10) is None
    assert protocol._request_from(buf, -1, 10) is None


def random_headers(rng: random.Random) -> Any:
    flat = [random_bin(rng)[:50] for _ in range(2 * rng.choice([0, 1, 2, 16, 33, 100]))]
    roll = rng.random()
    if roll < 0.1 and flat:
        flat[rng.randrange(len(flat))] = "str"
    elif roll < 0.15:
        flat.append(b"odd")
    return rng.choice([list, tuple, iter])(flat) if roll < 0.2 else rng.choice([list, tuple])(flat)


@needs_speedups
def test_response_frames_are_the_python_encoders_bytes() -> None:
    rng = random.Random(56)
    made = 0
    for _ in range(5000):
        sid = rng.choice([1, 127, 128, 2**31 - 1, 0, 2**31, -1, True])
        flags = rng.choice([0, 1, 3, 2**32 - 1, 2**32, -1])
        status = rng.choice([200, 404, 599, 2**32 - 1, 2**32, -5])
        body = random_bin(rng)
        body = rng.choice([lambda: body, lambda: bytearray(body), lambda: memoryview(body),
                           lambda: memoryview(b"--" + body)[2:], lambda: "text"])()
        headers = random_headers(rng)
        if type(headers) not in (list, tuple):
            headers = list(headers)
        ours = protocol._speedups.response_frame(sid, flags, status, headers, body)
        try:
            theirs = protocol._response_frame(sid, flags, status, headers, body)
        except (TypeError, ValueError, OverflowError):
            assert ours is None
            continue
        if ours is not None:
            made += 1
            assert ours == theirs
    assert made > 500
    assert protocol._speedups.response_frame(1, 1, 200, [b"a", b"b"], b"x") == \
        protocol._response_frame(1, 1, 200, [b"a", b"b"], b"x")


def test_the_python_codec_alone_passes_the_codec_and_connection_tests() -> None:
    env = dict(os.environ, TANDEM_NO_SPEEDUPS="1")
    env.pop("TANDEM_EXPECT_SPEEDUPS", None)
    alone = subprocess.run([sys.executable, "-c", "from tandem import protocol; print(protocol.speedups())"],
                           env=env, capture_output=True, text=True, cwd=HERE.parent, timeout=60)
    assert alone.stdout.strip() == "False", alone.stderr
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                          "tests/test_protocol.py", "tests/test_connection.py"],
                         env=env, capture_output=True, text=True, cwd=HERE.parent, timeout=600)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]


# --- validation.prepare() -------------------------------------------------------------

NAMES = [b"content-type", b"Content-Type", b"X-A", b"content-length", b"Content-LENGTH", b"", b"a b", b"a:b",
         b"\xe9", b"!#$%&'*+-.^_`|~09azAZ", b"set-cookie", b"x\x00"]
VALUES = [b"", b"text/plain", b"a\tb", b" lead", b"\xff obs-text", b"a\rb", b"a\nb", b"\x00", b"\x7f", b"\x1f",
          b"13", b"013", b"+13", b"1 3", b"-1", b"9" * 18, b"9" * 19, b"0x10", "str"]


def random_pairs(rng: random.Random) -> Any:
    pairs: list[Any] = [(rng.choice(NAMES), rng.choice(VALUES)) for _ in range(rng.choice([0, 1, 2, 3, 8]))]
    roll = rng.random()
    if roll < 0.05 and pairs:
        pairs[0] = list(pairs[0])
    elif roll < 0.1 and pairs:
        pairs[0] = pairs[0] + (b"x",)
    elif roll < 0.15:
        pairs.append((bytearray(b"x-a"), b"1"))
    return rng.choice([list, tuple])(pairs) if roll < 0.9 else iter(pairs)


def python_prepare(headers: Any, lower: bool) -> Any:
    try:
        return validation._prepare(headers, lower)
    except (TypeError, ValueError) as exc:
        return type(exc)


@needs_speedups
def test_headers_are_prepared_as_in_python() -> None:
    rng = random.Random(9110)
    taken = refused = 0
    for _ in range(20000):
        pairs = list(random_pairs(rng))
        container = rng.choice([list, tuple])
        lower = rng.random() < 0.5
        ours = protocol._speedups.prepare_headers(container(pairs), lower)
        theirs = python_prepare(container(pairs), lower)
        if ours is None:
            # Refused: only what Python refuses too, or shapes it leaves to Python.
            plain = all(type(p) is tuple and len(p) == 2 and type(p[0]) is bytes and type(p[1]) is bytes
                        for p in pairs)
            assert not plain or not isinstance(theirs, tuple), (pairs, lower, theirs)
            refused += 1
            continue
        taken += 1
        assert ours == theirs, (pairs, lower)
        assert [type(x) for x in ours[0]] == [bytes] * len(ours[0])
    assert taken > 3000 and refused > 3000
    # Anything but a list or a tuple is left to Python.
    assert protocol._speedups.prepare_headers(iter([(b"a", b"b")]), False) is None
    assert validation.prepare(iter([(b"A", b"b")]), True) == ([b"a", b"b"], None)


@needs_speedups
def test_prepare_uses_the_accelerator_and_keeps_pythons_errors() -> None:
    assert validation._c_prepare is protocol._speedups.prepare_headers
    with pytest.raises(ValueError, match="content-length 2 after content-length 1"):
        validation.prepare([(b"content-length", b"1"), (b"Content-Length", b"2")])
    with pytest.raises(ValueError, match="invalid header name"):
        validation.prepare([(b"a b", b"1")])
    assert validation.prepare([(b"Content-Length", b"007")], True) == ([b"content-length", b"007"], 7)
