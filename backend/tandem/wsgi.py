"""Serving a WSGI application (PEP 3333) as a tandem app.

``WSGIAdapter(app, threads, root_path)`` is an app of the one shape the channel
calls (``types.py``): for each stream it runs the WSGI callable in a thread of its
own pool, so a view that blocks holds a worker thread, never the event loop.

Threads and the loop.  Stream methods are called only on the loop's thread: the
worker reaches them with ``asyncio.run_coroutine_threadsafe`` and blocks until the
call is done, which is how flow control reaches the application (a ``read()``
waits for the next DATA frame, and the WINDOW it earns is granted as the app
consumes; a ``write()`` or the next chunk of the iterable waits while the
frontend's window is closed).  The stream's coroutine (``WSGIAdapter.__call__``)
meanwhile waits on one future, ``ready``, which the worker settles once with
what is left for the loop to do:

    ready value           set when                                     the loop then
    (RESPOND, s, h, b)    the whole body is known before any byte went  send_response(s, h, b, END): one frame
    (SENDFILE, s, h, p)   the iterable is a wsgi.file_wrapper over a    send_file(s, h, p): the frontend sends
                          regular file the frontend can open             it with sendfile
    (RAISE, exc)          the application failed                        raises it: 500, or CANCEL(INTERNAL)
                                                                         once the response has started
    None                  the worker sent the response itself          returns; the channel ends the body

It is settled before the iterable's ``close()`` runs, so the response is not
held back by cleanup (Django closes its database connections there).  ``close()``
runs in the worker thread that ran the application, always: after success,
after an exception, and after a client that went away.

Cancellation.  A CANCEL from the frontend cancels the coroutine; a request still
queued for a worker never runs, and a running one sees ``stream.cancelled`` at
its next read, write or chunk: reads and writes raise ``ClientDisconnected`` in
the application, iteration stops, ``close()`` runs, and whatever the worker would
still have sent is dropped.

Where PEP 3333 leaves a choice, this follows gunicorn: headers with an
underscore in their name are dropped (``X_Forwarded_For`` must not become
``HTTP_X_FORWARDED_FOR``), repeated headers are joined with ", " (cookies with
"; "), SERVER_NAME and SERVER_PORT come from the Host header, a body longer than
the application's Content-Length is cut to it, and the rest of the iterable is
still consumed after the body is complete.  The status's reason phrase does not
travel (the frontend writes its own).  Status and headers are checked by
``validation.py``, the same rules as for every interface (statuses outside
200..599 and control characters in values are refused), in ``start_response()``,
so that the application sees the error.

Calls ``validation`` (the status and header rules of every interface),
``types`` and ``protocol`` (the END and WEBSOCKET flags).

A WebSocket upgrade (a REQUEST with WEBSOCKET) cannot reach a WSGI application:
it is refused with 501 and a body that says so, as a server without WebSockets
would (PROTOCOL.md section 8).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import os
import stat
import sys
import tempfile
import time
from typing import Any, Callable, Iterable, Iterator, Optional

from . import validation
from .protocol import END, WEBSOCKET
from .threadpool import ThreadPool
from .types import PreparedHeaders, RawHeaders, Stream, StreamCancelled, describe, prepared

logger = logging.getLogger("tandem.wsgi")
errors_logger = logging.getLogger("tandem.wsgi.errors")

WSGIApp = Callable[[dict, Callable[..., Callable[[bytes], None]]], Iterable[bytes]]

# What the worker hands the loop (see the table above).
RESPOND = "respond"
SENDFILE = "sendfile"

_WS_REFUSED_BODY = b"Not Implemented: WSGI applications cannot take WebSocket connections\n"
_WS_REFUSED_HEADERS = [(b"content-type", b"text/plain; charset=utf-8")]
RAISE = "raise"

# A list or tuple of chunks is gathered into one frame up to this many bytes
# (they are all in memory already; beyond this the copy is not worth it).
GATHER_LIMIT = 1 << 20
# A worker blocked on the loop checks this often whether the loop has closed.
LOOP_POLL = 1.0


class ClientDisconnected(OSError):
    """Raised in the application by wsgi.input reads and write() once the client has gone."""


class FileWrapper:
    """``wsgi.file_wrapper``: iterates a file-like object in blocks of ``blksize`` bytes.

    Returned by the application as its iterable, a wrapper over a regular file
    read from its start is not iterated at all: the frontend sends the file
    with sendfile.  ``close()`` closes the file-like object (PEP 3333).
    """

    def __init__(self, filelike: Any, blksize: int = 8192) -> None:
        self.filelike = filelike
        self.blksize = blksize

    def __iter__(self) -> "FileWrapper":
        return self

    def __next__(self) -> bytes:
        data = self.filelike.read(self.blksize)
        if data:
            return data  # type: ignore[no-any-return]
        raise StopIteration

    def close(self) -> None:
        close = getattr(self.filelike, "close", None)
        if close is not None:
            close()


class WSGIInput:
    """``wsgi.input``: the request body as it arrives, never more than one chunk held.

    ``fetch()`` blocks the worker until the next chunk comes from the loop
    (``stream.receive()``, which grants the window back as chunks are taken);
    ``read``, ``readline``, ``readlines`` and iteration behave as on a binary
    file, and ``read()`` with no size returns the rest of the body.
    """

    def __init__(self, fetch: Callable[[], tuple[bytes, bool]], first: bytes = b"", more: bool = True) -> None:
        self._fetch = fetch
        self._buf = first
        self._pos = 0
        self._more = more

    @property
    def buffered(self) -> int:
        """Body bytes received and not yet read by the application."""
        return len(self._buf) - self._pos

    def _next_chunk(self) -> bytes:
        while self._more:
            chunk, self._more = self._fetch()
            if chunk:
                return chunk
        return b""

    def readable(self) -> bool:
        return True

    def read(self, size: Optional[int] = -1) -> bytes:
        buf, pos = self._buf, self._pos
        if size is None or size < 0:
            parts = [buf[pos:] if pos else buf]
            self._buf, self._pos = b"", 0
            while chunk := self._next_chunk():
                parts.append(chunk)
            return parts[0] if len(parts) == 1 else b"".join(parts)
        avail = len(buf) - pos
        if avail >= size:
            if pos == 0 and size == len(buf):
                self._buf = b""
                return buf
            self._pos = pos + size
            return buf[pos:pos + size]
        parts = [buf[pos:]] if avail else []
        n = avail
        self._buf, self._pos = b"", 0
        while n < size:
            chunk = self._next_chunk()
            if not chunk:
                break
            need = size - n
            if len(chunk) > need:
                parts.append(chunk[:need])
                self._buf, self._pos = chunk, need
                break
            parts.append(chunk)
            n += len(chunk)
        return b"".join(parts)

    def readline(self, size: Optional[int] = -1) -> bytes:
        limit = size if size is not None and size >= 0 else sys.maxsize
        parts = []
        n = 0
        while n < limit:
            buf, pos = self._buf, self._pos
            if pos >= len(buf):
                chunk = self._next_chunk()
                if not chunk:
                    break
                self._buf, self._pos = chunk, 0
                continue
            stop = min(len(buf), pos + (limit - n))
            newline = buf.find(b"\n", pos, stop)
            if newline >= 0:
                stop = newline + 1
            parts.append(buf[pos:stop])
            n += stop - pos
            self._pos = stop
            if newline >= 0:
                break
        return parts[0] if len(parts) == 1 else b"".join(parts)

    def readlines(self, hint: Optional[int] = -1) -> list[bytes]:
        lines = []
        total = 0
        while line := self.readline():
            lines.append(line)
            total += len(line)
            if hint is not None and 0 < hint <= total:
                break
        return lines

    def __iter__(self) -> Iterator[bytes]:
        return self

    def __next__(self) -> bytes:
        line = self.readline()
        if not line:
            raise StopIteration
        return line


class WSGIErrors:
    """``wsgi.errors``: text written here goes to the ``tandem.wsgi.errors`` logger, a record per line."""

    def __init__(self) -> None:
        self._partial = ""

    def write(self, s: str) -> int:
        if not isinstance(s, str):
            raise TypeError(f"wsgi.errors takes str, not {type(s).__name__}")
        text = self._partial + s
        *lines, self._partial = text.split("\n")
        for line in lines:
            errors_logger.error("%s", line)
        return len(s)

    def writelines(self, lines: Iterable[str]) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        if self._partial:
            errors_logger.error("%s", self._partial)
            self._partial = ""


class WSGIAdapter:
    """Serves the WSGI callable ``app`` from a pool of ``threads`` worker threads.

    ``root_path`` is the URL prefix the application is mounted at (``"/api"``),
    SCRIPT_NAME on every request.  A proxy in front may strip it or not: a path
    under it (``/api/items``) gives PATH_INFO without it (``/items``), any other
    path is PATH_INFO unchanged, so SCRIPT_NAME + PATH_INFO is always the URL the
    client used (as the ASGI adapter does with the scope's root_path and path).
    ``sendfile=False`` makes file_wrapper bodies pass through Python, for a
    frontend that cannot open the backend's files.  ``shutdown()`` stops the pool.
    """

    def __init__(self, app: WSGIApp, threads: int, root_path: str = "", *, sendfile: bool = True) -> None:
        if threads < 0:
            raise ValueError(f"threads must be 0 or more, not {threads}")
        self.app = app
        self.threads = threads
        root = root_path.rstrip("/")
        if root and not root.startswith("/"):
            root = "/" + root
        self.root_path = root
        self._root = root.encode("utf-8")
        # SCRIPT_NAME is a "bytes as latin-1" string like every WSGI string.
        self._script_name = self._root.decode("latin-1")
        self.sendfile = sendfile
        self.executor: Optional[ThreadPool] = ThreadPool(threads, "tandem-wsgi") if threads else None
        self._constant: dict[str, Any] = {
            "SCRIPT_NAME": self._script_name,
            "SERVER_SOFTWARE": "tandem",
            "wsgi.version": (1, 0),
            "wsgi.multithread": self.executor is not None,
            "wsgi.multiprocess": True,
            "wsgi.run_once": False,
            "wsgi.file_wrapper": FileWrapper,
            "wsgi.input_terminated": True,
        }

    def __repr__(self) -> str:
        return f"<WSGIAdapter {self.app!r} threads={self.threads} root_path={self.root_path!r}>"

    def shutdown(self, wait: bool = True) -> None:
        """Stop the pool: requests not yet started never run; with ``wait``, wait for running ones."""
        if self.executor is not None:
            self.executor.shutdown(wait=wait)

    async def __call__(self, stream: Stream) -> None:
        if stream.head.flags & WEBSOCKET:
            await stream.send_response(501, _WS_REFUSED_HEADERS, _WS_REFUSED_BODY, True)
            return
        if self.executor is None:
            await _Inline(self, stream).run(await _whole_body(stream))
            return
        loop = asyncio.get_running_loop()
        first, more = b"", True
        if stream.head.flags & END:
            # The whole body came in the REQUEST: take it now (this does not
            # wait), so that the worker never has to ask the loop for it.
            first, more = await stream.receive()
        exchange = _Exchange(self, stream, loop, first, more)
        self.executor.submit(exchange)
        try:
            action = await exchange.ready
        except BaseException:
            exchange.abandoned = True  # if still queued, the application never runs
            raise
        if action is None:
            return
        kind = action[0]
        if kind is RESPOND:
            await stream.send_response(action[1], action[2], action[3], True)
        elif kind is SENDFILE:
            await stream.send_file(action[1], action[2], action[3])  # type: ignore[attr-defined]
        else:
            raise action[1]

    def environ(self, stream: Stream, wsgi_input: Any) -> dict[str, Any]:
        """The PEP 3333 environ for a stream's request head."""
        head = stream.head
        path = head.path
        root = self._root
        if root and path.startswith(root) and (len(path) == len(root) or path[len(root)] == 0x2F):
            path = path[len(root):]
        scheme = head.scheme
        # The keys every request has the same value for are copied at once.
        environ = self._constant.copy()
        environ["REQUEST_METHOD"] = head.method
        environ["PATH_INFO"] = path.decode("latin-1")
        environ["QUERY_STRING"] = head.query.decode("latin-1")
        environ["RAW_URI"] = head.target.decode("latin-1")
        environ["SERVER_PROTOCOL"] = "HTTP/1.1" if head.http_version == "1.1" else "HTTP/" + head.http_version
        environ["wsgi.url_scheme"] = scheme
        environ["wsgi.input"] = wsgi_input
        environ["wsgi.errors"] = WSGIErrors()
        environ["tandem.request_id"] = head.request_id
        for name, value in head.headers:
            key = _KEYS.get(name, _UNSEEN)
            if key is _UNSEEN:
                key = _environ_key(name)
            if key is None:
                continue
            text = value.decode("latin-1")
            old = environ.get(key)
            if old is not None:
                text = old + ("; " if key == "HTTP_COOKIE" else ", ") + text
            environ[key] = text
        host = environ.get("HTTP_HOST")
        if host:
            environ["SERVER_NAME"], environ["SERVER_PORT"] = _server_of_host(host, scheme)
        elif head.server is not None:
            environ["SERVER_NAME"], environ["SERVER_PORT"] = head.server[0], str(head.server[1])
        else:
            environ["SERVER_NAME"], environ["SERVER_PORT"] = "localhost", _DEFAULT_PORTS.get(scheme, "80")
        if head.client is not None:
            environ["REMOTE_ADDR"] = head.client[0]
            environ["REMOTE_PORT"] = str(head.client[1])
        return environ


_UNSEEN: Any = object()
# Header name (as the frontend sends it, lowercase) -> environ key, or None for
# a name that is dropped.  Filled as names are seen, up to a bound, so that a
# client inventing names cannot grow it without limit.
_KEYS: dict[bytes, Optional[str]] = {b"content-type": "CONTENT_TYPE", b"content-length": "CONTENT_LENGTH"}
_KEYS_MAX = 512
_DEFAULT_PORTS = {"http": "80", "https": "443"}


def _environ_key(name: bytes) -> Optional[str]:
    text = name.decode("latin-1")
    # A name with an underscore would map to the same key as its dashed twin,
    # which lets a client smuggle in a value a proxy never checked.
    key = None if "_" in text else "HTTP_" + text.upper().replace("-", "_")
    if len(_KEYS) < _KEYS_MAX:
        _KEYS[name] = key
    return key


# Host header and scheme -> (SERVER_NAME, SERVER_PORT), for hosts seen; bounded.
_SERVERS: dict[tuple[str, str], tuple[str, str]] = {}
_SERVERS_MAX = 256


def _server_of_host(host: str, scheme: str) -> tuple[str, str]:
    server = _SERVERS.get((host, scheme))
    if server is None:
        server = _split_host(host, scheme)
        if len(_SERVERS) < _SERVERS_MAX:
            _SERVERS[(host, scheme)] = server
    return server


def _split_host(host: str, scheme: str) -> tuple[str, str]:
    """SERVER_NAME and SERVER_PORT from a Host header (``[v6]:port`` included)."""
    if host.startswith("["):
        end = host.find("]")
        if end > 0:
            name, rest = host[:end + 1], host[end + 1:]
            port = rest[1:] if rest.startswith(":") else ""
        else:
            name, port = host, ""
    else:
        name, _, port = host.partition(":")
    return name, port or _DEFAULT_PORTS.get(scheme, "80")


# Header pairs as applications give them -> their wire form, for pairs seen
# before: most responses repeat the same few.  Bounded as validation's cache is.
_ENCODED: dict[tuple[str, str], tuple[bytes, bytes]] = {}
_ENCODED_MAX = 1024


def _encoded(item: Any) -> tuple[bytes, bytes]:
    """One WSGI header (a ``(str, str)`` tuple) in wire form: lowercase name, value without the spaces around it."""
    if type(item) is not tuple or len(item) != 2:
        raise TypeError(f"a header must be a (name, value) tuple, not {item!r}")
    name, value = item
    if type(name) is not str:
        raise TypeError(f"header name {name!r} is not a str")
    if type(value) is not str:
        raise TypeError(f"value of header {name!r} is not a str: {value!r}")
    pair = (name.lower().encode("latin-1"), value.strip(" \t").encode("latin-1"))
    if len(value) <= 256:
        if len(_ENCODED) >= _ENCODED_MAX:
            _ENCODED.clear()
        _ENCODED[item] = pair
    return pair


def check_headers(headers: Any) -> tuple[PreparedHeaders, Optional[int]]:
    """WSGI response headers in wire form (lowercase names, latin-1 bytes), and the Content-Length if given.

    Names and values are "bytes as latin-1" strings (PEP 3333); a value loses the
    spaces and tabs around it.  Raises TypeError or ValueError.
    """
    out: list[tuple[bytes, bytes]] = []
    for item in headers:
        try:
            pair = _ENCODED.get(item)
        except TypeError:  # unhashable: _encoded() says what is wrong with it
            pair = None
        out.append(pair if pair is not None else _encoded(item))
    headers = prepared(out)
    return headers, headers.length


# Status lines seen, with their codes ("200 OK" -> 200); bounded.
_STATUSES: dict[str, int] = {}
_STATUSES_MAX = 256

# A body larger than this goes to a temporary file while it arrives (inline mode).
SPOOL_LIMIT = 1 << 20


def _no_more() -> tuple[bytes, bool]:
    return b"", False


async def _whole_body(stream: Stream) -> Any:
    """``wsgi.input`` holding the whole request body: in memory when it came in the REQUEST, as usual,
    else read to its end first, and kept in a temporary file once it passes SPOOL_LIMIT bytes."""
    chunk, more = await stream.receive()
    if not more:
        return WSGIInput(_no_more, chunk, False)
    spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_LIMIT)
    spool.write(chunk)
    while more:
        chunk, more = await stream.receive()
        spool.write(chunk)
    spool.seek(0)
    return spool


def _settle(future: "asyncio.Future[Any]", value: Any) -> None:
    if not future.done():
        future.set_result(value)


def _unwrap(result: Any) -> Any:
    """The application's own iterable inside wsgiref.validate's wrapper (only looked at, never iterated)."""
    validate = sys.modules.get("wsgiref.validate")
    while validate is not None and type(result) is validate.IteratorWrapper:
        result = result.original_iterator
    return result


def _same_file(path: bytes, st: os.stat_result) -> bool:
    try:
        other = os.stat(path)
    except OSError:
        return False
    return (other.st_dev, other.st_ino) == (st.st_dev, st.st_ino)


_TEMPORARY = getattr(tempfile, "_TemporaryFileWrapper", ())


def file_path(filelike: Any, content_length: Optional[int]) -> Optional[bytes]:
    """The absolute path of ``filelike`` if the frontend can send it whole instead of us, else None.

    That is a regular, non-empty file (files in /proc say size 0) read from its
    start, whose path names the same file as the open descriptor, whose size
    agrees with ``content_length``, and that is not deleted when closed.
    """
    if isinstance(filelike, _TEMPORARY):
        return None  # NamedTemporaryFile: close() unlinks it before the frontend opens it
    try:
        fd = filelike.fileno()
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_size == 0:
            return None
        tell = getattr(filelike, "tell", None)
        if (tell() if tell is not None else os.lseek(fd, 0, os.SEEK_CUR)) != 0:
            return None
        if content_length is not None and content_length != st.st_size:
            return None
        name = getattr(filelike, "name", None)
        if isinstance(name, (str, bytes)) and os.path.isabs(name):
            path = os.fsencode(name)
            if _same_file(path, st):
                return path
        path = os.fsencode(os.readlink(f"/proc/self/fd/{fd}"))
        return path if os.path.isabs(path) and _same_file(path, st) else None
    except (AttributeError, OSError, ValueError, TypeError):
        return None


class _Exchange:
    """One request's run of the application, in a worker thread.

    Everything here but ``ready`` belongs to the worker; the loop is reached
    only through ``_call`` and ``_settle_ready``.
    """

    def __init__(self, adapter: WSGIAdapter, stream: Stream, loop: asyncio.AbstractEventLoop,
                 first: bytes, more: bool) -> None:
        self.adapter = adapter
        self.stream = stream
        self.loop = loop
        self.ready: asyncio.Future[Any] = loop.create_future()
        self.first = first
        self.more = more
        self.settled = False
        self.status: Optional[int] = None
        self.headers: RawHeaders = []
        self.content_length: Optional[int] = None
        self.headers_sent = False
        self.ended = False  # the last body byte was handed to the loop
        self.sent = 0
        self.abandoned = False  # nobody waits for ``ready`` any more: do not start

    # --- talking to the loop ------------------------------------------------------

    def _settle_ready(self, value: Any) -> None:
        if self.settled:
            return
        self.settled = True
        try:
            self.loop.call_soon_threadsafe(_settle, self.ready, value)
        except RuntimeError:
            pass  # the loop is closed: nobody is waiting any more

    def _call(self, coro: Any) -> Any:
        """Run a stream coroutine on the loop and wait for its result."""
        if self.stream.cancelled:
            coro.close()
            raise ClientDisconnected("the client has gone")
        try:
            future = asyncio.run_coroutine_threadsafe(coro, self.loop)
        except RuntimeError:
            coro.close()
            raise ClientDisconnected("the event loop has stopped") from None
        while True:
            try:
                return future.result(LOOP_POLL)
            except TimeoutError:
                if future.done():
                    raise  # the coroutine's own TimeoutError
                if self.loop.is_closed():
                    future.cancel()
                    raise ClientDisconnected("the event loop has stopped") from None
            except (StreamCancelled, concurrent.futures.CancelledError):
                raise ClientDisconnected("the client has gone") from None

    def drop(self) -> None:
        """The pool was shut down before this job ran: the stream still gets its answer."""
        self._settle_ready((RAISE, RuntimeError("the WSGI thread pool was shut down")))

    def _receive(self) -> tuple[bytes, bool]:
        return self._call(self.stream.receive())  # type: ignore[no-any-return]

    # --- the WSGI side --------------------------------------------------------------

    def start_response(self, status: str, headers: list[tuple[str, str]],
                       exc_info: Any = None) -> Callable[[bytes], None]:
        if exc_info is not None:
            try:
                if self.headers_sent:
                    raise exc_info[1].with_traceback(exc_info[2])
            finally:
                exc_info = None
        elif self.status is not None:
            raise AssertionError("start_response() called a second time without exc_info")
        code = _STATUSES.get(status) if type(status) is str else None
        if code is None:
            code = validation.status_of_line(status)
            if len(_STATUSES) < _STATUSES_MAX:
                _STATUSES[status] = code
        self.headers, self.content_length = check_headers(headers)
        self.status = code
        return self.write

    def write(self, data: bytes) -> None:
        if type(data) is not bytes:
            raise TypeError(f"write() takes bytes, not {type(data).__name__}")
        if self.status is None:
            raise AssertionError("write() called before start_response()")
        self._emit(data, False)

    def _cut(self, data: bytes, complete: bool) -> tuple[bytes, bool]:
        """Body bytes to send, cut at the Content-Length, and whether they end the body."""
        end = complete
        length = self.content_length
        if length is not None and len(data) >= length - self.sent:
            data = data[:length - self.sent]
            end = True
        self.sent += len(data)
        self.ended = end
        return data, end

    def _emit(self, data: bytes, complete: bool) -> None:
        """Send body bytes (the first ones with the head); ``complete``: nothing follows them."""
        if self.ended:
            return
        data, end = self._cut(data, complete)
        status = self.status
        assert status is not None  # write() and the iterable check it first
        if not self.headers_sent:
            self.headers_sent = True
            if end:
                # The whole response is known: the loop sends it in one frame
                # while this thread goes on to close().
                self._settle_ready((RESPOND, status, self.headers, data))
                return
            self._call(self.stream.send_response(status, self.headers, data, False))
        else:
            self._call(self.stream.send_data(data, end))

    def run(self) -> None:
        """The worker: call the application, send its response, close its iterable."""
        if self.stream.cancelled or self.abandoned:
            self._settle_ready(None)
            return
        result: Any = None
        environ: Optional[dict[str, Any]] = None
        try:
            environ = self.adapter.environ(self.stream, WSGIInput(self._receive, self.first, self.more))
            result = self.adapter.app(environ, self.start_response)
            self._respond(result)
        except BaseException as exc:
            self._failed(exc)
        finally:
            try:
                self._close(result, environ, BaseException)
            finally:
                self._settle_ready(None)

    def _close(self, result: Any, environ: Optional[dict[str, Any]], catch: type[BaseException]) -> None:
        """The iterable's close() (PEP 3333: always; what it raises of ``catch`` is logged), then what
        wsgi.errors still holds."""
        try:
            if result is not None and hasattr(result, "close"):
                result.close()
        except catch:
            logger.exception("%s: the WSGI iterable's close() raised", describe(self.stream))
        finally:
            if environ is not None:
                environ["wsgi.errors"].flush()

    def _respond(self, result: Any) -> None:
        path = self._sendfile_path(result)
        if path is not None:
            self.headers_sent = self.ended = True
            self._settle_ready((SENDFILE, self.status, self.headers, path))
            return
        for data, complete in self._pieces(result):
            self._emit(data, complete)
        self._settle_ready(None)

    def _sendfile_path(self, result: Any) -> Optional[bytes]:
        """The path of a wsgi.file_wrapper result the frontend may send itself, if it is one."""
        if isinstance(result, (bytes, str)):
            raise TypeError("a WSGI application must return an iterable of bytes, not a string")
        inner = _unwrap(result)
        if (type(inner) is FileWrapper and self.status is not None and not self.headers_sent
                and self.adapter.sendfile and hasattr(self.stream, "send_file")):
            return file_path(inner.filelike, self.content_length)
        return None

    def _pieces(self, result: Any) -> Iterator[tuple[bytes, bool]]:
        """What to send of the iterable, as ``(bytes, complete)``; it runs the application's iteration.

        A list or tuple is gathered into one piece up to GATHER_LIMIT bytes, so
        that a response known whole leaves as one frame.
        """
        inner = _unwrap(result)
        try:
            # PEP 3333: a len() that works is accurate, and with len() == 1 the
            # first chunk is the whole body.
            single = len(inner) == 1
        except Exception:
            single = False
        gather = type(inner) in (list, tuple) and not self.headers_sent
        parts: list[bytes] = []
        size = 0
        stream = self.stream
        for chunk in result:
            if stream.cancelled:
                raise ClientDisconnected("the client has gone")
            if type(chunk) is not bytes:
                raise TypeError(f"the WSGI iterable yielded {type(chunk).__name__}, not bytes")
            if not chunk:
                continue
            if self.status is None:
                raise AssertionError("the WSGI iterable yielded a body before start_response() was called")
            if gather:
                parts.append(chunk)
                size += len(chunk)
                if size > GATHER_LIMIT:
                    gather = False
                    for part in parts:
                        yield part, False
                    parts = []
                continue
            yield chunk, single
        if self.status is None:
            raise AssertionError("the WSGI application returned without calling start_response()")
        if not self.headers_sent:
            yield parts[0] if len(parts) == 1 else b"".join(parts), True

    def _failed(self, exc: BaseException) -> None:
        if self.stream.cancelled or isinstance(exc, ClientDisconnected):
            logger.debug("stream %d: the client went away during the WSGI application: %r", self.stream.id, exc)
            self._settle_ready(None)
            return
        if self.settled:
            # The response went out whole already; only the log can tell.
            logger.error("%s: the WSGI application raised after its response was complete",
                         describe(self.stream), exc_info=exc)
            return
        if not isinstance(exc, Exception):
            # SystemExit or KeyboardInterrupt in a worker thread must not stop the loop.
            wrapped = RuntimeError(f"the WSGI application raised {exc!r}")
            wrapped.__cause__ = exc
            exc = wrapped
        self._settle_ready((RAISE, exc))


class _Inline(_Exchange):
    """One request's run of the application on the event loop's own thread (``threads=0``).

    The application is called, and its iterable iterated, from the stream's
    coroutine: between two chunks the coroutine may wait for the frontend's
    window like any other, but the application's own code blocks the loop
    while it runs, as a gunicorn sync worker blocks its process.  ``write()``
    cannot wait there, so what it is given is held and sent after the
    application returns (or before the iterable's next chunk); the headers
    count as sent from the first write(), as PEP 3333 has it.  The body is whole before the application starts
    (``WSGIAdapter`` spools it), so a read never waits either.
    """

    def __init__(self, adapter: WSGIAdapter, stream: Stream) -> None:
        self.adapter = adapter
        self.stream = stream
        self.status = None
        self.headers = []
        self.content_length = None
        self.headers_sent = False
        self.ended = False
        self.sent = 0
        self.written: list[bytes] = []  # write()'s bytes, sent once the application returns

    def write(self, data: bytes) -> None:
        if type(data) is not bytes:
            raise TypeError(f"write() takes bytes, not {type(data).__name__}")
        if self.status is None:
            raise AssertionError("write() called before start_response()")
        if self.stream.cancelled:
            raise ClientDisconnected("the client has gone")
        if data:
            self.written.append(data)

    def start_response(self, status: str, headers: list[tuple[str, str]],
                       exc_info: Any = None) -> Callable[[bytes], None]:
        # PEP 3333: the headers count as sent from the first write(), whose bytes are only held here.
        if exc_info is not None and self.written:
            try:
                raise exc_info[1].with_traceback(exc_info[2])
            finally:
                exc_info = None
        return super().start_response(status, headers, exc_info)

    async def run(self, wsgi_input: Any) -> None:
        """Call the application and send its response; raises what the channel must answer for."""
        result: Any = None
        environ: Optional[dict[str, Any]] = None
        started = time.monotonic()
        try:
            environ = self.adapter.environ(self.stream, wsgi_input)
            result = self.adapter.app(environ, self.start_response)
            await self._respond_inline(result)
        except ClientDisconnected:
            pass
        except Exception:
            if self.stream.cancelled:
                return
            raise
        finally:
            try:
                # On the loop's thread, KeyboardInterrupt and SystemExit go on.
                self._close(result, environ, Exception)
            finally:
                _note_slow(self.stream, time.monotonic() - started)

    async def _respond_inline(self, result: Any) -> None:
        if type(result) is list and len(result) == 1 and not self.written:
            # The usual answer, [body]: one frame, nothing to iterate.
            body = result[0]
            if type(body) is bytes and self.status is not None:
                await self._send(body, True)
                return
        path = self._sendfile_path(result)
        if path is not None and not self.written:
            assert self.status is not None
            self.headers_sent = self.ended = True
            await self.stream.send_file(self.status, self.headers, path)  # type: ignore[attr-defined]
            return
        await self._send_written()
        for data, complete in self._pieces(result):
            # What write() was given while the iterable ran (PEP 3333 forbids it, threads send it):
            # before the piece that followed it.
            await self._send_written()
            await self._send(data, complete)
            if not complete:
                # One turn of the loop between two chunks of a streamed body: the frontend's CANCEL for a
                # client that left is read (the next chunk then raises ClientDisconnected, as with
                # threads), and the other streams' requests go on.
                await asyncio.sleep(0)
        await self._send_written()

    async def _send_written(self) -> None:
        while self.written:
            written, self.written = self.written, []
            for data in written:
                await self._send(data, False)

    async def _send(self, data: bytes, complete: bool) -> None:
        if self.ended:
            return
        data, end = self._cut(data, complete)
        status = self.status
        assert status is not None
        if not self.headers_sent:
            self.headers_sent = True
            await self.stream.send_response(status, self.headers, data, end)
        else:
            await self.stream.send_data(data, end)


# An application that holds the loop longer than this is named in the log:
# every other request to this backend waited for it.
SLOW_INLINE = 1.0


def _note_slow(stream: Stream, took: float) -> None:
    if took >= SLOW_INLINE:
        head = stream.head
        logger.warning("the WSGI application took %.1f s on the event loop's thread for %s %s: every other "
                       "request to this backend waited meanwhile (run more --workers, or give it --threads)",
                       took, head.method, head.target.decode("latin-1"))
