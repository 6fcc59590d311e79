"""Replays the hostile-input corpus against a running frontend and judges each outcome.

Every case is sent on a fresh connection, whole, then split in two at every byte
boundary (the first piece, a short pause so the frontend reads it alone, the
rest), then one byte at a time; the runner's probe request follows the last
piece in the same write.  Each replay must give the case's outcome exactly:

- the responses' statuses, in order; then, if the case keeps the connection,
  the probe's answer and the connection's close (the probe asks for it), else
  the close with nothing more.  A response beyond those (the probe answered on
  a connection that should have closed, a second response to one request) is a
  *desync*: the frontend read something as a request that was not one.
- the requests the application saw on that connection (hostile_app.py records
  them under the client's port; the runner asks for them afterwards on a
  connection of its own): exactly the case's ``seen:`` ones and the probe.  One
  more is a desync too.

Replays run concurrently on a few workers, each with its own keep-alive
connection for asking the application; the frontend must stay up throughout.
"""

from __future__ import annotations

import asyncio
import json
import socket
import time
from dataclasses import dataclass, field
from typing import Optional

from corpus import Case, Seen

PROBE = b"GET /__hostile/probe HTTP/1.1\r\nHost: probe.test\r\nConnection: close\r\n\r\n"
PROBE_SEEN = Seen("GET", "/__hostile/probe")
PAUSE = 0.002            # seconds between two pieces of a split case
IO_TIMEOUT = 10.0        # seconds any replay may wait for the frontend
WORKERS = 24


@dataclass
class Response:
    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes


class Unparsable(ValueError):
    pass


def parse_responses(data: bytes, head_at: set[int]) -> list[Response]:
    """The responses in data, a whole connection's output (index i in head_at: a response to HEAD)."""
    out: list[Response] = []
    pos = 0
    while pos < len(data):
        end = data.find(b"\r\n\r\n", pos)
        if end < 0:
            raise Unparsable(f"a response head cut short: {data[pos:pos + 200]!r}")
        lines = data[pos:end].split(b"\r\n")
        parts = lines[0].split(b" ", 2)
        if len(parts) < 2 or not parts[0].startswith(b"HTTP/1.") or not parts[1].isdigit():
            raise Unparsable(f"not a status line: {lines[0][:200]!r}")
        status = int(parts[1])
        headers = []
        for line in lines[1:]:
            name, sep, value = line.partition(b":")
            if not sep:
                raise Unparsable(f"not a header line: {line[:200]!r}")
            headers.append((name.strip().lower(), value.strip()))
        pos = end + 4
        hd = dict(headers)
        body = b""
        if len(out) in head_at or status in (204, 304) or status < 200:
            pass
        elif hd.get(b"transfer-encoding") == b"chunked":
            body, pos = _dechunk(data, pos)
        elif b"content-length" in hd:
            n = int(hd[b"content-length"])
            body, pos = data[pos:pos + n], pos + n
            if len(body) != n:
                raise Unparsable("a body cut short")
        else:
            body, pos = data[pos:], len(data)
        out.append(Response(status, headers, body))
    return out


def _dechunk(data: bytes, pos: int) -> tuple[bytes, int]:
    parts = []
    while True:
        eol = data.find(b"\r\n", pos)
        if eol < 0:
            raise Unparsable("a chunk size line cut short")
        size = int(data[pos:eol].split(b";")[0], 16)
        pos = eol + 2
        if size == 0:
            end = data.find(b"\r\n\r\n", pos - 2)
            if end < 0:
                raise Unparsable("a chunked body without its end")
            return b"".join(parts), end + 4
        parts.append(data[pos:pos + size])
        pos += size + 2


def match_statuses(want: list[str], got: list[int]) -> Optional[str]:
    """Why the statuses got differ from the pattern want ("100?": optional), or None."""
    i = 0
    for w in want:
        optional = w.endswith("?")
        code = int(w[:3])
        if i < len(got) and got[i] == code:
            i += 1
        elif not optional:
            return "missing"
    return "extra" if i < len(got) else None


@dataclass
class Verdict:
    case: str
    variant: str
    kind: str                  # "ok", "desync", "mismatch"
    detail: str = ""


def judge(case: Case, variant: str, output: bytes, closed: bool, records: list[dict]) -> Verdict:
    want = list(case.statuses)
    if not case.close:
        want.append("200")
    head_at = {i for i, s in enumerate(want) if s.endswith(":head")}
    try:
        responses = parse_responses(output, head_at)
    except Unparsable as exc:
        return Verdict(case.name, variant, "mismatch", f"{exc}; output {output[:300]!r}")
    got = [r.status for r in responses]
    why = match_statuses([s.split(":")[0] for s in want], got)
    if why is not None:
        kind = "desync" if why == "extra" else "mismatch"
        return Verdict(case.name, variant, kind, f"statuses {got}, want {want}{' close' if case.close else ''}")
    if not closed:
        return Verdict(case.name, variant, "mismatch", "the connection stayed open")
    if not case.close and responses[-1].body != b"seen 0":
        return Verdict(case.name, variant, "desync", f"the probe was answered {responses[-1].body!r}")
    seen = list(case.seen) + ([] if case.close else [PROBE_SEEN])
    if len(records) > len(seen):
        return Verdict(case.name, variant, "desync", f"the app saw {len(records)} requests, want {len(seen)}: "
                       f"{[(r['method'], r['target']) for r in records]}")
    if len(records) < len(seen):
        return Verdict(case.name, variant, "mismatch", f"the app saw {len(records)} requests, want {len(seen)}: "
                       f"{[(r['method'], r['target']) for r in records]}")
    for s, rec in zip(seen, records):
        why = s.mismatch(rec)
        if why is not None:
            return Verdict(case.name, variant, "mismatch", why)
    return Verdict(case.name, variant, "ok")


def variants(case: Case, splits: bool = True) -> list[tuple[str, list[bytes]]]:
    """The ways one case is sent: whole, split in two at each boundary, one byte at a time."""
    data = case.data
    out = [("whole", [data])]
    if splits and case.splits and len(data) > 1:
        out += [(f"split at {k}", [data[:k], data[k:]]) for k in range(1, len(data))]
        out.append(("byte by byte", [data[i:i + 1] for i in range(len(data))]))
    return out


class Control:
    """A keep-alive connection for asking the application what it saw."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.reader: Optional[asyncio.StreamReader] = None
        self.writer: Optional[asyncio.StreamWriter] = None

    async def seen(self, client_port: int) -> list[dict]:
        return json.loads(await self.get(b"/__hostile/seen?port=%d" % client_port))

    async def get(self, target: bytes) -> bytes:
        for attempt in range(2):
            try:
                if self.writer is None:
                    self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
                assert self.reader is not None
                self.writer.write(b"GET %s HTTP/1.1\r\nHost: control.test\r\n\r\n" % target)
                head = await asyncio.wait_for(self.reader.readuntil(b"\r\n\r\n"), IO_TIMEOUT)
                length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
                return await asyncio.wait_for(self.reader.readexactly(length), IO_TIMEOUT)
            except (OSError, asyncio.IncompleteReadError):
                self.close()
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


async def replay(port: int, pieces: list[bytes]) -> tuple[bytes, bool, int]:
    """Sends pieces (the probe after the last) and reads to the close: (output, closed, local port)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    sock = writer.get_extra_info("socket")
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    local_port = sock.getsockname()[1]
    try:
        for i, piece in enumerate(pieces):
            last = i == len(pieces) - 1
            try:
                writer.write(piece + PROBE if last else piece)
                await writer.drain()
            except OSError:
                break           # the frontend closed after an answer: what it sent is still read below
            if not last:
                await asyncio.sleep(PAUSE)
        chunks = []
        closed = False
        deadline = time.monotonic() + IO_TIMEOUT
        while time.monotonic() < deadline:
            try:
                chunk = await asyncio.wait_for(reader.read(65536), deadline - time.monotonic())
            except asyncio.TimeoutError:
                break
            except OSError:
                closed = True
                break
            if not chunk:
                closed = True
                break
            chunks.append(chunk)
        return b"".join(chunks), closed, local_port
    finally:
        writer.close()


@dataclass
class Report:
    cases: int = 0
    splits: int = 0
    replays: int = 0
    desyncs: int = 0
    mismatches: int = 0
    failures: list[Verdict] = field(default_factory=list)
    seconds: float = 0.0

    def failed(self) -> list[str]:
        """One line per failing case (its first failing replay, and how many failed)."""
        by_case: dict[str, list[Verdict]] = {}
        for v in self.failures:
            by_case.setdefault(v.case, []).append(v)
        return [f"{name}: {vs[0].kind} ({vs[0].variant}; {len(vs)} replays failed): {vs[0].detail}"
                for name, vs in sorted(by_case.items())]


async def _worker(port: int, queue: asyncio.Queue, report: Report) -> None:
    control = Control(port)
    try:
        while True:
            try:
                case, variant, pieces = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            output, closed, local_port = await replay(port, pieces)
            records = await control.seen(local_port)
            verdict = judge(case, variant, output, closed, records)
            report.replays += 1
            if verdict.kind == "desync":
                report.desyncs += 1
            elif verdict.kind == "mismatch":
                report.mismatches += 1
            if verdict.kind != "ok":
                report.failures.append(verdict)
    finally:
        control.close()


async def run_async(port: int, cases: list[Case], splits: bool = True, workers: int = WORKERS) -> Report:
    report = Report(cases=len(cases))
    queue: asyncio.Queue = asyncio.Queue()
    for case in cases:
        for name, pieces in variants(case, splits):
            queue.put_nowait((case, name, pieces))
            report.splits += name.startswith("split")
    start = time.monotonic()
    control = Control(port)
    await control.get(b"/__hostile/reset")
    control.close()
    await asyncio.gather(*(_worker(port, queue, report) for _ in range(workers)))
    report.seconds = time.monotonic() - start
    return report


def run(port: int, cases: list[Case], splits: bool = True, workers: int = WORKERS) -> Report:
    return asyncio.run(run_async(port, cases, splits, workers))
