"""What an application sees of a request's identity, in each interface, for
tests/test_proxy_identity.py: the client address, the scheme, the request id
and the X-Request-Id header, as JSON from ``GET /whoami``; ``GET /boom``
raises (a 500 whose log line names the request id); ``GET /own-id`` answers
with an X-Request-Id of its own.

* ``app``: a tandem App (``request.client``, ``request.scheme``, ``request.id``)
* ``asgi_app``: raw ASGI 3 (the scope's client and scheme, its ``tandem`` extension)
* ``wsgi_app``: raw WSGI (REMOTE_ADDR, wsgi.url_scheme, ``tandem.request_id``)
* ``flask_app``: Flask's ``request.remote_addr``, ``is_secure`` and ``url_for(_external=True)``
* ``starlette_app``: Starlette's ``request.client``, ``url.scheme`` and ``url_for``
"""

from __future__ import annotations

import json
from typing import Any, Callable, Iterable

from flask import Flask, request as flask_request, url_for
from starlette.applications import Starlette
from starlette.requests import Request as StarletteRequest
from starlette.responses import JSONResponse
from starlette.routing import Route

from tandem import App, JSONResponse as TandemJSON, Request, Response


def seen(client: Any, scheme: str, request_id: str, header: Any, **more: Any) -> dict[str, Any]:
    return {"client": list(client) if client is not None else None, "scheme": scheme, "id": request_id,
            "x_request_id": header, **more}


# --- native ---------------------------------------------------------------------------------

app = App()


@app.get("/whoami")
def whoami(request: Request) -> TandemJSON:
    return TandemJSON(seen(request.client, request.scheme, request.id, request.headers.get("x-request-id")))


@app.get("/boom")
def boom(request: Request) -> str:
    raise ValueError("boom in the native app")


@app.get("/own-id")
def own_id(request: Request) -> Response:
    return Response(b"mine", headers={"X-Request-Id": "set-by-the-app"})


# --- ASGI 3 ---------------------------------------------------------------------------------


async def asgi_app(scope: dict[str, Any], receive: Callable[..., Any], send: Callable[..., Any]) -> None:
    if scope["type"] != "http":
        return
    if scope["path"] == "/boom":
        raise ValueError("boom in the ASGI app")
    header = next((v.decode() for k, v in scope["headers"] if k == b"x-request-id"), None)
    body = json.dumps(seen(scope["client"], scope["scheme"], scope["extensions"]["tandem"]["request_id"],
                           header)).encode()
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": body})


# --- WSGI -----------------------------------------------------------------------------------


def wsgi_app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    if environ["PATH_INFO"] == "/boom":
        raise ValueError("boom in the WSGI app")
    body = json.dumps(seen((environ["REMOTE_ADDR"], int(environ["REMOTE_PORT"])), environ["wsgi.url_scheme"],
                           environ["tandem.request_id"], environ.get("HTTP_X_REQUEST_ID"))).encode()
    start_response("200 OK", [("Content-Type", "application/json")])
    return [body]


# --- frameworks -----------------------------------------------------------------------------

flask_app = Flask(__name__)


@flask_app.route("/whoami")
def flask_whoami() -> Any:
    return seen((flask_request.remote_addr, 0), flask_request.scheme, flask_request.environ["tandem.request_id"],
                flask_request.headers.get("X-Request-Id"), secure=flask_request.is_secure,
                url=url_for("flask_whoami", _external=True))


async def starlette_whoami(request: StarletteRequest) -> JSONResponse:
    return JSONResponse(seen(request.client, request.url.scheme, request.scope["extensions"]["tandem"]["request_id"],
                             request.headers.get("x-request-id"), url=str(request.url_for("whoami"))))


starlette_app = Starlette(routes=[Route("/whoami", starlette_whoami, name="whoami")])
