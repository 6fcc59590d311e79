"""apps.py's endpoints (but /sleep) as a Flask app, written the way its users write one.

Flask's own JSON differs from apps.py's by a trailing newline and sorted keys
(its default JSON provider); every server runs this same app, so each answers
the same bytes as the others.
"""
from __future__ import annotations

from flask import Flask, request

app = Flask(__name__)

TEXT = {"Content-Type": "text/plain; charset=utf-8"}


@app.get("/")
def plaintext() -> tuple[str, dict[str, str]]:
    return "Hello, World!", TEXT


@app.get("/json")
def json_route() -> dict:
    return {"message": "Hello, World!"}


@app.get("/users/<int:user_id>")
def user(user_id: int) -> dict:
    return {"id": user_id, "q": request.args.get("q"), "agent": request.headers.get("User-Agent")}


@app.post("/echo")
def echo() -> tuple[bytes, dict[str, str]]:
    return request.get_data(), {"Content-Type": "application/octet-stream"}
