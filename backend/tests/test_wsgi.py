"""The WSGI adapter (wsgi.py) against the fake frontend: a real socket and real frames.

Every application is wrapped in ``wsgiref.validate.validator``, which checks each
call against PEP 3333 (environ keys and types, start_response, wsgi.input and
wsgi.errors, the iterable and its close()); its warnings are errors here.
Nothing waits for time to pass: worker threads and the test meet on
threading.Events, and the timeouts only turn a hang into a failure.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import io
import os
import sys
import threading
from typing import Any, AsyncIterator, Callable, Iterator, Optional
from wsgiref.validate import validator

import pytest

from helpers import GUARD, connected, frontend_hello, request, run
from tandem import protocol
from tandem.protocol import END, FILE
from tandem.wsgi import ClientDisconnected, FileWrapper, WSGIAdapter, WSGIErrors, WSGIInput, check_headers

pytestmark = pytest.mark.filterwarnings("error::wsgiref.validate.WSGIWarning")

TEXT = [("Content-Type", "text/plain")]

# Every test runs in both of the adapter's modes: a pool of worker threads, and
# inline (threads=0: the application on the loop's own thread), except those
# marked threads_only, which need a thread to block in while the test acts.
_MODE = [4]
threads_only = pytest.mark.threads_only


inline_only = pytest.mark.inline_only


def pytest_generate_tests(metafunc: Any) -> None:
    if "wsgi_threads" in metafunc.fixturenames:
        modes = [4] if metafunc.definition.get_closest_marker("threads_only") else [4, 0]
        if metafunc.definition.get_closest_marker("inline_only"):
            modes = [0]
        metafunc.parametrize("wsgi_threads", modes, ids=["threads" if m else "inline" for m in modes])


@pytest.fixture(autouse=True)
def _wsgi_mode(wsgi_threads: int) -> Iterator[None]:
    _MODE[0] = wsgi_threads
    yield
    _MODE[0] = 4
Environ = dict[str, Any]


@contextlib.asynccontextmanager
async def serving(app: Any, tmp_path: Any, threads: Optional[int] = None, root_path: str = "",
                  **config: Any) -> AsyncIterator[Any]:
    """The validated ``app`` behind a WSGIAdapter, connected to a fake frontend.

    ``threads`` defaults to the mode the test runs in (``wsgi_threads``).
    """
    adapter = WSGIAdapter(validator(app), _MODE[0] if threads is None else threads, root_path)
    try:
        async with connected(adapter, str(tmp_path), **config) as p:
            p.adapter = adapter
            yield p
    finally:
        # Off the loop: a worker may still need the loop to finish.
        await asyncio.get_running_loop().run_in_executor(None, adapter.shutdown)


async def stopped(p: Any) -> None:
    """Wait until every worker thread has finished (close() included)."""
    await asyncio.get_running_loop().run_in_executor(None, p.adapter.shutdown)


async def wait_event(event: threading.Event) -> None:
    await asyncio.get_running_loop().run_in_executor(None, event.wait, GUARD)
    assert event.is_set()


async def until(condition: Callable[[], bool]) -> None:
    async with asyncio.timeout(GUARD):
        while not condition():
            await asyncio.sleep(0.001)


async def response(fe: Any, sid: int = 1) -> tuple[protocol.Response, bytes, list[Any]]:
    """The RESPONSE for ``sid`` and its whole body; also every frame of the stream, in order."""
    frames: list[Any] = []
    head = None
    body = bytearray()
    while True:
        frame = await fe.recv_frame()
        if isinstance(frame, protocol.Window):
            continue
        assert frame.stream_id == sid, frame
        frames.append(frame)
        if isinstance(frame, protocol.Response):
            assert head is None
            head = frame
            body += frame.body
        else:
            assert isinstance(frame, protocol.Data) and head is not None, frame
            body += frame.data
        if frame.flags & END:
            assert head is not None
            return head, bytes(body), frames


async def send_body(fe: Any, sid: int, path: bytes, data: bytes, window: int, piece: int = 16384,
                    headers: Optional[list[tuple[bytes, bytes]]] = None) -> list[int]:
    """A POST whose body follows in DATA frames, never beyond the window; the WINDOW grants seen."""
    first = data[:piece]
    await fe.send(request(sid, "POST", path, body=first, end=len(first) == len(data), headers=headers))
    credit = window - len(first)
    sent = len(first)
    grants = []
    while sent < len(data):
        n = min(piece, len(data) - sent, credit)
        if n == 0:
            frame = await fe.recv_frame()
            assert isinstance(frame, protocol.Window) and frame.stream_id == sid, frame
            grants.append(frame.increment)
            credit += frame.increment
            continue
        await fe.send(protocol.Data(sid, END if sent + n == len(data) else 0, data[sent:sent + n]))
        sent += n
        credit -= n
    return grants


class Closing:
    """An iterable that records its close()."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self.chunks = chunks
        self.closed = threading.Event()

    def __iter__(self) -> Iterator[bytes]:
        return self.chunks

    def close(self) -> None:
        self.closed.set()


# --- environ -----------------------------------------------------------------------


def capture(seen: list[Environ], body: bytes = b"ok") -> Any:
    def app(environ: Environ, start_response: Any) -> list[bytes]:
        env = dict(environ)
        env["body"] = environ["wsgi.input"].read(-1)
        seen.append(env)
        start_response("200 OK", TEXT)
        return [body]
    return app


def test_environ_is_complete(tmp_path: Any) -> None:
    seen: list[Environ] = []
    headers = [
        (b"host", b"example.test:8443"), (b"content-type", b"text/plain"), (b"content-length", b"3"),
        (b"cookie", b"a=1"), (b"accept", b"text/html"), (b"cookie", b"b=2"), (b"accept", b"*/*"),
        (b"x-forwarded-for", b"1.2.3.4"), (b"x_forwarded_for", b"6.6.6.6"), (b"x-custom-thing", b"caf\xe9"),
    ]

    async def main() -> None:
        async with serving(capture(seen), tmp_path) as p:
            await p.fe.send(request(1, "POST", b"/a b", query=b"x=1&y=%C3%A9", body=b"abc", headers=headers,
                                    target=b"/a%20b?x=1&y=%C3%A9"))
            head, body, _ = await response(p.fe)
            assert (head.status, body) == (200, b"ok")
    run(main)
    (env,) = seen
    assert env["REQUEST_METHOD"] == "POST"
    assert env["SCRIPT_NAME"] == "" and env["PATH_INFO"] == "/a b"
    assert env["QUERY_STRING"] == "x=1&y=%C3%A9"
    assert env["RAW_URI"] == "/a%20b?x=1&y=%C3%A9"
    assert env["CONTENT_TYPE"] == "text/plain" and env["CONTENT_LENGTH"] == "3"
    assert "HTTP_CONTENT_TYPE" not in env and "HTTP_CONTENT_LENGTH" not in env
    assert (env["SERVER_NAME"], env["SERVER_PORT"]) == ("example.test", "8443")
    assert env["SERVER_PROTOCOL"] == "HTTP/1.1"
    assert (env["REMOTE_ADDR"], env["REMOTE_PORT"]) == ("127.0.0.1", "50000")
    assert env["HTTP_HOST"] == "example.test:8443"
    assert env["HTTP_COOKIE"] == "a=1; b=2"
    assert env["HTTP_ACCEPT"] == "text/html, */*"
    # The underscore twin is dropped, not merged into the real header.
    assert env["HTTP_X_FORWARDED_FOR"] == "1.2.3.4"
    assert "6.6.6.6" not in repr(env)
    assert env["HTTP_X_CUSTOM_THING"] == "caf\xe9"
    assert env["wsgi.version"] == (1, 0)
    assert env["wsgi.url_scheme"] == "http"
    assert isinstance(env["wsgi.input"].input, WSGIInput)  # inside the validator's InputWrapper
    assert isinstance(env["wsgi.errors"].errors, WSGIErrors)
    assert env["wsgi.multithread"] is (_MODE[0] > 0)
    assert env["wsgi.multiprocess"] is True and env["wsgi.run_once"] is False
    assert env["wsgi.file_wrapper"] is FileWrapper
    assert env["wsgi.input_terminated"] is True
    assert env["tandem.request_id"] == "req-1"
    assert env["body"] == b"abc"


@pytest.mark.parametrize("host, scheme, server", [
    (b"example.test", "http", ("example.test", "80")),
    (b"example.test", "https", ("example.test", "443")),
    (b"[::1]:8080", "http", ("[::1]", "8080")),
    (b"[::1]", "https", ("[::1]", "443")),
    (None, "http", ("127.0.0.1", "8080")),  # no Host: the frontend's address
])
def test_server_name_and_port(tmp_path: Any, host: Optional[bytes], scheme: str, server: tuple[str, str]) -> None:
    seen: list[Environ] = []

    async def main() -> None:
        async with serving(capture(seen), tmp_path) as p:
            await p.fe.send(request(1, headers=[(b"host", host)] if host else [])._replace(scheme=scheme))
            await response(p.fe)
    run(main)
    (env,) = seen
    assert (env["SERVER_NAME"], env["SERVER_PORT"]) == server
    assert env["wsgi.url_scheme"] == scheme
    assert "CONTENT_LENGTH" not in env and "CONTENT_TYPE" not in env


@pytest.mark.parametrize("root, path, script_name, path_info", [
    ("/api", b"/api/users/1", "/api", "/users/1"),
    ("/api/", b"/api/users", "/api", "/users"),
    ("api", b"/api", "/api", ""),
    ("/api", b"/apix", "/api", "/apix"),    # not under it: a proxy stripped it already
    ("/api", b"/", "/api", "/"),
    ("", b"/caf\xc3\xa9", "", "/caf\xc3\xa9"),  # bytes as latin-1, the WSGI way
    ("/caf\xe9", b"/caf\xc3\xa9/x", "/caf\xc3\xa9", "/x"),
])
def test_root_path_splits_script_name_and_path_info(tmp_path: Any, root: str, path: bytes, script_name: str,
                                                    path_info: str) -> None:
    seen: list[Environ] = []

    async def main() -> None:
        async with serving(capture(seen), tmp_path, root_path=root) as p:
            await p.fe.send(request(1, path=path))
            await response(p.fe)
    run(main)
    (env,) = seen
    assert (env["SCRIPT_NAME"], env["PATH_INFO"]) == (script_name, path_info)


def test_wsgi_errors_go_to_the_log(tmp_path: Any, caplog: Any) -> None:
    def app(environ: Environ, start_response: Any) -> list[bytes]:
        errors = environ["wsgi.errors"]
        errors.write("first line\nsecond ")
        errors.writelines(["line\n", "unfinished"])
        errors.flush()
        start_response("200 OK", TEXT)
        return [b"ok"]

    async def main() -> None:
        async with serving(app, tmp_path) as p:
            await p.fe.send(request(1))
            await response(p.fe)
    with caplog.at_level("ERROR", logger="tandem.wsgi.errors"):
        run(main)
    lines = [r.getMessage() for r in caplog.records if r.name == "tandem.wsgi.errors"]
    assert lines == ["first line", "second line", "unfinished"]


# --- request bodies ----------------------------------------------------------------

LINES = b"".join(b"line %d %s\n" % (i, b"x" * (i % 97)) for i in range(12000))


def reader(mode: str) -> Callable[[Any], list[bytes]]:
    def read_pieces(stream: Any) -> list[bytes]:
        out = []
        if mode == "read":
            while piece := stream.read(7000):
                out.append(piece)
        elif mode == "read_all":
            out.append(stream.read(-1))
            assert stream.read(10) == b""
        elif mode == "readline":
            while line := stream.readline():
                out.append(line)
        elif mode == "readline_size":
            while line := stream.readline(50):
                assert len(line) <= 50
                out.append(line)
        elif mode == "readlines":
            while lines := stream.readlines(10000):
                out.extend(lines)
        else:
            out.extend(stream)
        return out
    return read_pieces


@pytest.mark.parametrize("mode", ["read", "read_all", "readline", "readline_size", "readlines", "iter"])
def test_input_streams_the_body_with_window_grants(tmp_path: Any, mode: str) -> None:
    window = 65536
    got: list[list[bytes]] = []

    def app(environ: Environ, start_response: Any) -> list[bytes]:
        pieces = reader(mode)(environ["wsgi.input"])
        got.append(pieces)
        data = b"".join(pieces)
        start_response("200 OK", TEXT)
        return [b"%d %s" % (len(data), hashlib.sha256(data).hexdigest().encode())]

    async def main() -> None:
        async with serving(app, tmp_path, initial_window=window) as p:
            grants = await send_body(p.fe, 1, b"/upload", LINES, window)
            head, body, _ = await response(p.fe)
            assert body == b"%d %s" % (len(LINES), hashlib.sha256(LINES).hexdigest().encode())
            assert len(grants) >= len(LINES) // window - 1 and all(g >= window // 2 for g in grants)
    run(main)
    (pieces,) = got
    if mode == "readline_size":
        assert all(line.endswith(b"\n") or len(line) == 50 for line in pieces)
    elif mode in ("readline", "readlines", "iter"):
        assert pieces == LINES.splitlines(keepends=True)


@threads_only
def test_large_upload_is_read_with_bounded_memory(tmp_path: Any) -> None:
    window = 65536
    total = 8 * 1024 * 1024
    consumed = [0]
    most_buffered = [0]

    def app(environ: Environ, start_response: Any) -> list[bytes]:
        wsgi_input = environ["wsgi.input"]
        digest = hashlib.sha256()
        while piece := wsgi_input.read(65536):
            digest.update(piece)
            consumed[0] += len(piece)
            most_buffered[0] = max(most_buffered[0], wsgi_input.input.buffered)
        start_response("200 OK", TEXT)
        return [digest.hexdigest().encode()]

    data = os.urandom(1024) * (total // 1024)

    async def main() -> None:
        async with serving(app, tmp_path, initial_window=window) as p:
            fe = p.fe
            await fe.send(request(1, "POST", b"/upload", end=False))
            credit, sent, piece = window, 0, 16384
            while sent < total:
                if credit == 0:
                    frame = await fe.recv_frame()
                    assert isinstance(frame, protocol.Window), frame
                    credit += frame.increment
                    continue
                # What the backend holds: sent, minus what the app has read.
                # The window keeps it within one window plus the read under way.
                assert sent - consumed[0] <= 2 * window
                n = min(piece, credit)
                await fe.send(protocol.Data(1, END if sent + n == total else 0, data[sent:sent + n]))
                sent += n
                credit -= n
            head, body, _ = await response(fe)
            assert body == hashlib.sha256(data).hexdigest().encode()
    run(main)
    assert consumed[0] == total
    assert most_buffered[0] <= 16384  # at most the rest of one DATA frame


def test_input_unit_read_sizes_and_lines() -> None:
    chunks = [(b"ab\ncd", True), (b"", True), (b"ef\n\ngh", True), (b"", False)]
    wsgi_input = WSGIInput(lambda: chunks.pop(0), b"", True)
    assert wsgi_input.read(0) == b""
    assert wsgi_input.readline() == b"ab\n"
    assert wsgi_input.read(4) == b"cdef"
    assert wsgi_input.readline(1) == b"\n"
    assert list(wsgi_input) == [b"\n", b"gh"]
    assert wsgi_input.read(5) == b"" and wsgi_input.readline() == b"" and chunks == []
    whole = WSGIInput(lambda: pytest.fail("nothing more to fetch"), b"body", False)
    assert whole.read(-1) == b"body" and whole.read(1) == b""


@threads_only
def test_cancel_while_reading_raises_in_the_app(tmp_path: Any) -> None:
    raised: list[BaseException] = []
    done = threading.Event()

    def app(environ: Environ, start_response: Any) -> list[bytes]:
        try:
            environ["wsgi.input"].read(100000)
        except BaseException as exc:
            raised.append(exc)
            raise
        finally:
            done.set()
        start_response("200 OK", TEXT)
        return [b"never"]

    async def main() -> None:
        async with serving(app, tmp_path) as p:
            await p.fe.send(request(1, "POST", b"/up", body=b"x" * 10, end=False))
            await until(lambda: 1 in p.channel.streams and p.channel.streams[1]._recv_waiter is not None)
            await p.fe.send(protocol.Cancel(1, protocol.CANCEL_CLIENT_GONE))
            await wait_event(done)
            await p.fe.send(protocol.Ping(0, False, 7))
            assert await p.fe.recv_frame() == protocol.Ping(0, True, 7)
    run(main)
    assert len(raised) == 1 and isinstance(raised[0], ClientDisconnected)


# --- responses ---------------------------------------------------------------------


def test_single_chunk_is_one_response_frame(tmp_path: Any) -> None:
    def app(environ: Environ, start_response: Any) -> Any:
        start_response("201 Created", [("Content-Type", "text/plain"), ("X-Thing", " padded ")])
        if environ["PATH_INFO"] == "/list":
            return [b"hello"]
        if environ["PATH_INFO"] == "/many":
            return (b"he", b"", b"llo")
        if environ["PATH_INFO"] == "/empty":
            return []
        return Closing(iter([b"hello"]))

    async def main() -> None:
        async with serving(app, tmp_path) as p:
            for sid, path, body in [(1, b"/list", b"hello"), (3, b"/many", b"hello"), (5, b"/empty", b"")]:
                await p.fe.send(request(sid, path=path))
                frame = await p.fe.recv_frame()
                assert frame == protocol.Response(sid, END, 201, [(b"content-type", b"text/plain"),
                                                                  (b"x-thing", b"padded")], body)
            # A generator gives no length: its first chunk goes out without END.
            await p.fe.send(request(7, path=b"/gen"))
            head, body, frames = await response(p.fe, 7)
            assert body == b"hello" and [f.flags for f in frames] == [0, END]
            await p.fe.send(protocol.Ping(0, False, 1))
            assert await p.fe.recv_frame() == protocol.Ping(0, True, 1)
    run(main)


def test_content_length_completes_the_body_in_one_frame_and_cuts_the_excess(tmp_path: Any) -> None:
    rest_consumed = threading.Event()

    def app(environ: Environ, start_response: Any) -> Any:
        start_response("200 OK", TEXT + [("Content-Length", "5")])

        def body() -> Iterator[bytes]:
            yield b"hello world"
            yield b"more"
            rest_consumed.set()
        return body()

    async def main() -> None:
        async with serving(app, tmp_path) as p:
            await p.fe.send(request(1))
            assert await p.fe.recv_frame() == protocol.Response(
                1, END, 200, [(b"content-type", b"text/plain"), (b"content-length", b"5")], b"hello")
            await wait_event(rest_consumed)
    run(main)


@threads_only
def test_write_callable_sends_at_once(tmp_path: Any) -> None:
    written = threading.Event()
    go_on = threading.Event()

    def app(environ: Environ, start_response: Any) -> list[bytes]:
        write = start_response("200 OK", TEXT)
        write(b"first")
        written.set()
        assert go_on.wait(GUARD)
        write(b"second")
        return [b"third"]

    async def main() -> None:
        async with serving(app, tmp_path) as p:
            await p.fe.send(request(1))
            # The first write reaches the frontend while the app still runs.
            assert await p.fe.recv_frame() == protocol.Response(1, 0, 200, [(b"content-type", b"text/plain")],
                                                                b"first")
            await wait_event(written)
            go_on.set()
            rest, frames = b"", []
            while True:
                frame = await p.fe.recv_frame()
                frames.append(frame)
                rest += frame.data
                if frame.flags & END:
                    break
            assert rest == b"secondthird" and all(isinstance(f, protocol.Data) for f in frames)
    run(main)


@inline_only
def test_inline_write_is_held_until_the_application_returns(tmp_path: Any) -> None:
    # On the loop's thread write() cannot wait for the frontend, so what it is
    # given goes out after the application returns, before the iterable's bytes.
    def app(environ: Environ, start_response: Any) -> list[bytes]:
        write = start_response("200 OK", TEXT)
        write(b"first")
        write(b"second")
        return [b"third"]

    async def main() -> None:
        async with serving(app, tmp_path) as p:
            await p.fe.send(request(1))
            head, body, frames = await response(p.fe)
            assert body == b"firstsecondthird"
            assert head.body == b"first"
    run(main)


@inline_only
def test_inline_upload_arrives_whole_before_the_application_runs(tmp_path: Any) -> None:
    total = 3 * 1024 * 1024  # over SPOOL_LIMIT: held in a temporary file
    seen: list[Any] = []
    data = os.urandom(1024) * (total // 1024)

    def app(environ: Environ, start_response: Any) -> list[bytes]:
        wsgi_input = environ["wsgi.input"]
        seen.append(wsgi_input.input)
        digest = hashlib.sha256()
        while piece := wsgi_input.read(65536):
            digest.update(piece)
        start_response("200 OK", TEXT)
        return [digest.hexdigest().encode()]

    async def main() -> None:
        async with serving(app, tmp_path, initial_window=total) as p:
            await p.fe.send(request(1, "POST", b"/upload", end=False))
            for sent in range(0, total, 65536):
                piece = data[sent:sent + 65536]
                await p.fe.send(protocol.Data(1, END if sent + len(piece) == total else 0, piece))
            head, body, _ = await response(p.fe)
            assert body == hashlib.sha256(data).hexdigest().encode()
    run(main)
    assert len(seen) == 1 and not isinstance(seen[0], WSGIInput)


@inline_only
def test_inline_slow_application_is_named_in_the_log(tmp_path: Any, caplog: Any, monkeypatch: Any) -> None:
    monkeypatch.setattr("tandem.wsgi.SLOW_INLINE", 0.0)

    def app(environ: Environ, start_response: Any) -> list[bytes]:
        start_response("200 OK", TEXT)
        return [b"slow"]

    async def main() -> None:
        async with serving(app, tmp_path) as p:
            await p.fe.send(request(1, path=b"/report", query=b"x=1"))
            _, body, _ = await response(p.fe)
            assert body == b"slow"
    with caplog.at_level("WARNING", logger="tandem.wsgi"):
        run(main)
    assert any("on the event loop's thread for GET /report?x=1" in r.getMessage() for r in caplog.records)


@inline_only
def test_inline_small_response_needs_no_task(tmp_path: Any) -> None:
    def app(environ: Environ, start_response: Any) -> list[bytes]:
        start_response("200 OK", TEXT)
        return [b"quick"]

    async def main() -> None:
        async with serving(app, tmp_path) as p:
            await p.fe.send(request(1), request(3, "POST", body=b"abc"))
            frames = [await p.fe.recv_frame(), await p.fe.recv_frame()]
            assert [f.body for f in frames] == [b"quick", b"quick"]
            assert p.channel.tasks_created == 0
    run(main)


def test_iteration_is_held_by_flow_control(tmp_path: Any) -> None:
    window = 65536
    piece = 32768
    yielded = [0]
    iterable: list[Closing] = []

    def app(environ: Environ, start_response: Any) -> Any:
        def chunks() -> Iterator[bytes]:
            for i in range(6):
                yielded[0] += 1
                yield bytes([65 + i]) * piece
        start_response("200 OK", TEXT)
        iterable.append(Closing(chunks()))
        return iterable[0]

    async def main() -> None:
        async with serving(app, tmp_path, hello=frontend_hello(initial_window=window)) as p:
            await p.fe.send(request(1))
            received = bytearray()
            for _ in range(2):
                frame = await p.fe.recv_frame()
                received += frame.body if isinstance(frame, protocol.Response) else frame.data
            assert len(received) == window
            # The worker now waits in its third send, so the app cannot make a fourth chunk.
            stream = p.channel.streams[1]
            await until(lambda: stream._send_waiter is not None)
            assert yielded[0] == 3
            for granted in range(2):
                await p.fe.send(protocol.Window(1, window))
                while len(received) < (granted + 2) * window:
                    received += (await p.fe.recv_frame()).data
                if granted == 0:
                    await until(lambda: stream._send_waiter is not None)
                    assert yielded[0] == 5
            end = await p.fe.recv_frame()
            assert end == protocol.Data(1, END, b"")
            assert bytes(received) == b"".join(bytes([65 + i]) * piece for i in range(6))
            await wait_event(iterable[0].closed)
    run(main)


# --- close(), errors and cancellation --------------------------------------------------


def test_close_is_called_after_success(tmp_path: Any) -> None:
    iterable: list[Closing] = []

    def app(environ: Environ, start_response: Any) -> Any:
        start_response("200 OK", TEXT)
        iterable.append(Closing(iter([b"a", b"b"])))
        return iterable[0]

    async def main() -> None:
        async with serving(app, tmp_path) as p:
            await p.fe.send(request(1))
            assert (await response(p.fe))[1] == b"ab"
            await wait_event(iterable[0].closed)
    run(main)


def test_exception_before_the_response_is_a_500_and_closes(tmp_path: Any, caplog: Any) -> None:
    iterable: list[Closing] = []

    def app(environ: Environ, start_response: Any) -> Any:
        if environ["PATH_INFO"] == "/call":
            raise RuntimeError("boom in the call")

        def chunks() -> Iterator[bytes]:
            raise RuntimeError("boom in the iterable")
            yield b""
        start_response("200 OK", TEXT)
        iterable.append(Closing(chunks()))
        return iterable[0]

    async def main() -> None:
        async with serving(app, tmp_path) as p:
            for sid, path in [(1, b"/call"), (3, b"/iter")]:
                await p.fe.send(request(sid, path=path))
                frame = await p.fe.recv_frame()
                assert frame == protocol.Response(sid, END, 500, [(b"content-type", b"text/plain; charset=utf-8")],
                                                  b"Internal Server Error")
            await wait_event(iterable[0].closed)
    run(main)
    assert "boom in the call" in caplog.text and "boom in the iterable" in caplog.text
    assert "GET /call (request id req-1, stream 1): the app raised an exception" in caplog.text
    assert "GET /iter (request id req-3, stream 3): the app raised an exception" in caplog.text


def test_exception_mid_response_cancels_the_stream_and_closes(tmp_path: Any, caplog: Any) -> None:
    iterable: list[Closing] = []

    def app(environ: Environ, start_response: Any) -> Any:
        def chunks() -> Iterator[bytes]:
            yield b"partial"
            raise RuntimeError("boom mid-response")
        start_response("200 OK", TEXT)
        iterable.append(Closing(chunks()))
        return iterable[0]

    async def main() -> None:
        async with serving(app, tmp_path) as p:
            await p.fe.send(request(1))
            assert await p.fe.recv_frame() == protocol.Response(1, 0, 200, [(b"content-type", b"text/plain")],
                                                                b"partial")
            assert await p.fe.recv_frame() == protocol.Cancel(1, protocol.CANCEL_INTERNAL)
            await wait_event(iterable[0].closed)
    run(main)
    assert "boom mid-response" in caplog.text


def endless(chunk: int, yielded: list[int], iterable: list[Closing]) -> Any:
    """A WSGI app whose body never ends: chunks of ``chunk`` bytes, counted in ``yielded[0]``; its iterable, which
    says when it is closed, goes in ``iterable``."""
    def app(environ: Environ, start_response: Any) -> Any:
        def forever() -> Iterator[bytes]:
            while True:
                yielded[0] += 1
                yield b"x" * chunk
        start_response("200 OK", TEXT)
        iterable.append(Closing(forever()))
        return iterable[0]
    return app


def test_client_gone_mid_response_stops_iteration_and_closes(tmp_path: Any) -> None:
    window = 65536
    yielded = [0]
    iterable: list[Closing] = []
    app = endless(32768, yielded, iterable)

    async def main() -> None:
        async with serving(app, tmp_path, hello=frontend_hello(initial_window=window)) as p:
            await p.fe.send(request(1))
            await p.fe.recv_frames(2)
            stream = p.channel.streams[1]
            await until(lambda: stream._send_waiter is not None)
            await p.fe.send(protocol.Cancel(1, protocol.CANCEL_CLIENT_GONE))
            await wait_event(iterable[0].closed)
            assert yielded[0] == 3
            # Nothing more is sent on the stream.
            await p.fe.send(protocol.Ping(0, False, 5))
            assert await p.fe.recv_frame() == protocol.Ping(0, True, 5)
            assert p.channel.streams == {}
    run(main)


def test_client_gone_is_noticed_before_the_window_is_full(tmp_path: Any) -> None:
    # Small chunks under a wide window: on the loop's thread the iteration still gives the loop a turn between
    # chunks, so the frontend's CANCEL is read and the iteration stops (it ran until the window was full: 1,000
    # more chunks here, and the loop's other requests waited meanwhile).
    window = 1 << 20
    yielded = [0]
    iterable: list[Closing] = []
    app = endless(1000, yielded, iterable)

    async def main() -> None:
        async with serving(app, tmp_path, hello=frontend_hello(initial_window=window)) as p:
            await p.fe.send(request(1))
            await p.fe.recv_frames(2)
            await p.fe.send(protocol.Cancel(1, protocol.CANCEL_CLIENT_GONE))
            await wait_event(iterable[0].closed)
            assert yielded[0] < window // 1000 // 4
    run(main)


@threads_only
def test_result_of_a_cancelled_request_is_discarded(tmp_path: Any) -> None:
    started = threading.Event()
    release = threading.Event()
    iterable: list[Closing] = []

    def app(environ: Environ, start_response: Any) -> Any:
        if environ["PATH_INFO"] == "/slow":
            started.set()
            assert release.wait(GUARD)
        start_response("200 OK", TEXT)
        iterable.append(Closing(iter([environ["PATH_INFO"].encode()])))
        return iterable[-1]

    async def main() -> None:
        async with serving(app, tmp_path) as p:
            await p.fe.send(request(1, path=b"/slow"))
            await wait_event(started)
            await p.fe.send(protocol.Cancel(1, protocol.CANCEL_CLIENT_GONE))
            await until(lambda: p.channel.streams == {})
            release.set()
            await stopped(p)
            assert iterable[0].closed.is_set()
            await p.fe.send(protocol.Ping(0, False, 9))
            assert await p.fe.recv_frame() == protocol.Ping(0, True, 9)
    run(main)


@threads_only
def test_a_queued_request_cancelled_never_runs(tmp_path: Any) -> None:
    started = threading.Event()
    release = threading.Event()
    ran: list[str] = []

    def app(environ: Environ, start_response: Any) -> list[bytes]:
        ran.append(environ["PATH_INFO"])
        if environ["PATH_INFO"] == "/slow":
            started.set()
            assert release.wait(GUARD)
        start_response("200 OK", TEXT)
        return [b"done"]

    async def main() -> None:
        async with serving(app, tmp_path, threads=1) as p:
            await p.fe.send(request(1, path=b"/slow"))
            await wait_event(started)
            await p.fe.send(request(3, path=b"/queued"))
            await until(lambda: 3 in p.channel.streams)
            await p.fe.send(protocol.Cancel(3, protocol.CANCEL_CLIENT_GONE))
            await until(lambda: 3 not in p.channel.streams)
            release.set()
            assert (await response(p.fe, 1))[1] == b"done"
            await stopped(p)
    run(main)
    assert ran == ["/slow"]


@threads_only
def test_requests_queued_at_shutdown_get_a_500(tmp_path: Any, caplog: Any) -> None:
    started = threading.Event()
    release = threading.Event()

    def app(environ: Environ, start_response: Any) -> list[bytes]:
        started.set()
        assert release.wait(GUARD)
        start_response("200 OK", TEXT)
        return [b"done"]

    async def main() -> None:
        async with serving(app, tmp_path, threads=1) as p:
            await p.fe.send(request(1))
            await wait_event(started)
            await p.fe.send(request(3))
            await until(lambda: 3 in p.channel.streams)
            p.adapter.shutdown(wait=False)
            assert (await p.fe.recv_frame()) == protocol.Response(
                3, END, 500, [(b"content-type", b"text/plain; charset=utf-8")], b"Internal Server Error")
            release.set()
            assert (await response(p.fe, 1))[1] == b"done"
    run(main)
    assert "the WSGI thread pool was shut down" in caplog.text


def test_exc_info_replaces_the_response_before_headers_are_sent(tmp_path: Any) -> None:
    def app(environ: Environ, start_response: Any) -> list[bytes]:
        start_response("200 OK", TEXT)
        try:
            raise ValueError("while rendering")
        except ValueError:
            start_response("503 Service Unavailable", [("Content-Type", "text/plain"), ("Retry-After", "5")],
                           sys.exc_info())
        return [b"try later"]

    async def main() -> None:
        async with serving(app, tmp_path) as p:
            await p.fe.send(request(1))
            assert await p.fe.recv_frame() == protocol.Response(
                1, END, 503, [(b"content-type", b"text/plain"), (b"retry-after", b"5")], b"try later")
    run(main)


def test_exc_info_after_headers_are_sent_reraises(tmp_path: Any, caplog: Any) -> None:
    reraised: list[BaseException] = []
    iterable: list[Closing] = []

    def app(environ: Environ, start_response: Any) -> Any:
        def chunks() -> Iterator[bytes]:
            yield b"started"
            try:
                raise KeyError("late failure")
            except KeyError:
                try:
                    start_response("500 Internal Server Error", TEXT, sys.exc_info())
                except KeyError as exc:
                    reraised.append(exc)
                    raise
            yield b"never"
        start_response("200 OK", TEXT)
        iterable.append(Closing(chunks()))
        return iterable[0]

    async def main() -> None:
        async with serving(app, tmp_path) as p:
            await p.fe.send(request(1))
            assert (await p.fe.recv_frame()).body == b"started"
            assert await p.fe.recv_frame() == protocol.Cancel(1, protocol.CANCEL_INTERNAL)
            await wait_event(iterable[0].closed)
    run(main)
    assert len(reraised) == 1


def test_exc_info_after_write_reraises(tmp_path: Any) -> None:
    # PEP 3333: the headers count as sent from the first write(), so start_response(exc_info) raises then,
    # in both modes (inline holds write()'s bytes, which must not end up under another status).
    def app(environ: Environ, start_response: Any) -> list[bytes]:
        write = start_response("200 OK", TEXT)
        write(b"partial;")
        try:
            raise ValueError("late")
        except ValueError:
            try:
                start_response("500 Internal Server Error", TEXT, sys.exc_info())
            except ValueError:
                return [b"re-raised"]
            return [b"replaced"]

    async def main() -> None:
        async with serving(app, tmp_path) as p:
            await p.fe.send(request(1))
            head, body, _ = await response(p.fe)
            assert (head.status, body) == (200, b"partial;re-raised")
    run(main)


def test_write_while_iterating_is_sent_in_order(tmp_path: Any) -> None:
    # PEP 3333 forbids write() from the iterable; what it is given is still sent, where it was written.
    def app(environ: Environ, start_response: Any) -> Any:
        write = start_response("200 OK", TEXT)

        def body() -> Iterator[bytes]:
            write(b"w1;")
            yield b"y1;"
            write(b"w2;")
            yield b"y2;"
            write(b"w3")
        return body()

    def only_written(environ: Environ, start_response: Any) -> Any:
        write = start_response("200 OK", TEXT)

        def body() -> Iterator[bytes]:
            write(b"only written")
            yield from ()
        return body()

    async def main() -> None:
        async with serving(app, tmp_path) as p:
            await p.fe.send(request(1))
            assert (await response(p.fe))[1] == b"w1;y1;w2;y2;w3"
        async with serving(only_written, tmp_path) as p:
            await p.fe.send(request(1))
            assert (await response(p.fe))[1] == b"only written"
    run(main)


def test_start_response_twice_without_exc_info_is_an_error(tmp_path: Any) -> None:
    errors: list[BaseException] = []

    def app(environ: Environ, start_response: Any) -> list[bytes]:
        start_response("200 OK", TEXT)
        try:
            start_response("201 Created", TEXT)
        except AssertionError as exc:
            errors.append(exc)
            raise
        return [b"x"]

    async def main() -> None:
        async with serving(app, tmp_path) as p:
            await p.fe.send(request(1))
            assert (await p.fe.recv_frame()).status == 500
    run(main)
    assert len(errors) == 1


@pytest.mark.parametrize("status, headers", [
    ("200 OK\r\nX-Injected: 1", TEXT),                  # CR LF in the status line
    ("102 Processing", TEXT),                            # 1xx cannot be sent by an application
    ("600 Beyond", TEXT),
    ("200 OK", TEXT + [("X-Bad", "a\x7fb")]),            # control character in a value
    ("200 OK", TEXT + [("X-Bad", "caf\u20ac")]),         # not latin-1
    ("200 OK", TEXT + [("Content-Length", "12abc")]),
])
def test_invalid_status_or_header_is_a_500(tmp_path: Any, status: str, headers: list[tuple[str, str]]) -> None:
    raised: list[BaseException] = []

    def app(environ: Environ, start_response: Any) -> list[bytes]:
        try:
            start_response(status, headers)
        except Exception as exc:
            raised.append(exc)
            raise
        return [b"never"]

    async def main() -> None:
        async with serving(app, tmp_path) as p:
            await p.fe.send(request(1))
            assert (await p.fe.recv_frame()).status == 500
            await p.fe.send(request(3, path=b"/after"))
            # The backend goes on serving.
            assert (await p.fe.recv_frame()).status == 500
    run(main)
    assert len(raised) == 2 and all(isinstance(e, (TypeError, ValueError)) for e in raised)


@pytest.mark.parametrize("headers", [
    [("Bad Name", "x")], [("Bad:Name", "x")], [("X-A", "line\nbreak")], [("X-A", "nul\x00")],
    [(b"X-A", "bytes name")], [("X-A", 5)], [("X-A",)], ["X-A: 1"],
    [("Content-Length", "1"), ("Content-Length", "2")],
])
def test_check_headers_refuses(headers: Any) -> None:
    for _ in range(2):  # and again, once the good pairs among them are remembered
        with pytest.raises((TypeError, ValueError)):
            check_headers(headers)


def test_check_headers_wire_form() -> None:
    for _ in range(2):  # the second time from the cache of pairs seen
        headers, length = check_headers([("Content-Type", "text/html"), ("X-Tab", "a\tb "), ("Content-Length", "12"),
                                         ("Set-Cookie", "a=\xe9")])
        assert list(headers) == [(b"content-type", b"text/html"), (b"x-tab", b"a\tb"), (b"content-length", b"12"),
                                 (b"set-cookie", b"a=\xe9")]
        assert length == 12


# --- concurrency -----------------------------------------------------------------------


@threads_only
def test_a_blocking_view_does_not_block_other_requests(tmp_path: Any) -> None:
    started = threading.Event()
    release = threading.Event()

    def app(environ: Environ, start_response: Any) -> list[bytes]:
        if environ["PATH_INFO"] == "/sleep":
            started.set()
            assert release.wait(GUARD)
        start_response("200 OK", TEXT)
        return [environ["PATH_INFO"].encode()]

    async def main() -> None:
        async with serving(app, tmp_path, threads=2) as p:
            await p.fe.send(request(1, path=b"/sleep"))
            await wait_event(started)
            await p.fe.send(request(3, path=b"/fast"), protocol.Ping(0, False, 3))
            frames = await p.fe.recv_frames(2)
            assert protocol.Ping(0, True, 3) in frames
            assert protocol.Response(3, END, 200, [(b"content-type", b"text/plain")], b"/fast") in frames
            release.set()
            assert await p.fe.recv_frame() == protocol.Response(1, END, 200, [(b"content-type", b"text/plain")],
                                                                b"/sleep")
    run(main)


# --- wsgi.file_wrapper -------------------------------------------------------------------


def file_app(opened: list[Any], make: Callable[[], Any], length: Optional[int] = None) -> Any:
    def app(environ: Environ, start_response: Any) -> Any:
        f = make()
        opened.append(f)
        headers = [("Content-Type", "application/octet-stream")]
        if length is not None:
            headers.append(("Content-Length", str(length)))
        start_response("200 OK", headers)
        return environ["wsgi.file_wrapper"](f, 4096)
    return app


@pytest.mark.parametrize("relative", [False, True])
def test_file_wrapper_over_a_file_is_sent_by_the_frontend(tmp_path: Any, relative: bool,
                                                          monkeypatch: Any) -> None:
    data = os.urandom(100000)
    path = tmp_path / "data.bin"
    path.write_bytes(data)
    monkeypatch.chdir(tmp_path)
    opened: list[Any] = []

    async def main() -> None:
        name = "data.bin" if relative else str(path)
        async with serving(file_app(opened, lambda: open(name, "rb"), len(data)), tmp_path) as p:
            await p.fe.send(request(1))
            assert await p.fe.recv_frame() == protocol.Response(
                1, END | FILE, 200, [(b"content-type", b"application/octet-stream"), (b"content-length", b"100000")],
                os.fsencode(str(path)))
            await stopped(p)
    run(main)
    assert opened[0].closed


@pytest.mark.parametrize("make, expect", [
    (lambda path: io.BytesIO(b"0123456789" * 1000), b"0123456789" * 1000),
    (lambda path: _seeked(open(path, "rb"), 10), b"0123456789" * 1000),  # not at its start: through Python
])
def test_file_wrapper_without_a_usable_file_goes_through_python(tmp_path: Any, make: Any, expect: bytes) -> None:
    path = tmp_path / "data.txt"
    path.write_bytes(b"x" * 10 + b"0123456789" * 1000)
    opened: list[Any] = []

    async def main() -> None:
        async with serving(file_app(opened, lambda: make(str(path))), tmp_path) as p:
            await p.fe.send(request(1))
            head, body, frames = await response(p.fe)
            assert not head.flags & FILE and body == expect
            assert len(frames) > 2  # blocks of 4096 bytes
            await stopped(p)
    run(main)
    assert opened[0].closed


def _seeked(f: Any, offset: int) -> Any:
    f.seek(offset)
    return f


def test_file_wrapper_with_a_disagreeing_length_goes_through_python(tmp_path: Any) -> None:
    path = tmp_path / "data.txt"
    path.write_bytes(b"abcdefghij")
    opened: list[Any] = []

    async def main() -> None:
        async with serving(file_app(opened, lambda: open(path, "rb"), 4), tmp_path) as p:
            await p.fe.send(request(1))
            head, body, _ = await response(p.fe)
            assert not head.flags & FILE and body == b"abcd"
            await stopped(p)
    run(main)
    assert opened[0].closed


# --- real frameworks -------------------------------------------------------------------


def test_flask_app(tmp_path: Any) -> None:
    flask = pytest.importorskip("flask")
    app = flask.Flask(__name__)
    static = tmp_path / "static.bin"
    static.write_bytes(b"S" * 5000)

    @app.get("/hello/<name>")
    def hello(name: str) -> Any:
        return flask.jsonify(hello=name, q=flask.request.args.getlist("q"), root=flask.request.script_root)

    @app.post("/form")
    def form() -> Any:
        f = flask.request.files["file"]
        return flask.jsonify(note=flask.request.form["note"], name=f.filename, size=len(f.read()))

    @app.post("/sink")
    def sink() -> Any:
        n = 0
        while piece := flask.request.stream.read(10000):
            n += len(piece)
        return flask.jsonify(n=n)

    @app.get("/stream")
    def stream() -> Any:
        return flask.Response((b"%d," % i for i in range(5)), mimetype="text/plain")

    @app.get("/file")
    def file() -> Any:
        return flask.send_file(str(static), mimetype="application/octet-stream")

    boundary = b"XyZ"
    multipart = (b"--XyZ\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\nhi there\r\n"
                 b"--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.txt\"\r\n"
                 b"Content-Type: text/plain\r\n\r\n" + b"F" * 3000 + b"\r\n--XyZ--\r\n")

    async def main() -> None:
        async with serving(app, tmp_path, root_path="/app", initial_window=65536) as p:
            fe = p.fe
            await fe.send(request(1, path=b"/app/hello/ann", query=b"q=1&q=2"))
            head, body, frames = await response(fe)
            assert head.status == 200 and len(frames) == 1
            assert flask.json.loads(body) == {"hello": "ann", "q": ["1", "2"], "root": "/app"}

            await fe.send(request(3, "POST", b"/app/form", body=multipart, headers=[
                (b"host", b"example.test"), (b"content-type", b"multipart/form-data; boundary=" + boundary),
                (b"content-length", b"%d" % len(multipart))]))
            assert flask.json.loads((await response(fe, 3))[1]) == {"note": "hi there", "name": "a.txt",
                                                                     "size": 3000}
            big = b"z" * 300000
            await send_body(fe, 5, b"/app/sink", big, 65536, headers=[
                (b"host", b"example.test"), (b"content-type", b"application/octet-stream"),
                (b"content-length", b"%d" % len(big))])
            assert flask.json.loads((await response(fe, 5))[1]) == {"n": 300000}

            await fe.send(request(7, path=b"/app/stream"))
            assert (await response(fe, 7))[1] == b"0,1,2,3,4,"

            await fe.send(request(9, path=b"/app/missing"))
            assert (await response(fe, 9))[0].status == 404

            # HEAD: werkzeug answers the GET's headers, its length included, and no body.
            await fe.send(request(11, "HEAD", b"/app/hello/ann"))
            head, body, frames = await response(fe, 11)
            assert (head.status, body, len(frames)) == (200, b"", 1)
            assert dict(head.headers)[b"content-length"] != b"0"

            await fe.send(request(15, path=b"/app/file"))
            head, body, _ = await response(fe, 15)
            # send_file() hands werkzeug our file_wrapper: the frontend sends the file.
            assert head.flags == END | FILE and body == os.fsencode(str(static))
            assert dict(head.headers)[b"content-length"] == b"5000"
    run(main)


def django_views() -> Any:
    from django.http import FileResponse, HttpResponse, JsonResponse, StreamingHttpResponse
    from django.urls import path

    def index(request: Any) -> Any:
        return HttpResponse("index django", content_type="text/plain")

    def echo(request: Any) -> Any:
        return JsonResponse({"body": request.body.decode(), "post": request.POST.dict(),
                             "script": request.META["SCRIPT_NAME"], "path": request.path,
                             "cookies": request.COOKIES})

    def stream(request: Any) -> Any:
        return StreamingHttpResponse((b"%d;" % i for i in range(4)), content_type="text/plain")

    def download(request: Any) -> Any:
        return FileResponse(open(request.GET["path"], "rb"), content_type="application/octet-stream")

    return [path("", index), path("echo", echo), path("stream", stream), path("download", download)]


urlpatterns: list[Any] = []


def test_django_app(tmp_path: Any) -> None:
    pytest.importorskip("django")
    import django
    from django.conf import settings

    if not settings.configured:
        settings.configure(
            DEBUG=False, SECRET_KEY="tests", ALLOWED_HOSTS=["*"], ROOT_URLCONF=__name__, USE_TZ=True,
            MIDDLEWARE=["django.middleware.common.CommonMiddleware"], INSTALLED_APPS=[], DATABASES={},
        )
        django.setup()
    urlpatterns[:] = django_views()
    from django.core.wsgi import get_wsgi_application

    download = tmp_path / "report.bin"
    download.write_bytes(b"R" * 20000)

    async def main() -> None:
        async with serving(get_wsgi_application(), tmp_path, root_path="/site") as p:
            fe = p.fe
            await fe.send(request(1, path=b"/site/"))
            head, body, frames = await response(fe)
            # CommonMiddleware gives the length, so the whole response is one frame.
            assert (head.status, body, len(frames)) == (200, b"index django", 1)

            form = b"a=1&b=two"
            await fe.send(request(3, "POST", b"/site/echo", body=form, headers=[
                (b"host", b"example.test"), (b"content-type", b"application/x-www-form-urlencoded"),
                (b"content-length", b"%d" % len(form)), (b"cookie", b"x=1"), (b"cookie", b"y=2")]))
            head, body, _ = await response(fe, 3)
            import json
            assert json.loads(body) == {"body": "a=1&b=two", "post": {"a": "1", "b": "two"}, "script": "/site",
                                        "path": "/site/echo", "cookies": {"x": "1", "y": "2"}}

            await fe.send(request(5, path=b"/site/stream"))
            assert (await response(fe, 5))[1] == b"0;1;2;3;"

            await fe.send(request(7, path=b"/site/nowhere"))
            assert (await response(fe, 7))[0].status == 404

            await fe.send(request(9, path=b"/site/download", query=b"path=" + os.fsencode(str(download))))
            head, body, _ = await response(fe, 9)
            # FileResponse goes through wsgi.file_wrapper: the frontend sends the file.
            assert head.flags == END | FILE and body == os.fsencode(str(download))
            assert dict(head.headers)[b"content-length"] == b"20000"
    run(main)
