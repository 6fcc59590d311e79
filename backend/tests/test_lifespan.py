"""The ASGI lifespan protocol (lifespan.py) and how Server.run() runs it.

Startup runs before the backend connects to the (fake) frontend, shutdown after
the connection has drained; failures stop the backend with status 3.
"""

from __future__ import annotations

import asyncio
import logging
import textwrap
from pathlib import Path
from typing import Any, Callable

import pytest

from helpers import GUARD, connected, make_config, request, run
from tandem import cli, protocol
from tandem.asgi import ASGIAdapter
from tandem.lifespan import Lifespan
from tandem.server import STARTUP_FAILURE, Server


def lifespan_app(events: list[str], on_startup: Callable[[dict[str, Any]], Any] = lambda state: None,
                 shutdown_message: str = "lifespan.shutdown.complete") -> Any:
    """An ASGI app that speaks lifespan by hand and answers requests with its state."""

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            assert scope["asgi"]["version"] == "3.0"
            message = await receive()
            events.append(message["type"])
            try:
                on_startup(scope["state"])
            except Exception as exc:
                await send({"type": "lifespan.startup.failed", "message": str(exc)})
                return
            await send({"type": "lifespan.startup.complete"})
            message = await receive()
            events.append(message["type"])
            await send({"type": shutdown_message, "message": "pool would not close"})
            return
        events.append(f"request {scope['path']}")
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": repr(sorted(scope["state"].items())).encode()})

    return app


async def serve_until_drained(adapter: ASGIAdapter, lifespan: Lifespan, directory: str,
                              events: list[str]) -> tuple[int, Any]:
    async with connected(adapter, directory, lifespan=lifespan) as p:
        events.append("connected")
        await p.fe.send(request(1, path=b"/a"))
        response = await p.fe.recv_frame()
        p.server.shutdown()
        frames = await p.fe.expect_eof()
        assert frames == [protocol.GoAway(0, protocol.NO_ERROR, "backend shutting down")]
        events.append("drained")
        return await p.exit_code(), response


def test_startup_before_connecting_and_shutdown_after_draining(tmp_path: Any, caplog: Any) -> None:
    caplog.set_level(logging.INFO)
    events: list[str] = []

    def startup(state: dict[str, Any]) -> None:
        state["pool"] = "ready"

    adapter = ASGIAdapter(lifespan_app(events, startup))
    lifespan = Lifespan(adapter.app, adapter.state)
    code, response = run(lambda: serve_until_drained(adapter, lifespan, str(tmp_path), events))
    assert code == 0
    assert response.body == b"[('pool', 'ready')]"
    assert events == ["lifespan.startup", "connected", "request /a", "drained", "lifespan.shutdown"]
    assert adapter.state == {"pool": "ready"}
    for line in ("waiting for application startup", "application startup complete",
                 "waiting for application shutdown", "application shutdown complete"):
        assert line in caplog.text


def test_each_request_gets_a_shallow_copy_of_the_state(tmp_path: Any) -> None:
    shared: list[Any] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await receive()
            scope["state"]["items"] = shared
            scope["state"]["n"] = 1
            await send({"type": "lifespan.startup.complete"})
            await receive()
            await send({"type": "lifespan.shutdown.complete"})
            return
        state = scope["state"]
        state["n"] += 1              # a request's own copy...
        state["items"].append(1)     # ...of the same objects
        await send({"type": "http.response.start", "status": 200})
        await send({"type": "http.response.body", "body": str(state["n"]).encode()})

    adapter = ASGIAdapter(app)

    async def main() -> None:
        async with connected(adapter, str(tmp_path), lifespan=Lifespan(app, adapter.state)) as p:
            await p.fe.send(request(1), request(3))
            assert [r.body for r in await p.fe.recv_frames(2)] == [b"2", b"2"]
    run(main)
    assert adapter.state == {"items": [1, 1], "n": 1}


def test_startup_failure_exits_3_without_connecting(tmp_path: Any, caplog: Any) -> None:
    events: list[str] = []

    def startup(state: dict[str, Any]) -> None:
        raise RuntimeError("database unreachable")

    app = lifespan_app(events, startup)

    async def main() -> int:
        # No frontend at all: a server that tried to connect would wait for it.
        server = Server(ASGIAdapter(app), make_config(str(tmp_path / "none.sock")), Lifespan(app))
        return await server.run()

    assert run(main) == STARTUP_FAILURE == 3
    assert events == ["lifespan.startup"]
    assert "application startup failed: database unreachable" in caplog.text
    assert "waiting for the frontend socket" not in caplog.text


async def serve_one_or_fail(app: Any, mode: str, directory: Any) -> int:
    """With --lifespan on: the server's run, which the startup stops (its exit status).  With auto: one request
    served ("served"), then a drain; the exit status."""
    lifespan = Lifespan(app, mode=mode)
    if mode == "on":
        return await Server(ASGIAdapter(app), make_config(str(directory / "none.sock")), lifespan).run()
    async with connected(ASGIAdapter(app), str(directory), lifespan=lifespan) as p:
        await p.fe.send(request(1))
        assert (await p.fe.recv_frame()).body == b"served"
        p.server.shutdown()
        await p.fe.expect_eof()
        return await p.exit_code()


@pytest.mark.parametrize("mode", ["auto", "on"])
def test_an_exception_after_receiving_startup(tmp_path: Any, caplog: Any, mode: str) -> None:
    """auto: logged, and served without lifespan (the ASGI lifespan spec, uvicorn); on: a startup failure."""
    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await receive()
            raise ValueError("config missing")
        await send({"type": "http.response.start", "status": 200})
        await send({"type": "http.response.body", "body": b"served"})

    assert run(lambda: serve_one_or_fail(app, mode, tmp_path)) == (0 if mode == "auto" else 3)
    assert "exception in the application's lifespan startup" in caplog.text
    assert "ValueError: config missing" in caplog.text
    assert ("serving without lifespan" in caplog.text) == (mode == "auto")


@pytest.mark.parametrize("mode", ["auto", "on"])
def test_an_app_without_lifespan(tmp_path: Any, caplog: Any, mode: str) -> None:
    """auto: an app that raises on the lifespan scope is served without it; on: that is a failure."""
    caplog.set_level(logging.INFO)

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            raise ValueError(f"cannot handle {scope['type']}")
        await send({"type": "http.response.start", "status": 200})
        await send({"type": "http.response.body", "body": b"served"})

    if mode == "auto":
        assert run(lambda: serve_one_or_fail(app, mode, tmp_path)) == 0
        record = next(r for r in caplog.records if "does not support the ASGI lifespan" in r.message)
        assert record.levelno == logging.INFO and "ValueError: cannot handle lifespan" in record.message
    else:
        assert run(lambda: serve_one_or_fail(app, mode, tmp_path)) == 3
        assert "exception in the application's lifespan protocol (--lifespan on)" in caplog.text


def test_an_app_that_returns_from_the_lifespan_scope_is_served(tmp_path: Any) -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            return
        await send({"type": "http.response.start", "status": 204})
        await send({"type": "http.response.body"})

    async def main() -> None:
        async with connected(ASGIAdapter(app), str(tmp_path), lifespan=Lifespan(app)) as p:
            await p.fe.send(request(1))
            assert (await p.fe.recv_frame()).status == 204
    run(main)


def test_shutdown_failure_is_logged(tmp_path: Any, caplog: Any) -> None:
    events: list[str] = []
    app = lifespan_app(events, shutdown_message="lifespan.shutdown.failed")
    adapter = ASGIAdapter(app)
    code, _ = run(lambda: serve_until_drained(adapter, Lifespan(app), str(tmp_path), events))
    assert code == 0  # as uvicorn: the exit status is the server's
    assert events[-1] == "lifespan.shutdown"
    assert "application shutdown failed: pool would not close" in caplog.text


def test_wrong_messages_raise_into_the_apps_send(tmp_path: Any) -> None:
    errors: list[str] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        for wrong in ("lifespan.shutdown.complete", "http.response.start"):
            try:
                await send({"type": wrong})
            except RuntimeError as exc:
                errors.append(str(exc))
        await send({"type": "lifespan.startup.complete"})
        await receive()
        await send({"type": "lifespan.shutdown.complete"})

    async def main() -> None:
        lifespan = Lifespan(app)
        assert await lifespan.startup() is True
        assert await lifespan.shutdown() is True
    run(main)
    assert errors == ["lifespan: unexpected message 'lifespan.shutdown.complete' (phase STARTING)",
                      "lifespan: unexpected message 'http.response.start' (phase STARTING)"]


def test_a_hung_startup_is_cancelled_by_a_second_signal(tmp_path: Any) -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        await asyncio.sleep(GUARD * 10)

    async def main() -> int:
        server = Server(ASGIAdapter(app), make_config(str(tmp_path / "none.sock")), Lifespan(app))
        task = asyncio.get_running_loop().create_task(server.run())
        await asyncio.sleep(0.01)
        server.shutdown()
        await asyncio.sleep(0.01)
        assert not task.done()  # the first signal lets the startup finish
        server.shutdown()        # the second one does not wait
        async with asyncio.timeout(GUARD):
            return await task

    assert run(main) == 0


def test_a_lifespan_call_that_does_not_return_after_shutdown_is_cancelled(tmp_path: Any, monkeypatch: Any,
                                                                        caplog: Any) -> None:
    import tandem.lifespan

    monkeypatch.setattr(tandem.lifespan, "END_GRACE", 0.01)

    async def app(scope: Any, receive: Any, send: Any) -> None:
        while True:
            message = await receive()
            await send({"type": message["type"] + ".complete"})

    async def main() -> None:
        lifespan = Lifespan(app)
        assert await lifespan.startup()
        assert await lifespan.shutdown()
    run(main)
    assert "did not return after its shutdown; cancelling it" in caplog.text


# --- real frameworks ---------------------------------------------------------------


def test_starlette_lifespan_state_and_failure(tmp_path: Any, caplog: Any) -> None:
    import contextlib

    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route

    closed: list[bool] = []

    @contextlib.asynccontextmanager
    async def lifespan(app: Any) -> Any:
        yield {"greeting": "made at startup"}
        closed.append(True)

    async def hello(request: Request) -> PlainTextResponse:
        return PlainTextResponse(request.state.greeting)

    app = Starlette(routes=[Route("/", hello)], lifespan=lifespan)
    adapter = ASGIAdapter(app)

    async def main() -> None:
        async with connected(adapter, str(tmp_path), lifespan=Lifespan(app, adapter.state)) as p:
            await p.fe.send(request(1))
            assert (await p.fe.recv_frame()).body == b"made at startup"
            p.server.shutdown()
            await p.fe.expect_eof()
            assert await p.exit_code() == 0
    run(main)
    assert closed == [True]

    @contextlib.asynccontextmanager
    async def broken(app: Any) -> Any:
        raise ConnectionError("no database")
        yield

    failing = Starlette(lifespan=broken)

    async def fail() -> int:
        return await Server(ASGIAdapter(failing), make_config(str(tmp_path / "none.sock")),
                            Lifespan(failing)).run()

    assert run(fail) == 3
    assert "application startup failed: Traceback" in caplog.text and "ConnectionError: no database" in caplog.text


def test_fastapi_startup_and_shutdown_events(tmp_path: Any) -> None:
    from fastapi import FastAPI

    app = FastAPI()
    events: list[str] = []

    @app.on_event("startup")
    async def startup() -> None:
        events.append("startup")

    @app.on_event("shutdown")
    def shutdown() -> None:
        events.append("shutdown")

    @app.get("/")
    async def index() -> dict[str, Any]:
        return {"events": list(events)}

    async def main() -> None:
        async with connected(ASGIAdapter(app), str(tmp_path), lifespan=Lifespan(app)) as p:
            await p.fe.send(request(1))
            assert (await p.fe.recv_frame()).body == b'{"events":["startup"]}'
            p.server.shutdown()
            await p.fe.expect_eof()
    run(main)
    assert events == ["startup", "shutdown"]


# --- the command line ---------------------------------------------------------------


def _write_app(directory: Path, body: str) -> None:
    (directory / "lifespan_cli_app.py").write_text(textwrap.dedent(body))


def test_cli_exits_3_when_startup_fails(tmp_path: Path, caplog: Any) -> None:
    _write_app(tmp_path, """
        async def app(scope, receive, send):
            await receive()
            await send({"type": "lifespan.startup.failed", "message": "no config file"})
    """)
    argv = ["lifespan_cli_app:app", "--connect", str(tmp_path / "none.sock"), "--app-dir", str(tmp_path)]
    assert cli.main(argv, {}) == 3
    assert "application startup failed: no config file" in caplog.text
    # --lifespan off: no startup, so the backend goes on to wait for its frontend.
    assert cli.main(argv + ["--lifespan", "off", "--connect-timeout", "0"], {}) == 1


def test_cli_makes_no_lifespan_for_native_apps(caplog: Any) -> None:
    from tandem import App

    assert cli.make_lifespan(App(), "on", logging.getLogger("t")) is None
    assert "only ASGI applications have a lifespan protocol" in caplog.text

    async def app(scope: Any, receive: Any, send: Any) -> None:
        pass

    adapter = ASGIAdapter(app)
    assert cli.make_lifespan(adapter, "off", logging.getLogger("t")) is None
    made = cli.make_lifespan(adapter, "auto", logging.getLogger("t"))
    assert isinstance(made, Lifespan) and made.state is adapter.state and made.mode == "auto"
