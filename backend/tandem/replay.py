"""Replaying a recording into a backend (``tandem-frontend --record FILE``).

The requests a frontend sent its backends, read from the recording
(``recording.py``), are sent again to a backend under test, which this
module starts and speaks to as the frontend would: its own HELLO, stream ids
of its own, request bodies within the new backend's windows, WINDOW grants
as response bytes arrive, PONGs.  Each stream's answer (status, headers,
body, and how it ended) is compared with the one recorded, so an incident
seen in production can be reproduced against a fixed backend, and a recorded
session becomes a regression test::

    python3 -m tandem.replay session.rec --backend 'python3 -m tandem app:app --connect {socket}'

Streams the recorded frontend cancelled (a client that went away, a
timeout) are sent and cancelled again, but not compared.  WebSockets (a
REQUEST with WEBSOCKET, PROTOCOL.md section 8) are conversations with a
client, which a recording cannot play back: they are listed, not sent.  Headers named
with ``--ignore-header`` (and ``date``, always) are left out of the
comparison.  Exit status 0 when every compared answer is the same.

Calls ``protocol`` and ``recording``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shlex
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from typing import Callable, Optional

from . import protocol, recording
from .validation import flatten

VOLATILE = {b"date"}
STOP_TIMEOUT = 10.0
HEAD_ROOM = 64  # bytes of a DATA frame's envelope


@dataclass
class Answer:
    """What a backend answered on one stream."""

    status: Optional[int] = None
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    body: bytearray = field(default_factory=bytearray)
    file: bool = False
    ended: bool = False             # END came in the response direction
    cancel: Optional[int] = None    # the backend's CANCEL code

    def settled(self) -> bool:
        return self.ended or self.cancel is not None


@dataclass
class Exchange:
    """One recorded stream: the request as the frontend sent it and the answer it got."""

    order: int
    request: protocol.Request
    body: bytes = b""               # the whole request body: REQUEST's, then DATA's
    request_ended: bool = False
    cancelled: Optional[int] = None  # the recorded frontend cancelled it with this code
    recorded: Answer = field(default_factory=Answer)

    @property
    def title(self) -> str:
        return f"{self.request.method} {self.request.target.decode('latin-1')}"

    @property
    def websocket(self) -> bool:
        return bool(self.request.flags & protocol.WEBSOCKET)


def exchanges(convs: dict[int, recording.Conversation]) -> list[Exchange]:
    """The recorded streams of every connection, in the order their REQUESTs were sent."""
    found: list[tuple[int, Exchange]] = []
    for conv in convs.values():
        streams: dict[int, Exchange] = {}
        for item in conv.frames:
            frame = item.frame
            if isinstance(frame, protocol.Request) and item.to_backend:
                ex = streams[frame.stream_id] = Exchange(0, frame, frame.body, bool(frame.flags & protocol.END))
                found.append((item.time_ns, ex))
                continue
            ex_or_none = streams.get(getattr(frame, "stream_id", 0))
            if ex_or_none is not None:
                _take(ex_or_none, frame, item.to_backend)
    found.sort(key=lambda pair: pair[0])
    for order, (_, ex) in enumerate(found, 1):
        ex.order = order
    return [ex for _, ex in found]


def _take(ex: Exchange, frame: protocol.Frame, to_backend: bool) -> None:
    if not to_backend:
        take_answer(ex.recorded, frame)
    elif isinstance(frame, protocol.Data):
        ex.body += frame.data
        ex.request_ended = ex.request_ended or bool(frame.flags & protocol.END)
    elif isinstance(frame, protocol.Cancel) and not ex.recorded.settled():
        ex.cancelled = frame.code


def take_answer(answer: Answer, frame: protocol.Frame) -> None:
    """A backend's RESPONSE, DATA or CANCEL, added to what it answered."""
    if isinstance(frame, protocol.Response):
        answer.status, answer.headers = frame.status, list(frame.headers)
        answer.body += frame.body
        answer.file = bool(frame.flags & protocol.FILE)
        answer.ended = bool(frame.flags & protocol.END)
    elif isinstance(frame, protocol.Data):
        answer.body += frame.data
        answer.ended = answer.ended or bool(frame.flags & protocol.END)
    elif isinstance(frame, protocol.Cancel):
        answer.cancel = frame.code


def differences(recorded: Answer, got: Answer, ignore: set[bytes]) -> list[str]:
    """How got differs from recorded, in words (empty: the same)."""
    diffs = []
    if (recorded.status, recorded.file) != (got.status, got.file):
        diffs.append(f"status {recorded.status}{' FILE' if recorded.file else ''} recorded, "
                     f"{got.status}{' FILE' if got.file else ''} now")
    skip = VOLATILE | ignore
    want = [(n.lower(), v) for n, v in recorded.headers if n.lower() not in skip]
    have = [(n.lower(), v) for n, v in got.headers if n.lower() not in skip]
    if want != have:
        diffs.append(f"headers {want!r} recorded, {have!r} now")
    if bytes(recorded.body) != bytes(got.body):
        at = next((i for i, (a, b) in enumerate(zip(recorded.body, got.body)) if a != b),
                  min(len(recorded.body), len(got.body)))
        diffs.append(f"body of {len(recorded.body)} bytes recorded, {len(got.body)} now, first difference at byte {at}")
    if (recorded.ended, recorded.cancel) != (got.ended, got.cancel):
        diffs.append(f"ended {_end(recorded)} recorded, {_end(got)} now")
    return diffs


def _end(answer: Answer) -> str:
    if answer.cancel is not None:
        return f"by CANCEL({protocol.CANCEL_NAMES.get(answer.cancel, answer.cancel)})"
    return "with END" if answer.ended else "unfinished"


class Replayer:
    """The frontend's side of one connection to the backend under test."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, timeout: float) -> None:
        self.reader, self.writer, self.timeout = reader, writer, timeout
        self.decoder = protocol.Decoder(protocol.PRE_HELLO_MAX_FRAME)
        self.peer: Optional[protocol.Hello] = None
        self.answers: dict[int, Answer] = {}
        self.windows: dict[int, int] = {}
        self.unacked: dict[int, int] = {}
        self.changed = asyncio.Event()
        self.closed: Optional[str] = None
        self.next_id = 1

    async def handshake(self) -> protocol.Hello:
        frame = await asyncio.wait_for(self._frame(), self.timeout)
        if not isinstance(frame, protocol.Hello) or frame.role != "backend":
            raise ConnectionError(f"the backend's first frame is not its HELLO: {frame!r}")
        if frame.version != protocol.VERSION:
            self.send(protocol.goaway_frame(0, protocol.VERSION_MISMATCH, "replay speaks protocol version 1"))
            raise ConnectionError(f"the backend speaks protocol version {frame.version}")
        self.send(protocol.hello_frame(0, protocol.VERSION, "frontend", "tandem-replay", os.getpid(), 0,
                                       protocol.DEFAULT_MAX_FRAME, 0, protocol.DEFAULT_WINDOW))
        self.decoder.max_frame_size = protocol.DEFAULT_MAX_FRAME
        self.peer = frame
        return frame

    async def _frame(self) -> protocol.Frame:
        while True:
            frame = self.decoder.next_frame()
            if frame is not None:
                return frame
            data = await self.reader.read(65536)
            if not data:
                raise ConnectionError("the backend closed the connection")
            self.decoder.feed(data)

    def send(self, data: bytes) -> None:
        self.writer.write(data)

    async def read_loop(self) -> None:
        try:
            while True:
                self._on_frame(await self._frame())
                self.changed.set()
        except (ConnectionError, protocol.ProtocolError) as exc:
            self.closed = str(exc)
            self.changed.set()

    def _on_frame(self, frame: protocol.Frame) -> None:
        sid = getattr(frame, "stream_id", 0)
        answer = self.answers.get(sid)
        if isinstance(frame, protocol.Ping) and not frame.ack:
            self.send(protocol.ping_frame(0, True, frame.opaque))
        elif isinstance(frame, protocol.GoAway) and frame.code not in (protocol.NO_ERROR, protocol.SUPERSEDED):
            raise ConnectionError(f"the backend sent GOAWAY({protocol.GOAWAY_NAMES.get(frame.code)}): "
                                  f"{frame.message}")
        elif isinstance(frame, protocol.Window) and sid in self.windows:
            self.windows[sid] += frame.increment
        elif answer is not None and isinstance(frame, (protocol.Response, protocol.Data, protocol.Cancel)):
            take_answer(answer, frame)
            if isinstance(frame, protocol.Data) or (isinstance(frame, protocol.Response) and not answer.file):
                self._consumed(sid, len(frame.body if isinstance(frame, protocol.Response) else frame.data))

    def _consumed(self, sid: int, n: int) -> None:
        """Response bytes read: give them back as window, in batches, as a frontend does."""
        self.unacked[sid] = self.unacked.get(sid, 0) + n
        if self.unacked[sid] >= protocol.DEFAULT_WINDOW // 2 and not self.answers[sid].settled():
            self.send(protocol.window_frame(sid, self.unacked.pop(sid)))

    async def wait(self, done: Callable[[], bool], what: str) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout
        while not done():
            if self.closed is not None:
                raise ConnectionError(self.closed)
            self.changed.clear()
            left = deadline - loop.time()
            if left <= 0:
                raise TimeoutError(f"no {what} within {self.timeout:g} s")
            try:
                await asyncio.wait_for(self.changed.wait(), left)
            except asyncio.TimeoutError:
                pass

    async def play(self, ex: Exchange) -> Answer:
        """One recorded stream, sent as the recorded frontend sent it; its new answer."""
        assert self.peer is not None
        sid, self.next_id = self.next_id, self.next_id + 1
        answer = self.answers[sid] = Answer()
        self.windows[sid] = self.peer.initial_window
        r = ex.request
        headers = flatten(r.headers)
        room = min(self.peer.max_frame_size - len(protocol.request_frame(
            sid, 0, r.method, r.target, r.path, r.query, r.http_version, headers, r.client, r.server, r.scheme,
            b"", r.request_id)) - HEAD_ROOM, self.windows[sid])
        first, rest = ex.body[:room], ex.body[room:]
        end = protocol.END if ex.request_ended and not rest else 0
        self.send(protocol.request_frame(sid, end, r.method, r.target, r.path, r.query, r.http_version, headers,
                                         r.client, r.server, r.scheme, first, r.request_id))
        self.windows[sid] -= len(first)
        await self._send_body(sid, rest, ex.request_ended)
        if ex.cancelled is not None:
            self.send(protocol.cancel_frame(sid, ex.cancelled))
            return answer
        await self.wait(answer.settled, f"answer to {ex.title}")
        return answer

    async def _send_body(self, sid: int, rest: bytes, ended: bool) -> None:
        assert self.peer is not None
        limit = self.peer.max_frame_size - HEAD_ROOM
        while rest:
            await self.wait(lambda: self.windows[sid] > 0 or self.answers[sid].settled(), "WINDOW for the body")
            if self.answers[sid].settled():
                return  # answered before the whole body: as the frontend, stop sending it
            piece, rest = rest[:min(limit, self.windows[sid])], rest[min(limit, self.windows[sid]):]
            self.windows[sid] -= len(piece)
            self.send(protocol.data_frame(sid, protocol.END if ended and not rest else 0, piece))
        await self.writer.drain()


@dataclass
class Outcome:
    exchange: Exchange
    answer: Optional[Answer] = None
    diffs: list[str] = field(default_factory=list)
    error: Optional[str] = None


async def replay(exs: list[Exchange], backend: str, timeout: float, ignore: set[bytes]) -> list[Outcome]:
    """Starts the backend command (``{socket}`` in it replaced), replays exs into it, compares."""
    with tempfile.TemporaryDirectory(prefix="tandem-replay-") as tmp:
        path = os.path.join(tmp, "backend.sock")
        accepted: asyncio.Future[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = \
            asyncio.get_running_loop().create_future()
        server = await asyncio.start_unix_server(
            lambda r, w: accepted.done() or accepted.set_result((r, w)), path=path)
        log_path = os.path.join(tmp, "backend.log")
        with open(log_path, "wb") as log:
            proc = subprocess.Popen(shlex.split(backend.replace("{socket}", shlex.quote(path))), stdout=log,
                                    stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        try:
            reader, writer = await _accept(accepted, proc, timeout)
            outcomes = await _replay_on(Replayer(reader, writer, timeout), exs, ignore)
        except BaseException:
            _stop(proc)
            _show_log(log_path)
            raise
        finally:
            server.close()
        _stop(proc)
        if any(o.error for o in outcomes):
            _show_log(log_path)
        return outcomes


async def _accept(accepted: "asyncio.Future[tuple[asyncio.StreamReader, asyncio.StreamWriter]]",
                  proc: subprocess.Popen, timeout: float) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """The backend's connection, or ConnectionError once it has exited or the timeout passed."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not accepted.done():
        if proc.poll() is not None:
            raise ConnectionError(f"the backend exited with status {proc.returncode} before connecting")
        if loop.time() > deadline:
            raise ConnectionError(f"the backend did not connect within {timeout:g} s")
        await asyncio.wait([accepted], timeout=0.05)
    return accepted.result()


def _show_log(path: str, lines: int = 20) -> None:
    with open(path, "rb") as f:
        tail = f.read().decode("utf-8", "replace").splitlines()[-lines:]
    if tail:
        print("--- the backend's last output ---", *tail, sep="\n", file=sys.stderr)


async def _replay_on(rp: Replayer, exs: list[Exchange], ignore: set[bytes]) -> list[Outcome]:
    peer = await rp.handshake()
    reading = asyncio.ensure_future(rp.read_loop())
    limit = asyncio.Semaphore(max(1, peer.max_streams))
    outcomes = [Outcome(ex) for ex in exs]

    async def one(outcome: Outcome) -> None:
        if outcome.exchange.websocket:
            return                      # not replayed (the module's doc)
        async with limit:
            try:
                outcome.answer = await rp.play(outcome.exchange)
            except (ConnectionError, TimeoutError) as exc:
                outcome.error = str(exc)
                return
        if outcome.exchange.cancelled is None:
            outcome.diffs = differences(outcome.exchange.recorded, outcome.answer, ignore)

    try:
        await asyncio.gather(*(one(o) for o in outcomes))
        rp.send(protocol.goaway_frame(0, protocol.NO_ERROR, "replay done"))
        await rp.writer.drain()
    finally:
        reading.cancel()
        rp.writer.close()
    return outcomes


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def report(outcomes: list[Outcome]) -> int:
    same = different = skipped = 0
    for o in outcomes:
        ex = o.exchange
        if ex.websocket:
            skipped += 1
            print(f"SKIP  {ex.order:4}  {ex.title}: a WebSocket, not replayed")
        elif o.error is not None:
            different += 1
            print(f"FAIL  {ex.order:4}  {ex.title}: {o.error}")
        elif ex.cancelled is not None:
            skipped += 1
            print(f"SKIP  {ex.order:4}  {ex.title}: cancelled in the recording "
                  f"({protocol.CANCEL_NAMES.get(ex.cancelled, ex.cancelled)}), sent and cancelled again")
        elif o.diffs:
            different += 1
            print(f"DIFF  {ex.order:4}  {ex.title}: " + "; ".join(o.diffs))
        else:
            same += 1
            print(f"SAME  {ex.order:4}  {ex.title} -> {ex.recorded.status}")
    print(f"{same} same, {different} different, {skipped} not compared")
    return 1 if different else 0


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python3 -m tandem.replay", description=__doc__.split("\n\n")[0])
    parser.add_argument("recording", help="a file written by tandem-frontend --record")
    parser.add_argument("--backend", required=True, metavar="CMD",
                        help="the backend's command line; {socket} is replaced by the socket it must connect to")
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds to wait for each answer (30)")
    parser.add_argument("--ignore-header", action="append", default=[], metavar="NAME",
                        help="a response header left out of the comparison (repeatable; date always is)")
    args = parser.parse_args(argv)
    try:
        with open(args.recording, "rb") as f:
            exs = exchanges(recording.conversations(f.read()))
    except (OSError, recording.RecordingError) as exc:
        print(f"tandem.replay: {args.recording}: {exc}", file=sys.stderr)
        return 2
    if not exs:
        print(f"tandem.replay: {args.recording} holds no request", file=sys.stderr)
        return 2
    try:
        outcomes = asyncio.run(replay(exs, args.backend, args.timeout,
                                      {name.lower().encode() for name in args.ignore_header}))
    except (ConnectionError, OSError, asyncio.TimeoutError) as exc:
        print(f"tandem.replay: the backend: {exc or 'did not connect'}", file=sys.stderr)
        return 2
    return report(outcomes)


if __name__ == "__main__":
    sys.exit(main())
