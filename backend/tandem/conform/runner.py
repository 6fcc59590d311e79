"""Runs the cases against a backend: its process, its connections, the report.

The kit listens on a Unix socket.  Each case takes fresh connections from the
backend (``Kit.connect()``); when the case ends, the kit closes them.  A
backend then either connects again by itself (tandem's does after a close
without a connection error) or, after a connection error, may exit (tandem's
does); the kit restarts the command it was given (``--backend``) and waits for
the new process to connect.  Every wait is bounded (``connect_timeout``): a
backend that neither connects again nor exits is stopped and started once more,
and if that does not bring it back, this and every later case fail with the
reason, at once.  A backend started by hand (``--socket PATH --wait``) must
connect again by itself after each case.

Report: one line per case, ``ID  PASS|FAIL|SKIP  title  [section]``, the reason
under a failure (and notes under any line), then ``N passed, N failed`` (with
``, N skipped`` when some were).  ``verbose`` adds hex dumps of the frames each
way for failed cases (1) or for every case (2).

Calls ``peer`` and ``wire``; the cases are handed in (``cases.CASES``).
"""

from __future__ import annotations

import ctypes
import os
import select
import shlex
import signal
import socket
import subprocess
import sys
import time
import traceback
from dataclasses import dataclass, field
from typing import Callable, Optional, TextIO

from . import wire
from .peer import CaseFailed, CaseSkipped, Peer

STOP_TIMEOUT = 5.0
PR_SET_PDEATHSIG = 1  # prctl(2)
POLL = 0.05
DUMP_HEAD = 20   # transcript entries shown from the start of a connection, and
DUMP_TAIL = 40   # from its end, in a dump


@dataclass
class Case:
    """One numbered case: what it checks (``description``: the outcome the spec asks for) and where."""

    id: str
    title: str
    section: str
    description: str
    run: Callable[["Kit"], None]


class Backend:
    """The backend's process, started by the kit from a command line (``{socket}`` is replaced)."""

    def __init__(self, command: str, socket_path: str, log_path: str) -> None:
        self.argv = [arg.replace("{socket}", socket_path) for arg in shlex.split(command)]
        if not self.argv:
            raise ValueError("the backend command is empty")
        self.socket_path = socket_path
        self.log_path = log_path
        self.proc: Optional[subprocess.Popen[bytes]] = None
        self.starts = 0

    def start(self) -> None:
        env = dict(os.environ, TANDEM_BACKEND_SOCKET=self.socket_path)
        with open(self.log_path, "ab") as log:
            log.write(f"--- tandem-conform: starting {shlex.join(self.argv)}\n".encode())
            log.flush()
            self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=env,
                                         start_new_session=True, preexec_fn=_end_with_parent)
        self.starts += 1

    def exit_status(self) -> Optional[int]:
        """The exit status once the process has ended, else None."""
        return None if self.proc is None else self.proc.poll()

    def signal(self, sig: int) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)

    def stop(self) -> None:
        """SIGTERM, a bounded wait, then SIGKILL for the process and anything it started in its session."""
        proc = self.proc
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            # Still running, so its process group (start_new_session) is still its own.
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()

    def log_tail(self, limit: int = 1500) -> str:
        try:
            with open(self.log_path, "rb") as f:
                f.seek(0, os.SEEK_END)
                f.seek(max(0, f.tell() - limit))
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""


def _end_with_parent() -> None:
    """In the backend's process before it runs: SIGTERM when the kit dies, even by SIGKILL (Linux only)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        pass


class Runner:
    """The listening socket and the backend: hands out connections to the cases."""

    def __init__(self, socket_path: str, backend: Optional[Backend], timeout: float,
                 connect_timeout: float) -> None:
        self.socket_path = socket_path
        self.backend = backend
        self.timeout = timeout
        self.connect_timeout = connect_timeout
        self.gone: Optional[str] = None   # why no backend will come any more
        self.restarts = 0
        if os.path.exists(socket_path):
            os.unlink(socket_path)
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(socket_path)
        self.listener.listen(64)

    def close(self) -> None:
        self.listener.close()
        try:
            os.unlink(self.socket_path)
        except OSError:
            pass
        if self.backend is not None:
            self.backend.stop()

    def accept(self) -> socket.socket:
        """The next connection from the backend, restarting its process if it has ended (see the module doc)."""
        if self.gone is not None:
            raise CaseFailed(self.gone)
        tries = 0
        deadline = time.monotonic() + self.connect_timeout
        while True:
            readable, _, _ = select.select([self.listener], [], [], POLL)
            if readable:
                conn, _ = self.listener.accept()
                return conn
            backend = self.backend
            now = time.monotonic()
            status = None if backend is None else backend.exit_status()
            if backend is not None and (status is not None or now > deadline):
                if tries == 2:
                    self.gone = self._no_backend(f"exited with status {status}" if status is not None
                                                 else f"did not connect within {self.connect_timeout:g}s")
                    raise CaseFailed(self.gone)
                if status is None:
                    backend.stop()
                if backend.starts:
                    self.restarts += 1
                backend.start()
                tries += 1
                deadline = time.monotonic() + self.connect_timeout
            elif backend is None and now > deadline:
                self.gone = (f"no backend connected to {self.socket_path} within {self.connect_timeout:g}s "
                             "(a backend started by hand must connect again after each case)")
                raise CaseFailed(self.gone)

    def exit_or_connection(self, timeout: float) -> str:
        """Wait for the backend's process to exit (``"exited"``) or to connect again (``"connected"``; the
        connection stays for the next case), at most ``timeout`` seconds (``"neither"``)."""
        assert self.backend is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.backend.exit_status() is not None:
                return "exited"
            readable, _, _ = select.select([self.listener], [], [], POLL)
            if readable:
                return "connected"
        return "neither"

    def _no_backend(self, what: str) -> str:
        assert self.backend is not None
        tail = self.backend.log_tail().strip().splitlines()[-8:]
        shown = "".join(f"\n        | {line}" for line in tail)
        return f"the backend, started again, {what} (last lines of its output:){shown}"


class Kit:
    """What a case is handed: fresh connections, the timeouts, and the backend's process (if the kit runs it)."""

    def __init__(self, runner: Runner) -> None:
        self.runner = runner
        self.timeout = runner.timeout
        self.backend = runner.backend
        self.peers: list[Peer] = []
        self.notes: list[str] = []

    def connect(self) -> Peer:
        """A new connection from the backend; nothing read from it yet."""
        peer = Peer(self.runner.accept(), self.timeout, f"connection {len(self.peers) + 1}")
        self.peers.append(peer)
        return peer

    def open(self) -> Peer:
        """A new connection with the HELLO exchange done."""
        peer = self.connect()
        peer.hello()
        return peer

    def note(self, text: str) -> None:
        self.notes.append(text)

    def close(self) -> None:
        for peer in self.peers:
            peer.close()


@dataclass
class Result:
    case: Case
    status: str      # PASS, FAIL or SKIP
    reason: str = ""
    notes: list[str] = field(default_factory=list)
    peers: list[Peer] = field(default_factory=list)


def run_case(runner: Runner, case: Case) -> Result:
    kit = Kit(runner)
    try:
        case.run(kit)
        result = Result(case, "PASS")
    except CaseFailed as exc:
        result = Result(case, "FAIL", str(exc))
    except CaseSkipped as exc:
        result = Result(case, "SKIP", str(exc))
    except Exception:
        result = Result(case, "FAIL", "the kit itself failed:\n" + traceback.format_exc())
    finally:
        kit.close()
    result.notes = kit.notes
    result.peers = kit.peers
    return result


def report(result: Result, verbose: int, out: TextIO) -> None:
    case = result.case
    out.write(f"{case.id:<5} {result.status}  {case.title}  [{case.section}]\n")
    if result.reason:
        out.write("".join(f"      {line}\n" for line in result.reason.splitlines()))
    for note in result.notes:
        out.write(f"      note: {note}\n")
    if verbose >= 2 or (verbose and result.status == "FAIL"):
        for peer in result.peers:
            out.write(dump(peer))
    out.flush()


def dump(peer: Peer) -> str:
    """The frames exchanged on one connection, with hex dumps (the middle of a long one elided)."""
    entries = peer.transcript
    lines = [f"    {peer.name}: {len(entries)} frames and events (> kit to backend, < backend to kit)"]
    shown = list(enumerate(entries))
    if len(entries) > DUMP_HEAD + DUMP_TAIL:
        shown = shown[:DUMP_HEAD] + [(-1, None)] + shown[-DUMP_TAIL:]  # type: ignore[list-item]
    for index, entry in shown:
        if entry is None:
            lines.append(f"      ... {len(entries) - DUMP_HEAD - DUMP_TAIL} more ...")
            continue
        size = f" ({len(entry.data)} bytes)" if entry.data else ""
        lines.append(f"    {entry.direction} {entry.label}{size}")
        if entry.data:
            lines.append(wire.hexdump(entry.data))
    return "\n".join(lines) + "\n"


def run(runner: Runner, cases: list[Case], verbose: int = 0, out: TextIO = sys.stdout) -> int:
    """Run the cases in order, report each, and return the exit status (0 only if none failed)."""
    counts = {"PASS": 0, "FAIL": 0, "SKIP": 0}
    if runner.backend is not None:
        runner.backend.start()
    for case in cases:
        result = run_case(runner, case)
        counts[result.status] += 1
        report(result, verbose, out)
    if runner.restarts and verbose:
        out.write(f"(the backend was started again {runner.restarts} times)\n")
    skipped = f", {counts['SKIP']} skipped" if counts["SKIP"] else ""
    out.write(f"{counts['PASS']} passed, {counts['FAIL']} failed{skipped}\n")
    out.flush()
    return 0 if counts["FAIL"] == 0 else 1
