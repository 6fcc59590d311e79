"""A stand-in for ``python3 -m tandem`` as the --workers parent starts it.

    fake_worker_bin.py MODE --generation G --worker-fd FD

It speaks the worker's side of the line (``reload.py``) and appends what
happens to it, one ``PID GENERATION EVENT`` line each, to $FAKE_WORKER_REPORT.

MODE: ``serve`` (attach, then wait), ``fail`` (exit 1 before attaching, as an
import error does), ``hang`` (never attach), ``late`` (attach on SIGUSR2),
``crash`` (attach, then exit 1).
While waiting: SIGTERM exits 0 (``term``); SIGUSR1 plays the frontend's
GOAWAY(SUPERSEDED): it writes ``S`` and exits 0 (``superseded``); the parent's
end closing exits 0 (``orphaned``).
"""

from __future__ import annotations

import os
import select
import signal
import sys
import time


def main() -> None:
    mode = sys.argv[1]
    generation = sys.argv[sys.argv.index("--generation") + 1]
    fd = int(sys.argv[sys.argv.index("--worker-fd") + 1])

    def note(event: str) -> None:
        with open(os.environ["FAKE_WORKER_REPORT"], "a") as f:
            f.write(f"{os.getpid()} {generation} {event}\n")

    def on_term(signum: int, frame: object) -> None:
        note("term")
        sys.exit(0)

    def on_usr1(signum: int, frame: object) -> None:
        os.write(fd, b"S")
        note("superseded")
        sys.exit(0)

    def on_usr2(signum: int, frame: object) -> None:
        os.write(fd, b"R")
        note("attached")

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGUSR1, on_usr1)
    signal.signal(signal.SIGUSR2, on_usr2)
    note("started")
    if mode == "fail":
        note("failed")
        sys.exit(1)
    if mode not in ("hang", "late"):
        os.write(fd, b"R")
        note("attached")
    if mode == "crash":
        time.sleep(0.05)
        note("crashed")
        sys.exit(1)
    deadline = time.monotonic() + 60  # a failure guard: never needed for a test to pass
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.5)
        if ready and not os.read(fd, 64):
            note("orphaned")
            sys.exit(0)
    note("guard")
    sys.exit(9)


if __name__ == "__main__":
    main()
