"""ASGI applications (asgi.py) behind the channel, against the fake frontend.

Every test drives an ASGIAdapter through a real Unix socket with real frames
(helpers.connected), so what is asserted is what the frontend would get.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
from typing import Any, Optional

import pytest

from helpers import GUARD, connected, request, run
from tandem import protocol
from tandem.asgi import ASGI2Middleware, ASGIAdapter, raw_path
from tandem.protocol import END

FILE = protocol.FILE
TEXT = [(b"content-type", b"text/plain")]


def start(status: int = 200, headers: Any = None) -> dict[str, Any]:
    return {"type": "http.response.start", "status": status, "headers": TEXT if headers is None else headers}


def body(data: bytes = b"", more: bool = False) -> dict[str, Any]:
    return {"type": "http.response.body", "body": data, "more_body": more}


async def ping_pong(fe: Any, opaque: int = 77) -> None:
    """The next frame from the backend is the answer to this PING: nothing else came before it."""
    await fe.send(protocol.Ping(0, False, opaque))
    assert await fe.recv_frame() == protocol.Ping(0, True, opaque)


# --- scope ----------------------------------------------------------------------


def test_scope_has_every_key(tmp_path: Any) -> None:
    scopes: list[Any] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        scopes.append(scope)
        scope["state"]["mine"] = True  # a request's state is its own copy
        await send(start())
        await send(body(b"ok"))

    adapter = ASGIAdapter(app, root_path="/api", state={"pool": "P"})

    async def main() -> None:
        async with connected(adapter, str(tmp_path)) as p:
            head = request(1, "GET", path="/caf\u00e9 x/y".encode(), query=b"a=1&b=%20",
                           target=b"/caf%C3%A9%20x/y?a=1&b=%20",
                           headers=[(b"host", b"example.test"), (b"x-two", b"1"), (b"x-two", b"2")])
            await p.fe.send(head, request(3, "POST", path=b"/", target=b"http://example.test/a%2Fb?q"))
            await p.fe.recv_frames(2)

    run(main)
    scope, absolute = scopes
    assert scope == {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": "/caf\u00e9 x/y",
        "raw_path": b"/caf%C3%A9%20x/y",
        "query_string": b"a=1&b=%20",
        "root_path": "/api",
        "headers": [(b"host", b"example.test"), (b"x-two", b"1"), (b"x-two", b"2")],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8080),
        "state": {"pool": "P", "mine": True},
        "extensions": {"http.response.pathsend": {}, "tandem": {"request_id": "req-1"}},
    }
    assert adapter.state == {"pool": "P"}
    assert absolute["raw_path"] == b"/a%2Fb" and absolute["method"] == "POST"


@pytest.mark.parametrize("path, expected", [
    (b"/api/items/1", "/items/1"),   # a proxy in front kept the prefix
    (b"/items/1", "/items/1"),       # or stripped it
    (b"/api", ""),
    (b"/apix/1", "/apix/1"),         # not under /api: a whole segment is needed
])
def test_root_path_is_in_every_scope_and_out_of_the_path(path: bytes, expected: str) -> None:
    from helpers import FakeStream

    for root in ("/api", "/api/"):
        scope = ASGIAdapter(lambda *a: None, root_path=root).scope(FakeStream(path=path))  # type: ignore
        assert (scope["root_path"], scope["path"], scope["raw_path"]) == ("/api", expected, path)


def test_scope_path_bytes_that_are_not_utf8_become_replacement_characters() -> None:
    # As uvicorn decodes them: a lone surrogate would make the app's every encode() of the path fail
    # (Starlette answered 500 to /item/caf%E9).  raw_path keeps the bytes.
    from helpers import FakeStream

    scope = ASGIAdapter(lambda *a: None).scope(FakeStream(path=b"/\xff\xfe/caf\xc3\xa9/caf\xe9"))  # type: ignore
    assert scope["path"] == "/\ufffd\ufffd/caf\u00e9/caf\ufffd"
    scope["path"].encode("utf-8")


@pytest.mark.parametrize("target, expected", [
    (b"/", b"/"),
    (b"/a/b?x=1", b"/a/b"),
    (b"/a%20b", b"/a%20b"),
    (b"http://h:80/p/q?x", b"/p/q"),
    (b"https://h", b"/"),
    (b"http://h?x=/y", b"/"),
    (b"*", b"*"),
])
def test_raw_path(target: bytes, expected: bytes) -> None:
    assert raw_path(target) == expected


# --- request body and disconnect -------------------------------------------------------


def test_streamed_request_body_arrives_as_several_messages(tmp_path: Any) -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        messages = []
        while True:
            message = await receive()
            messages.append(message)
            if not message.get("more_body"):
                break
        await send(start())
        await send(body(repr(messages).encode()))

    async def main() -> None:
        async with connected(ASGIAdapter(app), str(tmp_path)) as p:
            await p.fe.send(request(1, "POST", body=b"ab", end=False), protocol.Data(1, 0, b"cd"))
            await asyncio.sleep(0.01)
            await p.fe.send(protocol.Data(1, END, b"ef"))
            (r,) = await p.fe.recv_frames(1)
            assert r.flags == END
            assert eval(r.body) == [
                {"type": "http.request", "body": b"ab", "more_body": True},
                {"type": "http.request", "body": b"cd", "more_body": True},
                {"type": "http.request", "body": b"ef", "more_body": False},
            ]
    run(main)


def test_receive_after_the_body_waits_for_the_disconnect(tmp_path: Any) -> None:
    """A long-poll: the app waits in receive() until the client goes away (CANCEL)."""
    waiting = asyncio.Event
    seen: list[Any] = []

    async def main() -> None:
        reached = waiting()
        done = asyncio.get_running_loop().create_future()

        async def app(scope: Any, receive: Any, send: Any) -> None:
            seen.append(await receive())
            reached.set()
            seen.append(await receive())
            try:
                await send(start())  # after the disconnect: an OSError (ASGI HTTP spec 2.4)
            except OSError:
                seen.append("send raised")
            done.set_result(asyncio.current_task().cancelling())  # type: ignore[union-attr]

        async with connected(ASGIAdapter(app), str(tmp_path)) as p:
            await p.fe.send(request(1))
            await reached.wait()
            await asyncio.sleep(0.01)
            assert not done.done()
            await p.fe.send(protocol.Cancel(1, protocol.CANCEL_CLIENT_GONE))
            async with asyncio.timeout(GUARD):
                assert await done == 0  # the app's Task was not cancelled
            await ping_pong(p.fe)  # nothing was sent for the cancelled stream
            assert p.channel.streams == {}

    run(main)
    assert seen == [{"type": "http.request", "body": b"", "more_body": False}, {"type": "http.disconnect"},
                    "send raised"]


def test_disconnect_while_the_body_is_still_streaming(tmp_path: Any) -> None:
    seen: list[Any] = []

    async def main() -> None:
        done = asyncio.get_running_loop().create_future()

        async def app(scope: Any, receive: Any, send: Any) -> None:
            seen.append(await receive())
            seen.append(await receive())
            seen.append(await receive())  # still disconnected
            done.set_result(None)

        async with connected(ASGIAdapter(app), str(tmp_path)) as p:
            await p.fe.send(request(1, "POST", body=b"part", end=False))
            await asyncio.sleep(0.01)
            await p.fe.send(protocol.Cancel(1, protocol.CANCEL_CLIENT_GONE))
            async with asyncio.timeout(GUARD):
                await done
            await ping_pong(p.fe)

    run(main)
    assert seen == [{"type": "http.request", "body": b"part", "more_body": True},
                    {"type": "http.disconnect"}, {"type": "http.disconnect"}]


def test_disconnect_reaches_a_receive_in_another_task(tmp_path: Any) -> None:
    seen: list[Any] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await receive()

        async def listen() -> None:
            seen.append(await receive())

        child = asyncio.get_running_loop().create_task(listen())
        try:
            await asyncio.shield(child)
        except asyncio.CancelledError:
            await child  # the app's own Task was cancelled; its child hears the disconnect
            raise

    async def main() -> None:
        async with connected(ASGIAdapter(app), str(tmp_path)) as p:
            await p.fe.send(request(1))
            await asyncio.sleep(0.01)
            await p.fe.send(protocol.Cancel(1, protocol.CANCEL_CLIENT_GONE))
            async with asyncio.timeout(GUARD):
                while not seen:
                    await asyncio.sleep(0.001)
            await ping_pong(p.fe)

    run(main)
    assert seen == [{"type": "http.disconnect"}]


def test_receive_after_the_response_is_complete_is_a_disconnect(tmp_path: Any) -> None:
    seen: list[Any] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send(start())
        await send(body(b"done"))
        seen.append(await receive())  # even with the body unread

    async def main() -> None:
        async with connected(ASGIAdapter(app), str(tmp_path)) as p:
            await p.fe.send(request(1, "POST", body=b"unread", end=False))
            (r,) = await p.fe.recv_frames(1)
            assert r == protocol.Response(1, END, 200, TEXT, b"done")
            async with asyncio.timeout(GUARD):
                while not seen:
                    await asyncio.sleep(0.001)

    run(main)
    assert seen == [{"type": "http.disconnect"}]


def test_a_receive_waiting_in_another_task_hears_the_response_complete(tmp_path: Any) -> None:
    seen: list[Any] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await receive()

        async def listen() -> None:
            seen.append(await receive())

        child = asyncio.get_running_loop().create_task(listen())
        await asyncio.sleep(0)
        await send(start())
        await send(body(b"x"))
        await child

    async def main() -> None:
        async with connected(ASGIAdapter(app), str(tmp_path)) as p:
            await p.fe.send(request(1))
            assert (await p.fe.recv_frame()).body == b"x"
            await ping_pong(p.fe)

    run(main)
    assert seen == [{"type": "http.disconnect"}]


# --- response -------------------------------------------------------------------


def test_one_start_and_one_body_go_out_as_one_response_frame(tmp_path: Any) -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 201,
                    "headers": [(b"Content-Type", b"text/plain"), (b"x-a", b"1")]})
        await send({"type": "http.response.body", "body": b"created"})

    async def main() -> None:
        async with connected(ASGIAdapter(app), str(tmp_path)) as p:
            await p.fe.send(request(1))
            assert await p.fe.recv_frame() == protocol.Response(
                1, END, 201, [(b"content-type", b"text/plain"), (b"x-a", b"1")], b"created")
            await ping_pong(p.fe)
    run(main)


def test_streaming_response_is_response_then_data_frames(tmp_path: Any) -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send(start())
        await send(body(b"a", more=True))
        await send(body(b"", more=True))  # nothing to send
        await send(body(bytearray(b"b"), more=True))
        await send(body(b""))

    async def main() -> None:
        async with connected(ASGIAdapter(app), str(tmp_path)) as p:
            await p.fe.send(request(1))
            assert await p.fe.recv_frames(3) == [
                protocol.Response(1, 0, 200, TEXT, b"a"),
                protocol.Data(1, 0, b"b"),
                protocol.Data(1, END, b""),
            ]
            await ping_pong(p.fe)
    run(main)


def test_streaming_response_waits_for_the_window(tmp_path: Any) -> None:
    from helpers import frontend_hello

    chunk = b"x" * 40000

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send(start())
        for _ in range(3):
            await send(body(chunk, more=True))
        await send(body(b"!"))

    async def main() -> None:
        async with connected(ASGIAdapter(app), str(tmp_path), hello=frontend_hello(initial_window=65536)) as p:
            await p.fe.send(request(1))
            head, data = await p.fe.recv_frames(2)
            assert head.body == chunk and data == protocol.Data(1, 0, b"x" * (65536 - 40000))
            await ping_pong(p.fe)  # the window is closed: the app waits
            await p.fe.send(protocol.Window(1, 1 << 20))
            rest = await p.fe.recv_frames(3)
            received = head.body + data.data + b"".join(f.data for f in rest)
            assert received == chunk * 3 + b"!" and rest[-1].flags == END
    run(main)


def test_pathsend_is_a_file_response_with_the_absolute_path(tmp_path: Any, monkeypatch: Any) -> None:
    (tmp_path / "files").mkdir()
    (tmp_path / "files" / "report.pdf").write_bytes(b"%PDF")
    monkeypatch.chdir(tmp_path)

    async def app(scope: Any, receive: Any, send: Any) -> None:
        assert "http.response.pathsend" in scope["extensions"]
        await send(start(headers=[(b"content-type", b"application/pdf")]))
        await send({"type": "http.response.pathsend", "path": os.path.join("files", "report.pdf")})

    async def main() -> None:
        async with connected(ASGIAdapter(app), str(tmp_path)) as p:
            await p.fe.send(request(1))
            assert await p.fe.recv_frame() == protocol.Response(
                1, END | FILE, 200, [(b"content-type", b"application/pdf")],
                os.fsencode(str(tmp_path / "files" / "report.pdf")))
            await ping_pong(p.fe)
    run(main)


# --- errors -----------------------------------------------------------------------


def _expect_500(r: Any, sid: int = 1) -> None:
    assert r == protocol.Response(sid, END, 500, [(b"content-type", b"text/plain; charset=utf-8")],
                                  b"Internal Server Error")


def test_exception_before_the_response_is_a_500(tmp_path: Any, caplog: Any) -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["path"] == "/started":
            await send(start())  # held back: nothing has gone out yet
        raise ValueError("broken app")

    async def main() -> None:
        async with connected(ASGIAdapter(app), str(tmp_path)) as p:
            await p.fe.send(request(1), request(3, path=b"/started"))
            r1, r3 = await p.fe.recv_frames(2)
            _expect_500(r1, 1)
            _expect_500(r3, 3)
    run(main)
    assert caplog.text.count("ValueError: broken app") == 2
    # Each log line names its request and request id.
    assert "GET / (request id req-1, stream 1): the app raised an exception" in caplog.text
    assert "GET /started (request id req-3, stream 3): the app raised an exception" in caplog.text


def test_request_id_in_the_scope(tmp_path: Any) -> None:
    ids: list[str] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        ids.append(scope["extensions"]["tandem"]["request_id"])
        await send(start())
        await send(body(b"ok"))

    async def main() -> None:
        async with connected(ASGIAdapter(app), str(tmp_path)) as p:
            # The frontend's id; then none (a frontend from before request ids): the backend's own.
            await p.fe.send(request(1, request_id="4f1c2a9e"), request(3, request_id=""), request(5, request_id=""))
            await p.fe.recv_frames(3)
    run(main)
    assert ids[0] == "4f1c2a9e"
    assert all(len(i) == 32 and int(i, 16) >= 0 for i in ids[1:]) and ids[1] != ids[2]


def test_exception_after_the_response_started_cancels_the_stream(tmp_path: Any, caplog: Any) -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send(start())
        await send(body(b"partial", more=True))
        raise ValueError("mid-response")

    async def main() -> None:
        async with connected(ASGIAdapter(app), str(tmp_path)) as p:
            await p.fe.send(request(1))
            assert await p.fe.recv_frames(2) == [protocol.Response(1, 0, 200, TEXT, b"partial"),
                                                 protocol.Cancel(1, protocol.CANCEL_INTERNAL)]
    run(main)
    assert "ValueError: mid-response" in caplog.text


@pytest.mark.parametrize("path, expected", [
    (b"/nothing", "returned without starting a response"),
    (b"/start-only", "returned without completing the response (it sent http.response.start, but no body)"),
])
def test_returning_before_any_body_is_a_500(tmp_path: Any, caplog: Any, path: bytes, expected: str) -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["path"] == "/start-only":
            await send(start())

    async def main() -> None:
        async with connected(ASGIAdapter(app), str(tmp_path)) as p:
            await p.fe.send(request(1, path=path))
            _expect_500(await p.fe.recv_frame())
    run(main)
    assert expected in caplog.text


def test_returning_in_the_middle_of_a_response_cancels_the_stream(tmp_path: Any, caplog: Any) -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send(start())
        await send(body(b"half", more=True))

    async def main() -> None:
        async with connected(ASGIAdapter(app), str(tmp_path)) as p:
            await p.fe.send(request(1))
            assert await p.fe.recv_frames(2) == [protocol.Response(1, 0, 200, TEXT, b"half"),
                                                 protocol.Cancel(1, protocol.CANCEL_INTERNAL)]
    run(main)
    assert "returned without completing the response" in caplog.text


def test_a_return_value_is_logged(tmp_path: Any, caplog: Any) -> None:
    async def app(scope: Any, receive: Any, send: Any) -> Any:
        await send(start())
        await send(body(b"ok"))
        return "oops"

    async def main() -> None:
        async with connected(ASGIAdapter(app), str(tmp_path)) as p:
            await p.fe.send(request(1))
            assert (await p.fe.recv_frame()).body == b"ok"
            await ping_pong(p.fe)
    run(main)
    assert "returned 'oops'; it should return None" in caplog.text


def _misuse_app(first: list[dict[str, Any]], errors: list[str]) -> Any:
    """Sends ``first``, expecting the last message to fail, then answers 200 'recovered'."""

    async def app(scope: Any, receive: Any, send: Any) -> None:
        for message in first[:-1]:
            await send(message)
        try:
            await send(first[-1])
        except (RuntimeError, TypeError) as exc:
            errors.append(f"{type(exc).__name__}: {exc}")
        else:
            errors.append("no error")
        if not any(m["type"] == "http.response.start" for m in first[:-1]):
            await send(start())
        await send(body(b"recovered"))

    return app


@pytest.mark.parametrize("messages, error", [
    ([start(), start(201)], "Expected ASGI message 'http.response.body', but got 'http.response.start'"),
    ([body(b"x")], "Expected ASGI message 'http.response.start', but got 'http.response.body'"),
    ([start(), {"type": "http.response.trailers"}],
     "Expected ASGI message 'http.response.body', but got 'http.response.trailers'"),
    ([{"type": "websocket.accept"}], "Expected ASGI message 'http.response.start', but got 'websocket.accept'"),
    ([start(), body(b"a", more=True), {"type": "http.response.pathsend", "path": "/etc/hosts"}],
     "Expected ASGI message 'http.response.body', but got 'http.response.pathsend'"),
    ([start(headers=[(b"bad name", b"v")])], "invalid header name b'bad name'"),
    ([start(headers=[(b"", b"v")])], "invalid header name b''"),
    ([start(headers=[(b"x-a", b"line\r\nx-b: injected")])], "invalid value for header b'x-a'"),
    ([start(headers=[(b"x-a", b"nul\x00")])], "invalid value for header b'x-a'"),
    ([start(headers=[("x-a", "str")])], "TypeError: header name must be bytes"),
    ([start(101)], "status 101 is not a final status"),
    ([start(600)], "status 600 is not a final status"),
    ([start("200")], "TypeError: http.response.start: status must be an int, not str"),  # type: ignore[arg-type]
    ([start(True)], "status must be an int, not bool"),
    ([start(), {"type": "http.response.body", "body": "text"}], "TypeError: http.response.body: body must be bytes"),
])
def test_misuse_raises_into_send_and_is_contained(tmp_path: Any, messages: Any, error: str) -> None:
    errors: list[str] = []

    async def main() -> None:
        async with connected(ASGIAdapter(_misuse_app(messages, errors)), str(tmp_path)) as p:
            await p.fe.send(request(1))
            frames = [await p.fe.recv_frame()]
            while not frames[-1].flags & END:
                frames.append(await p.fe.recv_frame())
            assert frames[0].status == 200
            assert b"".join(getattr(f, "body", b"") or getattr(f, "data", b"") for f in frames).endswith(b"recovered")
    run(main)
    assert len(errors) == 1 and error in errors[0], errors


def test_body_after_the_end_raises(tmp_path: Any) -> None:
    errors: list[str] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send(start())
        await send(body(b"done"))
        try:
            await send(body(b"more"))
        except RuntimeError as exc:
            errors.append(str(exc))

    async def main() -> None:
        async with connected(ASGIAdapter(app), str(tmp_path)) as p:
            await p.fe.send(request(1))
            assert (await p.fe.recv_frame()).body == b"done"
            await ping_pong(p.fe)
    run(main)
    assert errors == ["Unexpected ASGI message 'http.response.body' sent, after the response was complete"]


@pytest.mark.parametrize("headers", [
    [(b"x-a", b"line\nbreak")],
    [(b"x a", b"1")],
])
def test_an_uncaught_invalid_start_is_a_500(tmp_path: Any, caplog: Any, headers: Any) -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send(start(headers=headers))
        await send(body(b"never"))

    async def main() -> None:
        async with connected(ASGIAdapter(app), str(tmp_path)) as p:
            await p.fe.send(request(1), request(3))
            _expect_500(await p.fe.recv_frame(), 1)
            _expect_500(await p.fe.recv_frame(), 3)
    run(main)
    assert "RuntimeError: http.response.start: invalid" in caplog.text


def test_a_client_that_leaves_does_not_cancel_the_app(tmp_path: Any) -> None:
    # As uvicorn runs an ASGI app: it goes on to its end (work it began is not cut short), receive() returns
    # http.disconnect and a send raises an OSError (ASGI HTTP spec 2.4).
    async def main() -> None:
        results: list[Any] = []
        done = asyncio.Event()

        async def app(scope: Any, receive: Any, send: Any) -> None:
            try:
                await send(start())
                await send(body(b"1", more=True))
                assert await receive() == {"type": "http.request", "body": b"", "more_body": False}
                results.append(await receive())          # waits: the body is read, the response not done
                await asyncio.sleep(0.01)                  # work after the client left still runs
                results.append("worked on")
                try:
                    await send(body(b"2", more=True))
                except OSError as exc:
                    results.append(type(exc).__name__)
                results.append("finished")
            except asyncio.CancelledError:
                results.append("cancelled")
                raise
            finally:
                done.set()

        async with connected(ASGIAdapter(app), str(tmp_path)) as p:
            await p.fe.send(request(1))
            assert (await p.fe.recv_frame()).body == b"1"
            await p.fe.send(protocol.Cancel(1, protocol.CANCEL_CLIENT_GONE))
            async with asyncio.timeout(GUARD):
                await done.wait()
            await ping_pong(p.fe)      # nothing more was sent on the stream
        assert results == [{"type": "http.disconnect"}, "worked on", "ClientDisconnected", "finished"]
    run(main)


def test_other_cancels_still_cancel_the_app(tmp_path: Any) -> None:
    # A request the frontend gives up on (its timeout, a backend draining) is cancelled, as before.
    async def main() -> None:
        cancelled = asyncio.Event()

        async def app(scope: Any, receive: Any, send: Any) -> None:
            await send(start())
            await send(body(b"1", more=True))
            try:
                await asyncio.sleep(GUARD)
            except asyncio.CancelledError:
                cancelled.set()
                raise

        async with connected(ASGIAdapter(app), str(tmp_path)) as p:
            await p.fe.send(request(1))
            assert (await p.fe.recv_frame()).body == b"1"
            await p.fe.send(protocol.Cancel(1, protocol.CANCEL_TIMEOUT))
            async with asyncio.timeout(GUARD):
                await cancelled.wait()
    run(main)


# --- the Task and ASGI 2 --------------------------------------------------------------


def test_the_app_runs_in_a_task_from_its_first_line(tmp_path: Any) -> None:
    tasks: list[Any] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        tasks.append(asyncio.current_task())
        async with asyncio.timeout(GUARD):
            await send(start())
            await send(body(b"ok"))

    async def main() -> None:
        async with connected(ASGIAdapter(app), str(tmp_path)) as p:
            await p.fe.send(request(1))
            assert (await p.fe.recv_frame()).body == b"ok"
    run(main)
    assert ASGIAdapter.tandem_fast_path is False
    assert tasks[0] is not None


def test_asgi2_application_is_wrapped(tmp_path: Any) -> None:
    class App2:
        def __init__(self, scope: Any) -> None:
            self.scope = scope

        async def __call__(self, receive: Any, send: Any) -> None:
            message = await receive()
            await send(start())
            await send(body(self.scope["path"].encode() + b" " + message["body"]))

    async def main() -> None:
        async with connected(ASGIAdapter(ASGI2Middleware(App2), interface="asgi2"), str(tmp_path)) as p:
            await p.fe.send(request(1, "POST", path=b"/two", body=b"hi"))
            assert (await p.fe.recv_frame()).body == b"/two hi"
    run(main)


# --- real frameworks --------------------------------------------------------------------


def _collect(frames: list[Any]) -> bytes:
    return b"".join(f.body if isinstance(f, protocol.Response) else f.data for f in frames)


async def _exchange(fe: Any, *heads: Any) -> dict[int, tuple[Any, bytes]]:
    """Send requests; read until each has ended; return {sid: (RESPONSE, whole body)}."""
    await fe.send(*heads)
    frames: dict[int, list[Any]] = {h.stream_id: [] for h in heads}
    open_ = set(frames)
    while open_:
        frame = await fe.recv_frame()
        assert not isinstance(frame, protocol.Cancel), frame
        frames[frame.stream_id].append(frame)
        if frame.flags & END:
            open_.discard(frame.stream_id)
    return {sid: (fs[0], _collect(fs)) for sid, fs in frames.items()}


def _header(response: Any, name: bytes) -> Optional[bytes]:
    for n, v in response.headers:
        if n == name:
            return v
    return None


def test_a_real_starlette_app(tmp_path: Any) -> None:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse, PlainTextResponse, StreamingResponse
    from starlette.routing import Route

    async def item(request: Request) -> JSONResponse:
        return JSONResponse({"id": request.path_params["item_id"], "q": request.query_params.get("q"),
                             "url": str(request.url)})

    async def echo(request: Request) -> PlainTextResponse:
        return PlainTextResponse((await request.body()).upper(), status_code=201)

    async def stream(request: Request) -> StreamingResponse:
        async def numbers() -> Any:
            for i in range(3):
                yield f"{i};"
        return StreamingResponse(numbers(), media_type="text/plain")

    def sync_view(request: Request) -> PlainTextResponse:  # run by starlette in anyio's thread pool
        return PlainTextResponse("sync")

    app = Starlette(routes=[Route("/items/{item_id:int}", item), Route("/echo", echo, methods=["POST"]),
                            Route("/stream", stream), Route("/sync", sync_view)])

    async def main() -> None:
        async with connected(ASGIAdapter(app, root_path="/api"), str(tmp_path)) as p:
            got = await _exchange(p.fe, request(1, path=b"/items/7", query=b"q=x"),
                                  request(5, path=b"/stream"), request(7, path=b"/sync"),
                                  request(9, path=b"/missing"))
            import json
            assert got[1][0].status == 200 and json.loads(got[1][1]) == {
                "id": 7, "q": "x", "url": "http://example.test/api/items/7?q=x"}
            assert got[5][1] == b"0;1;2;" and got[5][0].flags & END == 0
            assert got[7][1] == b"sync"
            assert got[9][0].status == 404
            await p.fe.send(request(11, "POST", b"/echo", body=b"abc", end=False))
            await asyncio.sleep(0.01)
            await p.fe.send(protocol.Data(11, END, b"def"))
            (r,) = await p.fe.recv_frames(1)
            assert (r.status, r.body) == (201, b"ABCDEF")
    run(main)


def _fastapi_app() -> Any:
    from fastapi import FastAPI, HTTPException

    app = FastAPI()

    @app.get("/items/{item_id}")
    async def read_item(item_id: int, q: Optional[str] = None) -> dict[str, Any]:
        if item_id == 0:
            raise HTTPException(status_code=404, detail="no such item")
        return {"item_id": item_id, "q": q}

    @app.post("/items")
    def create_item(item: Item) -> dict[str, Any]:
        return {"name": item.name, "price": item.price * 2}

    return app


try:
    from pydantic import BaseModel
except ImportError:  # pragma: no cover
    pass
else:
    class Item(BaseModel):  # module level: FastAPI resolves the string annotations here
        name: str
        price: float


def test_a_real_fastapi_app(tmp_path: Any) -> None:
    app = _fastapi_app()

    async def main() -> None:
        async with connected(ASGIAdapter(app), str(tmp_path)) as p:
            import json
            got = await _exchange(
                p.fe, request(1, path=b"/items/3", query=b"q=hi"), request(3, path=b"/items/0"),
                request(5, "POST", b"/items", body=b'{"name": "pen", "price": 1.5}',
                        headers=[(b"host", b"x"), (b"content-type", b"application/json")]),
                request(7, "POST", b"/items", body=b'{"name": "pen"}',
                        headers=[(b"host", b"x"), (b"content-type", b"application/json")]))
            assert (got[1][0].status, json.loads(got[1][1])) == (200, {"item_id": 3, "q": "hi"})
            assert (got[3][0].status, json.loads(got[3][1])) == (404, {"detail": "no such item"})
            assert (got[5][0].status, json.loads(got[5][1])) == (200, {"name": "pen", "price": 3.0})
            assert got[7][0].status == 422
            assert _header(got[1][0], b"content-type") == b"application/json"
            # One start and one body: each answer is a single RESPONSE frame.
            assert all(r.flags & END for r, _ in got.values())
    run(main)


def test_starlette_streaming_response_stops_when_the_client_goes_away(tmp_path: Any) -> None:
    from starlette.responses import StreamingResponse

    stopped: list[str] = []

    async def forever() -> Any:
        try:
            while True:
                yield b"tick;"
                await asyncio.sleep(0.001)
        finally:
            stopped.append("generator closed")

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await StreamingResponse(forever())(scope, receive, send)

    async def main() -> None:
        async with connected(ASGIAdapter(app), str(tmp_path)) as p:
            await p.fe.send(request(1))
            head = await p.fe.recv_frame()
            assert head.status == 200
            await p.fe.send(protocol.Cancel(1, protocol.CANCEL_CLIENT_GONE))
            async with asyncio.timeout(GUARD):
                while not stopped or p.channel.streams:
                    # Either the disconnect cancels the streaming task while it is inside the generator, which
                    # closes it at once, or its send() raises ClientDisconnected first, which leaves the
                    # generator to be closed when it is collected (as under uvicorn): collect it.
                    gc.collect()
                    await asyncio.sleep(0.001)
    run(main)
    assert stopped == ["generator closed"]


def test_logs_name_the_stream(tmp_path: Any, caplog: Any) -> None:
    caplog.set_level(logging.ERROR)

    async def app(scope: Any, receive: Any, send: Any) -> None:
        raise KeyError("k")

    async def main() -> None:
        async with connected(ASGIAdapter(app), str(tmp_path)) as p:
            await p.fe.send(request(5))
            _expect_500(await p.fe.recv_frame(), 5)
    run(main)
    assert "stream 5" in caplog.text
