"""``--workers N``: a small parent process that keeps N backend processes running.

Modelled on gunicorn's arbiter.  The parent imports no application and serves
nothing.  It starts N workers, each a fresh interpreter running ``python3 -m
tandem`` with the parent's own arguments plus ``--generation G`` (one G for the
N of them, so the frontend takes them as one deployment), and then:

* **A worker that dies** (killed, or exited without being told to) is started
  again in its place after a delay that doubles with each failure of that
  place in a row (BACKOFF_INITIAL up to BACKOFF_MAX; a worker that served for
  STABLE_AFTER seconds clears the count).  Until a generation has attached,
  its failed places wait: they are started again once one of its workers has
  attached, so a generation that is given up has no worker left starting.
* **A generation that cannot start** is given up: when each of its places has
  had a worker exit before attaching to the frontend (an import error, a failed
  lifespan startup) and none has attached, or, for a generation that had been
  serving, when no worker serves and each place failed MAX_START_FAILURES
  times in a row.  Given up at startup, the parent stops and exits 1; given up
  after SIGHUP, the old generation keeps serving.
* **SIGHUP** starts a new set of N workers with a newer generation (the time in
  milliseconds).  The frontend tells the old generation to drain the moment
  the first new worker attaches (GOAWAY(SUPERSEDED), PROTOCOL.md); the old
  workers finish their requests and exit 0 by themselves, and the parent only
  reaps them.  Until then the old generation serves; if the new one cannot
  start, it goes on serving and the failure is logged.
* **SIGTERM, SIGINT or SIGQUIT** is passed on to every worker as SIGTERM: they drain
  (GOAWAY, finish their requests, lifespan shutdown) and exit, and the parent
  exits 0 when all have.  A second signal is passed on too and stops them at once.
* **A worker superseded by a newer generation from elsewhere** (a deployment
  that started other backends) is not replaced: once none is left, the parent
  exits 0.
* **A companion process** (the frontend ``--serve`` started, ``supervisor.py``)
  that exits while the parent is not stopping stops everything with status 1.

Workers run in their own process groups, so a Ctrl-C in the terminal reaches
the parent alone, which passes it on once.  Each worker holds one end of a
socketpair (``--worker-fd``, see ``reload.py``): it writes ``R`` once attached
and ``S`` as it exits if it was superseded; when the parent dies, its end
closes and the workers drain and exit.

The loop waits with a selector on the signal wakeup pipe (signal numbers, from
``signal.set_wakeup_fd``) and the workers' sockets, with a timeout for the
next restart: no threads and no asyncio.

Calls ``reload`` (a worker's command line and its messages) and ``devserver``
(``describe_exit``); it never imports the application, the server or the codec.
"""

from __future__ import annotations

import logging
import os
import selectors
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from typing import Callable, Optional, Sequence

from .devserver import describe_exit
from .reload import READY, SUPERSEDED, child_command, next_generation

logger = logging.getLogger("tandem.arbiter")

BACKOFF_INITIAL = 0.1    # seconds before the first restart of a place
BACKOFF_MAX = 10.0       # the longest wait between two restarts
STABLE_AFTER = 10.0      # a worker that served this long clears its place's failure count
MAX_START_FAILURES = 5   # failures to come back, per place, before a serving generation is given up
TICK = 1.0               # the longest the loop sleeps without looking at the workers

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT)   # SIGQUIT: nginx's graceful stop
HANDLED_SIGNALS = (*STOP_SIGNALS, signal.SIGHUP, signal.SIGCHLD)

# (generation, fd) -> the command of a worker that gets --generation and --worker-fd.
Command = Callable[[int, int], list[str]]


@dataclass
class Generation:
    number: int
    size: int
    failures: list[int] = field(default_factory=list)        # per place: failures in a row
    start_failures: list[int] = field(default_factory=list)  # per place: exits before attaching, in a row
    restart_at: dict[int, float] = field(default_factory=dict)  # place -> when to start it again
    attached: bool = False     # a worker of it has attached
    superseded: bool = False   # a newer generation took over
    given_up: bool = False
    last_failure: str = ""

    def __post_init__(self) -> None:
        self.failures = [0] * self.size
        self.start_failures = [0] * self.size


@dataclass
class Worker:
    place: int
    generation: Generation
    popen: "subprocess.Popen[bytes]"
    link: Optional[socket.socket]
    attached_at: Optional[float] = None
    superseded: bool = False

    @property
    def pid(self) -> int:
        return self.popen.pid


def backoff(failures: int) -> float:
    return float(min(BACKOFF_INITIAL * 2 ** max(failures - 1, 0), BACKOFF_MAX))


class Arbiter:
    def __init__(self, command: Command, size: int, generation: int,
                 clock: Callable[[], float] = time.monotonic, companion: Optional[subprocess.Popen] = None) -> None:
        self.command = command
        self.companion = companion
        self.size = size
        self.clock = clock
        self.current = Generation(generation, size)
        self.pending: Optional[Generation] = None   # started by SIGHUP, not attached yet
        self.workers: dict[int, Worker] = {}        # by pid, every generation
        self.stopping = False
        self.stop_code = 0
        self.exit_code: Optional[int] = None
        self.selector = selectors.DefaultSelector()
        self._wakeup: Optional[tuple[int, int]] = None
        self._old_handlers: dict[int, object] = {}

    # --- the loop ---------------------------------------------------------------

    def run(self) -> int:
        self._install_signals()
        try:
            logger.info("starting %s of generation %d", _workers(self.size), self.current.number)
            self._spawn_all(self.current)
            while self.exit_code is None:
                self._step()
            return self.exit_code
        finally:
            self._restore_signals()
            for worker in self.workers.values():
                self._close_link(worker)
            self.selector.close()

    def _step(self) -> None:
        timeout = TICK
        if not self.stopping:
            for gen in self._generations():
                for when in gen.restart_at.values():
                    timeout = min(timeout, max(0.0, when - self.clock()))
        signals: list[int] = []
        for key, _ in self.selector.select(timeout):
            if key.data is None:
                signals += self._read_signals()
            else:
                self._read_link(key.data)
        for sig in signals:
            self._on_signal(sig)
        self._reap()
        self._watch_companion()
        self._restart_due()
        self._check_done()

    def _generations(self) -> list[Generation]:
        return [self.current] + ([self.pending] if self.pending is not None else [])

    # --- signals ----------------------------------------------------------------

    def _install_signals(self) -> None:
        read_end, write_end = os.pipe()
        os.set_blocking(read_end, False)
        os.set_blocking(write_end, False)
        self._wakeup = (read_end, write_end)
        self.selector.register(read_end, selectors.EVENT_READ, None)
        for sig in HANDLED_SIGNALS:
            # The handler does nothing: the signal number reaches the loop
            # through the wakeup pipe, in order, without a race.
            self._old_handlers[sig] = signal.signal(sig, _ignore)
        signal.set_wakeup_fd(write_end, warn_on_full_buffer=False)

    def _restore_signals(self) -> None:
        if self._wakeup is None:
            return
        signal.set_wakeup_fd(-1)
        for sig, handler in self._old_handlers.items():
            signal.signal(sig, handler)  # type: ignore[arg-type]
        for fd in self._wakeup:
            os.close(fd)
        self._wakeup = None

    def _read_signals(self) -> list[int]:
        assert self._wakeup is not None
        try:
            return list(os.read(self._wakeup[0], 256))
        except BlockingIOError:
            return []

    def _on_signal(self, sig: int) -> None:
        if sig == signal.SIGHUP:
            self.reload()
        elif sig in STOP_SIGNALS:
            logger.info("received %s", signal.Signals(sig).name)
            self.stop(0)

    # --- starting and stopping workers --------------------------------------------

    def _spawn_all(self, gen: Generation) -> None:
        for place in range(self.size):
            if gen.given_up or self.stopping:
                return
            self._spawn(gen, place)

    def _spawn(self, gen: Generation, place: int) -> None:
        ours, theirs = socket.socketpair()
        cmd = self.command(gen.number, theirs.fileno())
        try:
            popen = subprocess.Popen(cmd, pass_fds=(theirs.fileno(),), process_group=0, stdin=subprocess.DEVNULL)
        except OSError as exc:
            ours.close()
            self._failed(gen, place, f"worker {place + 1} of generation {gen.number} could not be started "
                                     f"({cmd[0]}: {exc})", attached=False)
            return
        finally:
            theirs.close()
        ours.setblocking(False)
        worker = Worker(place, gen, popen, ours)
        self.workers[popen.pid] = worker
        self.selector.register(ours, selectors.EVENT_READ, worker)
        logger.info("worker %d of generation %d: started pid %d", place + 1, gen.number, popen.pid)

    def _signal(self, worker: Worker, sig: int) -> None:
        try:
            worker.popen.send_signal(sig)
        except ProcessLookupError:
            pass

    def reload(self) -> None:
        """SIGHUP: start a new generation; the frontend retires the old one once it attaches."""
        if self.stopping:
            logger.info("SIGHUP: stopping; no reload")
            return
        if self.pending is not None:
            pids = [w.pid for w in self.workers.values() if w.generation is self.pending]
            logger.warning("SIGHUP: a reload is in progress (generation %d, pids %s, has not attached yet); "
                           "ignored", self.pending.number, _pids(pids))
            return
        gen = Generation(next_generation(self.current.number), self.size)
        self.pending = gen
        logger.info("reloading: starting %s of generation %d (fresh interpreters import the "
                    "application anew); generation %d serves until one of them attaches",
                    _workers(self.size), gen.number, self.current.number)
        self._spawn_all(gen)

    def stop(self, code: int) -> None:
        """SIGTERM every worker (a second call: again, which stops them at once); exit when all are gone."""
        if self.stopping:
            logger.warning("stopping at once: a second SIGTERM to %d worker(s)", len(self.workers))
        else:
            self.stopping = True
            self.stop_code = code
            logger.info("stopping %d worker(s): each finishes its requests, then exits", len(self.workers))
            self.pending = None
            self.current.restart_at.clear()
        for worker in list(self.workers.values()):
            self._signal(worker, signal.SIGTERM)

    # --- what workers tell us ---------------------------------------------------------

    def _read_link(self, worker: Worker) -> None:
        link = worker.link
        if link is None:
            return
        while True:
            try:
                data = link.recv(64)
            except BlockingIOError:
                return
            except OSError:
                data = b""
            if not data:
                self._close_link(worker)
                return
            if READY in data:
                self._on_attached(worker)
            if SUPERSEDED in data:
                worker.superseded = True

    def _close_link(self, worker: Worker) -> None:
        link, worker.link = worker.link, None
        if link is not None:
            try:
                self.selector.unregister(link)
            except (KeyError, ValueError):
                pass
            link.close()

    def _on_attached(self, worker: Worker) -> None:
        gen = worker.generation
        worker.attached_at = now = self.clock()
        gen.start_failures[worker.place] = 0
        logger.info("worker %d of generation %d (pid %d) has attached", worker.place + 1, gen.number, worker.pid)
        if not gen.attached and not gen.given_up and not self.stopping:
            gen.attached = True
            # Places that failed while the generation had not attached start again now.
            busy = {w.place for w in self.workers.values() if w.generation is gen}
            for place in range(self.size):
                if place not in busy and place not in gen.restart_at:
                    gen.restart_at[place] = now + backoff(gen.failures[place])
        if gen is not self.pending:
            return
        old = self.current
        old_pids = [w.pid for w in self.workers.values() if w.generation is old]
        logger.info("reload: generation %d is serving; the frontend drains generation %d (pids %s), which "
                    "finishes its requests and exits", gen.number, old.number, _pids(old_pids))
        self.current, self.pending = gen, None
        old.superseded = True
        old.restart_at.clear()
        for other in list(self.workers.values()):
            # An old worker that has not attached serves nothing: stop it now.
            if other.generation is old and other.attached_at is None:
                self._signal(other, signal.SIGTERM)

    # --- workers that exit ------------------------------------------------------------

    def _reap(self) -> None:
        for pid, worker in list(self.workers.items()):
            code = worker.popen.poll()
            if code is None:
                continue
            self._read_link(worker)  # what it wrote before exiting
            self._close_link(worker)
            del self.workers[pid]
            self._on_exit(worker, code)

    def _watch_companion(self) -> None:
        if self.companion is None or self.stopping:
            return
        code = self.companion.poll()
        if code is not None:
            logger.error("the frontend (pid %d) %s; stopping", self.companion.pid, describe_exit(code))
            self.stop(1)

    def _on_exit(self, worker: Worker, code: int) -> None:
        gen = worker.generation
        what = f"worker {worker.place + 1} of generation {gen.number} (pid {worker.pid}) {describe_exit(code)}"
        if self.stopping:
            (logger.info if code == 0 else logger.warning)("%s", what)
            return
        if gen is not self.current and gen is not self.pending:
            (logger.info if code == 0 else logger.warning)(
                "%s (its generation %s)", what, "was given up" if gen.given_up else "has been replaced")
            return
        if worker.superseded:
            logger.info("%s: superseded by a newer generation", what)
            gen.superseded = True
            gen.restart_at.clear()
            return
        if gen.superseded:
            logger.info("%s (its generation was superseded)", what)
            return
        if worker.attached_at is None:
            what += " before attaching to the frontend"
        elif self.clock() - worker.attached_at >= STABLE_AFTER:
            gen.failures[worker.place] = 0
        self._failed(gen, worker.place, what, attached=worker.attached_at is not None)

    def _failed(self, gen: Generation, place: int, what: str, attached: bool) -> None:
        """A worker of a served or pending generation is gone without being told: start another, or give up."""
        if not attached:
            gen.start_failures[place] += 1
        gen.failures[place] += 1
        gen.last_failure = what
        if self._cannot_start(gen):
            self._give_up(gen)
            return
        if not gen.attached:
            logger.warning("%s; its place starts again once a worker of generation %d has attached", what,
                           gen.number)
            return
        delay = backoff(gen.failures[place])
        logger.warning("%s; starting another in %.1fs", what, delay)
        gen.restart_at[place] = self.clock() + delay

    def _cannot_start(self, gen: Generation) -> bool:
        serving = any(w.generation is gen and w.attached_at is not None for w in self.workers.values())
        if serving:
            return False
        limit = MAX_START_FAILURES if gen.attached else 1
        return all(n >= limit for n in gen.start_failures)

    def _give_up(self, gen: Generation) -> None:
        gen.given_up = True
        gen.restart_at.clear()
        for worker in list(self.workers.values()):
            if worker.generation is gen:
                self._signal(worker, signal.SIGTERM)
        if gen is self.pending:
            self.pending = None
            if not self.current.given_up:
                logger.error("reload failed: generation %d cannot start: every worker exited before attaching "
                             "to the frontend (last: %s; its error is logged above); generation %d keeps "
                             "serving", gen.number, gen.last_failure, self.current.number)
                return
            logger.error("reload failed: generation %d cannot start either (last: %s); stopping", gen.number,
                         gen.last_failure)
            self.stop(1)
            return
        if self.pending is not None:
            logger.error("generation %d cannot start workers any more (last: %s); waiting for generation %d",
                         gen.number, gen.last_failure, self.pending.number)
            return
        if gen.attached:
            logger.error("generation %d cannot start workers any more: each place failed %d times in a row "
                         "(last: %s); stopping", gen.number, MAX_START_FAILURES, gen.last_failure)
        else:
            logger.error("generation %d cannot start: every worker exited before attaching to the frontend "
                         "(last: %s; its error is logged above); stopping", gen.number, gen.last_failure)
        self.stop(1)

    def _restart_due(self) -> None:
        if self.stopping:
            return
        now = self.clock()
        for gen in self._generations():
            for place, when in list(gen.restart_at.items()):
                if when <= now:
                    del gen.restart_at[place]
                    self._spawn(gen, place)

    def _check_done(self) -> None:
        if self.stopping:
            if not self.workers:
                logger.info("all workers have exited")
                self.exit_code = self.stop_code
            return
        if self.pending is None and self.current.superseded and not self.workers:
            logger.info("generation %d was superseded by a newer one and its workers have exited; exiting",
                        self.current.number)
            self.exit_code = 0


def _ignore(signum: int, frame: object) -> None:
    pass


def _workers(n: int) -> str:
    return f"{n} worker" if n == 1 else f"{n} workers"


def _pids(pids: Sequence[int]) -> str:
    return ", ".join(str(p) for p in pids) or "none"


def run_workers(argv: Sequence[str], workers: int, generation: int, drop: Sequence[str] = (),
                add: Sequence[str] = (), companion: Optional[subprocess.Popen] = None) -> int:
    """The ``--workers`` parent: run ``workers`` copies of ``python3 -m tandem argv`` until stopped
    (``drop`` and ``add``: flags the workers get without, and with: ``reload.child_command``)."""

    def command(gen: int, fd: int) -> list[str]:
        return child_command(argv, gen, "--worker-fd", fd, drop, add)

    return Arbiter(command, workers, generation, companion=companion).run()
