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

What is generic, the ``Case`` record, ``Child`` (a process the kit runs and
stops), ``run_case``, ``report`` and ``run``, also runs the frontend kit
(``mirror``): ``run`` takes any ``Target``, which hands each case its kit and
may fail a case afterwards (a frontend that died during it).

Calls ``link``, ``peer`` and ``wire``; the cases are handed in (``cases.CASES``).
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
from typing import Any, Callable, Optional, Protocol, Sequence, TextIO

from . import wire
from .link import CaseFailed, CaseSkipped, Entry
from .peer import Peer

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
    run: Callable[[Any], None]   # takes the kit of its mode: ``Kit`` here, ``mirror.MirrorKit`` for the frontend


class Transcribed(Protocol):
    """A connection whose exchange ``--verbose`` dumps: its name, its entries, which way is which."""

    name: str
    transcript: list[Entry]

    @property
    def legend(self) -> str: ...


class CaseKit(Protocol):
    """What a case is handed, as the runner sees it: notes to report, connections to dump, a close."""

    notes: list[str]

    def connections(self) -> Sequence[Transcribed]: ...

    def close(self) -> None: ...


class Target(Protocol):
    """What the cases run against: the backend (``Runner``) or the frontend (``mirror.FrontendRunner``)."""

    def start(self) -> None:
        """Before the first case (start the process under test, if the kit runs it)."""

    def new_kit(self) -> CaseKit:
        """The kit of one case."""

    def after_case(self, result: "Result") -> None:
        """After a case (and its kit's close): may turn the result into a FAIL."""

    def summary(self) -> str:
        """A line for ``--verbose`` after the last case, or ""."""


class Child:
    """A process the kit starts from a command line, logs to a file, and always stops."""

    def __init__(self, argv: list[str], log_path: str, what: str) -> None:
        if not argv:
            raise ValueError(f"the {what} command is empty")
        self.argv = argv
        self.log_path = log_path
        self.what = what
        self.proc: Optional[subprocess.Popen[bytes]] = None
        self.starts = 0

    def spawn(self, argv: list[str], env: Optional[dict[str, str]] = None) -> None:
        with open(self.log_path, "ab") as log:
            log.write(f"--- tandem-conform: starting {shlex.join(argv)}\n".encode())
            log.flush()
            self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=env,
                                         start_new_session=True, preexec_fn=_end_with_parent)
        self.starts += 1

    def exit_status(self) -> Optional[int]:
        """The exit status once the process has ended, else None."""
        return None if self.proc is None else self.proc.poll()

    def wait_exit(self, timeout: float) -> Optional[int]:
        """The exit status, waiting at most ``timeout`` seconds for it; None if the process still runs."""
        if self.proc is None:
            return None
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

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

    def log_lines(self, count: int = 8) -> str:
        """The last lines of its output, indented for the report."""
        tail = self.log_tail().strip().splitlines()[-count:]
        return "".join(f"\n        | {line}" for line in tail)


def describe_exit(status: int) -> str:
    """An exit status as the report says it (a negative one is the signal that ended the process)."""
    if status < 0:
        try:
            return f"was killed by {signal.Signals(-status).name}"
        except ValueError:
            return f"was killed by signal {-status}"
    return f"exited with status {status}"


class Backend(Child):
    """The backend's process, started by the kit from a command line (``{socket}`` is replaced)."""

    def __init__(self, command: str, socket_path: str, log_path: str) -> None:
        super().__init__([arg.replace("{socket}", socket_path) for arg in shlex.split(command)], log_path,
                         "backend")
        self.socket_path = socket_path

    def start(self) -> None:
        self.spawn(self.argv, dict(os.environ, TANDEM_BACKEND_SOCKET=self.socket_path))


def _end_with_parent() -> None:
    """In the child process before it runs: SIGTERM when the kit dies, even by SIGKILL (Linux only)."""
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

    def start(self) -> None:
        if self.backend is not None:
            self.backend.start()

    def new_kit(self) -> "Kit":
        return Kit(self)

    def after_case(self, result: "Result") -> None:
        pass

    def summary(self) -> str:
        return f"(the backend was started again {self.restarts} times)" if self.restarts else ""

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
        return f"the backend, started again, {what} (last lines of its output:){self.backend.log_lines()}"


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

    def connections(self) -> list[Peer]:
        return self.peers

    def close(self) -> None:
        for peer in self.peers:
            peer.close()


@dataclass
class Result:
    case: Case
    status: str      # PASS, FAIL or SKIP
    reason: str = ""
    notes: list[str] = field(default_factory=list)
    connections: Sequence[Transcribed] = field(default_factory=list)


def run_case(target: Target, case: Case) -> Result:
    kit = target.new_kit()
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
    result.connections = kit.connections()
    target.after_case(result)
    return result


def report(result: Result, verbose: int, out: TextIO) -> None:
    case = result.case
    out.write(f"{case.id:<5} {result.status}  {case.title}  [{case.section}]\n")
    if result.reason:
        out.write("".join(f"      {line}\n" for line in result.reason.splitlines()))
    for note in result.notes:
        out.write(f"      note: {note}\n")
    if verbose >= 2 or (verbose and result.status == "FAIL"):
        for conn in result.connections:
            out.write(dump(conn))
    out.flush()


def dump(conn: Transcribed) -> str:
    """The frames (or bytes) exchanged on one connection, with hex dumps (the middle of a long one elided)."""
    entries = conn.transcript
    lines = [f"    {conn.name}: {len(entries)} frames and events ({conn.legend})"]
    shown: list[tuple[int, Optional[Entry]]] = list(enumerate(entries))
    if len(entries) > DUMP_HEAD + DUMP_TAIL:
        shown = shown[:DUMP_HEAD] + [(-1, None)] + shown[-DUMP_TAIL:]
    for index, entry in shown:
        if entry is None:
            lines.append(f"      ... {len(entries) - DUMP_HEAD - DUMP_TAIL} more ...")
            continue
        size = f" ({len(entry.data)} bytes)" if entry.data else ""
        lines.append(f"    {entry.direction} {entry.label}{size}")
        if entry.data:
            lines.append(wire.hexdump(entry.data))
    return "\n".join(lines) + "\n"


def run(target: Target, cases: list[Case], verbose: int = 0, out: TextIO = sys.stdout) -> int:
    """Run the cases in order, report each, and return the exit status (0 only if none failed)."""
    counts = {"PASS": 0, "FAIL": 0, "SKIP": 0}
    target.start()
    for case in cases:
        result = run_case(target, case)
        counts[result.status] += 1
        report(result, verbose, out)
    summary = target.summary()
    if summary and verbose:
        out.write(summary + "\n")
    skipped = f", {counts['SKIP']} skipped" if counts["SKIP"] else ""
    out.write(f"{counts['PASS']} passed, {counts['FAIL']} failed{skipped}\n")
    out.flush()
    return 0 if counts["FAIL"] == 0 else 1
