"""tandem.recording: reading --record files (protocol/RECORDING.md), on files made here byte by byte."""

from __future__ import annotations

import struct
import subprocess
import sys
from pathlib import Path

import pytest

from tandem import protocol, recording
from tandem.recording import ACCEPTED, CLOSED, FROM_BACKEND, GAP, MAGIC, TO_BACKEND, RecordingError

T0 = 1_765_000_000_000_000_000

HELLO_B = protocol.hello_frame(0, 1, "backend", "app:app", 42, 1, 1048576, 16, 1048576)
HELLO_F = protocol.hello_frame(0, 1, "frontend", "tandem-frontend", 41, 0, 1048576, 0, 1048576)
REQUEST = protocol.request_frame(1, protocol.END, "GET", b"/hi", b"/hi", b"", "1.1", [b"host", b"x"], None, None,
                                 "http", b"")
RESPONSE = protocol.response_frame(1, protocol.END, 200, [b"content-type", b"text/plain"], b"hello")


def record(connection: int, kind: int, data: bytes = b"", time_ns: int = T0) -> bytes:
    return struct.pack(">QIBI", time_ns, connection, kind, len(data)) + data


def conversation_bytes(connection: int = 1) -> bytes:
    return (record(connection, ACCEPTED) + record(connection, FROM_BACKEND, HELLO_B)
            + record(connection, TO_BACKEND, HELLO_F + REQUEST[:7]) + record(connection, TO_BACKEND, REQUEST[7:])
            + record(connection, FROM_BACKEND, RESPONSE) + record(connection, CLOSED))


def test_a_conversation_in_frames() -> None:
    convs = recording.conversations(MAGIC + conversation_bytes())
    conv = convs[1]
    assert conv.closed and conv.complete and conv.error is None
    assert conv.sent() == [protocol.decode_payload(HELLO_F[4:]), protocol.decode_payload(REQUEST[4:])]
    assert conv.received() == [protocol.decode_payload(HELLO_B[4:]), protocol.decode_payload(RESPONSE[4:])]
    # In the order they were exchanged: the request (cut over two records) before its response.
    kinds = [type(f.frame).__name__ for f in conv.frames]
    assert kinds == ["Hello", "Hello", "Request", "Response"]


def test_two_connections_interleaved_stay_apart() -> None:
    a, b = conversation_bytes(1), conversation_bytes(2)
    cut = len(record(1, ACCEPTED)) + len(record(1, FROM_BACKEND, HELLO_B))  # between two records
    convs = recording.conversations(MAGIC + a[:cut] + b + a[cut:])
    assert sorted(convs) == [1, 2]
    assert convs[1].sent() == convs[2].sent() and convs[1].complete and convs[2].complete


def test_a_gap_makes_the_open_connections_incomplete() -> None:
    data = MAGIC + record(1, ACCEPTED) + record(2, ACCEPTED) + record(2, CLOSED) \
        + record(0, GAP, struct.pack(">Q", 1234)) + record(1, CLOSED)
    convs = recording.conversations(data)
    assert not convs[1].complete and convs[2].complete


def test_unknown_kinds_are_skipped() -> None:
    data = MAGIC + record(1, 99, b"later version") + conversation_bytes()
    assert recording.conversations(data)[1].complete


def test_a_malformed_frame_ends_the_conversation_with_a_reason() -> None:
    data = MAGIC + record(1, FROM_BACKEND, HELLO_B + b"\x00\x00\x00\x03\xc1\xc1\xc1" + RESPONSE)
    conv = recording.conversations(data)[1]
    assert not conv.complete and "malformed" in (conv.error or "")
    assert len(conv.received()) == 1


def test_a_frame_cut_by_the_end_is_reported() -> None:
    conv = recording.conversations(MAGIC + record(1, FROM_BACKEND, RESPONSE[:-2]) + record(1, CLOSED))[1]
    assert conv.error == "a frame was cut short by the end of the connection"


@pytest.mark.parametrize("data, message", [
    (b"", "not a tandem recording"),
    (b"TDMREC2\n", "not a tandem recording"),
    (MAGIC + b"\x00" * 10, "inside a record header"),
    (MAGIC + record(1, TO_BACKEND, b"abcdef")[:-2], "inside a record"),
])
def test_files_that_are_not_recordings(data: bytes, message: str) -> None:
    with pytest.raises(RecordingError, match=message):
        recording.conversations(data)


def test_the_command_prints_frames(tmp_path: Path) -> None:
    path = tmp_path / "rec"
    path.write_bytes(MAGIC + conversation_bytes())
    out = subprocess.run([sys.executable, "-m", "tandem.recording", str(path)], capture_output=True, text=True,
                         cwd=Path(__file__).resolve().parents[1], check=True).stdout
    lines = out.splitlines()
    assert lines[0] == "connection 1: 4 frames, closed"
    assert [line.split()[1] for line in lines[1:]] == ["<-", "->", "->", "<-"]
    assert "target=b'/hi'" in lines[3]
    bad = subprocess.run([sys.executable, "-m", "tandem.recording", str(tmp_path / "missing")],
                         capture_output=True, text=True, cwd=Path(__file__).resolve().parents[1])
    assert bad.returncode == 1 and "tandem.recording:" in bad.stderr
