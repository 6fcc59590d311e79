"""The channel client (server.py, channel.py, stream.py) against a fake frontend.

The fake frontend (helpers.FakeFrontend) speaks the real bytes over a real Unix
socket.  Nothing here waits for time to pass: the tests wait for frames, and the
timeouts in the helpers only turn a hang into a failure.
"""

from __future__ import annotations

import asyncio
import logging
import os
from typing import Any

import pytest

from helpers import GUARD, FakeFrontend, Gate, connected, frontend_hello, make_config, request, run
from tandem import App, Response, StreamingResponse, protocol
from tandem import channel as channel_module
from tandem.protocol import END
from tandem.server import Server


def make_app() -> App:
    app = App()

    @app.get("/")
    async def index(request: Any) -> str:
        return "Hello from tandem!"

    @app.get("/sync")
    def sync(request: Any) -> dict[str, Any]:
        return {"q": request.query_params.get("q")}

    @app.post("/echo")
    async def echo(request: Any) -> Response:
        return Response(await request.body(), status=201, headers={"x-echo": "1"},
                        media_type="application/octet-stream")

    @app.get("/boom")
    def boom(request: Any) -> str:
        raise RuntimeError("boom")

    return app


def test_handshake(tmp_path: Any) -> None:
    async def main() -> None:
        async with connected(make_app(), str(tmp_path), max_streams=17, generation=99) as p:
            hello = p.fe.backend_hello
            assert hello == protocol.Hello(0, 1, "backend", "tests:app", os.getpid(), 99, 1048576, 17, 1048576, protocol.FEATURE_WEBSOCKET)
            assert p.channel.peer_max_frame == 1048576
    run(main)


def test_version_mismatch_exits_non_zero(tmp_path: Any, caplog: Any) -> None:
    async def main() -> int:
        async with connected(make_app(), str(tmp_path), handshake=False) as p:
            await p.fe.recv_frame()
            await p.fe.send(frontend_hello(version=2))
            assert await p.fe.expect_eof() == []
            return await p.exit_code()
    assert run(main) == 1
    assert "frontend speaks protocol version 2, this backend speaks version 1" in caplog.text


def test_refused_with_goaway_exits_non_zero(tmp_path: Any, caplog: Any) -> None:
    async def main() -> int:
        async with connected(make_app(), str(tmp_path), handshake=False) as p:
            await p.fe.recv_frame()
            await p.fe.send(protocol.GoAway(0, protocol.REFUSED, "not on the list"))
            await p.fe.expect_eof()
            return await p.exit_code()
    assert run(main) == 1
    assert "not on the list" in caplog.text


def test_wrong_role_is_a_protocol_error(tmp_path: Any) -> None:
    async def main() -> None:
        async with connected(make_app(), str(tmp_path), handshake=False) as p:
            await p.fe.recv_frame()
            await p.fe.send(frontend_hello()._replace(role="backend"))
            (goaway,) = await p.fe.expect_eof()
            assert isinstance(goaway, protocol.GoAway) and goaway.code == protocol.PROTOCOL_ERROR
            assert await p.exit_code() == 1
    run(main)


def test_fast_path_creates_no_task(tmp_path: Any) -> None:
    async def main() -> None:
        async with connected(make_app(), str(tmp_path)) as p:
            loop = asyncio.get_running_loop()
            created: list[Any] = []

            def factory(loop: Any, coro: Any, **kwargs: Any) -> Any:
                created.append(coro)
                return asyncio.Task(coro, loop=loop, **kwargs)

            loop.set_task_factory(factory)
            try:
                await p.fe.send(request(1), request(3, path=b"/sync", query=b"q=a"),
                                request(5, "POST", b"/echo", body=b"xyz"))
                r1, r3, r5 = await p.fe.recv_frames(3)
            finally:
                loop.set_task_factory(None)
            assert r1 == protocol.Response(1, END, 200, [(b"content-type", b"text/plain; charset=utf-8")],
                                           b"Hello from tandem!")
            assert r3 == protocol.Response(3, END, 200, [(b"content-type", b"application/json")], b'{"q":"a"}')
            assert r5 == protocol.Response(5, END, 201, [(b"x-echo", b"1"),
                                                         (b"content-type", b"application/octet-stream")], b"xyz")
            assert created == []
            assert p.channel.tasks_created == 0
            assert p.channel.streams == {}
    run(main)


def test_suspending_handler_runs_in_a_task(tmp_path: Any) -> None:
    app = App()
    seen: list[Any] = []

    @app.get("/wait")
    async def wait(request: Any) -> str:
        assert asyncio.current_task() is None  # the first step runs inline
        await asyncio.sleep(0)
        seen.append(asyncio.current_task())
        fut = asyncio.get_running_loop().create_future()
        asyncio.get_running_loop().call_soon(fut.set_result, "done")
        return await fut

    async def main() -> None:
        async with connected(app, str(tmp_path)) as p:
            await p.fe.send(request(1, path=b"/wait"))
            (r,) = await p.fe.recv_frames(1)
            assert r.body == b"done" and r.flags == END
            assert p.channel.tasks_created == 1
            assert seen[0] is not None
    run(main)


def test_fast_path_can_be_turned_off(tmp_path: Any) -> None:
    app = App(fast_path=False)

    @app.get("/")
    async def index(request: Any) -> str:
        async with asyncio.timeout(GUARD):  # needs a current task
            return "in a task"

    async def main() -> None:
        async with connected(app, str(tmp_path)) as p:
            await p.fe.send(request(1))
            (r,) = await p.fe.recv_frames(1)
            assert r.body == b"in a task"
            assert p.channel.tasks_created == 1
    run(main)


def test_many_streams_complete_out_of_order(tmp_path: Any) -> None:
    app = App()
    gates: dict[int, asyncio.Future[None]] = {}

    @app.get("/n/{n:int}")
    async def wait(request: Any, n: int) -> str:
        gates[n] = asyncio.get_running_loop().create_future()
        await gates[n]
        return f"stream {n}"

    async def main() -> None:
        async with connected(app, str(tmp_path)) as p:
            count = 50
            await p.fe.send(*[request(2 * i + 1, path=b"/n/%d" % i) for i in range(count)])
            while len(gates) < count:
                await asyncio.sleep(0)
            order = list(reversed(range(count)))
            for n in order:
                gates[n].set_result(None)
                (r,) = await p.fe.recv_frames(1)
                assert r.stream_id == 2 * n + 1 and r.body == b"stream %d" % n
            assert p.channel.streams == {}
    run(main)


def test_streamed_request_body_with_window_grants(tmp_path: Any) -> None:
    app = App()

    @app.post("/upload")
    async def upload(request: Any) -> dict[str, int]:
        total = 0
        chunks = 0
        async for chunk in request.stream():
            total += len(chunk)
            chunks += 1
        return {"total": total, "chunks": chunks}

    async def main() -> None:
        window = 65536
        async with connected(app, str(tmp_path), initial_window=window) as p:
            assert p.fe.backend_hello is not None and p.fe.backend_hello.initial_window == window
            total = 5 * window + 123
            chunk = 16384
            await p.fe.send(request(1, "POST", b"/upload", body=b"a" * chunk, end=False))
            credit = window - chunk
            sent = chunk
            grants = []
            while sent < total:
                n = min(chunk, total - sent, credit)
                if n == 0:
                    frame = await p.fe.recv_frame()
                    assert isinstance(frame, protocol.Window) and frame.stream_id == 1, frame
                    grants.append(frame.increment)
                    credit += frame.increment
                    continue
                sent += n
                credit -= n
                await p.fe.send(protocol.Data(1, END if sent == total else 0, b"b" * n))
            frame = await p.fe.recv_frame()
            while isinstance(frame, protocol.Window):
                grants.append(frame.increment)
                frame = await p.fe.recv_frame()
            assert frame.body == b'{"total":%d,"chunks":%d}' % (total, (total + chunk - 1) // chunk)
            assert grants and all(g >= window // 2 for g in grants)
    run(main)


def test_request_body_beyond_the_window_is_a_flow_control_error(tmp_path: Any) -> None:
    app = App()

    @app.post("/slow")
    async def slow(request: Any) -> str:
        await asyncio.get_running_loop().create_future()  # never reads
        return ""

    async def main() -> None:
        async with connected(app, str(tmp_path), initial_window=65536) as p:
            await p.fe.send(request(1, "POST", b"/slow", body=b"x" * 60000, end=False),
                            protocol.Data(1, 0, b"y" * 6000))
            (goaway,) = await p.fe.expect_eof()
            assert goaway.code == protocol.FLOW_CONTROL_ERROR
            assert await p.exit_code() == 1
    run(main)


@pytest.mark.parametrize("streaming", [False, True])
def test_large_response_respects_window_and_frame_size(tmp_path: Any, streaming: bool) -> None:
    size = 5 * 1024 * 1024
    body = bytes(range(256)) * (size // 256)
    app = App()

    @app.get("/big")
    async def big(request: Any) -> Response:
        if streaming:
            return StreamingResponse(body[i:i + 300000] for i in range(0, size, 300000))
        return Response(body, media_type="application/octet-stream")

    async def main() -> None:
        max_frame, window = 65536, 100000
        hello = frontend_hello(max_frame_size=max_frame, initial_window=window)
        async with connected(app, str(tmp_path), hello=hello) as p:
            await p.fe.send(request(1, path=b"/big"))
            # Read frames as raw bytes to check each frame's size too.
            received = bytearray()
            credit = window
            frames = 0
            ended = False
            started = False
            while not ended:
                frame = await p.fe.recv_frame()
                frames += 1
                assert len(protocol.encode(frame)) - 4 <= max_frame
                if isinstance(frame, protocol.Response):
                    assert not started
                    started = True
                    data = frame.body
                else:
                    assert isinstance(frame, protocol.Data) and started, frame
                    data = frame.data
                ended = bool(frame.flags & END)
                credit -= len(data)
                assert credit >= 0, "the backend sent beyond its window"
                received += data
                if credit == 0 and not ended:
                    # Consumed: grant it back, sometimes in two parts.
                    await p.fe.send(protocol.Window(1, window // 2), protocol.Window(1, window - window // 2))
                    credit = window
            assert bytes(received) == body
            assert frames > size // max_frame
    run(main)


def test_cancel_reaches_a_suspended_handler(tmp_path: Any) -> None:
    app = App()
    outcome: list[str] = []

    @app.get("/hang")
    async def hang(request: Any) -> str:
        try:
            await asyncio.get_running_loop().create_future()
        except asyncio.CancelledError:
            outcome.append("cancelled")
            raise
        return "never"

    async def main() -> None:
        async with connected(app, str(tmp_path)) as p:
            await p.fe.send(request(1, path=b"/hang"))
            while not p.channel.streams:
                await asyncio.sleep(0)
            await p.fe.send(protocol.Cancel(1, protocol.CANCEL_CLIENT_GONE))
            # Late frames for the cancelled stream are ignored, and nothing is sent on it.
            await p.fe.send(protocol.Window(1, 100), protocol.Data(1, END, b"late"), protocol.Ping(0, False, 42))
            assert await p.fe.recv_frame() == protocol.Ping(0, True, 42)
            while not outcome:
                await asyncio.sleep(0)
            assert outcome == ["cancelled"]
            assert p.channel.streams == {}
            await p.fe.send(request(3))
            assert (await p.fe.recv_frame()).stream_id == 3
    run(main)


def test_cancel_in_the_same_batch_as_the_request(tmp_path: Any) -> None:
    app = App()
    outcome: list[str] = []

    @app.get("/hang")
    async def hang(request: Any) -> str:
        try:
            await asyncio.sleep(0)
            outcome.append("ran on")
        except asyncio.CancelledError:
            outcome.append("cancelled")
            raise
        return "never"

    async def main() -> None:
        async with connected(app, str(tmp_path)) as p:
            await p.fe.send(request(1, path=b"/hang"), protocol.Cancel(1, protocol.CANCEL_TIMEOUT),
                            protocol.Ping(0, False, 1))
            assert await p.fe.recv_frame() == protocol.Ping(0, True, 1)
            while not outcome:
                await asyncio.sleep(0)
            assert outcome == ["cancelled"]
    run(main)


def test_errors_404_405_500_and_the_next_request_is_fine(tmp_path: Any, caplog: Any) -> None:
    async def main() -> None:
        async with connected(make_app(), str(tmp_path)) as p:
            await p.fe.send(request(1, path=b"/missing"), request(2, "DELETE", b"/"), request(3, path=b"/boom"),
                            request(4))
            r1, r2, r3, r4 = await p.fe.recv_frames(4)
            assert (r1.status, r1.body) == (404, b"Not Found")
            assert (r2.status, dict(r2.headers)[b"allow"]) == (405, b"GET, HEAD")
            assert (r3.status, r3.body) == (500, b"Internal Server Error")
            assert (r4.status, r4.body) == (200, b"Hello from tandem!")
    run(main)
    assert "RuntimeError: boom" in caplog.text


def test_head_gets_the_get_headers(tmp_path: Any) -> None:
    async def main() -> None:
        async with connected(make_app(), str(tmp_path)) as p:
            await p.fe.send(request(1, "HEAD", b"/"))
            (r,) = await p.fe.recv_frames(1)
            assert r.status == 200 and r.headers == [(b"content-type", b"text/plain; charset=utf-8")]
    run(main)


class CountingTransport:
    def __init__(self, transport: Any) -> None:
        self.transport = transport
        self.writes = 0

    def write(self, data: Any) -> None:
        self.writes += 1
        self.transport.write(data)

    def writelines(self, data: Any) -> None:
        self.writes += 1
        self.transport.writelines(data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.transport, name)


def test_one_write_per_batch(tmp_path: Any) -> None:
    app = make_app()
    gate = Gate()

    @app.get("/gate/{n}")
    async def gated(request: Any, n: str) -> str:
        await gate.wait()
        return n

    async def main() -> None:
        async with connected(app, str(tmp_path)) as p:
            counting = CountingTransport(p.channel.transport)
            p.channel.transport = counting
            await p.fe.send(request(1), request(3, path=b"/sync"), request(5, "POST", b"/echo", body=b"e"),
                            protocol.Ping(0, False, 5))
            frames = await p.fe.recv_frames(4)
            assert [f.stream_id for f in frames] == [1, 3, 5, 0]
            assert counting.writes == 1
            # Frames produced by Tasks in one loop iteration share one write too.
            await p.fe.send(*[request(7 + 2 * i, path=b"/gate/%d" % i) for i in range(3)])
            while len(p.channel.streams) < 3:
                await asyncio.sleep(0)
            assert counting.writes == 1
            gate.open()
            frames = await p.fe.recv_frames(3)
            assert sorted(f.body for f in frames) == [b"0", b"1", b"2"]
            assert counting.writes == 2
    run(main)


def test_frontend_goaway_drains_then_reconnects(tmp_path: Any) -> None:
    app = App()
    gate = Gate()

    @app.get("/")
    async def slow(request: Any) -> str:
        await gate.wait()
        return "finished"

    async def main() -> None:
        async with connected(app, str(tmp_path)) as p:
            await p.fe.send(request(1))
            await gate.reached()
            await p.fe.send(protocol.GoAway(0, protocol.NO_ERROR, "frontend shutting down"),
                            protocol.Ping(0, False, 9))
            assert await p.fe.recv_frame() == protocol.Ping(0, True, 9)
            gate.open()
            # The open stream finishes, then the backend closes the drained connection...
            frames = await p.fe.expect_eof()
            assert [f.body for f in frames] == [b"finished"]
            # ...and connects again, as to a restarted frontend.
            p.fe.close_conn()
            await p.fe.accept()
            await p.fe.handshake()
            await p.fe.send(request(1, path=b"/x"))
            assert (await p.fe.recv_frame()).status == 404
            assert p.server.connections == 2 and not p.task.done()
    run(main)


def test_frontend_goaway_with_no_open_stream_closes_at_once(tmp_path: Any) -> None:
    async def main() -> None:
        async with connected(make_app(), str(tmp_path)) as p:
            await p.fe.send(protocol.GoAway(0, protocol.NO_ERROR, "stream ids exhausted; reconnect"))
            assert await p.fe.expect_eof() == []
            p.fe.close_conn()
            await p.fe.accept()
            assert (await p.fe.handshake()).role == "backend"
    run(main)


def test_shutdown_sends_goaway_serves_what_crossed_it_and_lets_the_frontend_close(tmp_path: Any) -> None:
    app = App()
    gate = Gate()

    @app.get("/")
    async def slow(request: Any) -> str:
        await gate.wait()
        return "finished"

    async def main() -> None:
        async with connected(app, str(tmp_path)) as p:
            await p.fe.send(request(1))
            await gate.reached()
            p.server.shutdown()  # what SIGTERM/SIGINT do
            goaway = await p.fe.recv_frame()
            assert goaway == protocol.GoAway(0, protocol.NO_ERROR, "backend shutting down")
            # A REQUEST that crossed the GOAWAY was sent before the frontend read it:
            # nobody else would answer it, so it is served.
            await p.fe.send(request(3))
            gate.open()
            frames = await p.fe.recv_frames(2)
            assert sorted((f.stream_id, f.body) for f in frames) == [(1, b"finished"), (3, b"finished")]
            # Then the frontend closes (the real one does once its last stream is
            # answered), and the backend exits 0.
            assert not p.task.done()
            p.fe.close_conn()
            assert await p.exit_code() == 0
    run(main)


def test_after_its_own_drain_the_backend_closes_if_the_frontend_does_not(tmp_path: Any, monkeypatch: Any,
                                                                          caplog: Any) -> None:
    monkeypatch.setattr(channel_module, "OWN_DRAIN_CLOSE_GRACE", 0.05)

    async def main() -> None:
        async with connected(make_app(), str(tmp_path)) as p:
            p.server.shutdown()
            frames = await p.fe.expect_eof()
            assert frames == [protocol.GoAway(0, protocol.NO_ERROR, "backend shutting down")]
            assert await p.exit_code() == 0
    run(main)
    assert "did not close the drained connection" in caplog.text


def test_signal_stops_cleanly(tmp_path: Any) -> None:
    async def main() -> None:
        async with connected(make_app(), str(tmp_path)) as p:
            p.server.install_signal_handlers(asyncio.get_running_loop())
            try:
                os.kill(os.getpid(), 15)
                assert (await p.fe.recv_frame()).code == protocol.NO_ERROR
                await p.fe.expect_eof()
                assert await p.exit_code() == 0
            finally:
                asyncio.get_running_loop().remove_signal_handler(15)
                asyncio.get_running_loop().remove_signal_handler(2)
    run(main)


def test_retries_until_the_socket_appears_and_reconnects(tmp_path: Any, caplog: Any) -> None:
    caplog.set_level(logging.INFO)
    async def main() -> None:
        path = str(tmp_path / "backend.sock")
        server = Server(make_app(), make_config(path))
        task = asyncio.get_running_loop().create_task(server.run())
        # Let it fail a few times: no socket yet.
        for _ in range(20):
            await asyncio.sleep(0)
        assert server.connections == 0
        fe = FakeFrontend(path)
        fe.listen()
        try:
            await fe.accept()
            await fe.handshake()
            await fe.send(request(1))
            assert (await fe.recv_frame()).body == b"Hello from tandem!"
            # The frontend goes away (restarts): the backend connects again.
            fe.close_conn()
            await fe.accept()
            await fe.handshake()
            await fe.send(request(1))
            assert (await fe.recv_frame()).body == b"Hello from tandem!"
            assert server.connections == 2
        finally:
            server.shutdown()
            async with asyncio.timeout(GUARD):
                assert await task == 0
            fe.close()
    run(main)
    assert caplog.text.count("waiting for the frontend socket") == 1


def test_connect_deadline(tmp_path: Any) -> None:
    async def main() -> int:
        server = Server(make_app(), make_config(str(tmp_path / "never.sock"), connect_timeout=0.1))
        return await server.run()
    assert run(main) == 1


def test_shutdown_while_waiting_for_the_socket(tmp_path: Any) -> None:
    async def main() -> int:
        server = Server(make_app(), make_config(str(tmp_path / "never.sock"), backoff_initial=60,
                                                backoff_max=60))
        task = asyncio.get_running_loop().create_task(server.run())
        for _ in range(5):
            await asyncio.sleep(0)
        server.shutdown()
        return await task
    assert run(main) == 0


def test_ping_is_answered(tmp_path: Any) -> None:
    async def main() -> None:
        async with connected(make_app(), str(tmp_path)) as p:
            await p.fe.send(protocol.Ping(0, False, 2**64 - 1), protocol.Ping(0, True, 3), protocol.Ping(0, False, 4))
            assert await p.fe.recv_frames(2) == [protocol.Ping(0, True, 2**64 - 1), protocol.Ping(0, True, 4)]
    run(main)


def test_unknown_frames_are_ignored(tmp_path: Any) -> None:
    async def main() -> None:
        async with connected(make_app(), str(tmp_path)) as p:
            await p.fe.send(protocol.Unknown(99, 0, ["future"]), protocol.Unknown(42, 7, []), request(1))
            assert (await p.fe.recv_frame()).stream_id == 1
    run(main)


def test_max_streams_refuses_the_extra_request(tmp_path: Any) -> None:
    app = App()
    gate = Gate()

    @app.get("/")
    async def slow(request: Any) -> str:
        await gate.wait()
        return "ok"

    async def main() -> None:
        async with connected(app, str(tmp_path), max_streams=2) as p:
            await p.fe.send(request(1), request(2), request(3))
            assert await p.fe.recv_frame() == protocol.Cancel(3, protocol.CANCEL_REFUSED)
            gate.open()
            assert sorted(f.stream_id for f in await p.fe.recv_frames(2)) == [1, 2]
            await p.fe.send(request(4))
            assert (await p.fe.recv_frame()).stream_id == 4
    run(main)


def test_body_after_end_is_a_stream_error(tmp_path: Any) -> None:
    app = App()
    gate = Gate()

    @app.post("/")
    async def slow(request: Any) -> str:
        await gate.wait()
        return "never sent"

    async def main() -> None:
        async with connected(app, str(tmp_path)) as p:
            await p.fe.send(request(1, "POST", body=b"all", end=True), protocol.Data(1, 0, b"more"))
            assert await p.fe.recv_frame() == protocol.Cancel(1, protocol.CANCEL_INTERNAL)
            await p.fe.send(protocol.Ping(0, False, 1))
            assert await p.fe.recv_frame() == protocol.Ping(0, True, 1)
    run(main)


@pytest.mark.parametrize("frames, code", [
    ([request(1), request(1)], protocol.PROTOCOL_ERROR),                    # id not above the highest
    ([protocol.Data(5, END, b"x")], protocol.PROTOCOL_ERROR),               # stream never opened
    ([frontend_hello()], protocol.PROTOCOL_ERROR),                          # second HELLO
    ([protocol.Response(1, END, 200, [], b"")], protocol.PROTOCOL_ERROR),   # wrong direction
])
def test_connection_errors(tmp_path: Any, frames: list[Any], code: int) -> None:
    async def main() -> None:
        async with connected(make_app(), str(tmp_path)) as p:
            await p.fe.send(*frames)
            got = await p.fe.expect_eof()
            assert isinstance(got[-1], protocol.GoAway) and got[-1].code == code
            assert await p.exit_code() == 1
    run(main)


def test_malformed_and_oversized_frames(tmp_path: Any) -> None:
    async def main() -> None:
        async with connected(make_app(), str(tmp_path)) as p:
            await p.fe.send_raw(b"\x00\x00\x00\x01\xc1")
            (goaway,) = await p.fe.expect_eof()
            assert goaway.code == protocol.PROTOCOL_ERROR
        async with connected(make_app(), str(tmp_path)) as p:
            await p.fe.send_raw((protocol.DEFAULT_MAX_FRAME + 1).to_bytes(4, "big"))
            (goaway,) = await p.fe.expect_eof()
            assert goaway.code == protocol.FRAME_TOO_LARGE
            assert await p.exit_code() == 1
    run(main)


def test_frames_before_hello_are_refused_with_the_pre_hello_limit(tmp_path: Any) -> None:
    async def main() -> None:
        async with connected(make_app(), str(tmp_path), handshake=False) as p:
            await p.fe.recv_frame()
            await p.fe.send(request(1))
            (goaway,) = await p.fe.expect_eof()
            assert goaway.code == protocol.PROTOCOL_ERROR
        async with connected(make_app(), str(tmp_path), handshake=False) as p:
            await p.fe.recv_frame()
            await p.fe.send_raw((protocol.PRE_HELLO_MAX_FRAME + 1).to_bytes(4, "big"))
            (goaway,) = await p.fe.expect_eof()
            assert goaway.code == protocol.FRAME_TOO_LARGE
    run(main)


def test_templates_over_the_channel(tmp_path: Any) -> None:
    templates = tmp_path / "tpl"
    templates.mkdir()
    (templates / "page.html").write_text("<p>{{ name }}</p>")
    app = App(templates=str(templates))

    @app.get("/page", template="page.html")
    def page(request: Any) -> dict[str, str]:
        return {"name": "<tandem>"}

    async def main() -> None:
        async with connected(app, str(tmp_path)) as p:
            await p.fe.send(request(1, path=b"/page"))
            (r,) = await p.fe.recv_frames(1)
            assert r.headers == [(b"content-type", b"text/html; charset=utf-8")]
            assert r.body == b"<p>&lt;tandem&gt;</p>"
    run(main)


def test_raw_stream_app_interface(tmp_path: Any) -> None:
    """The one app shape: any `async def app(stream)`, streaming both ways."""

    async def app(stream: Any) -> None:
        assert stream.head.method == "PUT"
        await stream.send_response(200, [(b"content-type", b"text/plain")], b"", False)
        more = True
        while more:
            chunk, more = await stream.receive()
            await stream.send_data(chunk.upper())
        await stream.send_data(b"!", True)

    async def main() -> None:
        async with connected(app, str(tmp_path)) as p:
            await p.fe.send(request(1, "PUT", body=b"ab", end=False))
            head, first = await p.fe.recv_frames(2)
            assert head == protocol.Response(1, 0, 200, [(b"content-type", b"text/plain")], b"")
            assert first == protocol.Data(1, 0, b"AB")
            await p.fe.send(protocol.Data(1, 0, b"cd"))
            assert await p.fe.recv_frame() == protocol.Data(1, 0, b"CD")
            await p.fe.send(protocol.Data(1, END, b""))
            # The empty chunk sends nothing; the END goes with the last bytes.
            assert await p.fe.recv_frame() == protocol.Data(1, END, b"!")
    run(main)


def test_app_that_returns_without_a_response_gets_500(tmp_path: Any) -> None:
    async def app(stream: Any) -> None:
        return None

    async def main() -> None:
        async with connected(app, str(tmp_path)) as p:
            await p.fe.send(request(1))
            assert (await p.fe.recv_frame()).status == 500
    run(main)


def test_app_that_fails_mid_response_cancels_the_stream(tmp_path: Any) -> None:
    async def app(stream: Any) -> None:
        await stream.send_response(200, [], b"partial", False)
        raise RuntimeError("mid-response")

    async def main() -> None:
        async with connected(app, str(tmp_path)) as p:
            await p.fe.send(request(1))
            assert (await p.fe.recv_frame()).body == b"partial"
            assert await p.fe.recv_frame() == protocol.Cancel(1, protocol.CANCEL_INTERNAL)
    run(main)


def test_reading_and_writing_wait_independently(tmp_path: Any) -> None:
    """A send waiting for window and a receive waiting for body, in two tasks of one app."""
    received: list[bytes] = []

    async def app(stream: Any) -> None:
        async def read() -> None:
            more = True
            while more:
                chunk, more = await stream.receive()
                received.append(chunk)

        reader = asyncio.get_running_loop().create_task(read())
        await stream.send_response(200, [], b"x" * 100000)
        await reader

    async def main() -> None:
        hello = frontend_hello(initial_window=65536)
        async with connected(app, str(tmp_path), hello=hello) as p:
            await p.fe.send(request(1, "POST", body=b"", end=False))
            first = await p.fe.recv_frame()
            assert len(first.body) == 65536 and not first.flags & END
            while p.channel.streams[1]._recv_waiter is None or p.channel.streams[1]._send_waiter is None:
                await asyncio.sleep(0)
            await p.fe.send(protocol.Data(1, END, b"body"))
            while not received or received[-1] != b"body":
                await asyncio.sleep(0)
            await p.fe.send(protocol.Window(1, 65536))
            rest = await p.fe.recv_frame()
            assert rest == protocol.Data(1, END, b"x" * (100000 - 65536))
    run(main)


def test_body_sends_wait_while_the_transport_is_paused(tmp_path: Any) -> None:
    app = App()

    @app.get("/big")
    def big(request: Any) -> bytes:
        return b"z" * 300000

    async def main() -> None:
        hello = frontend_hello(max_frame_size=65536)
        async with connected(app, str(tmp_path), hello=hello) as p:
            p.channel.pause_writing()
            p.channel.pause_writing()  # idempotent
            await p.fe.send(request(1, path=b"/big"))
            head = await p.fe.recv_frame()
            assert isinstance(head, protocol.Response) and not head.flags & END
            await p.fe.send(protocol.Ping(0, False, 1))
            assert await p.fe.recv_frame() == protocol.Ping(0, True, 1)  # no DATA meanwhile
            p.channel.resume_writing()
            p.channel.resume_writing()
            got = len(head.body)
            while got < 300000:
                frame = await p.fe.recv_frame()
                got += len(frame.data)
            assert frame.flags & END and got == 300000
    run(main)


def test_reconnects_after_a_connection_dropped_before_hello(tmp_path: Any) -> None:
    async def main() -> None:
        async with connected(make_app(), str(tmp_path), handshake=False) as p:
            for _ in range(3):
                await p.fe.recv_frame()  # the backend's HELLO
                p.fe.close_conn()        # dropped before our HELLO
                await p.fe.accept()
            await p.fe.handshake()
            await p.fe.send(request(1))
            assert (await p.fe.recv_frame()).status == 200
            assert p.server.connections == 4
    run(main)


@pytest.mark.parametrize("status, headers, body", [
    ("200", [], b""),
    (200, [("content-type", b"text/plain")], b""),
    (200, [(b"x", "str value")], b""),
    (200, [], "a str body"),
])
def test_badly_typed_response_fails_its_stream_only(tmp_path: Any, status: Any, headers: Any, body: Any) -> None:
    async def app(stream: Any) -> None:
        if stream.head.path == b"/bad":
            await stream.send_response(status, headers, body)
        else:
            await stream.send_response(200, [], b"fine")

    async def main() -> None:
        async with connected(app, str(tmp_path)) as p:
            await p.fe.send(request(1, path=b"/bad"), request(2))
            r1, r2 = await p.fe.recv_frames(2)
            assert (r1.stream_id, r1.status) == (1, 500)
            assert (r2.stream_id, r2.body) == (2, b"fine")
    run(main)


def test_send_file_is_one_response_frame_with_end_and_file(tmp_path: Any) -> None:
    errors: list[str] = []

    async def app(stream: Any) -> None:
        if stream.head.path == b"/relative":
            try:
                await stream.send_file(200, [], b"report.pdf")
            except ValueError as exc:
                errors.append(str(exc))
            await stream.send_response(200, [], b"fell back")
            try:
                await stream.send_file(200, [], b"/srv/report.pdf")
            except RuntimeError as exc:
                errors.append(str(exc))
            return
        await stream.send_file(200, [(b"content-type", b"application/pdf")], b"/srv/app/files/report.pdf")

    async def main() -> None:
        async with connected(app, str(tmp_path)) as p:
            await p.fe.send(request(13), request(15, path=b"/relative"))
            assert await p.fe.recv_frames(2) == [
                protocol.Response(13, END | protocol.FILE, 200, [(b"content-type", b"application/pdf")],
                                  b"/srv/app/files/report.pdf"),
                protocol.Response(15, END, 200, [], b"fell back")]
            assert p.channel.streams == {}
    run(main)
    assert errors == ["send_file() needs an absolute path as bytes, not b'report.pdf'",
                      "stream 15: response already started"]
