"""Slow and many clients for the hostile suite: tricklers, floods, and what a process holds.

``Trickle`` keeps many connections open in one thread, each sending its first
bytes and then one more byte every so often (a slowloris, or a body that
stalls), until the server answers or closes it; it records the first bytes of
what each one got.  ``hold`` opens many connections and keeps them, for
floods.  Everything is bounded: a trickle stops after its time limit, and
every socket is closed by its owner.
"""

from __future__ import annotations

import os
import selectors
import socket
import threading
import time
from typing import Optional

CLK_TCK = os.sysconf("SC_CLK_TCK")


class Trickle:
    """n connections: each sends first, then one byte of drip every interval seconds (at most
    drip_bytes of them; None: for as long as it is open), until the server answers or closes it,
    or limit seconds pass.  ``answers[i]`` is what connection i got (b"" if closed with nothing,
    None if still open at the limit)."""

    def __init__(self, port: int, n: int, first: bytes, drip: bytes, interval: float, limit: float,
                 drip_bytes: Optional[int] = None) -> None:
        self.port = port
        self.n = n
        self.first = first
        self.drip = drip
        self.interval = interval
        self.limit = limit
        self.drip_bytes = drip_bytes
        self.answers: list[Optional[bytes]] = [None] * n
        self.opened = 0
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.ready = threading.Event()

    def __enter__(self) -> "Trickle":
        self.thread.start()
        if not self.ready.wait(self.limit):
            raise TimeoutError("the trickling connections did not open")
        return self

    def __exit__(self, *exc: object) -> None:
        self.thread.join(self.limit + 10)

    def wait(self) -> list[Optional[bytes]]:
        self.thread.join(self.limit + 10)
        return self.answers

    def _run(self) -> None:
        sel = selectors.DefaultSelector()
        socks: dict[int, socket.socket] = {}
        try:
            for i in range(self.n):
                s = socket.create_connection(("127.0.0.1", self.port), timeout=10)
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                s.sendall(self.first)
                s.setblocking(False)
                socks[i] = s
                sel.register(s, selectors.EVENT_READ, i)
            self.opened = len(socks)
            self.ready.set()
            self._drive(sel, socks)
        finally:
            self.ready.set()
            for s in socks.values():
                s.close()
            sel.close()

    def _drive(self, sel: selectors.BaseSelector, socks: dict[int, socket.socket]) -> None:
        deadline = time.monotonic() + self.limit
        sent = 0
        next_drip = time.monotonic() + self.interval
        while socks and time.monotonic() < deadline:
            for key, _ in sel.select(timeout=max(0.0, min(next_drip, deadline) - time.monotonic())):
                i = key.data
                try:
                    data = socks[i].recv(4096)
                except BlockingIOError:
                    continue
                except OSError:
                    data = b""
                self.answers[i] = data
                sel.unregister(socks[i])
                socks.pop(i).close()
            if time.monotonic() >= next_drip:
                next_drip += self.interval
                if self.drip_bytes is None or sent < self.drip_bytes:
                    byte = self.drip[sent % len(self.drip):][:1]
                    sent += 1
                    for s in socks.values():
                        try:
                            s.send(byte)
                        except OSError:
                            pass     # closed by the server: its recv says so


def hold(port: int, n: int, timeout: float = 10.0) -> list[socket.socket]:
    """n connections to port, opened one after the other and kept (the caller closes them)."""
    out = []
    try:
        for _ in range(n):
            out.append(socket.create_connection(("127.0.0.1", port), timeout=timeout))
    except BaseException:
        for s in out:
            s.close()
        raise
    return out


def count_closed(socks: list[socket.socket], want: int, quiet: float, limit: float) -> int:
    """How many of socks the peer closes (EOF or reset, with nothing sent): waits until want of them
    are, or until none more has been for quiet seconds, at most limit seconds in all."""
    sel = selectors.DefaultSelector()
    for s in socks:
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ)
    closed = 0
    deadline = time.monotonic() + limit
    last = time.monotonic()
    try:
        while closed < want and time.monotonic() < min(deadline, last + quiet):
            for key, _ in sel.select(timeout=0.1):
                try:
                    data = key.fileobj.recv(1)
                except ConnectionResetError:
                    data = b""
                sel.unregister(key.fileobj)
                if data == b"":
                    closed += 1
                    last = time.monotonic()
    finally:
        sel.close()
    return closed


def cpu_seconds(pid: int) -> float:
    """utime + stime of the process so far."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK
