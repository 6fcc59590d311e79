"""A raw WSGI application that makes flow control and disconnects observable.

Run inside ``wsgiref.validate.validator`` (``application``, see wsgi_check.py).  What it did is
kept in memory per ``tag`` and read back with ``GET /state?tag=T``:
``produced`` (response body bytes handed to the server) and ``events``.

    GET  /produce?tag=T&chunk=N&limit=L
         an iterable of pieces of N bytes, up to L bytes; its close() records "close",
         the end of its iteration "iteration:finished" or "iteration:stopped".
    POST /slurp?tag=T&delay_ms=N
         waits N ms (0 by default), then reads wsgi.input 64 KiB at a time; records "input:<bytes>" when read()
         returns b"" or "input:raised <exception> after <bytes>".
    GET  /sleep?ms=N       blocks its thread N milliseconds, then answers "slept"
    GET  /state?tag=T      JSON {"produced": n, "events": [...]}
    GET  /                 "flow wsgi"
"""

from __future__ import annotations

import json
import threading
import time
from urllib.parse import parse_qs

from wsgi_check import validated

LOCK = threading.Lock()
PRODUCED: dict[str, int] = {}
EVENTS: dict[str, list[str]] = {}


def record(tag: str, event: str) -> None:
    with LOCK:
        EVENTS.setdefault(tag, []).append(event)


class Producer:
    def __init__(self, tag: str, chunk: int, limit: int) -> None:
        self.tag, self.chunk, self.limit = tag, chunk, limit
        self.pieces = self._pieces()

    def __iter__(self):
        return self.pieces

    def _pieces(self):
        piece = b"x" * self.chunk
        finished = False
        try:
            while PRODUCED[self.tag] < self.limit:
                with LOCK:
                    PRODUCED[self.tag] += self.chunk
                yield piece
            finished = True
        finally:
            record(self.tag, "iteration:finished" if finished else "iteration:stopped")

    def close(self) -> None:
        self.pieces.close()  # runs the generator's finally now if it was left mid-way
        record(self.tag, "close")


def app(environ, start_response):
    query = {k: v[0] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}
    tag = query.get("tag", "")
    path = environ["PATH_INFO"]
    if path == "/produce":
        with LOCK:
            PRODUCED[tag] = 0
            EVENTS[tag] = []
        start_response("200 OK", [("Content-Type", "application/octet-stream")])
        return Producer(tag, int(query.get("chunk", 65536)), int(query.get("limit", 1 << 28)))
    if path == "/slurp":
        time.sleep(int(query.get("delay_ms", 0)) / 1000)
        n = 0
        try:
            while True:
                data = environ["wsgi.input"].read(65536)
                if not data:
                    break
                n += len(data)
            record(tag, f"input:{n}")
        except Exception as exc:
            record(tag, f"input:raised {type(exc).__name__} after {n}")
            raise
        body = str(n).encode()
    elif path == "/sleep":
        time.sleep(int(query.get("ms", 0)) / 1000)
        body = b"slept"
    elif path == "/state":
        with LOCK:
            body = json.dumps({"produced": PRODUCED.get(tag, 0), "events": list(EVENTS.get(tag, []))}).encode()
        start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
        return [body]
    else:
        body = b"flow wsgi"
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]


application = validated(app)
