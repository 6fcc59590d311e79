"""``--serve HOST:PORT``: the frontend and the backend in one command.

Starts the C frontend as a child process on a private socket in a fresh
temporary directory (mode 0700), then runs the backend against it.  Ctrl-C
(SIGINT reaches the whole foreground process group) and SIGTERM both stop
cleanly: the backend drains, the frontend child gets SIGTERM if it is still
alive and is waited for, the directory is removed, and the exit status is 0.
If the frontend dies on its own, the backend stops with status 1 and says how
the frontend ended.  If this process ends any other way (``kill -9``, a
crash, a SIGHUP nobody handles), Linux sends the frontend SIGTERM
(``PR_SET_PDEATHSIG``, set in the child before it runs the frontend), so it
never stays behind holding the port.

Calls ``server`` (the backend it runs) and ``types``; ``lifespan`` for types
only.
"""

from __future__ import annotations

import asyncio
import ctypes
import logging
import os
import shutil
import signal
import tempfile
from typing import TYPE_CHECKING, Callable, Optional, Sequence

from .server import Server, ServerConfig
from .types import AppCallable

if TYPE_CHECKING:
    from .lifespan import Lifespan

logger = logging.getLogger("tandem.devserver")

FRONTEND_NAME = "tandem-frontend"
STOP_GRACE = 5.0  # seconds the frontend gets past its own --shutdown-timeout to exit after SIGTERM, before SIGKILL
# A frontend that exits within this long of a signal of ours is taken as
# stopped by the same Ctrl-C, not as a crash.
SIGNAL_GRACE = 0.5


PR_SET_PDEATHSIG = 1  # prctl(2)


class FrontendNotFound(Exception):
    pass


def dies_with_us() -> Optional[Callable[[], None]]:
    """A ``preexec_fn`` for the frontend's process: between fork and exec, it asks
    Linux for SIGTERM when this process ends, however it ends.  None where there
    is no prctl(2)."""
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    parent = os.getpid()

    def preexec() -> None:
        prctl(PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0)
        if os.getppid() != parent:
            os._exit(1)  # we ended before the request took: the signal will never come

    return preexec


def find_frontend(explicit: Optional[str] = None, package_file: str = __file__) -> str:
    """--frontend/TANDEM_FRONTEND, else build/tandem-frontend of this checkout, else the bin/
    of the prefix this package is installed in (``make install``, a venv), else PATH."""
    if explicit:
        if os.path.isfile(explicit) and os.access(explicit, os.X_OK):
            return os.path.abspath(explicit)
        found = shutil.which(explicit)
        if found:
            return found
        raise FrontendNotFound(f"frontend binary {explicit!r} not found or not executable; "
                               "build it with `make build`")
    tried = frontend_candidates(os.path.abspath(package_file))
    for candidate in tried:
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    found = shutil.which(FRONTEND_NAME)
    if found:
        return found
    where = f"build/{FRONTEND_NAME} in {os.path.dirname(os.path.abspath(package_file))} and the folders above it"
    installed = [c for c in tried if not c.endswith(os.path.join("build", FRONTEND_NAME))]
    raise FrontendNotFound(f"cannot find the {FRONTEND_NAME} binary (looked for {where}, "
                           + "".join(f"{c}, " for c in installed) + "and on PATH); build it with `make build`, "
                           "install it with `make install`, or pass --frontend PATH")


def frontend_candidates(package_file: str) -> list[str]:
    """Where the frontend may be, nearest first: build/ of the checkout this package is in
    (each folder up to the one holding .git), then PREFIX/bin for a package installed in
    PREFIX/lib/python3*/*-packages (``make install``, a venv)."""
    candidates = []
    directory = os.path.dirname(package_file)
    while True:
        candidates.append(os.path.join(directory, "build", FRONTEND_NAME))
        parent = os.path.dirname(directory)
        if os.path.isdir(os.path.join(directory, ".git")) or parent == directory:
            break
        directory = parent
    parts = os.path.dirname(os.path.dirname(package_file)).split(os.sep)  # .../lib/python3.11/dist-packages
    if len(parts) >= 3 and parts[-3] == "lib" and parts[-2].startswith("python3") and parts[-1].endswith("-packages"):
        candidates.append(os.path.join(os.sep.join(parts[:-3]) or os.sep, "bin", FRONTEND_NAME))
    return candidates


def frontend_command(frontend: str, listen: tuple[str, int], socket_path: str,
                     static: Sequence[tuple[str, str]], extra: Sequence[str] = ()) -> list[str]:
    """The frontend's command line; extra: its other flags (--access-log and the like), as given."""
    host, port = listen
    if ":" in host:
        host = f"[{host}]"
    cmd = [frontend, "--listen", f"{host}:{port}", "--backend-socket", socket_path]
    for prefix, directory in static:
        cmd += ["--static", f"{prefix}={os.path.abspath(directory)}"]
    return cmd + list(extra)


def frontend_stop_timeout(frontend_args: Sequence[str]) -> float:
    """How long a frontend started with these flags may take to stop after SIGTERM: its --shutdown-timeout
    (``python3 -m tandem --serve`` passes its own on), when it finishes its answers in flight, and a grace."""
    args = list(frontend_args)
    for i, arg in enumerate(args[:-1]):
        if arg == "--shutdown-timeout":
            return float(args[i + 1]) + STOP_GRACE
    return 30.0 + STOP_GRACE


def describe_exit(returncode: int) -> str:
    if returncode < 0:
        try:
            return f"was killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"was killed by signal {-returncode}"
    return f"exited with status {returncode}"


STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGQUIT, signal.SIGHUP)


async def serve_with_frontend(app: AppCallable, make_config: Callable[[str], ServerConfig], frontend: str,
                              listen: tuple[str, int], static: Sequence[tuple[str, str]],
                              lifespan: Optional["Lifespan"] = None, frontend_args: Sequence[str] = ()) -> int:
    loop = asyncio.get_running_loop()
    tmpdir = tempfile.mkdtemp(prefix="tandem-")
    os.chmod(tmpdir, 0o700)
    socket_path = os.path.join(tmpdir, "backend.sock")
    proc: Optional[asyncio.subprocess.Process] = None
    server = Server(app, make_config(socket_path), lifespan)
    signalled_at: list[float] = []

    def on_signal(sig: int) -> None:
        signalled_at.append(loop.time())
        # SIGHUP too (a closed terminal sends it): a clean stop rather than death by the default action,
        # which left the socket's folder behind.  Reloading is --reload's or --workers' (with --connect).
        logger.info("received %s; stopping%s", signal.Signals(sig).name,
                    " (--serve reloads with --reload or --workers)" if sig == signal.SIGHUP else "")
        server.shutdown()

    for sig in STOP_SIGNALS:
        loop.add_signal_handler(sig, on_signal, sig)
    try:
        cmd = frontend_command(frontend, listen, socket_path, static, frontend_args)
        logger.info("starting the frontend: %s", " ".join(cmd))
        try:
            proc = await asyncio.create_subprocess_exec(*cmd, preexec_fn=dies_with_us())
        except OSError as exc:
            logger.error("cannot start the frontend %s: %s", frontend, exc)
            return 1
        watcher = loop.create_task(_watch(proc, server, signalled_at, loop))
        try:
            code = await server.run()
        finally:
            watcher.cancel()
        return code
    finally:
        for sig in STOP_SIGNALS:
            loop.remove_signal_handler(sig)
        if proc is not None:
            await _stop(proc, frontend_stop_timeout(frontend_args))
        shutil.rmtree(tmpdir, ignore_errors=True)


async def _watch(proc: asyncio.subprocess.Process, server: Server, signalled_at: list[float],
                 loop: asyncio.AbstractEventLoop) -> None:
    returncode = await proc.wait()
    if server.stopping and server.exit_code is None:
        return  # we are stopping anyway: the frontend went with the same Ctrl-C
    # Ctrl-C reaches the frontend and us at once; give our own signal handler a
    # moment to run before calling the frontend's exit a crash.
    await asyncio.sleep(SIGNAL_GRACE)
    if signalled_at:
        return
    logger.error("the frontend %s; stopping", describe_exit(returncode))
    server.abort(1)


async def _stop(proc: asyncio.subprocess.Process, timeout: float) -> None:
    if proc.returncode is None:
        try:
            proc.send_signal(signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            await asyncio.wait_for(proc.wait(), timeout)
        except asyncio.TimeoutError:
            logger.warning("the frontend did not exit %gs after SIGTERM; killing it", timeout)
            proc.kill()
            await proc.wait()
    else:
        await proc.wait()
