"""The common routes (see common.py) as a FastAPI application (ASGI 3, with lifespan).

FastAPI 0.92 (Debian's) has startup/shutdown events rather than a lifespan
context: startup creates ``app.state.resource``, which /lifespan reads, and
shutdown leaves the mark file ``fastapi-shutdown`` in $FRAMEWORKS_MARK_DIR.
"""

from __future__ import annotations

from typing import Any, List

from fastapi import Body, FastAPI, File, Form, Query, Request, UploadFile
from fastapi.responses import FileResponse, JSONResponse, PlainTextResponse, RedirectResponse, StreamingResponse

import common

FRAMEWORK = "fastapi"

app = FastAPI()


@app.on_event("startup")
async def startup() -> None:
    app.state.resource = dict(common.LIFESPAN_RESOURCE, framework=FRAMEWORK)


@app.on_event("shutdown")
async def shutdown() -> None:
    common.mark(f"{FRAMEWORK}-shutdown", "lifespan shutdown ran")


@app.get("/", response_class=PlainTextResponse)
async def index():
    return f"index {FRAMEWORK}"


@app.api_route("/items/{item_id}/{name}", methods=["GET", "HEAD"])
def item(item_id: int, name: str, q: List[str] = Query([])):  # a sync endpoint: FastAPI runs it in a thread
    return JSONResponse({"item_id": item_id, "name": name, "q": q}, headers={"X-Framework": FRAMEWORK})


@app.post("/form")
async def form(a: List[str] = Form([]), b: List[str] = Form([])):
    out = {}
    if a:
        out["a"] = a
    if b:
        out["b"] = b
    return out


@app.post("/json", status_code=201)
async def json_post(received: Any = Body(...)):
    return {"received": received, "framework": FRAMEWORK}


@app.get("/cookies/set", response_class=PlainTextResponse)
async def cookies_set():
    resp = PlainTextResponse("cookies set")
    resp.set_cookie("session", "abc123", httponly=True, samesite="lax")
    resp.set_cookie("theme", "dark", path="/")
    return resp


@app.get("/cookies/read")
async def cookies_read(request: Request):
    return dict(request.cookies)


@app.get("/redirect")
async def to_elsewhere():
    return RedirectResponse(common.REDIRECT_TARGET, status_code=302)


@app.post("/upload")
async def upload(file: UploadFile = File(...), note: str = Form(...)):
    return common.upload_summary(file.filename, await file.read(), file.content_type, note)


@app.api_route("/stream", methods=["GET", "HEAD"])
async def stream(n: int = 5, size: int = 100):
    return StreamingResponse(common.stream_pieces(n, size), media_type="text/plain",
                             headers={"X-Streamed": "yes"})


@app.get("/info")
async def info(request: Request):
    return {"method": request.method, "path": request.url.path, "query": request.scope["query_string"].decode(),
            "root_path": request.scope.get("root_path", ""), "scheme": request.url.scheme,
            "host": request.headers.get("host"), "link": str(request.url_for("item", item_id=3, name="n"))}


@app.get("/file")
async def file():
    return FileResponse(common.FILE_PATH)


@app.get("/lifespan")
async def lifespan_resource(request: Request):
    return request.app.state.resource
