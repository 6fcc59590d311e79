"""The common routes (see common.py) as a Starlette application (ASGI 3, with lifespan).

The lifespan context creates ``app.state.resource``, which /lifespan reads: without
a lifespan startup that route fails with 500.  Shutdown leaves the mark file
``starlette-shutdown`` in $FRAMEWORKS_MARK_DIR.
"""

from __future__ import annotations

import contextlib
import hashlib

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import (FileResponse, JSONResponse, PlainTextResponse, RedirectResponse,
                                 StreamingResponse)
from starlette.routing import Route

import common
import payload

FRAMEWORK = "starlette"


async def index(request: Request):
    return PlainTextResponse(f"index {FRAMEWORK}")


async def item(request: Request):
    return JSONResponse({"item_id": request.path_params["item_id"], "name": request.path_params["name"],
                         "q": request.query_params.getlist("q")}, headers={"X-Framework": FRAMEWORK})


async def form(request: Request):
    data = await request.form()
    return JSONResponse({key: data.getlist(key) for key in data})


async def json_post(request: Request):
    return JSONResponse({"received": await request.json(), "framework": FRAMEWORK}, status_code=201)


async def cookies_set(request: Request):
    resp = PlainTextResponse("cookies set")
    resp.set_cookie("session", "abc123", httponly=True, samesite="lax")
    resp.set_cookie("theme", "dark", path="/")
    return resp


async def cookies_read(request: Request):
    return JSONResponse(dict(request.cookies))


async def to_elsewhere(request: Request):
    return RedirectResponse(common.REDIRECT_TARGET, status_code=302)


async def upload(request: Request):
    data = await request.form()
    f = data["file"]
    return JSONResponse(common.upload_summary(f.filename, await f.read(), f.content_type, data["note"]))


async def stream(request: Request):
    n, size = int(request.query_params.get("n", 5)), int(request.query_params.get("size", 100))
    return StreamingResponse(common.stream_pieces(n, size), media_type="text/plain",
                             headers={"X-Streamed": "yes"})


async def info(request: Request):
    return JSONResponse({"method": request.method, "path": request.url.path,
                         "query": request.scope["query_string"].decode(),
                         "root_path": request.scope.get("root_path", ""), "scheme": request.url.scheme,
                         "host": request.headers.get("host"),
                         "link": str(request.url_for("item", item_id=3, name="n"))})


async def file(request: Request):
    return FileResponse(common.FILE_PATH)


async def lifespan_resource(request: Request):
    return JSONResponse(request.app.state.resource)


# --- big bodies for test_streaming.py -------------------------------------


async def sink(request: Request):
    """Hashes the body as it streams in; answers its length and sha256."""
    h = hashlib.sha256()
    n = 0
    async for chunk in request.stream():
        h.update(chunk)
        n += len(chunk)
    return JSONResponse({"length": n, "sha256": h.hexdigest()})


async def source(request: Request):
    """payload.pieces(size), streamed without a Content-Length (chunked to the client)."""
    size = int(request.query_params.get("size", 0))
    return StreamingResponse(payload.pieces(size), media_type="application/octet-stream")


@contextlib.asynccontextmanager
async def lifespan(app: Starlette):
    app.state.resource = dict(common.LIFESPAN_RESOURCE, framework=FRAMEWORK)
    yield
    common.mark(f"{FRAMEWORK}-shutdown", "lifespan shutdown ran")


app = Starlette(routes=[
    Route("/", index),
    Route("/items/{item_id:int}/{name}", item),
    Route("/form", form, methods=["POST"]),
    Route("/json", json_post, methods=["POST"]),
    Route("/cookies/set", cookies_set),
    Route("/cookies/read", cookies_read),
    Route("/redirect", to_elsewhere),
    Route("/upload", upload, methods=["POST"]),
    Route("/stream", stream),
    Route("/info", info),
    Route("/file", file),
    Route("/lifespan", lifespan_resource),
    Route("/sink", sink, methods=["POST"]),
    Route("/source", source),
], lifespan=lifespan)
