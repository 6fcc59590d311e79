"""The chat example (examples/chat): its page served by the frontend with --static, and two clients
talking in its room through the frontend."""

from __future__ import annotations

import asyncio
import json
import os

import websockets

from e2e_support import IO_TIMEOUT, REPO, request

CHAT = os.path.join(REPO, "examples", "chat")


def test_the_chat_example(make_stack):
    st = make_stack()
    st.static_dir = None
    st.start_frontend("--static", f"/static={os.path.join(CHAT, 'public')}")
    st.start_backend(app="app:app", app_dir=CHAT)
    page = request(st.port, "GET", "/static/index.html")
    assert page.status == 200 and b"/static/chat.js" in page.body
    assert b"new WebSocket" in request(st.port, "GET", "/static/chat.js").body
    home = request(st.port, "GET", "/")
    assert (home.status, home.header("location")) == (302, "/static/index.html")

    async def talk():
        base = f"ws://127.0.0.1:{st.port}/chat/"
        async with websockets.connect(base + "ann") as ann:
            assert json.loads(await ann.recv()) == {"from": "room", "text": "ann joined (1 here)"}
            async with websockets.connect(base + "bob") as bob:
                assert json.loads(await bob.recv())["text"] == "bob joined (2 here)"
                assert json.loads(await ann.recv())["text"] == "bob joined (2 here)"
                await bob.send(json.dumps({"text": "hi ann ☃"}))
                for ws in (ann, bob):
                    assert json.loads(await ws.recv()) == {"from": "bob", "text": "hi ann ☃"}
            assert json.loads(await ann.recv()) == {"from": "room", "text": "bob left"}
            await ann.send("not json")
            await ann.wait_closed()
            assert ann.close_code == 1003

    asyncio.run(asyncio.wait_for(talk(), IO_TIMEOUT * 2))
