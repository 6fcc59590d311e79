"""The application behind the hostile-input suite: it records every request it sees.

A plain ASGI 3 application, so that nothing between the frontend and this code
reshapes what arrived.  Every request is read to its end (a path under
``/noread`` is answered 403 without reading its body) and, if its body ended
(a request whose client left halfway was never whole), recorded under the
client's port, which tells apart the connections the suite has open at once;
``GET /__hostile/seen?port=P`` answers the records of port P as JSON and forgets
them; ``GET /__hostile/reset`` forgets every record (those of the requests that
found the backend ready, say).  The answer to a recorded request is ``seen N`` (N: its body's length),
always with a content-length, so the suite can count responses exactly.
"""

from __future__ import annotations

import json
from typing import Any, Awaitable, Callable, Optional

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

SEEN_PATH = b"/__hostile/seen"
RESET_PATH = b"/__hostile/reset"

# Records by client port, in arrival order.
seen: dict[int, list[dict[str, Any]]] = {}


def latin1(b: bytes) -> str:
    return b.decode("latin-1")


async def answer(send: Send, status: int, body: bytes, content_type: bytes = b"text/plain") -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", content_type), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


async def read_body(receive: Receive) -> Optional[bytes]:
    """The whole body, or None if the client left before it ended (the request is then not recorded)."""
    parts = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return None
        parts.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(parts)


def record(scope: Scope, body: bytes) -> dict[str, Any]:
    query = scope["query_string"]
    return {
        "method": scope["method"],
        "target": latin1(scope["raw_path"] + (b"?" + query if query else b"")),
        "http_version": scope["http_version"],
        "headers": [[latin1(n), latin1(v)] for n, v in scope["headers"]],
        "body": latin1(body),
    }


async def lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "lifespan":
        await lifespan(receive, send)
        return
    if scope["raw_path"] == RESET_PATH:
        seen.clear()
        await answer(send, 200, b"reset")
        return
    if scope["raw_path"] == SEEN_PATH:
        port = int(scope["query_string"].decode().partition("=")[2] or 0)
        await answer(send, 200, json.dumps(seen.pop(port, [])).encode(), b"application/json")
        return
    port = scope["client"][1] if scope.get("client") else 0
    if scope["raw_path"].startswith(b"/noread"):
        seen.setdefault(port, []).append(record(scope, b""))
        await answer(send, 403, b"not read")
        return
    body = await read_body(receive)
    if body is None:
        return
    seen.setdefault(port, []).append(record(scope, body))
    await answer(send, 200, b"seen %d" % len(body))
