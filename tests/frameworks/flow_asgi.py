"""A raw ASGI 3 application that makes flow control and disconnects observable.

What it did is kept in memory per ``tag`` and read back with ``GET /state?tag=T``:
``produced`` (response body bytes that ``send`` accepted) and ``events``.

    GET  /produce?tag=T&chunk=N&limit=L&watch=1
         streams pieces of N bytes until L bytes have been sent; with watch=1 a
         second task waits on receive() and records what it returns
         ("receive:http.disconnect").  How the send loop ended is recorded as
         "send:finished", "send:cancelled" or "send:raised <exception>".
    GET  /longpoll?tag=T
         sends the head and one line, then waits on receive() until the client goes;
         then sends once more and records how that went ("send-after-disconnect:...").
    POST /slurp?tag=T&delay_ms=N
         waits N ms (0 by default), then reads the request body with receive()
         until it ends or the client goes;
         records "body:<bytes> more_body=<bool>" or "receive:http.disconnect".
    GET  /state?tag=T      JSON {"produced": n, "events": [...]}
    GET  /                 "flow asgi"
"""

from __future__ import annotations

import asyncio
import json
from urllib.parse import parse_qs

PRODUCED: dict[str, int] = {}
EVENTS: dict[str, list[str]] = {}


async def respond(send, status: int, body: bytes, content_type: bytes = b"text/plain") -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", content_type), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


async def watch_receive(receive, events: list[str]) -> None:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            events.append("receive:http.disconnect")
            return


async def produce(tag: str, chunk: int, limit: int, watch: bool, receive, send) -> None:
    events = EVENTS.setdefault(tag, [])
    PRODUCED[tag] = 0
    piece = b"x" * chunk
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/octet-stream")]})
    watcher = asyncio.ensure_future(watch_receive(receive, events)) if watch else None
    try:
        while PRODUCED[tag] < limit:
            await send({"type": "http.response.body", "body": piece, "more_body": True})
            PRODUCED[tag] += chunk
        await send({"type": "http.response.body", "body": b"", "more_body": False})
        events.append("send:finished")
    except asyncio.CancelledError:
        events.append("send:cancelled")
        raise
    except Exception as exc:  # a send on a closed connection may raise (an OSError, says the ASGI spec)
        events.append(f"send:raised {type(exc).__name__}")
    finally:
        if watcher is not None:
            # The disconnect may still be on its way to the watcher; give it a moment.
            try:
                await asyncio.wait_for(asyncio.shield(watcher), 5)
            except (asyncio.TimeoutError, asyncio.CancelledError):
                watcher.cancel()


async def longpoll(tag: str, receive, send) -> None:
    events = EVENTS.setdefault(tag, [])
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": b"waiting\n", "more_body": True})
    await watch_receive(receive, events)
    try:
        await send({"type": "http.response.body", "body": b"too late\n", "more_body": False})
        events.append("send-after-disconnect:returned")
    except OSError:  # what the ASGI spec allows a server to raise here
        events.append("send-after-disconnect:raised OSError")
    except Exception as exc:
        events.append(f"send-after-disconnect:raised {type(exc).__name__}, not an OSError")


async def slurp(tag: str, delay: float, receive, send) -> None:
    events = EVENTS.setdefault(tag, [])
    await asyncio.sleep(delay)
    n = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            events.append(f"receive:http.disconnect after {n}")
            return
        n += len(message.get("body", b""))
        if not message.get("more_body", False):
            events.append(f"body:{n}")
            break
    await respond(send, 200, str(n).encode())


async def app(scope, receive, send) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    assert scope["type"] == "http"
    query = {k: v[0] for k, v in parse_qs(scope["query_string"].decode()).items()}
    tag = query.get("tag", "")
    path = scope["path"]
    if path == "/produce":
        await produce(tag, int(query.get("chunk", 65536)), int(query.get("limit", 1 << 28)),
                      query.get("watch") == "1", receive, send)
    elif path == "/longpoll":
        await longpoll(tag, receive, send)
    elif path == "/slurp":
        await slurp(tag, int(query.get("delay_ms", 0)) / 1000, receive, send)
    elif path == "/state":
        body = json.dumps({"produced": PRODUCED.get(tag, 0), "events": EVENTS.get(tag, [])}).encode()
        await respond(send, 200, body, b"application/json")
    else:
        await respond(send, 200, b"flow asgi")
