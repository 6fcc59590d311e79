"""The backend's decoder against random and mutated byte streams (a mutation fuzz).

Whatever bytes arrive, ``Decoder`` either returns frames or raises its own
``ProtocolError``: never another exception, and never a frame that does not
survive being encoded and decoded again.  The inputs start from the golden
vectors (valid and invalid ones) and from random frames of every type, then
get bytes flipped, cut, inserted and spliced, and are fed in random pieces.
Each run is seeded, so a failure names an input that fails again; the test
runs with the C accelerator (when built) and with the Python code alone.  The
same streams then go into a whole ``Connection`` after its HELLO exchange: it
must turn them into events, never an exception, and write only well-formed
frames back.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any, Iterator

import pytest

from tandem import protocol
from tandem.connection import Connection, HelloConfig
from tandem.protocol import Decoder, ProtocolError

VECTORS = Path(__file__).resolve().parents[2] / "protocol" / "vectors"
MAX_FRAME = 1 << 20
STREAMS = 30000


def random_frames(rng: random.Random) -> Iterator[bytes]:
    """One well-formed frame of every type, with random values."""
    sid = rng.choice([1, 2, 127, 2**31 - 1])
    text = rng.choice(["", "GET", "é" * 3, "x" * 40])
    blob = rng.randbytes(rng.choice([0, 1, 31, 300]))
    headers = [rng.randbytes(rng.randrange(1, 20)) for _ in range(rng.choice([0, 2, 8]))]
    addr = rng.choice([None, ["127.0.0.1", rng.randrange(65536)]])
    yield protocol.hello_frame(0, 1, rng.choice(["backend", "frontend"]), text, rng.randrange(2**32),
                               rng.randrange(2**63), 65536, rng.randrange(1, 1024), 65536)
    yield protocol.goaway_frame(0, rng.randrange(8), text)
    yield protocol.ping_frame(0, rng.random() < 0.5, rng.randrange(2**64))
    yield protocol.request_frame(sid, rng.randrange(4), text, blob, blob, blob, "1.1", headers, addr, addr,
                                 "http", blob)
    yield protocol.response_frame(sid, rng.randrange(4), rng.randrange(200, 600), headers, blob)
    yield protocol.data_frame(sid, rng.randrange(2), blob)
    yield protocol.window_frame(sid, rng.randrange(1, 2**32))
    yield protocol.cancel_frame(sid, rng.randrange(5))
    yield protocol.unknown_frame(rng.randrange(9, 2**32), sid, [text, blob])


def seeds(rng: random.Random) -> list[bytes]:
    found = [path.read_bytes() for path in sorted(VECTORS.glob("*.bin"))]
    assert found, f"no golden vectors in {VECTORS}"
    for _ in range(20):
        found.extend(random_frames(rng))
    return found


def mutate(rng: random.Random, pool: list[bytes]) -> bytes:
    """A stream of one to four seeds with one to three mutations."""
    data = bytearray(b"".join(rng.choice(pool) for _ in range(rng.randrange(1, 5))))
    for _ in range(rng.randrange(1, 4)):
        roll = rng.random()
        i = rng.randrange(len(data) + 1)
        if roll < 0.45 and data:
            data[min(i, len(data) - 1)] = rng.randrange(256)
        elif roll < 0.6:
            del data[i:i + rng.randrange(1, 9)]
        elif roll < 0.75:
            data[i:i] = rng.randbytes(rng.randrange(1, 9))
        elif roll < 0.85:
            data[i:i] = rng.choice(pool)  # splice in another frame
        elif len(data) >= 4:
            # a length prefix that lies a little or a lot
            length = int.from_bytes(data[:4], "big")
            data[:4] = max(0, min(2**32 - 1, length + rng.choice([-1, 1, -7, 100, MAX_FRAME]))).to_bytes(4, "big")
    return bytes(data)


def decode_all(data: bytes, rng: random.Random) -> list[Any]:
    """Frames of data fed in random pieces, up to the first ProtocolError."""
    decoder = Decoder(MAX_FRAME)
    frames: list[Any] = []
    pos = 0
    try:
        while pos < len(data):
            step = rng.choice([1, 3, 4, 5, 64, len(data)])
            decoder.feed(data[pos:pos + step])
            pos += step
            frames.extend(iter(decoder.next_frame, None))
    except ProtocolError:
        pass
    return frames


def check_stream(data: bytes, rng: random.Random) -> int:
    try:
        frames = decode_all(data, rng)
    except Exception as exc:  # anything but ProtocolError is a decoder bug
        raise AssertionError(f"{type(exc).__name__}: {exc} on input {data.hex()}") from exc
    for frame in frames:
        again = Decoder(MAX_FRAME)
        again.feed(protocol.encode(frame))
        assert again.next_frame() == frame, f"{frame!r} does not survive re-encoding (input {data.hex()})"
    return len(frames)


@pytest.mark.parametrize("accelerated", [True, False], ids=["speedups", "python"])
def test_mutated_streams_give_frames_or_protocol_errors(accelerated: bool, monkeypatch: Any) -> None:
    if accelerated and not protocol.speedups():
        pytest.skip("tandem._speedups is not built (make build)")
    if not accelerated:
        monkeypatch.setattr(protocol, "_request_from", None)
    rng = random.Random(56)
    pool = seeds(rng)
    decoded = sum(check_stream(mutate(rng, pool), rng) for _ in range(STREAMS))
    # The mutations must leave much of the input decodable, or the test only
    # exercises the first bytes of every stream.
    assert decoded > STREAMS // 2


def test_every_seed_decodes_or_fails_cleanly() -> None:
    rng = random.Random(78)
    for data in seeds(rng):
        check_stream(data, rng)


# --- the same streams into a whole connection ----------------------------------------------------


def converse(data: bytes, rng: random.Random) -> bytes:
    """data fed, in random pieces, to an attached connection; returns all it wrote."""
    out = bytearray()
    conn = Connection(HelloConfig("app:app", 1700000000000, pid=4242), on_stream=lambda stream: False,
                      on_event=lambda event: None, on_output=lambda: None)
    conn.start()
    out += b"".join(conn.receive_data((VECTORS / "hello-frontend.bin").read_bytes()))
    pos = 0
    while pos < len(data):
        step = rng.choice([1, 7, 64, len(data)])
        out += b"".join(conn.receive_data(data[pos:pos + step]))
        pos += step
    return bytes(out + b"".join(conn.data_to_send()))


def test_mutated_streams_never_break_a_connection() -> None:
    """A connection turns any bytes into frames, stream errors or a connection error
    (GOAWAY queued), never an exception, and what it writes back is always well-formed."""
    rng = random.Random(90)
    pool = seeds(rng)
    for _ in range(STREAMS // 3):
        data = mutate(rng, pool)
        try:
            out = converse(data, rng)
        except Exception as exc:
            raise AssertionError(f"{type(exc).__name__}: {exc} on input {data.hex()}") from exc
        decoder = Decoder(protocol.MAX_MAX_FRAME)
        decoder.feed(out)
        frames = list(decoder)  # raises on anything malformed
        assert frames and decoder.buffered == 0, f"bad output for input {data.hex()}"
