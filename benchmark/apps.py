"""The same endpoints, the same bytes, for every server the benchmark compares.

GET  /                  -> "Hello, World!" as text/plain; charset=utf-8
GET  /json              -> {"message":"Hello, World!"} as application/json
GET  /users/42?q=x      -> {"id":42,"q":"x","agent":<the User-Agent header>} as application/json
POST /echo              -> the request body as application/octet-stream
GET  /sleep             -> "Hello, World!" after awaiting asyncio.sleep(0.01) (native and ASGI only)

Three forms of one program: ``app`` (tandem's native API), ``asgi`` (a raw ASGI 3
callable: the fastest thing uvicorn can run) and ``wsgi`` (a raw WSGI callable, for
gunicorn, uWSGI and tandem's WSGI host).  No framework: each does what a framework
would at the least (route by path, parse the query, read a header, read the body).
backend_micro.py feeds ``app`` in process; apps_fastapi.py and apps_flask.py hold
the framework versions.
"""
from __future__ import annotations

import asyncio
import json
from typing import Any, Awaitable, Callable, Iterable, Optional
from urllib.parse import parse_qsl

from tandem import App

HELLO = b"Hello, World!"
TEXT = "text/plain; charset=utf-8"
JSON = "application/json"
OCTETS = "application/octet-stream"
SLEEP_SECONDS = 0.01


def _json(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def _user(user_id: str, query: str, agent: Optional[str]) -> Optional[bytes]:
    """The /users/{id} answer, or None if the id is not a number (then 404)."""
    if not user_id.isdigit():
        return None
    return _json({"id": int(user_id), "q": dict(parse_qsl(query, keep_blank_values=True)).get("q"),
                  "agent": agent})


# --- tandem's native API ------------------------------------------------------------

app = App()


@app.get("/")
def plaintext(request: Any) -> str:
    return "Hello, World!"


@app.get("/json")
def json_route(request: Any) -> dict:
    return {"message": "Hello, World!"}


@app.get("/users/{user_id:int}")
def user(request: Any, user_id: int) -> dict:
    return {"id": user_id, "q": request.query_params.get("q"), "agent": request.headers.get("user-agent")}


@app.post("/echo")
async def echo(request: Any) -> bytes:
    return await request.body()


@app.get("/sleep")
async def sleep(request: Any) -> str:
    await asyncio.sleep(SLEEP_SECONDS)
    return "Hello, World!"


# --- a raw ASGI 3 app ---------------------------------------------------------------

Send = Callable[[dict], Awaitable[None]]
Receive = Callable[[], Awaitable[dict]]


async def _asgi_answer(send: Send, status: int, ctype: str, body: bytes) -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", ctype.encode()), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


async def _asgi_body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


def _asgi_header(scope: dict, name: bytes) -> Optional[str]:
    for key, value in scope["headers"]:
        if key == name:
            return value.decode("latin-1")
    return None


async def asgi(scope: dict, receive: Receive, send: Send) -> None:
    if scope["type"] != "http":
        return
    path, method = scope["path"], scope["method"]
    if path == "/" and method == "GET":
        await _asgi_answer(send, 200, TEXT, HELLO)
    elif path == "/json" and method == "GET":
        await _asgi_answer(send, 200, JSON, _json({"message": "Hello, World!"}))
    elif path == "/echo" and method == "POST":
        await _asgi_answer(send, 200, OCTETS, await _asgi_body(receive))
    elif path == "/sleep" and method == "GET":
        await asyncio.sleep(SLEEP_SECONDS)
        await _asgi_answer(send, 200, TEXT, HELLO)
    elif path.startswith("/users/") and method == "GET" and (body := _user(
            path[7:], scope["query_string"].decode("latin-1"), _asgi_header(scope, b"user-agent"))) is not None:
        await _asgi_answer(send, 200, JSON, body)
    else:
        await _asgi_answer(send, 404, TEXT, b"Not Found")


# --- a raw WSGI callable ------------------------------------------------------------

StartResponse = Callable[[str, list], Any]


def _wsgi_answer(start_response: StartResponse, status: str, ctype: str, body: bytes) -> Iterable[bytes]:
    start_response(status, [("Content-Type", ctype), ("Content-Length", str(len(body)))])
    return [body]


def wsgi(environ: dict, start_response: StartResponse) -> Iterable[bytes]:
    path, method = environ["PATH_INFO"], environ["REQUEST_METHOD"]
    if path == "/" and method == "GET":
        return _wsgi_answer(start_response, "200 OK", TEXT, HELLO)
    if path == "/json" and method == "GET":
        return _wsgi_answer(start_response, "200 OK", JSON, _json({"message": "Hello, World!"}))
    if path == "/echo" and method == "POST":
        body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        return _wsgi_answer(start_response, "200 OK", OCTETS, body)
    if path.startswith("/users/") and method == "GET":
        body = _user(path[7:], environ.get("QUERY_STRING", ""), environ.get("HTTP_USER_AGENT"))
        if body is not None:
            return _wsgi_answer(start_response, "200 OK", JSON, body)
    return _wsgi_answer(start_response, "404 Not Found", TEXT, b"Not Found")
