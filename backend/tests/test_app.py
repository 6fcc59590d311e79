from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from helpers import FakeStream, call_app
from tandem import App, HTTPException, Response


@pytest.fixture
def app() -> App:
    app = App()

    @app.get("/")
    async def index(request: Any) -> str:
        return "Hello from tandem!"

    @app.get("/users/{user_id:int}")
    def user(request: Any, user_id: int) -> dict[str, Any]:
        return {"id": user_id, "q": request.query_params.get("q")}

    @app.post("/echo")
    async def echo(request: Any) -> Response:
        return Response(await request.body(), status=201, headers={"x-echo": "1"},
                        media_type="application/octet-stream")

    @app.route("/multi", methods=["PUT", "PATCH"])
    def multi(request: Any) -> str:
        return request.method

    @app.put("/put")
    def put(request: Any) -> None:
        return None

    @app.patch("/patch")
    def patch(request: Any) -> bytes:
        return b"\x01"

    @app.delete("/items/{name}")
    async def delete(request: Any, name: str) -> list[str]:
        await asyncio.sleep(0)
        return [name]

    @app.get("/teapot")
    def teapot(request: Any) -> str:
        raise HTTPException(418, headers={"x-tea": "earl grey"})

    @app.get("/boom")
    async def boom(request: Any) -> str:
        raise ValueError("boom")

    @app.get("/bad-return")
    def bad_return(request: Any) -> object:
        return object()

    @app.post("/json")
    async def json_body(request: Any) -> dict[str, Any]:
        data = await request.json()
        return {"got": data}

    return app


def test_issue_snippet(app: App) -> None:
    s = call_app(app)
    assert (s.status, s.headers, bytes(s.body)) == (200, [(b"content-type", b"text/plain; charset=utf-8")],
                                                    b"Hello from tandem!")
    s = call_app(app, path=b"/users/42", query=b"q=x")
    assert (s.status, bytes(s.body), s.header(b"content-type")) == (200, b'{"id":42,"q":"x"}', b"application/json")
    s = call_app(app, method="POST", path=b"/echo", body=b"ping", chunks=[b"pong"])
    assert (s.status, bytes(s.body), s.header(b"x-echo")) == (201, b"pingpong", b"1")
    assert s.header(b"content-type") == b"application/octet-stream"


def test_methods(app: App) -> None:
    assert bytes(call_app(app, method="PATCH", path=b"/multi").body) == b"PATCH"
    assert call_app(app, method="PUT", path=b"/put").status == 204
    assert bytes(call_app(app, method="PATCH", path=b"/patch").body) == b"\x01"
    assert bytes(call_app(app, method="DELETE", path=b"/items/x").body) == b'["x"]'


def test_head_on_a_get_route_sends_the_get_headers(app: App) -> None:
    get, head = call_app(app, path=b"/users/1"), call_app(app, method="HEAD", path=b"/users/1")
    assert head.status == 200 and head.headers == get.headers


def test_404_and_405(app: App) -> None:
    s = call_app(app, path=b"/nothing")
    assert (s.status, bytes(s.body)) == (404, b"Not Found")
    assert s.header(b"content-type") == b"text/plain; charset=utf-8"
    s = call_app(app, method="POST", path=b"/users/1")
    assert (s.status, s.header(b"allow")) == (405, b"GET, HEAD")


def test_http_exception(app: App) -> None:
    s = call_app(app, path=b"/teapot")
    assert (s.status, bytes(s.body), s.header(b"x-tea")) == (418, b"I'm a Teapot", b"earl grey")


def test_500_logs_the_traceback(app: App, caplog: Any) -> None:
    s = call_app(app, path=b"/boom")
    assert (s.status, bytes(s.body)) == (500, b"Internal Server Error")
    assert "ValueError: boom" in caplog.text
    # The line names the request and its id, which the client got in x-request-id.
    assert "GET /boom (request id req-1)" in caplog.text
    assert call_app(app, path=b"/bad-return").status == 500
    assert call_app(app).status == 200


def test_json_body(app: App) -> None:
    s = call_app(app, method="POST", path=b"/json", body=b'{"a": [1]}')
    assert bytes(s.body) == b'{"got":{"a":[1]}}'
    assert call_app(app, method="POST", path=b"/json", body=b"{").status == 400


def test_sync_handler_is_called_inline_without_awaiting(app: App) -> None:
    calls: list[Any] = []
    app2 = App()

    @app2.get("/")
    def sync(request: Any) -> str:
        calls.append(request.path)
        return "ok"

    stream = FakeStream()
    coro = app2(stream)
    with pytest.raises(StopIteration):
        coro.send(None)  # finished in one step: nothing awaited for real
    assert calls == ["/"] and stream.status == 200


def test_templates_next_to_the_creating_module(tmp_path: Path) -> None:
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "index.html").write_text("<h1>{{ title }}</h1>{% for i in items %}[{{ i }}]{% endfor %}")
    module = tmp_path / "myapp.py"
    module.write_text(
        "from tandem import App\n"
        "app = App()\n"
        "@app.get('/', template='index.html')\n"
        "def index(request):\n"
        "    return {'title': 'T & <b>', 'items': [1, 2]}\n")
    namespace: dict[str, Any] = {"__file__": str(module), "__name__": "myapp"}
    exec(compile(module.read_text(), str(module), "exec"), namespace)
    app = namespace["app"]
    s = call_app(app)
    assert s.header(b"content-type") == b"text/html; charset=utf-8"
    assert bytes(s.body) == b"<h1>T &amp; &lt;b&gt;</h1>[1][2]"
    env = app.templates.env
    call_app(app)
    assert app.templates.env is env  # created once


def test_template_handler_may_return_a_response(tmp_path: Path) -> None:
    app = App(templates=str(tmp_path))

    @app.get("/", template="missing.html")
    def index(request: Any) -> Response:
        return Response(b"direct", status=302, headers={"location": "/x"})

    s = call_app(app)
    assert (s.status, bytes(s.body)) == (302, b"direct")


def test_templates_folder_is_configurable(tmp_path: Path) -> None:
    (tmp_path / "views").mkdir()
    (tmp_path / "views" / "a.html").write_text("{{ x }}")
    app = App(templates=str(tmp_path / "views"))

    @app.get("/", template="a.html")
    async def index(request: Any) -> dict[str, int]:
        return {"x": 5}

    assert bytes(call_app(app).body) == b"5"


def test_default_templates_dir_is_relative_to_the_caller() -> None:
    app = App()
    assert app.templates.directory == str(Path(__file__).resolve().parent / "templates")


def test_wrapped_async_handler_is_awaited() -> None:
    app = App()

    async def real(request: Any) -> str:
        await asyncio.sleep(0)
        return "awaited"

    def wrapper(request: Any) -> Any:
        return real(request)

    app.add_route("/", wrapper)
    assert bytes(call_app(app).body) == b"awaited"


def test_url_path_for(app: App) -> None:
    assert app.url_path_for("user", user_id=3) == "/users/3"
