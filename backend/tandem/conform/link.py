"""One framed connection of the kit, whichever part the kit plays: its bytes, its frames, its transcript.

A ``Link`` owns a connected, non-blocking Unix socket.  It queues what the kit
sends (``send``), reads what the other side sent, splits it into frames with
tandem's decoder, holds each frame to section 1 (a length within the kit's
announced max_frame_size, a well-formed payload) and hands it to ``_check``,
where the part the kit plays keeps its own rules: ``peer.Peer`` plays the
frontend against a backend, ``mirror.FakeBackend`` a backend against a
frontend.  Every frame each way goes into ``transcript`` for the hex dumps of
``--verbose``.

The I/O is driven either by ``pump()``, one connection alone, or by a loop
over several (``mirror``) that calls ``fileno()``, ``wants_read()``,
``wants_write()``, ``_read()`` and ``_write()``.  A broken rule raises
``CaseFailed`` from ``_read()``, which ends the case.

Calls ``protocol`` (the decoder) and ``wire`` (frame descriptions).
"""

from __future__ import annotations

import errno
import select
import socket
import time
from dataclasses import dataclass
from typing import Callable, Optional

from .. import protocol
from . import wire

READ_SIZE = 1 << 18


class CaseFailed(Exception):
    """The other side broke a rule, or did not do what the case waited for: the case fails with this reason."""


class WaitTimedOut(CaseFailed):
    """What the case waited for did not come in time (a CaseFailed a case may catch to go on)."""


class CaseSkipped(Exception):
    """The case cannot be run against this peer (the reason says why); it counts neither way."""


@dataclass
class Entry:
    """One frame (or run of raw bytes, or an event) in a transcript: ``>`` from the kit, ``<`` to it."""

    direction: str
    label: str
    data: bytes


class Link:
    """The kit's end of one framed connection (see the module doc); ``other`` names the side under test."""

    def __init__(self, sock: socket.socket, timeout: float, name: str, other: str) -> None:
        sock.setblocking(False)
        self.sock = sock
        self.timeout = timeout
        self.name = name
        self.other = other
        self.transcript: list[Entry] = []
        self.received: list[protocol.Frame] = []
        self.goaways: list[protocol.GoAway] = []
        self.acks: list[int] = []
        self.eof = False
        self.write_failed = False
        self.answer_pings = True
        self.paused = False      # a loop over several connections reads nothing from this one meanwhile
        self._in = bytearray()
        self._out = bytearray()

    @property
    def legend(self) -> str:
        return f"> kit to {self.other}, < {self.other} to kit"

    def fileno(self) -> int:
        return self.sock.fileno()

    def frame_limit(self) -> int:
        """The largest payload the kit accepts now (what it announced, or the limit before HELLO)."""
        return wire.KIT_MAX_FRAME

    # --- output ---------------------------------------------------------------------

    def send(self, data: bytes, label: str) -> None:
        """Queue bytes for the other side (written by this call as far as the socket takes them)."""
        self.transcript.append(Entry(">", label, data))
        if self.write_failed:
            return
        self._out += data
        self._write()

    def wants_write(self) -> bool:
        return bool(self._out)

    def _write(self) -> None:
        try:
            while self._out:
                n = self.sock.send(self._out)
                del self._out[:n]
        except BlockingIOError:
            pass
        except OSError as exc:
            if exc.errno not in (errno.EPIPE, errno.ECONNRESET):
                raise
            # The other side has closed: what it sent before is still read.
            self.write_failed = True
            self._out.clear()

    def shutdown_write(self) -> None:
        """Send everything queued, then EOF (the kit's side of the connection ends)."""
        self.pump(lambda: not self._out, "the kit's bytes to be written")
        self.transcript.append(Entry(">", "EOF (the kit shuts its side down)", b""))
        try:
            self.sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass

    # --- input ----------------------------------------------------------------------

    def wants_read(self) -> bool:
        return not self.eof and not self.paused

    def pump(self, until: Callable[[], bool], what: str, timeout: Optional[float] = None,
             read: bool = True, eof_ok: bool = False) -> None:
        """Do this connection's I/O until ``until()`` holds; CaseFailed if ``timeout`` passes first, or the
        other side closes the connection (unless ``eof_ok``).  With ``read`` off, nothing is read meanwhile."""
        limit = self.timeout if timeout is None else timeout
        deadline = time.monotonic() + limit
        while not until():
            if self.eof and read:
                if eof_ok:
                    return
                raise CaseFailed(f"the {self.other} closed the connection while the kit waited for {what}"
                                 + self.goaway_said())
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise WaitTimedOut(f"waited {limit:g}s for {what}; it did not come")
            readers = [self.sock] if read and not self.eof else []
            writers = [self.sock] if self._out else []
            if not readers and not writers:
                time.sleep(min(remaining, 0.05))
                continue
            readable, writable, _ = select.select(readers, writers, [], remaining)
            if writable:
                self._write()
            if readable:
                self._read()

    def goaway_said(self) -> str:
        if not self.goaways:
            return ""
        g = self.goaways[-1]
        return f" (after GOAWAY({protocol.GOAWAY_NAMES.get(g.code, g.code)}, {g.message!r}))"

    def _read(self) -> None:
        try:
            data = self.sock.recv(READ_SIZE)
        except BlockingIOError:
            return
        except ConnectionResetError:
            data = b""
        if not data:
            self.eof = True
            self.transcript.append(Entry("<", f"EOF (the {self.other} closed the connection)", b""))
            self._on_eof()
            return
        self._in += data
        try:
            self._split()
        finally:
            self._after_read()

    def _split(self) -> None:
        buf = self._in
        while len(buf) >= protocol.HEADER_SIZE:
            length = int.from_bytes(buf[:4], "big")
            limit = self.frame_limit()
            if length > limit:
                self.transcript.append(Entry("<", f"frame length {length}", bytes(buf[:64])))
                raise CaseFailed(f"the {self.other} sent a frame of {length} bytes, above the kit's "
                                 f"max_frame_size {limit} (section 1)")
            if len(buf) < 4 + length:
                return
            raw = bytes(buf[:4 + length])
            del buf[:4 + length]
            try:
                frame = protocol.decode_payload(raw[4:])
            except protocol.ProtocolError as exc:
                self.transcript.append(Entry("<", "malformed frame", raw))
                raise CaseFailed(f"the {self.other} sent a malformed frame: {exc.message} (sections 1-2)") from None
            self.transcript.append(Entry("<", wire.describe(frame), raw))
            self.received.append(frame)
            self._check(frame)

    # --- what the part the kit plays adds -----------------------------------------------

    def _check(self, frame: protocol.Frame) -> None:
        """Hold one well-formed frame to the rules of the other side's part."""

    def _after_read(self) -> None:
        """After the frames of one read (grants batched while reading go out here)."""

    def _on_eof(self) -> None:
        """The other side closed the connection."""
