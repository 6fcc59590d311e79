"""The application a backend under test serves to the conformance kit.

The kit sends requests to a few fixed routes and checks the answers, so any
backend, in any language, can host it by implementing these routes:

==========================  ====================================================================
route                       answer
==========================  ====================================================================
``GET /hello``              200, body ``hello``
``POST /echo``              200, body: the request body, byte for byte (it may be streamed back
                            as it is read)
``POST /count``             200, body: the request body's length in decimal ASCII, sent only
                            once the whole body has been read
``GET /stream?n=N&size=S``  200, body: N pieces of S bytes, piece k made of the letter
                            ``"abcdefghijklmnopqrstuvwxyz"[k % 26]``, sent piece by piece (each
                            send waits for the frontend's window)
``GET /request-id``         200, body: the request's id (the REQUEST's ``request_id``, or the
                            backend's own when the frontend sent none), UTF-8
WebSocket ``/ws-echo``      (a backend that speaks WebSockets, PROTOCOL.md section 8) accepted
                            without a subprotocol; every message back, of its kind, until the
                            close.  The WSGI form cannot take WebSockets: it refuses with a
                            RESPONSE (the kit takes any of section 8's answers)
==========================  ====================================================================

Headers are free (the kit checks status and body only).  No route blocks a
thread: a request is held open by not ending its body (``/echo`` and
``/count`` wait for it) or by granting no window (``/stream``), which every
interface waits on without blocking, WSGI's inline mode (``--threads 0``)
included.

Three forms of the same routes, for ``python3 -m tandem tandem.conform.app:ATTR``:

* ``app``: a tandem ``App`` (native interface),
* ``asgi_app``: a raw ASGI 3 application,
* ``wsgi_app``: a raw WSGI application.

Calls tandem's public ``App`` only (``from tandem import ...``).
"""

from __future__ import annotations

from typing import Any, AsyncIterator, Callable, Iterable, Iterator
from urllib.parse import parse_qs

from .. import App, Request, StreamingResponse

LETTERS = b"abcdefghijklmnopqrstuvwxyz"
MAX_PIECES = 1 << 16     # a bound on n and size, so a typo cannot ask for terabytes
MAX_PIECE_SIZE = 1 << 20


def stream_params(query: bytes) -> tuple[int, int]:
    """``n`` and ``size`` of ``/stream``'s query (defaults 4 and 1024), clamped to the bounds above."""
    params = parse_qs(query.decode("latin-1"))

    def number(name: str, default: int, high: int) -> int:
        try:
            return max(0, min(int(params.get(name, [str(default)])[0]), high))
        except ValueError:
            return default

    return number("n", 4, MAX_PIECES), number("size", 1024, MAX_PIECE_SIZE)


def piece(k: int, size: int) -> bytes:
    """Piece k of ``/stream``'s body."""
    return LETTERS[k % 26:k % 26 + 1] * size


def stream_body(n: int, size: int) -> bytes:
    """The whole body ``/stream?n=N&size=S`` answers (what the kit expects)."""
    return b"".join(piece(k, size) for k in range(n))


# --- native: a tandem App ----------------------------------------------------------------

app = App()


@app.get("/hello")
def hello(request: Request) -> str:
    return "hello"


@app.get("/request-id")
def request_id(request: Request) -> str:
    return request.id


@app.post("/echo")
async def echo(request: Request) -> StreamingResponse:
    return StreamingResponse(request.stream(), media_type="application/octet-stream")


@app.post("/count")
async def count(request: Request) -> str:
    total = 0
    async for chunk in request.stream():
        total += len(chunk)
    return str(total)


@app.get("/stream")
def stream(request: Request) -> StreamingResponse:
    n, size = stream_params(request.query_string)
    return StreamingResponse((piece(k, size) for k in range(n)), media_type="application/octet-stream")


@app.websocket("/ws-echo")
async def ws_echo(ws: Any) -> None:
    await ws.accept()
    while True:
        try:
            message = await ws.receive()
        except OSError:
            return
        if isinstance(message, str):
            await ws.send_text(message)
        else:
            await ws.send_bytes(message)


# --- ASGI 3 ------------------------------------------------------------------------------

_OCTETS = [(b"content-type", b"application/octet-stream")]
_TEXT = [(b"content-type", b"text/plain")]


async def asgi_app(scope: dict[str, Any], receive: Callable[..., Any], send: Callable[..., Any]) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] == "websocket":
        await _asgi_ws_echo(receive, send)
        return
    route = (scope["method"], scope["path"])
    if route == ("GET", "/hello"):
        await _asgi_whole(send, 200, b"hello")
    elif route == ("GET", "/request-id"):
        await _asgi_whole(send, 200, scope["extensions"]["tandem"]["request_id"].encode())
    elif route == ("POST", "/echo"):
        await send({"type": "http.response.start", "status": 200, "headers": _OCTETS})
        async for chunk in _asgi_body(receive):
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b""})
    elif route == ("POST", "/count"):
        total = 0
        async for chunk in _asgi_body(receive):
            total += len(chunk)
        await _asgi_whole(send, 200, str(total).encode())
    elif route == ("GET", "/stream"):
        n, size = stream_params(scope["query_string"])
        await send({"type": "http.response.start", "status": 200, "headers": _OCTETS})
        for k in range(n):
            await send({"type": "http.response.body", "body": piece(k, size), "more_body": True})
        await send({"type": "http.response.body", "body": b""})
    else:
        await _asgi_whole(send, 404, b"Not Found")


async def _asgi_ws_echo(receive: Callable[..., Any], send: Callable[..., Any]) -> None:
    await receive()                          # websocket.connect
    await send({"type": "websocket.accept"})
    while True:
        message = await receive()
        if message["type"] != "websocket.receive":
            return
        await send({"type": "websocket.send", "text": message.get("text"), "bytes": message.get("bytes")})


async def _asgi_whole(send: Callable[..., Any], status: int, body: bytes) -> None:
    await send({"type": "http.response.start", "status": status, "headers": _TEXT})
    await send({"type": "http.response.body", "body": body})


async def _asgi_body(receive: Callable[..., Any]) -> AsyncIterator[bytes]:
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return
        if message.get("body"):
            yield message["body"]
        if not message.get("more_body"):
            return


# --- WSGI ---------------------------------------------------------------------------------

READ_SIZE = 65536


def wsgi_app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    route = (environ["REQUEST_METHOD"], environ["PATH_INFO"])
    if route == ("GET", "/hello"):
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"hello"]
    if route == ("GET", "/request-id"):
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [environ["tandem.request_id"].encode()]
    if route == ("POST", "/echo"):
        start_response("200 OK", [("Content-Type", "application/octet-stream")])
        return _wsgi_body(environ["wsgi.input"])
    if route == ("POST", "/count"):
        total = sum(len(chunk) for chunk in _wsgi_body(environ["wsgi.input"]))
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [str(total).encode()]
    if route == ("GET", "/stream"):
        n, size = stream_params(environ.get("QUERY_STRING", "").encode("latin-1"))
        start_response("200 OK", [("Content-Type", "application/octet-stream")])
        return (piece(k, size) for k in range(n))
    start_response("404 Not Found", [("Content-Type", "text/plain")])
    return [b"Not Found"]


def _wsgi_body(wsgi_input: Any) -> Iterator[bytes]:
    while True:
        chunk = wsgi_input.read(READ_SIZE)
        if not chunk:
            return
        yield chunk
