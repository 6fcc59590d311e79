"""Reading the recordings ``tandem-frontend --record FILE`` writes (protocol/RECORDING.md).

``records(data)`` yields the raw records; ``conversations(data)`` puts each
backend connection's two byte streams back together and decodes them into
frames, which is what a replay needs.  As a program it prints a recording
as frames, one line each::

    python3 -m tandem.recording FILE

Calls ``protocol`` (the frames' decoder).
"""

from __future__ import annotations

import argparse
import datetime
import struct
import sys
from dataclasses import dataclass, field
from typing import Iterator, NamedTuple, Optional

from . import protocol

MAGIC = b"TDMREC1\n"
HEAD = struct.Struct(">QIBI")  # time, connection, kind, length

TO_BACKEND = 1
FROM_BACKEND = 2
ACCEPTED = 3
CLOSED = 4
GAP = 5


class RecordingError(Exception):
    """The file is not a recording, or is cut short inside a record."""


class Record(NamedTuple):
    time_ns: int
    connection: int
    kind: int
    data: bytes


class Frame(NamedTuple):
    time_ns: int
    to_backend: bool  # the frontend sent it (else the backend did)
    frame: protocol.Frame


@dataclass
class Conversation:
    """One backend connection as recorded: its frames both ways, in the order they were seen."""

    connection: int
    frames: list[Frame] = field(default_factory=list)
    closed: bool = False     # its CLOSED record was seen
    complete: bool = True    # no GAP while it was open, and both streams decoded to the end
    error: Optional[str] = None  # why a stream did not decode, if one did not

    def sent(self) -> list[protocol.Frame]:
        """The frontend's frames, in order."""
        return [f.frame for f in self.frames if f.to_backend]

    def received(self) -> list[protocol.Frame]:
        """The backend's frames, in order."""
        return [f.frame for f in self.frames if not f.to_backend]


def records(data: bytes) -> Iterator[Record]:
    if not data.startswith(MAGIC):
        raise RecordingError("not a tandem recording (no TDMREC1 header)")
    pos = len(MAGIC)
    while pos < len(data):
        if pos + HEAD.size > len(data):
            raise RecordingError(f"cut short inside a record header at byte {pos}")
        time_ns, connection, kind, length = HEAD.unpack_from(data, pos)
        pos += HEAD.size
        if pos + length > len(data):
            raise RecordingError(f"cut short inside a record at byte {pos}")
        yield Record(time_ns, connection, kind, data[pos:pos + length])
        pos += length


class _Streams:
    """The two decoders of one connection; a side's decoder may rise to the peer's HELLO limit."""

    def __init__(self) -> None:
        self.decoders = {True: protocol.Decoder(protocol.MAX_MAX_FRAME),
                         False: protocol.Decoder(protocol.MAX_MAX_FRAME)}
        self.failed = False

    def feed(self, conv: Conversation, to_backend: bool, record: Record) -> None:
        if self.failed:
            return
        decoder = self.decoders[to_backend]
        decoder.feed(record.data)
        try:
            for frame in iter(decoder.next_frame, None):
                conv.frames.append(Frame(record.time_ns, to_backend, frame))
        except protocol.ProtocolError as exc:
            # A malformed frame was exchanged (what a replay is often for): the
            # conversation ends there, as the connection did.
            self.failed = True
            conv.complete = False
            conv.error = f"{'frontend' if to_backend else 'backend'} sent a malformed frame: {exc.message}"

    def leftover(self) -> bool:
        return any(d.buffered for d in self.decoders.values())


def conversations(data: bytes) -> dict[int, Conversation]:
    """Every connection of the recording, by number, its frames decoded."""
    convs: dict[int, Conversation] = {}
    streams: dict[int, _Streams] = {}
    for record in records(data):
        if record.kind == GAP:
            for conv in convs.values():
                if not conv.closed:
                    conv.complete = False
            continue
        conv = convs.setdefault(record.connection, Conversation(record.connection))
        if record.kind in (TO_BACKEND, FROM_BACKEND):
            streams.setdefault(record.connection, _Streams()).feed(conv, record.kind == TO_BACKEND, record)
        elif record.kind == CLOSED:
            conv.closed = True
    for number, conv in convs.items():
        if number in streams and streams[number].leftover() and conv.error is None:
            conv.error = "a frame was cut short by the end of the connection"
    return convs


def describe(frame: protocol.Frame, limit: int = 120) -> str:
    text = repr(frame)
    return text if len(text) <= limit else text[:limit - 3] + "..."


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python3 -m tandem.recording",
                                     description="Print a tandem-frontend --record file as frames.")
    parser.add_argument("file")
    args = parser.parse_args(argv)
    try:
        with open(args.file, "rb") as f:
            convs = conversations(f.read())
    except (OSError, RecordingError) as exc:
        print(f"tandem.recording: {args.file}: {exc}", file=sys.stderr)
        return 1
    for conv in convs.values():
        state = "closed" if conv.closed else "still open at the end"
        print(f"connection {conv.connection}: {len(conv.frames)} frames, {state}"
              + ("" if conv.complete else ", incomplete") + (f" ({conv.error})" if conv.error else ""))
        for item in conv.frames:
            when = datetime.datetime.fromtimestamp(item.time_ns / 1e9, datetime.timezone.utc)
            arrow = "->" if item.to_backend else "<-"
            print(f"  {when.strftime('%H:%M:%S.%f')} {arrow} {describe(item.frame)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
