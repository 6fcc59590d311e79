"""tandem.stream: a ChannelStream on a real, sans-I/O Connection, fed the frontend's bytes.

The owner here is the smallest one that works: it hands each event to its
stream, as the channel does, and the test reads what the connection would
write.  No socket: the waits are the stream's own futures on a real loop.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from helpers import run
from tandem import protocol
from tandem.connection import BodyReceived, Connection, HelloConfig, StreamReset, WindowOpened
from tandem.protocol import END, Decoder
from tandem.stream import ChannelStream
from tandem.types import PreparedHeaders, StreamCancelled


class Owner:
    def __init__(self, initial_window: int = 65536, peer_window: int = 65536, max_frame: int = 65536) -> None:
        self.streams: list[ChannelStream] = []
        self.out = bytearray()
        self.conn = Connection(HelloConfig("a", 1, initial_window=initial_window), on_stream=self.on_stream,
                               on_event=self.on_event, new_stream=ChannelStream)
        self.feed(protocol.hello_frame(0, 1, "frontend", "f", 1, 0, max_frame, 0, peer_window))

    def feed(self, data: bytes) -> None:
        self.out += b"".join(self.conn.receive_data(data))

    def on_stream(self, stream: Any) -> bool:
        self.streams.append(stream)
        return False

    def on_event(self, event: Any) -> None:
        if isinstance(event, BodyReceived):
            event.stream.feed(event.data)
        elif isinstance(event, WindowOpened):
            event.stream.window_opened()
        elif isinstance(event, StreamReset):
            event.stream.cancel(event.code)

    def open(self, sid: int = 1, body: bytes = b"", end: bool = True) -> ChannelStream:
        self.feed(protocol.request_frame(sid, END if end else 0, "POST", b"/", b"/", b"", "1.1", [], None, None,
                                         "http", body))
        self.out.clear()  # the HELLO and anything before the stream
        return self.streams[-1]

    def sent(self) -> list[Any]:
        self.out += b"".join(self.conn.data_to_send())
        decoder = Decoder(protocol.MAX_MAX_FRAME)
        decoder.feed(bytes(self.out))
        self.out.clear()
        return list(decoder)


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


def test_the_request_body_in_order_with_window_grants() -> None:
    async def main() -> None:
        owner = Owner(initial_window=65536)
        stream = owner.open(body=b"a" * 30000, end=False)
        assert await stream.receive() == (b"a" * 30000, True)
        assert owner.sent() == []  # below half the window: no grant yet
        reader = asyncio.get_running_loop().create_task(stream.receive())
        await settle()
        assert not reader.done()
        owner.feed(protocol.data_frame(1, 0, b"b" * 3000))
        assert await reader == (b"b" * 3000, True)
        assert owner.sent() == [protocol.Window(1, 33000)]
        owner.feed(protocol.data_frame(1, 0, b"c") + protocol.data_frame(1, END, b"d"))
        assert [await stream.receive() for _ in range(3)] == [(b"c", True), (b"d", False), (b"", False)]
        assert stream.request_ended and not stream.response_ended
    run(main)


def test_a_whole_response_is_one_frame_without_waiting() -> None:
    async def main() -> None:
        owner = Owner()
        stream = owner.open()
        await stream.send_response(201, PreparedHeaders([(b"x", b"1")]), b"body")
        assert owner.sent() == [protocol.Response(1, END, 201, [(b"x", b"1")], b"body")]
        assert stream.response_started and stream.response_ended
    run(main)


def test_a_send_waits_for_window_and_goes_on_when_granted() -> None:
    async def main() -> None:
        owner = Owner(peer_window=65536)
        stream = owner.open()
        sender = asyncio.get_running_loop().create_task(stream.send_response(200, [], b"z" * 100000))
        await settle()
        assert not sender.done() and stream._send_waiter is not None
        head = owner.sent()
        assert sum(len(f.body if isinstance(f, protocol.Response) else f.data) for f in head) == 65536
        owner.feed(protocol.window_frame(1, 40000))
        await sender
        (rest,) = owner.sent()
        assert rest == protocol.Data(1, END, b"z" * (100000 - 65536))
    run(main)


def test_a_send_waits_while_the_transport_is_paused() -> None:
    async def main() -> None:
        owner = Owner()
        stream = owner.open()
        await stream.send_response(200, [], b"", False)
        owner.conn.writing_paused = True
        sender = asyncio.get_running_loop().create_task(stream.send_data(b"later", True))
        await settle()
        assert not sender.done() and owner.sent() == [protocol.Response(1, 0, 200, [], b"")]
        owner.conn.writing_paused = False
        stream.window_opened()  # what the channel does for every stream when the transport resumes
        await sender
        assert owner.sent() == [protocol.Data(1, END, b"later")]
    run(main)


def test_cancel_ends_every_wait() -> None:
    async def main() -> None:
        owner = Owner()
        stream = owner.open(end=False)
        loop = asyncio.get_running_loop()
        reader = loop.create_task(stream.receive())
        watcher = loop.create_task(stream.wait_cancelled())
        await settle()
        owner.feed(protocol.cancel_frame(1, protocol.CANCEL_CLIENT_GONE))
        with pytest.raises(StreamCancelled):
            await reader
        assert await watcher == protocol.CANCEL_CLIENT_GONE
        assert stream.cancelled and stream.response_ended and stream.request_ended
        for call in (stream.receive(), stream.send_response(200, [], b""), stream.send_data(b"x"),
                     stream.send_file(200, [], b"/f")):
            with pytest.raises(StreamCancelled):
                await call
        assert owner.sent() == [] and await stream.wait_cancelled() == protocol.CANCEL_CLIENT_GONE
    run(main)


@pytest.mark.parametrize("status, headers, body", [
    ("200", [], b""), (200, [("x", b"1")], b""), (200, [(b"x", 1)], b""), (200, [], "str"),
])
def test_wrong_types_are_refused_before_any_frame(status: Any, headers: Any, body: Any) -> None:
    async def main() -> None:
        owner = Owner()
        stream = owner.open()
        with pytest.raises(TypeError):
            await stream.send_response(status, headers, body)
        assert owner.sent() == [] and not stream.response_started
    run(main)


def test_the_raw_stream_checks_types_not_http_rules() -> None:
    # The interfaces above the stream check what HTTP allows (validation.py);
    # the frontend checks again as the trust boundary.
    async def main() -> None:
        owner = Owner()
        stream = owner.open()
        await stream.send_response(200, [(b"x", b"a\r\nb")], b"")
        assert owner.sent() == [protocol.Response(1, END, 200, [(b"x", b"a\r\nb")], b"")]
    run(main)


def test_send_file_takes_an_absolute_path() -> None:
    async def main() -> None:
        owner = Owner()
        stream = owner.open()
        with pytest.raises(ValueError, match="absolute path"):
            await stream.send_file(200, [], b"relative")
        await stream.send_file(200, [], b"/srv/f")
        assert owner.sent() == [protocol.Response(1, END | protocol.FILE, 200, [], b"/srv/f")]
    run(main)
