"""Test helpers: running coroutines on uvloop, and a fake frontend.

The fake frontend speaks the real bytes over a real Unix socket (encoded and
decoded with tandem.protocol): it listens, accepts the backend, answers its
HELLO, and then sends and receives whatever frames a test scripts.  It uses the
loop's socket methods directly, so it creates no asyncio Tasks of its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from typing import Any, AsyncIterator, Awaitable, Callable, Optional, TypeVar

import uvloop

from tandem import protocol
from tandem.protocol import END, Frame
from tandem.server import Server, ServerConfig

T = TypeVar("T")

GUARD = 10.0  # seconds: only a failure guard, never needed for a test to pass


def run(fn: Callable[[], Awaitable[T]], guard: float = 30.0) -> T:
    """Run ``fn()`` on a fresh uvloop loop, failing after ``guard`` seconds.

    Like libuv's tests, every test then checks that it left nothing running:
    once cancellations have been delivered, no other Task may be left.
    """

    async def main() -> T:
        async with asyncio.timeout(guard):
            result = await fn()
            me = asyncio.current_task()
            for _ in range(100):
                left = [t for t in asyncio.all_tasks() if t is not me]
                if not left:
                    break
                await asyncio.sleep(0)
            assert not left, f"tasks left running: {left}"
            return result

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(main())


def request(sid: int, method: str = "GET", path: bytes = b"/", query: bytes = b"", body: bytes = b"",
            end: bool = True, headers: Optional[list[tuple[bytes, bytes]]] = None,
            target: Optional[bytes] = None, request_id: Optional[str] = None) -> protocol.Request:
    """A REQUEST as the frontend sends it, with the request id ``req-<sid>`` unless given ("": none)."""
    if target is None:
        target = path + (b"?" + query if query else b"")
    if headers is None:
        headers = [(b"host", b"example.test")]
    return protocol.Request(sid, END if end else 0, method, target, path, query, "1.1", headers,
                            ("127.0.0.1", 50000), ("127.0.0.1", 8080), "http", body,
                            f"req-{sid}" if request_id is None else request_id)


def frontend_hello(max_frame_size: int = protocol.DEFAULT_MAX_FRAME,
                   initial_window: int = protocol.DEFAULT_WINDOW, version: int = 1) -> protocol.Hello:
    return protocol.Hello(0, version, "frontend", "tandem-frontend", os.getpid(), 0, max_frame_size, 0,
                          initial_window)


class FakeFrontend:
    def __init__(self, path: str, hello: Optional[protocol.Hello] = None) -> None:
        self.path = path
        self.hello = hello or frontend_hello()
        self.listener: Optional[socket.socket] = None
        self.conn: Optional[socket.socket] = None
        self.decoder = protocol.Decoder(protocol.MAX_MAX_FRAME)
        self.backend_hello: Optional[protocol.Hello] = None
        self.reads = 0  # recv calls that returned data

    def listen(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.bind(self.path)
        sock.listen(16)
        sock.setblocking(False)
        self.listener = sock

    async def accept(self) -> None:
        assert self.listener is not None
        loop = asyncio.get_running_loop()
        async with asyncio.timeout(GUARD):
            conn, _ = await loop.sock_accept(self.listener)
        conn.setblocking(False)
        self.conn = conn
        self.decoder = protocol.Decoder(protocol.MAX_MAX_FRAME)

    async def handshake(self) -> protocol.Hello:
        frame = await self.recv_frame()
        assert isinstance(frame, protocol.Hello), frame
        self.backend_hello = frame
        await self.send(self.hello)
        return frame

    async def send_raw(self, data: bytes) -> None:
        assert self.conn is not None
        await asyncio.get_running_loop().sock_sendall(self.conn, data)

    async def send(self, *frames: Frame) -> None:
        """All frames in one write."""
        await self.send_raw(b"".join(protocol.encode(f) for f in frames))

    async def recv_bytes(self) -> bytes:
        """One recv() worth of bytes (b"" at EOF)."""
        assert self.conn is not None
        async with asyncio.timeout(GUARD):
            data = await asyncio.get_running_loop().sock_recv(self.conn, 1 << 20)
        if data:
            self.reads += 1
        return data

    async def recv_frame(self) -> Any:
        while True:
            frame = self.decoder.next_frame()
            if frame is not None:
                return frame
            data = await self.recv_bytes()
            if not data:
                raise EOFError("the backend closed the connection")
            self.decoder.feed(data)

    async def recv_frames(self, count: int) -> list[Any]:
        return [await self.recv_frame() for _ in range(count)]

    async def expect_eof(self) -> list[Any]:
        """Read until the backend closes; returns the frames that came first."""
        frames = []
        while True:
            try:
                frames.append(await self.recv_frame())
            except EOFError:
                return frames

    def close_conn(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    def close(self) -> None:
        self.close_conn()
        if self.listener is not None:
            self.listener.close()
            self.listener = None
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.path)


class Gate:
    """What a test's slow handler awaits: closed until the test opens it.

    ``await gate.wait()`` in the handler (any number of requests), ``await gate.reached()`` in the test to
    know a request is in the handler, then ``gate.open()``.
    """

    def __init__(self) -> None:
        self.future: Optional[asyncio.Future[None]] = None

    async def wait(self) -> None:
        if self.future is None:
            self.future = asyncio.get_running_loop().create_future()
        await self.future

    async def reached(self) -> None:
        while self.future is None:
            await asyncio.sleep(0)

    def open(self) -> None:
        assert self.future is not None, "no request reached the gate"
        self.future.set_result(None)


def make_config(path: str, **kwargs: Any) -> ServerConfig:
    kwargs.setdefault("app_name", "tests:app")
    kwargs.setdefault("generation", 7)
    kwargs.setdefault("backoff_initial", 0.01)
    kwargs.setdefault("backoff_max", 0.05)
    return ServerConfig(socket_path=path, **kwargs)


class Pair:
    """A Server under test and the FakeFrontend it is connected to."""

    def __init__(self, server: Server, task: "asyncio.Task[int]", fe: FakeFrontend) -> None:
        self.server = server
        self.task = task
        self.fe = fe

    @property
    def channel(self) -> Any:
        assert self.server.channel is not None
        return self.server.channel

    async def exit_code(self) -> int:
        async with asyncio.timeout(GUARD):
            return await self.task


@contextlib.asynccontextmanager
async def connected(app: Any, directory: str, hello: Optional[protocol.Hello] = None,
                    handshake: bool = True, lifespan: Any = None, **config: Any) -> AsyncIterator[Pair]:
    path = os.path.join(directory, "backend.sock")
    fe = FakeFrontend(path, hello)
    fe.listen()
    server = Server(app, make_config(path, **config), lifespan)
    task = asyncio.get_running_loop().create_task(server.run())
    try:
        await fe.accept()
        if handshake:
            await fe.handshake()
            # Let the backend process our HELLO before the test goes on.
            while server.channel is None or server.channel.peer_hello is None:
                await asyncio.sleep(0)
                if task.done():
                    break
        yield Pair(server, task, fe)
    finally:
        if not task.done():
            server.abort(0)
            with contextlib.suppress(Exception):
                async with asyncio.timeout(GUARD):
                    await task
        fe.close()


class FakeStream:
    """An in-memory peer for an app callable: the other side of types.Stream."""

    def __init__(self, method: str = "GET", path: bytes = b"/", query: bytes = b"", body: bytes = b"",
                 chunks: Optional[list[bytes]] = None, headers: Optional[list[tuple[bytes, bytes]]] = None,
                 client: Optional[tuple[str, int]] = ("127.0.0.1", 50000)) -> None:
        head = request(1, method, path, query, body, end=chunks is None, headers=headers)
        self.head = head._replace(client=client)
        self.id = 1
        self._chunks = [body] + list(chunks or [])
        self.cancelled = False
        self.response_started = False
        self.status: Optional[int] = None
        self.headers: list[tuple[bytes, bytes]] = []
        self.body = bytearray()
        self.ended = False
        self.receives = 0

    @property
    def response_ended(self) -> bool:
        return self.ended

    async def receive(self) -> tuple[bytes, bool]:
        self.receives += 1
        if not self._chunks:
            return b"", False
        chunk = self._chunks.pop(0)
        return chunk, bool(self._chunks)

    async def send_response(self, status: int, headers: Any, body: bytes = b"", end: bool = True) -> None:
        assert not self.response_started
        self.response_started = True
        self.status = status
        self.headers = list(headers)
        self.body += body
        self.ended = end

    async def send_data(self, data: bytes, end: bool = False) -> None:
        assert self.response_started and not self.ended
        self.body += data
        self.ended = end

    async def wait_cancelled(self) -> int:
        await asyncio.get_running_loop().create_future()
        return 0

    def header(self, name: bytes) -> Optional[bytes]:
        for n, v in self.headers:
            if n == name:
                return v
        return None


def call_app(app: Any, **kwargs: Any) -> FakeStream:
    stream = FakeStream(**kwargs)
    run(lambda: app(stream))
    assert stream.ended, "the app did not finish its response"
    return stream
