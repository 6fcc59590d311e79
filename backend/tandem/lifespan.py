"""The ASGI lifespan protocol (spec 2.0): startup before serving, shutdown after.

``Server.run()`` calls ``startup()`` once per backend process before it first
connects to the frontend, and ``shutdown()`` once after the last connection has
drained.  The application's lifespan call runs in one Task for the whole
process, on the loop that serves the requests.  ``state`` is the dict in the
lifespan scope; ``ASGIAdapter`` gives each request a shallow copy of it.

The phases, and what the application may send in each (anything else raises
RuntimeError into its ``send()``)::

    phase       app sends                      next phase
    STARTING    lifespan.startup.complete      STARTED
    STARTING    lifespan.startup.failed        FAILED     (the backend exits non-zero)
    STOPPING    lifespan.shutdown.complete     STOPPED
    STOPPING    lifespan.shutdown.failed       STOPPED    (logged as an error)

When the application's lifespan call ends by itself:

* raising before it has received ``lifespan.startup``: the application does not
  speak lifespan (Django and most plain ASGI apps raise on the unknown scope
  type).  With ``mode="auto"`` that is logged at info and serving goes on
  without lifespan; with ``mode="on"`` it is a startup failure.
* raising after receiving ``lifespan.startup`` but before answering it: with
  ``mode="auto"`` logged as an error with its traceback, and serving goes on
  without lifespan, as the ASGI lifespan spec has it ("the server must
  continue but not send any lifespan events") and uvicorn does; an application
  that must not be served sends ``lifespan.startup.failed`` (Starlette and
  FastAPI do).  With ``mode="on"`` it is a startup failure.
* returning before answering ``lifespan.startup``: taken as "no lifespan"
  (logged), serving goes on.
* ending while serving (after startup): logged; no shutdown is sent.
* raising during shutdown: logged with its traceback.

Calls ``asgi_types`` only; ``server.py`` runs it.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from typing import Any, Optional

from .asgi_types import ASGI3Application, Message, Scope

logger = logging.getLogger("tandem.lifespan")

MODES = ("auto", "on", "off")

IDLE = "IDLE"
STARTING = "STARTING"
STARTED = "STARTED"
FAILED = "FAILED"
STOPPING = "STOPPING"
STOPPED = "STOPPED"
ENDED = "ENDED"  # the lifespan call ended without a shutdown (unsupported, or it stopped early)

TRANSITIONS: dict[tuple[str, str], str] = {
    (STARTING, "lifespan.startup.complete"): STARTED,
    (STARTING, "lifespan.startup.failed"): FAILED,
    (STOPPING, "lifespan.shutdown.complete"): STOPPED,
    (STOPPING, "lifespan.shutdown.failed"): STOPPED,
}

# Seconds the lifespan call gets to return after it answered lifespan.shutdown
# (or failed) before its Task is cancelled.
END_GRACE = 1.0


class Lifespan:
    def __init__(self, app: ASGI3Application, state: Optional[dict[str, Any]] = None, mode: str = "auto") -> None:
        if mode not in ("auto", "on"):
            raise ValueError(f"lifespan mode must be 'auto' or 'on', not {mode!r}")
        self.app = app
        self.state: dict[str, Any] = {} if state is None else state
        self.mode = mode
        self.phase = IDLE
        self.received_startup = False
        self.shutdown_failed = False
        self._inbox: deque[Message] = deque()
        self._inbox_waiter: Optional[asyncio.Future[None]] = None
        self._phase_waiter: Optional[asyncio.Future[None]] = None
        self._task: Optional[asyncio.Task[None]] = None

    # --- the server's side --------------------------------------------------------

    async def startup(self) -> bool:
        """Send lifespan.startup and wait for the answer; False means do not serve."""
        loop = asyncio.get_running_loop()
        logger.info("waiting for application startup")
        self.phase = STARTING
        self._phase_waiter = loop.create_future()
        self._task = loop.create_task(self._main())
        self._task.add_done_callback(self._on_task_done)
        self._put({"type": "lifespan.startup"})
        await self._phase_waiter
        if self.phase == STARTED:
            logger.info("application startup complete")
            return True
        if self.phase == ENDED:
            return True  # no lifespan: serve without it
        logger.error("application startup failed; exiting")
        await self._end_task()
        return False

    async def shutdown(self) -> bool:
        """Send lifespan.shutdown and wait for the answer; False if the shutdown failed."""
        if self.phase != STARTED:
            await self._end_task()
            return True
        logger.info("waiting for application shutdown")
        self.phase = STOPPING
        self._phase_waiter = asyncio.get_running_loop().create_future()
        self._put({"type": "lifespan.shutdown"})
        await self._phase_waiter
        await self._end_task()
        if self.shutdown_failed:
            return False
        logger.info("application shutdown complete")
        return True

    def abort(self) -> None:
        """Stop waiting for a startup or shutdown in progress: the lifespan Task is cancelled.

        While serving (between the two) it does nothing: the shutdown still runs
        when the server stops, however it stops.
        """
        if self.phase in (STARTING, STOPPING) and self._task is not None and not self._task.done():
            self._task.cancel()

    async def _end_task(self) -> None:
        task = self._task
        if task is None or task.done():
            return
        await asyncio.wait((task,), timeout=END_GRACE)
        if not task.done():
            logger.warning("the application's lifespan call did not return after %s; cancelling it",
                           "its shutdown" if self.phase == STOPPED else "startup")
            task.cancel()
            await asyncio.wait((task,))

    # --- the application's side ------------------------------------------------------

    async def _main(self) -> None:
        scope: Scope = {"type": "lifespan", "asgi": {"version": "3.0", "spec_version": "2.0"},
                        "state": self.state}
        try:
            await self.app(scope, self._receive, self._send)
        except BaseException as exc:
            self._ended(exc)
            if isinstance(exc, (KeyboardInterrupt, SystemExit)):
                raise
        else:
            self._ended(None)

    async def _receive(self) -> Message:
        while not self._inbox:
            self._inbox_waiter = asyncio.get_running_loop().create_future()
            try:
                await self._inbox_waiter
            finally:
                self._inbox_waiter = None
        message = self._inbox.popleft()
        if message["type"] == "lifespan.startup":
            self.received_startup = True
        return message

    async def _send(self, message: Message) -> None:
        kind = message["type"]
        next_phase = TRANSITIONS.get((self.phase, kind))
        if next_phase is None:
            raise RuntimeError(f"lifespan: unexpected message {kind!r} (phase {self.phase})")
        self.phase = next_phase
        if kind.endswith(".failed"):
            text = message.get("message") or "(no message)"
            logger.error("application %s failed: %s", "startup" if next_phase == FAILED else "shutdown", text)
            self.shutdown_failed = next_phase == STOPPED
        self._wake_phase()

    def _put(self, message: Message) -> None:
        self._inbox.append(message)
        if self._inbox_waiter is not None and not self._inbox_waiter.done():
            self._inbox_waiter.set_result(None)

    def _wake_phase(self) -> None:
        if self._phase_waiter is not None and not self._phase_waiter.done():
            self._phase_waiter.set_result(None)

    def _on_task_done(self, task: "asyncio.Task[None]") -> None:
        # A Task cancelled before its first step never ran _main(), so nobody
        # else would say that the phase is over.
        if task.cancelled() and self._phase_waiter is not None and not self._phase_waiter.done():
            self._ended(asyncio.CancelledError())

    def _ended(self, exc: Optional[BaseException]) -> None:
        """The application's lifespan call returned (exc None) or raised."""
        phase = self.phase
        cancelled = isinstance(exc, asyncio.CancelledError)
        if phase == STARTING:
            if cancelled:
                logger.warning("application startup was cancelled")
                self.phase = FAILED
            elif exc is None:
                (logger.warning if self.mode == "on" else logger.info)(
                    "the application returned from the lifespan scope without completing startup; "
                    "serving without lifespan")
                self.phase = ENDED
            elif self.received_startup and self.mode == "auto":
                logger.error("exception in the application's lifespan startup; serving without lifespan, as "
                             "the ASGI spec asks (lifespan.startup.failed, or --lifespan on, stops the "
                             "backend instead)", exc_info=exc)
                self.phase = ENDED
            elif self.received_startup:
                logger.error("exception in the application's lifespan startup (--lifespan on)", exc_info=exc)
                self.phase = FAILED
            elif self.mode == "auto":
                logger.info("the application does not support the ASGI lifespan protocol "
                            "(it raised %s: %s); serving without lifespan", type(exc).__name__, exc)
                logger.debug("lifespan traceback", exc_info=exc)
                self.phase = ENDED
            else:
                logger.error("exception in the application's lifespan protocol (--lifespan on)", exc_info=exc)
                self.phase = FAILED
        elif phase == STARTED:
            if exc is not None and not cancelled:
                logger.error("the application's lifespan call failed while serving; no shutdown will be sent",
                             exc_info=exc)
            else:
                logger.warning("the application's lifespan call ended while serving; no shutdown will be sent")
            self.phase = ENDED
        elif phase == STOPPING:
            if exc is not None and not cancelled:
                logger.error("exception in the application's lifespan shutdown", exc_info=exc)
            else:
                logger.warning("the application's lifespan call ended without completing shutdown")
            self.shutdown_failed = True
            self.phase = STOPPED
        elif exc is not None and not cancelled:
            # FAILED or STOPPED: the failure was already reported with its message
            # (starlette sends .failed and then re-raises).
            logger.debug("the application's lifespan call raised after reporting %s", phase, exc_info=exc)
        self._wake_phase()
