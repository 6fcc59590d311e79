"""What every framework app in this folder answers, in one place.

Each app (Flask, Django, Starlette, FastAPI) implements the same routes with
its own framework's tools; the values they return come from here, so the apps
stay short and the tests know what to expect.

    GET  /                              text "index <framework>"
    GET  /items/<int:item_id>/<name>    JSON {"item_id", "name", "q": [all q values]} + X-Framework
    POST /form                          JSON of the urlencoded form, every value a list
    POST /json                          201, JSON {"received": body, "framework"}
    GET  /cookies/set                   two Set-Cookie headers (one HttpOnly, SameSite=Lax)
    GET  /cookies/read                  JSON of the cookies the client sent
    GET  /redirect                      302 to /items/7/target?q=from-redirect
    POST /upload                        multipart "file" + "note": JSON with the file's name, size, sha256
    GET  /stream?n=N&size=S             N pieces of S bytes, streamed (no content-length)
    GET  /info                          method, path, query string, root path, scheme, host, and the
                                        URL the framework makes for /items/3/n (root path included)
    GET  /file                          FILE_PATH with the framework's file response (WSGI: wsgi.file_wrapper)
    GET  /lifespan                      (ASGI apps) the resource the lifespan startup created
"""

from __future__ import annotations

import hashlib
import json
import os

REDIRECT_TARGET = "/items/7/target?q=from-redirect"
# A file that is larger than one read block of any framework (8 KiB) and never changes
# while the tests run: a module of the standard library.
FILE_PATH = json.__file__
LIFESPAN_RESOURCE = {"ready": True, "greeting": "made at startup"}


def stream_pieces(n: int, size: int):
    """The /stream body: N text lines of exactly S bytes each."""
    for i in range(n):
        line = f"piece {i} ".encode()
        yield (line + b"." * size)[: max(size - 1, 0)] + b"\n"


def upload_summary(filename: str, data: bytes, content_type: str, note: str) -> dict:
    return {"filename": filename, "size": len(data), "sha256": hashlib.sha256(data).hexdigest(),
            "content_type": content_type, "note": note}


def mark(name: str, text: str = "") -> None:
    """Leave a file named NAME in $FRAMEWORKS_MARK_DIR (if set), for a test to see."""
    directory = os.environ.get("FRAMEWORKS_MARK_DIR")
    if directory:
        with open(os.path.join(directory, name), "a") as f:
            f.write(text + "\n")
