"""ASGI WebSocket apps for the end-to-end tests: a Starlette app, a raw ASGI app
(the websocket.http.response denial), and a WSGI app (upgrades refused)."""

from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect


async def echo(websocket: WebSocket) -> None:
    await websocket.accept(subprotocol=(websocket.scope["subprotocols"] or [None])[0])
    try:
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                return
            if message.get("text") is not None:
                await websocket.send_text(message["text"])
            else:
                await websocket.send_bytes(message["bytes"])
    except WebSocketDisconnect:
        return


async def refuse(websocket: WebSocket) -> None:
    await websocket.close()


async def home(request):
    return PlainTextResponse("starlette ws")


starlette_app = Starlette(routes=[Route("/", home), WebSocketRoute("/echo", echo),
                                  WebSocketRoute("/refuse", refuse)])


async def raw_app(scope, receive, send):
    """Refuses every WebSocket with an HTTP response of its own (websocket.http.response)."""
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] == "http":
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
        await send({"type": "http.response.body", "body": b"raw"})
        return
    assert "websocket.http.response" in scope["extensions"]
    assert (await receive())["type"] == "websocket.connect"
    await send({"type": "websocket.http.response.start", "status": 401,
                "headers": [(b"content-type", b"text/plain"), (b"www-authenticate", b"Bearer")]})
    await send({"type": "websocket.http.response.body", "body": b"no token for ", "more_body": True})
    await send({"type": "websocket.http.response.body", "body": scope["path"].encode()})


def wsgi_app(environ, start_response):
    start_response("200 OK", [("content-type", "text/plain")])
    return [b"wsgi"]
