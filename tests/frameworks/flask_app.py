"""The common routes (see common.py) as a Flask application, served as WSGI.

``application`` is the Flask app inside ``wsgiref.validate.validator`` (see
wsgi_check.py).  The validator's wrapper takes ``*args``, so the tests name the
interface with ``--interface wsgi``.  ``create_app`` is the same as a factory.
"""

from __future__ import annotations

import hashlib

from flask import Flask, Response, jsonify, make_response, redirect, request, send_file, url_for

import common
import payload
from wsgi_check import validated

FRAMEWORK = "flask"


def build() -> Flask:
    app = Flask(__name__)

    @app.get("/")
    def index():
        return Response(f"index {FRAMEWORK}", mimetype="text/plain")

    @app.get("/items/<int:item_id>/<name>")
    def item(item_id: int, name: str):
        resp = jsonify(item_id=item_id, name=name, q=request.args.getlist("q"))
        resp.headers["X-Framework"] = FRAMEWORK
        return resp

    @app.post("/form")
    def form():
        return jsonify({key: request.form.getlist(key) for key in request.form})

    @app.post("/json")
    def json_post():
        return jsonify(received=request.get_json(), framework=FRAMEWORK), 201

    @app.get("/cookies/set")
    def cookies_set():
        resp = make_response("cookies set")
        resp.set_cookie("session", "abc123", httponly=True, samesite="Lax")
        resp.set_cookie("theme", "dark", path="/")
        return resp

    @app.get("/cookies/read")
    def cookies_read():
        return jsonify(dict(request.cookies))

    @app.get("/redirect")
    def to_elsewhere():
        return redirect(common.REDIRECT_TARGET, 302)

    @app.post("/upload")
    def upload():
        f = request.files["file"]
        return jsonify(common.upload_summary(f.filename, f.read(), f.content_type, request.form["note"]))

    @app.get("/stream")
    def stream():
        n, size = request.args.get("n", 5, int), request.args.get("size", 100, int)
        return Response(common.stream_pieces(n, size), mimetype="text/plain", headers={"X-Streamed": "yes"})

    @app.get("/info")
    def info():
        return jsonify(method=request.method, path=request.path, query=request.query_string.decode(),
                       root_path=request.script_root, scheme=request.scheme, host=request.host,
                       link=url_for("item", item_id=3, name="n"))

    @app.get("/file")
    def file():
        return send_file(common.FILE_PATH)

    # --- big bodies for test_streaming.py ---------------------------------

    @app.post("/sink")
    def sink():
        """Reads the body 1 MB at a time and answers its length and sha256."""
        h = hashlib.sha256()
        n = 0
        stream = request.stream
        while True:
            chunk = stream.read(1 << 20)
            if not chunk:
                break
            h.update(chunk)
            n += len(chunk)
        return jsonify(length=n, sha256=h.hexdigest())

    @app.get("/source")
    def source():
        """payload.pieces(size), streamed, with a Content-Length."""
        size = request.args.get("size", 0, int)
        return Response(payload.pieces(size), mimetype="application/octet-stream",
                        headers={"Content-Length": str(size)})

    return app


app = build()
application = validated(app)


def create_app():
    """Factory form, for --factory."""
    return validated(build())
