"""The application the end-to-end tests run behind the real frontend.

The first routes are the example app from the issue; the rest exist to make
the frontend's behaviour observable: slow answers (pipelining, a backend
killed mid-request), big bodies both ways, and echoes of what arrived.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import itertools
import os
import random

from tandem import App, Response, StreamingResponse

app = App()

BIG_CHUNK = 64 * 1024


def big_body(size: int) -> bytes:
    """Deterministic pseudo-random bytes; the tests rebuild the same ones."""
    return random.Random(size).randbytes(size)


# --- the example app -------------------------------------------------


@app.get("/")
def index(request):
    return "Hello from tandem!"


@app.get("/users/{user_id:int}")
def user(request, user_id):
    return {"id": user_id, "q": request.query_params.get("q")}


@app.post("/echo")
async def echo(request):
    body = await request.body()
    return Response(body, status=201, headers={"x-echo": "1"},
                    media_type=request.headers.get("content-type", "application/octet-stream"))


@app.get("/hello/{name}", template="hello.html")
def hello(request, name):
    return {"name": name, "items": ["one", "two"]}


@app.get("/boom")
def boom(request):
    raise RuntimeError("this handler fails on purpose")


@app.get("/nothing")
def nothing(request):
    return None


# --- helpers for the tests ---------------------------------------------------


@app.get("/delay/{ms:int}")
async def delay(request, ms):
    """Answers after ms milliseconds with the tag it was given."""
    tag = request.query_params.get("tag", "")
    with marked(tag):
        await asyncio.sleep(ms / 1000)
    return f"delay {ms} tag={tag}"


# While a /slow or /delay handler runs, a file named TAG.PID.N exists in
# $E2E_MARK_DIR, so a test can see what every backend process is doing.
MARK_DIR = os.environ.get("E2E_MARK_DIR")
_marks = itertools.count()


@contextlib.contextmanager
def marked(tag: str):
    path = None
    if MARK_DIR and tag:
        path = os.path.join(MARK_DIR, f"{tag}.{os.getpid()}.{next(_marks)}")
        open(path, "w").close()
    try:
        yield
    finally:
        if path:
            os.unlink(path)


@app.post("/delay/{ms:int}")
async def delay_post(request, ms):
    """The same for a method that is not idempotent (never re-sent)."""
    body = await request.body()
    tag = request.query_params.get("tag", "")
    with marked(tag):
        await asyncio.sleep(ms / 1000)
    return f"posted {len(body)} after {ms} tag={tag}"


@app.get("/slow")
async def slow(request):
    """Never answers within a test's lifetime (until cancelled or killed)."""
    with marked(request.query_params.get("tag", "untagged")):
        await asyncio.sleep(3600)
    return "too late"


@app.get("/drip")
async def drip(request):
    """Starts a streamed response, sends one piece, then hangs."""
    async def pieces():
        yield b"first piece\n"
        await asyncio.sleep(3600)
        yield b"never sent\n"
    return StreamingResponse(pieces(), media_type="text/plain")


@app.post("/digest")
async def digest(request):
    """Streams the body in and answers its length and sha256."""
    h = hashlib.sha256()
    n = 0
    async for chunk in request.stream():
        h.update(chunk)
        n += len(chunk)
    return {"length": n, "sha256": h.hexdigest()}


@app.get("/big/{size:int}")
def big(request, size):
    return Response(big_body(size), media_type="application/octet-stream")


@app.get("/stream/{size:int}")
def stream(request, size):
    body = big_body(size)
    pieces = (body[i:i + BIG_CHUNK] for i in range(0, len(body), BIG_CHUNK))
    return StreamingResponse(pieces, media_type="application/octet-stream")


@app.get("/pid")
def pid(request):
    return {"pid": os.getpid()}


@app.get("/whoami")
def whoami(request):
    return {"method": request.method, "target": request.target, "path": request.path,
            "http_version": request.http_version, "host": request.headers.get("host")}
