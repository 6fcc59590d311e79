"""Reloading in place, and the line from a backend to the process that started it.

**SIGHUP to a single backend** (one started without ``--workers``): ``Reloader``
starts a fresh copy of this process, detached (its own session; the same
stdout and stderr, working directory, environment and arguments, with a newer
``--generation``), and goes on serving.  A fresh interpreter imports the
application anew, so the copy runs the code now on disk.  When the copy has
attached, the frontend tells this process to drain (GOAWAY(SUPERSEDED)): it
finishes its open requests and exits 0, and the copy serves on.  If the copy
exits before attaching (an import error, a failed lifespan startup), nothing
changes for the frontend: this process keeps serving and logs the failure.

**The line to the parent.** A process started by another tandem process is
given one end of a pipe or socket, and writes single bytes to it:

* ``--ready-fd FD`` (a reload copy): ``R`` once it has attached, then closes it.
  End of file without ``R`` tells the parent that the copy failed.
* ``--worker-fd FD`` (a worker of ``--workers``, ``arbiter.py``): ``R`` once it has
  attached, ``S`` as it exits if it was superseded.  End of file on its side
  means the parent is gone: the worker drains and exits.  A worker ignores
  SIGHUP; the parent reloads the whole set.

Both flags are internal (not in ``--help``).

Calls ``devserver`` (``describe_exit``), and ``server`` for types only.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Mapping, Optional, Sequence

if TYPE_CHECKING:
    from .server import Server

logger = logging.getLogger("tandem.reload")

READY = b"R"
SUPERSEDED = b"S"

# Flags whose value a child gets anew from its parent.
CHILD_FLAGS = ("--workers", "--generation", "--worker-fd", "--ready-fd")

# After the ready pipe's end of file, how long a failed copy gets to be reapable.
REAP_POLL = 0.05
REAP_TRIES = 100


def next_generation(previous: int) -> int:
    """A generation for a reload: the time in milliseconds, and always above ``previous``."""
    return max(int(time.time() * 1000), previous + 1)


def child_command(argv: Sequence[str], generation: int, fd_flag: str, fd: int, drop: Sequence[str] = (),
                  add: Sequence[str] = ()) -> list[str]:
    """``python3 -m tandem`` with ``argv`` minus the CHILD_FLAGS (and ``--reload``, and the
    flags in ``drop``), plus ``add``, ``--generation`` and ``fd_flag``.

    Only the exact spellings (``--flag V`` and ``--flag=V``) are removed; the
    values appended at the end win anyway (for argparse the last one counts),
    so an abbreviation left in place changes nothing.
    """
    kept = without_flags(argv, (*CHILD_FLAGS, *drop), bare=("--reload",))
    new = [*add, "--generation", str(generation), fd_flag, str(fd)]
    if "--" in kept:
        # After "--" everything is positional: the new flags go before it.
        cut = kept.index("--")
        kept[cut:cut] = new
        return [sys.executable, "-m", "tandem", *kept]
    return [sys.executable, "-m", "tandem", *kept, *new]


def without_flags(argv: Sequence[str], flags: Sequence[str], bare: Sequence[str] = ()) -> list[str]:
    """``argv`` without the ``flags`` (each with its value) and the ``bare`` flags (which take none)."""
    kept: list[str] = []
    skip = False
    rest = False
    for arg in argv:
        if skip:
            skip = False
            continue
        if rest:
            kept.append(arg)
            continue
        if arg == "--":
            rest = True
            kept.append(arg)
            continue
        name = arg.partition("=")[0]
        if name in bare:
            continue
        if name in flags:
            skip = "=" not in arg
            continue
        kept.append(arg)
    return kept


class ParentLink:
    """This process's end of the line to its parent (``--worker-fd`` or ``--ready-fd``)."""

    def __init__(self, fd: int, worker: bool) -> None:
        os.fstat(fd)  # raises OSError if the parent did not pass it
        self.fd: Optional[int] = fd
        self.worker = worker
        self.told_ready = False

    def _write(self, data: bytes) -> None:
        if self.fd is None:
            return
        try:
            os.write(self.fd, data)
        except OSError:
            pass  # the parent is gone; a worker finds out through watch()

    def attached(self) -> None:
        """Server.on_attached: tell the parent once."""
        if self.told_ready:
            return
        self.told_ready = True
        self._write(READY)
        if not self.worker:
            self.close()

    def watch(self, loop: asyncio.AbstractEventLoop, on_gone: Callable[[], None]) -> None:
        """Call ``on_gone`` when the parent's end closes (it exited or was killed)."""
        if self.fd is None:
            return
        fd: int = self.fd
        os.set_blocking(fd, False)

        def readable() -> None:
            try:
                data = os.read(fd, 64)
            except BlockingIOError:
                return
            except OSError:
                data = b""
            if not data:
                loop.remove_reader(fd)
                on_gone()

        loop.add_reader(fd, readable)

    def exiting(self, superseded: bool) -> None:
        if self.worker and superseded:
            self._write(SUPERSEDED)
        self.close()

    def close(self) -> None:
        fd, self.fd = self.fd, None
        if fd is not None:
            try:
                asyncio.get_running_loop().remove_reader(fd)
            except RuntimeError:
                pass
            os.close(fd)


@dataclass
class _Copy:
    popen: "subprocess.Popen[bytes]"
    generation: int
    pipe: Optional[int]  # read end of its --ready-fd


class Reloader:
    """SIGHUP for a single backend: start a fresh copy with a newer generation (see the module doc)."""

    def __init__(self, server: "Server", argv: Sequence[str], cwd: str, env: Mapping[str, str],
                 loop: asyncio.AbstractEventLoop) -> None:
        self.server = server
        self.argv = list(argv)
        self.cwd = cwd
        self.env = dict(env)
        self.loop = loop
        self.pending: Optional[_Copy] = None
        self.handed_over: Optional[_Copy] = None

    def on_sighup(self) -> None:
        server = self.server
        generation = server.config.generation
        if server.stopping:
            logger.info("SIGHUP: stopping already; no reload")
            return
        if server.superseded or (server.channel is not None and server.channel.superseded):
            logger.info("SIGHUP: a newer generation has already taken over; no reload")
            return
        if self.handed_over is not None:
            logger.info("SIGHUP: already handed over to pid %d (generation %d); send SIGHUP to it",
                        self.handed_over.popen.pid, self.handed_over.generation)
            return
        if self.pending is not None:
            logger.warning("SIGHUP: a reload is in progress (pid %d, generation %d has not attached yet); ignored",
                           self.pending.popen.pid, self.pending.generation)
            return
        new = next_generation(generation)
        read_end, write_end = os.pipe()
        cmd = child_command(self.argv, new, "--ready-fd", write_end)
        try:
            popen = subprocess.Popen(cmd, pass_fds=(write_end,), start_new_session=True,
                                     stdin=subprocess.DEVNULL, cwd=self.cwd, env=self.env)
        except OSError as exc:
            os.close(read_end)
            logger.error("reload failed: cannot start %s: %s; this process keeps serving generation %d",
                         cmd[0], exc, generation)
            return
        finally:
            os.close(write_end)
        copy = _Copy(popen, new, read_end)
        self.pending = copy
        os.set_blocking(read_end, False)
        self.loop.add_reader(read_end, self._on_pipe, copy)
        logger.info("SIGHUP: reloading: started pid %d with generation %d (a fresh interpreter imports the "
                    "application anew); this process (generation %d) serves until it has attached",
                    popen.pid, new, generation)

    def _on_pipe(self, copy: _Copy) -> None:
        assert copy.pipe is not None
        try:
            data = os.read(copy.pipe, 64)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if READY in data:
            self._close_pipe(copy)
            self.pending = None
            self.handed_over = copy
            logger.info("reload: pid %d (generation %d) has attached to the frontend; this process "
                        "(generation %d) finishes its requests and exits", copy.popen.pid, copy.generation,
                        self.server.config.generation)
            return
        if data:
            return
        # End of file without READY: the copy exited (or gave up) before attaching.
        self._close_pipe(copy)
        self._report_failure(copy, 0)

    def _report_failure(self, copy: _Copy, tries: int) -> None:
        code = copy.popen.poll()
        if code is None and tries < REAP_TRIES:
            self.loop.call_later(REAP_POLL, self._report_failure, copy, tries + 1)
            return
        from .devserver import describe_exit

        how = describe_exit(code) if code is not None else "closed its ready pipe"
        if self.pending is copy:
            self.pending = None
        logger.error("reload failed: the new process (pid %d, generation %d) %s before attaching to the "
                     "frontend (its error is logged above); this process keeps serving generation %d",
                     copy.popen.pid, copy.generation, how, self.server.config.generation)

    def _close_pipe(self, copy: _Copy) -> None:
        if copy.pipe is not None:
            self.loop.remove_reader(copy.pipe)
            os.close(copy.pipe)
            copy.pipe = None

    def on_shutdown(self) -> None:
        """Server.on_shutdown: a copy that has not attached is stopped with us (it serves nothing yet)."""
        copy = self.pending
        if copy is None:
            return
        self.pending = None
        self._close_pipe(copy)
        logger.info("stopping the reload in progress too (pid %d, generation %d)", copy.popen.pid,
                    copy.generation)
        try:
            copy.popen.send_signal(signal.SIGTERM)
        except ProcessLookupError:
            pass

    def close(self) -> None:
        if self.pending is not None:
            self._close_pipe(self.pending)
