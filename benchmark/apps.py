"""The same two endpoints for every server the benchmark compares.

/        -> "Hello, World!" as text/plain
/json    -> {"message": "Hello, World!"}
"""
import json

from tandem import App

# tandem's native API.
app = App()


@app.get("/")
def plaintext(request):
    return "Hello, World!"


@app.get("/json")
def json_route(request):
    return {"message": "Hello, World!"}


# A raw ASGI 3 app: the fastest thing uvicorn can run (no framework on top).
async def asgi(scope, receive, send):
    if scope["type"] != "http":
        return
    if scope["path"] == "/json":
        body = json.dumps({"message": "Hello, World!"}, separators=(",", ":")).encode()
        ctype = b"application/json"
    else:
        body = b"Hello, World!"
        ctype = b"text/plain; charset=utf-8"
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", ctype), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


# A raw WSGI app for gunicorn.
def wsgi(environ, start_response):
    if environ["PATH_INFO"] == "/json":
        body = json.dumps({"message": "Hello, World!"}, separators=(",", ":")).encode()
        ctype = "application/json"
    else:
        body = b"Hello, World!"
        ctype = "text/plain; charset=utf-8"
    start_response("200 OK", [("Content-Type", ctype), ("Content-Length", str(len(body)))])
    return [body]
