"""tandem.channel, the asyncio shell around the connection, against the fake frontend.

Most of what the channel does is exercised through the server in
test_server.py; these are the parts only the shell has: what it tells the
server and reload.py, and the transport's back-pressure reaching every stream.
"""

from __future__ import annotations

import asyncio
from typing import Any

from helpers import Gate, connected, frontend_hello, request, run
from tandem import App, protocol
from tandem.protocol import END


def test_superseded_is_known_while_the_streams_finish(tmp_path: Any) -> None:
    app = App()
    gate = Gate()

    @app.get("/")
    async def slow(request: Any) -> str:
        await gate.wait()
        return "done"

    async def main() -> None:
        async with connected(app, str(tmp_path)) as p:
            await p.fe.send(request(1))
            await gate.reached()
            assert not p.channel.superseded
            await p.fe.send(protocol.GoAway(0, protocol.SUPERSEDED, "newer"), protocol.Ping(0, False, 1))
            assert await p.fe.recv_frame() == protocol.Ping(0, True, 1)
            assert p.channel.superseded  # what Reloader.on_sighup asks
            gate.open()
            assert [f.body for f in await p.fe.expect_eof()] == [b"done"]
            assert await p.exit_code() == 0 and p.server.superseded
    run(main)


def test_resuming_the_transport_wakes_every_waiting_stream(tmp_path: Any) -> None:
    app = App()

    @app.get("/big/{n:int}")
    def big(request: Any, n: int) -> bytes:
        return bytes([n]) * 200000

    async def main() -> None:
        async with connected(app, str(tmp_path), hello=frontend_hello(max_frame_size=65536)) as p:
            p.channel.pause_writing()
            await p.fe.send(request(1, path=b"/big/1"), request(3, path=b"/big/3"))
            heads = await p.fe.recv_frames(2)
            assert [h.stream_id for h in heads] == [1, 3] and not any(h.flags & END for h in heads)
            while len(p.channel.streams) < 2 or any(s._send_waiter is None for s in p.channel.streams.values()):
                await asyncio.sleep(0)
            p.channel.resume_writing()
            got = {1: len(heads[0].body), 3: len(heads[1].body)}
            ended = set()
            while len(ended) < 2:
                frame = await p.fe.recv_frame()
                got[frame.stream_id] += len(frame.data)
                if frame.flags & END:
                    ended.add(frame.stream_id)
            assert got == {1: 200000, 3: 200000}
    run(main)
