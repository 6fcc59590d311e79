"""apps.py's endpoints as a FastAPI app, written the way its users write one.

The same bytes as apps.py: FastAPI's JSONResponse is compact, PlainTextResponse
says text/plain; charset=utf-8.  Every endpoint is ``async def`` (a plain ``def``
would run in FastAPI's thread pool under either server).
"""
from __future__ import annotations

import asyncio
from typing import Optional

from fastapi import FastAPI, Request
from fastapi.responses import PlainTextResponse, Response

app = FastAPI()


@app.get("/", response_class=PlainTextResponse)
async def plaintext() -> str:
    return "Hello, World!"


@app.get("/json")
async def json_route() -> dict:
    return {"message": "Hello, World!"}


@app.get("/users/{user_id}")
async def user(user_id: int, request: Request, q: Optional[str] = None) -> dict:
    return {"id": user_id, "q": q, "agent": request.headers.get("user-agent")}


@app.post("/echo")
async def echo(request: Request) -> Response:
    return Response(await request.body(), media_type="application/octet-stream")


@app.get("/sleep", response_class=PlainTextResponse)
async def sleep() -> str:
    await asyncio.sleep(0.01)
    return "Hello, World!"
