"""Backends run as child processes of this one: ``--reload``, and ``--workers`` with ``--serve``.

With ``--connect``, the ``--workers`` parent (``arbiter.py``) runs the
backends; ``--reload`` adds a ``SourceWatcher`` (``watch.py``) that sends this
process SIGHUP when the application's source changes, and the parent's reload
does the rest: a new generation of fresh interpreters imports the code now on
disk, the frontend moves new requests to it as soon as one attaches and tells
the old one to drain, so requests in flight during the edit still get their
answer.  A new generation that cannot start (a syntax error in the file just
saved) is given up and its traceback printed; the old one keeps serving until
the next save.

With ``--serve``, this process first starts the frontend (as ``devserver.py``
does: a private socket, SIGTERM when this process ends however it ends), then
runs the same parent with the workers connecting to the private socket; the
frontend is the parent's companion, so its death stops everything with status 1.

Calls ``arbiter``, ``devserver`` (the frontend's command line and lifeline)
and ``watch``.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import subprocess
import tempfile
from typing import Optional, Sequence

from .arbiter import run_workers
from .devserver import dies_with_us, frontend_command, frontend_stop_timeout
from .watch import SourceWatcher, WatchUnavailable

logger = logging.getLogger("tandem.supervisor")

# What the workers of a --serve parent do not get: they connect to its private socket.
SERVE_FLAGS = ("--serve", "--static", "--frontend", "--connect", "--access-log", "--access-log-format",
               "--metrics-listen", "--forwarded-allow-ips")


def supervise(argv: Sequence[str], workers: int, generation: int, reload_root: Optional[str],
              frontend: Optional[str] = None, listen: Optional[tuple[str, int]] = None,
              static: Sequence[tuple[str, str]] = (), frontend_args: Sequence[str] = ()) -> int:
    """Runs ``workers`` backends (``--serve``: with the frontend given), reloading them on source
    changes under ``reload_root`` if it is not None.  Returns the exit status."""
    watcher = None
    if reload_root is not None:
        try:
            watcher = SourceWatcher(reload_root, _reload_on_change)
        except WatchUnavailable as exc:
            logger.error("%s", exc)
            return 2
        watcher.start()
        logger.info("--reload: watching %s for changes of .py files and templates", watcher.root)
    try:
        if frontend is None or listen is None:
            return run_workers(argv, workers, generation)
        return _with_frontend(argv, workers, generation, frontend, listen, static, frontend_args)
    finally:
        if watcher is not None:
            watcher.stop()


def _reload_on_change(paths: list[str]) -> None:
    shown = ", ".join(os.path.relpath(p) for p in paths[:3]) + (f" and {len(paths) - 3} more" if len(paths) > 3
                                                                else "")
    logger.info("%s changed: reloading", shown)
    os.kill(os.getpid(), signal.SIGHUP)


def _with_frontend(argv: Sequence[str], workers: int, generation: int, frontend: str, listen: tuple[str, int],
                   static: Sequence[tuple[str, str]], frontend_args: Sequence[str] = ()) -> int:
    tmpdir = tempfile.mkdtemp(prefix="tandem-")
    os.chmod(tmpdir, 0o700)
    socket_path = os.path.join(tmpdir, "backend.sock")
    cmd = frontend_command(frontend, listen, socket_path, static, frontend_args)
    logger.info("starting the frontend: %s", " ".join(cmd))
    try:
        proc = subprocess.Popen(cmd, preexec_fn=dies_with_us())
    except OSError as exc:
        logger.error("cannot start the frontend %s: %s", frontend, exc)
        shutil.rmtree(tmpdir, ignore_errors=True)
        return 1
    try:
        return run_workers(argv, workers, generation, drop=SERVE_FLAGS, add=["--connect", socket_path],
                           companion=proc)
    finally:
        _stop(proc, frontend_stop_timeout(frontend_args))
        shutil.rmtree(tmpdir, ignore_errors=True)


def _stop(proc: subprocess.Popen, timeout: float) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            logger.warning("the frontend did not exit %gs after SIGTERM; killing it", timeout)
            proc.kill()
            proc.wait()
