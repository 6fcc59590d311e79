"""WebSockets with real clients from Debian (python3-websockets, python3-websocket)
to a Starlette app and to the native API through the frontend; ASGI's denial
response; WSGI's refusal; a backend that speaks no WebSockets; 1,000
connections at once; a backend swap with WebSockets open."""

from __future__ import annotations

import asyncio
import resource

import pytest
import websocket as websocket_client      # python3-websocket (synchronous)
import websockets                         # python3-websockets (asyncio)

from e2e_support import APPS_DIR, BACKEND_PATH, IO_TIMEOUT, PYTHON, ResponseReader, Stack, connect, spawn, wait_until
from ws_client import TEXT, WS, handshake

NATIVE = "ws_app:app"


def stack_with(make_stack, app: str, *extra: str) -> Stack:
    st = make_stack()
    st.start_frontend()
    st.start_backend(*extra, app=app, app_dir=APPS_DIR)
    return st


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 60))


# --- real clients ------------------------------------------------------------------------------


@pytest.mark.parametrize("app", [NATIVE, "ws_asgi:starlette_app"])
def test_websockets_library_echo(make_stack, app):
    st = stack_with(make_stack, app)

    async def talk():
        async with websockets.connect(f"ws://127.0.0.1:{st.port}/echo", max_size=None) as ws:
            await ws.send("hello ☃")
            assert await ws.recv() == "hello ☃"
            await ws.send(b"\x00" * 300000)
            assert await ws.recv() == b"\x00" * 300000
            pong = await ws.ping(b"p")
            await asyncio.wait_for(pong, IO_TIMEOUT)
        assert ws.close_code == 1000

    run(talk())


@pytest.mark.parametrize("app", [NATIVE, "ws_asgi:starlette_app"])
def test_websocket_client_library_echo(make_stack, app):
    st = stack_with(make_stack, app)
    # The Starlette app chooses the first subprotocol offered; the native one none.
    ws = websocket_client.create_connection(f"ws://127.0.0.1:{st.port}/echo", timeout=IO_TIMEOUT,
                                            subprotocols=None if app == NATIVE else ["chat"])
    try:
        ws.send("text one")
        assert ws.recv() == "text one"
        ws.send_binary(b"\x01\x02")
        assert ws.recv() == b"\x01\x02"
        if app != NATIVE:
            assert ws.getsubprotocol() == "chat"
    finally:
        ws.close()


def test_starlette_refusal_is_403(make_stack):
    st = stack_with(make_stack, "ws_asgi:starlette_app")

    async def talk():
        with pytest.raises(websockets.InvalidStatusCode) as info:
            async with websockets.connect(f"ws://127.0.0.1:{st.port}/refuse"):
                pass
        assert info.value.status_code == 403

    run(talk())


def test_asgi_denial_response(make_stack):
    """websocket.http.response: the app's own status, headers and body instead of a WebSocket."""
    st = stack_with(make_stack, "ws_asgi:raw_app")
    s = connect(st.port)
    s.sendall(handshake("/room/9", b"dGhlIHNhbXBsZSBub25jZQ=="))
    resp = ResponseReader(s).read()
    assert (resp.status, resp.header("www-authenticate"), resp.body) == (401, "Bearer", b"no token for /room/9")
    s.close()


def test_wsgi_apps_refuse_upgrades_with_501(make_stack):
    st = stack_with(make_stack, "ws_asgi:wsgi_app", "--interface", "wsgi")
    ws = WS(st.port, "/echo", expect=501)
    assert ws.headers["content-type"].startswith("text/plain")


def test_a_backend_without_websockets_gets_the_upgrade_as_http(make_stack, tmp_path):
    """A backend whose HELLO announces no features (an older one): the frontend sends the
    handshake as a plain request, without WEBSOCKET, and the client gets its HTTP answer."""
    st = make_stack()
    st.start_frontend()
    script = tmp_path / "old_backend.py"
    script.write_text(OLD_BACKEND)
    proc = spawn("old-backend", [PYTHON, str(script), st.sock], str(tmp_path), env={"PYTHONPATH": BACKEND_PATH})
    st.backends.append(proc)
    wait_until(lambda: "attached" in st.frontend.log(), IO_TIMEOUT, "the old backend to attach")
    ws = WS(st.port, "/chat", expect=200)
    body = ws.buf
    while b"flags=" not in body or not body.endswith(b"\n"):
        body += ws.sock.recv(65536)
    assert b"flags=1\n" in body          # END only: no WEBSOCKET


OLD_BACKEND = '''
import os, socket, sys
from tandem import protocol
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
s.sendall(protocol.hello_frame(0, 1, "backend", "old:app", os.getpid(), 1, 1048576, 16, 1048576))
dec = protocol.Decoder()
while True:
    data = s.recv(65536)
    if not data:
        break
    dec.feed(data)
    for f in dec:
        if isinstance(f, protocol.Hello):
            dec.max_frame_size = 1048576
        if isinstance(f, protocol.Request):
            body = b"flags=%d\\n" % f.flags
            s.sendall(protocol.response_frame(f.stream_id, protocol.END, 200,
                                              [b"content-type", b"text/plain"], body))
'''


# --- many at once, swaps -----------------------------------------------------------------------


def test_a_thousand_websockets_at_once(make_stack):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = 2600
    if hard != resource.RLIM_INFINITY and hard < need:
        pytest.skip(f"the hard limit on open files ({hard}) is below {need}")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, need), hard))
    try:
        st = stack_with(make_stack, NATIVE)      # started with the raised limit

        async def one(i: int) -> int:
            async with websockets.connect(f"ws://127.0.0.1:{st.port}/echo", open_timeout=30) as ws:
                opened.append(i)
                await all_open.wait()
                for j in range(3):
                    await ws.send(f"{i}:{j}")
                    assert await ws.recv() == f"{i}:{j}"
                return i

        opened: list[int] = []
        all_open = asyncio.Event()

        async def main():
            tasks = [asyncio.create_task(one(i)) for i in range(1000)]
            while len(opened) < 1000:
                done = [t for t in tasks if t.done() and t.exception() is not None]
                if done:
                    raise done[0].exception()
                await asyncio.sleep(0.05)
            all_open.set()              # 1000 open at the same moment, then all talk
            return await asyncio.gather(*tasks)

        assert sorted(asyncio.run(asyncio.wait_for(main(), 120))) == list(range(1000))
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_a_swap_leaves_open_websockets_on_the_old_backend(make_stack):
    st = stack_with(make_stack, NATIVE)
    old = st.backends[0]
    ws_old = WS(st.port, "/pid")
    assert ws_old.recv_message() == (TEXT, str(old.pid).encode())
    new = st.start_backend(app=NATIVE, app_dir=APPS_DIR, wait=False)
    st.wait_attached(new)
    wait_until(lambda: "draining" in st.frontend.log(100000), IO_TIMEOUT, "the old backend to be superseded")
    ws_new = WS(st.port, "/pid")
    assert ws_new.recv_message() == (TEXT, str(new.pid).encode())
    # The old WebSocket still talks to the old backend, which waits for it.
    ws_old.send(TEXT, b"still here")
    assert ws_old.recv_message() == (TEXT, b"still here")
    assert old.alive()
    ws_old.send_close(1000)
    ws_old.expect_close(1000)
    wait_until(lambda: not old.alive(), IO_TIMEOUT, "the drained backend to exit")
    ws_new.send(TEXT, b"new")
    assert ws_new.recv_message() == (TEXT, b"new")
