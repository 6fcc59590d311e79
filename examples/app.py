"""The tandem example app (`make run` serves it on http://127.0.0.1:8080).

Run it by hand from this directory:

    PYTHONPATH=../backend /usr/bin/python3 -m tandem app:app --serve 127.0.0.1:8080 \
        --static /static=./public --frontend ../build/tandem-frontend

Static files under /static/ (public/) are served by the C frontend itself; every
other path comes here.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from tandem import App, HTTPException, JSONResponse, Request, Response, StreamingResponse

app = App()

STARTED = time.time()

# A tiny in-memory store for the JSON API below.
NOTES: dict[int, dict[str, Any]] = {1: {"id": 1, "text": "tandem serves this from Python"}}


# --- the example -------------------------------------------------------


@app.get("/")
async def index(request):
    return "Hello from tandem!"                 # str -> text/plain; charset=utf-8


@app.get("/users/{user_id:int}")
def user(request, user_id):                      # sync handlers work too
    return {"id": user_id, "q": request.query_params.get("q")}   # dict/list -> JSON


@app.post("/echo")
async def echo(request):
    return Response(await request.body(), status=201, headers={"x-echo": "1"},
                    media_type="application/octet-stream")


# --- more -----------------------------------------------------------------------


@app.get("/hello/{name}", template="hello.html")
def hello(request: Request, name: str) -> dict[str, Any]:
    """A Jinja2 template (templates/hello.html) rendered with the returned dict."""
    return {"name": name, "items": request.query_params.getlist("item") or ["apples", "pears"],
            "uptime": round(time.time() - STARTED, 1)}


@app.get("/files/{rest:path}")
def files(request: Request, rest: str) -> dict[str, Any]:
    """{rest:path} takes the rest of the path, slashes included."""
    return {"path": rest, "parts": [p for p in rest.split("/") if p]}


@app.get("/headers")
def headers(request: Request) -> dict[str, Any]:
    return {"method": request.method, "http_version": request.http_version, "scheme": request.scheme,
            "client": request.client, "headers": dict(request.headers.multi_items())}


@app.get("/sleep/{ms:int}")
async def sleep(request: Request, ms: int) -> str:
    """An async handler that really waits: it runs in an asyncio Task."""
    await asyncio.sleep(min(ms, 10_000) / 1000)
    return f"slept {ms} ms\n"


@app.get("/count/{n:int}")
async def count(request: Request, n: int) -> StreamingResponse:
    """A streamed response: one line every 100 ms."""
    async def lines():
        for i in range(1, min(n, 100) + 1):
            yield f"{i}\n"
            await asyncio.sleep(0.1)
    return StreamingResponse(lines(), media_type="text/plain")


@app.get("/notes")
def list_notes(request: Request) -> list[dict[str, Any]]:
    return list(NOTES.values())


@app.post("/notes")
async def create_note(request: Request) -> Response:
    """A JSON POST: `curl -d '{"text": "hi"}' http://127.0.0.1:8080/notes`."""
    data = await request.json()
    if not isinstance(data, dict) or not isinstance(data.get("text"), str):
        raise HTTPException(422, 'expected a JSON object like {"text": "..."}')
    note = {"id": max(NOTES, default=0) + 1, "text": data["text"]}
    NOTES[note["id"]] = note
    return JSONResponse(note, status=201, headers={"location": f"/notes/{note['id']}"})


@app.get("/notes/{note_id:int}")
def get_note(request: Request, note_id: int) -> dict[str, Any]:
    if note_id not in NOTES:
        raise HTTPException(404, f"no note {note_id}")
    return NOTES[note_id]


@app.delete("/notes/{note_id:int}")
def delete_note(request: Request, note_id: int) -> None:
    if NOTES.pop(note_id, None) is None:
        raise HTTPException(404, f"no note {note_id}")
    return None                                  # None -> 204 No Content


@app.get("/upload-size")
def upload_help(request: Request) -> str:
    return "POST a body here to have its size counted as it streams in\n"


@app.post("/upload-size")
async def upload_size(request: Request) -> dict[str, int]:
    """Reads the body chunk by chunk; flow control keeps memory bounded."""
    size = chunks = 0
    async for chunk in request.stream():
        size += len(chunk)
        chunks += 1
    return {"bytes": size, "chunks": chunks}
