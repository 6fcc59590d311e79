"""Runs an app against a frontend: connect, serve, reconnect, shut down.

``Server.run()`` connects to the frontend's Unix socket (retrying with
exponential backoff until it appears) and serves the connection through a
``Channel``.  When the frontend closes the connection, or drains it with
GOAWAY(NO_ERROR) (it does so when it shuts down or restarts, and when a
connection has used up its stream ids), the server connects again.  ``run()``
returns the process exit status: 0 after our own drain (SIGTERM/SIGINT), 1
after a connection error, a refusal, or a connect deadline that passed, 3
(``STARTUP_FAILURE``, as uvicorn) when the application's lifespan startup failed.

With a ``Lifespan`` (ASGI applications, ``lifespan.py``), ``run()`` first runs
the application's startup, and connects only if it succeeded; the shutdown
runs after the last connection has drained, before ``run()`` returns.

Two hooks serve the process that started this one (``reload.py``):
``on_attached`` is called each time the frontend has accepted our HELLO, and
``on_shutdown`` when a graceful stop begins; ``superseded`` is True once a
newer generation has taken over (``run()`` then returns 0).

Calls ``channel`` (one per connection) and ``connection`` (``HelloConfig``,
``Outcome``); ``lifespan`` for types only.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import signal
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, Optional

from . import protocol
from .channel import Channel
from .connection import HelloConfig, Outcome
from .types import AppCallable

if TYPE_CHECKING:
    from .lifespan import Lifespan

logger = logging.getLogger("tandem.server")

# Errors that mean "the frontend is not there yet": retried with backoff.
RETRY_ERRNOS = frozenset({errno.ENOENT, errno.ECONNREFUSED, errno.ECONNRESET, errno.EAGAIN})

# Exit status when the application's lifespan startup failed (uvicorn's too).
STARTUP_FAILURE = 3


def start_time_ms() -> int:
    return int(time.time() * 1000)


@dataclass
class ServerConfig:
    socket_path: str
    app_name: str
    generation: int = field(default_factory=start_time_ms)
    max_streams: int = protocol.DEFAULT_MAX_STREAMS
    max_frame_size: int = protocol.DEFAULT_MAX_FRAME
    initial_window: int = protocol.DEFAULT_WINDOW
    connect_timeout: Optional[float] = None  # seconds to wait for the socket; None = forever
    # Seconds a graceful stop waits for the open streams before cancelling them (gunicorn's
    # --graceful-timeout); None = forever.
    shutdown_timeout: Optional[float] = 30.0
    backoff_initial: float = 0.05
    backoff_max: float = 2.0


class Server:
    def __init__(self, app: AppCallable, config: ServerConfig, lifespan: Optional["Lifespan"] = None,
                 on_attached: Optional[Callable[[], None]] = None,
                 on_shutdown: Optional[Callable[[], None]] = None) -> None:
        self.app = app
        self.config = config
        self.lifespan = lifespan
        self.on_attached = on_attached
        self.on_shutdown = on_shutdown
        self.channel: Optional[Channel] = None
        self.stopping = False
        self.superseded = False  # a newer generation took over: run() returns 0
        self.exit_code: Optional[int] = None  # forced by abort()
        self.connections = 0  # successful connects so far
        self._wakeup: Optional[asyncio.Future[None]] = None
        self._shutdown_timer: Optional[asyncio.TimerHandle] = None
        self._hello = HelloConfig(config.app_name, config.generation, config.max_frame_size,
                                  config.max_streams, config.initial_window)

    async def run(self) -> int:
        lifespan = self.lifespan
        if lifespan is None:
            return await self._serve_until_stopped()
        if not await lifespan.startup():
            return STARTUP_FAILURE if self.exit_code is None else self.exit_code
        try:
            return await self._serve_until_stopped()
        finally:
            await lifespan.shutdown()

    async def _serve_until_stopped(self) -> int:
        try:
            return await self._serve()
        finally:
            if self._shutdown_timer is not None:
                self._shutdown_timer.cancel()
                self._shutdown_timer = None

    async def _serve(self) -> int:
        loop = asyncio.get_running_loop()
        # Connections that closed before the HELLO exchange completed, in a
        # row: each waits a backoff delay first, so a frontend that accepts and
        # drops us at once is not hammered with reconnects.
        early_closes = 0
        while not self.stopping:
            if early_closes:
                await self._sleep(loop, min(self.config.backoff_initial * 2 ** min(early_closes, 30),
                                            self.config.backoff_max))
                if self.stopping:
                    break
            channel = await self._connect(loop)
            if channel is None:
                break
            self.channel = channel
            try:
                outcome = await channel.closed
            finally:
                self.channel = None
            early_closes = early_closes + 1 if channel.peer_hello is None else 0
            if outcome is Outcome.SUPERSEDED:
                self.superseded = True
                logger.info("a newer generation of this app has taken over; exiting")
                return 0 if self.exit_code is None else self.exit_code
            if outcome is Outcome.DRAINED and self.stopping:
                logger.info("drained; disconnected from the frontend")
                return 0 if self.exit_code is None else self.exit_code
            if outcome is Outcome.DRAINED:
                # The frontend drained this connection (it is shutting down or
                # restarting, or ran out of stream ids): connect again.
                logger.info("the frontend drained the connection; reconnecting")
                continue
            if outcome is Outcome.FAILED:
                logger.error("stopping: %s", channel.error or "connection error")
                return 1
            if not self.stopping:
                logger.warning("the frontend closed the connection; reconnecting")
        if self.exit_code is not None:
            return self.exit_code
        return 0 if self.stopping else 1

    async def _connect(self, loop: asyncio.AbstractEventLoop) -> Optional[Channel]:
        """Connect, retrying; None if stopped or the deadline passed."""
        cfg = self.config
        delay = cfg.backoff_initial
        deadline = None if cfg.connect_timeout is None else loop.time() + cfg.connect_timeout
        warned = False
        while not self.stopping:
            channel = Channel(self.app, self._hello, loop)
            channel.on_attached = self.on_attached
            try:
                await loop.create_unix_connection(lambda: channel, cfg.socket_path)
            except OSError as exc:
                if exc.errno not in RETRY_ERRNOS:
                    logger.error("cannot connect to the frontend at %s: %s", cfg.socket_path, exc)
                    self.exit_code = 1
                    return None
                if not warned:
                    logger.info("waiting for the frontend socket at %s (%s)", cfg.socket_path,
                                exc.strerror or exc)
                    warned = True
                if deadline is not None and loop.time() + delay > deadline:
                    logger.error("the frontend socket %s did not appear within %gs", cfg.socket_path,
                                 cfg.connect_timeout)
                    self.exit_code = 1
                    return None
                await self._sleep(loop, delay)
                delay = min(delay * 2, cfg.backoff_max)
                continue
            self.connections += 1
            logger.debug("connected to the frontend at %s", cfg.socket_path)
            return channel
        return None

    async def _sleep(self, loop: asyncio.AbstractEventLoop, delay: float) -> None:
        """Sleep, but wake up early when stopping."""
        waiter: asyncio.Future[None] = loop.create_future()
        self._wakeup = waiter
        handle = loop.call_later(delay, _resolve, waiter)
        try:
            await waiter
        finally:
            handle.cancel()
            self._wakeup = None

    def shutdown(self) -> None:
        """Graceful stop: GOAWAY(NO_ERROR), finish open streams, close.  A second call aborts."""
        if self.stopping:
            logger.warning("stopping now; open streams are cancelled")
            self.abort(0)
            return
        self.stopping = True
        if self.on_shutdown is not None:
            self.on_shutdown()
        channel = self.channel
        if channel is not None:
            timeout = self.config.shutdown_timeout
            logger.info("shutting down: finishing %d open stream(s)%s", len(channel.streams),
                        "" if timeout is None else f" (at most {timeout:g} s)")
            if timeout is not None:
                self._shutdown_timer = asyncio.get_running_loop().call_later(timeout, self._shutdown_expired)
            channel.drain()
        if self._wakeup is not None and not self._wakeup.done():
            self._wakeup.set_result(None)

    def _shutdown_expired(self) -> None:
        """The graceful stop's time is up: the streams still open are cancelled (the lifespan still ends)."""
        self._shutdown_timer = None
        channel = self.channel
        if channel is not None:
            logger.warning("the shutdown timeout (%g s) passed with %d open stream(s); cancelling them",
                           self.config.shutdown_timeout, len(channel.streams))
            channel.abort()

    def abort(self, exit_code: int) -> None:
        """Stop at once with the given exit status."""
        self.stopping = True
        self.exit_code = exit_code
        if self.channel is not None:
            self.channel.abort()
        if self.lifespan is not None:
            self.lifespan.abort()
        if self._wakeup is not None and not self._wakeup.done():
            self._wakeup.set_result(None)

    def install_signal_handlers(self, loop: asyncio.AbstractEventLoop) -> None:
        # SIGQUIT too, nginx's graceful stop (its default action would dump core).
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT):
            loop.add_signal_handler(sig, self._on_signal, sig)

    def _on_signal(self, sig: int) -> None:
        logger.info("received %s", signal.Signals(sig).name)
        self.shutdown()


def _resolve(waiter: "asyncio.Future[None]") -> None:
    if not waiter.done():
        waiter.set_result(None)
