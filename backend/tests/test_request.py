from __future__ import annotations

from typing import Any

import pytest

from helpers import FakeStream, run
from tandem import HTTPException, Request
from tandem.datastructures import Headers, QueryParams


def make(**kwargs: Any) -> Request:
    return Request(FakeStream(**kwargs))


def test_head_fields() -> None:
    req = make(method="POST", path=b"/a/b", query=b"x=1")
    assert req.method == "POST"
    assert req.path == "/a/b"
    assert req.http_version == "1.1"
    assert req.scheme == "http"
    assert req.client == ("127.0.0.1", 50000)
    assert req.server == ("127.0.0.1", 8080)
    assert req.raw_target == b"/a/b?x=1"
    assert req.query_string == b"x=1"
    assert req.url == "http://example.test/a/b?x=1"
    assert req.id == "req-1"
    assert repr(req) == "<Request POST /a/b?x=1>"


def test_client_may_be_unknown() -> None:
    assert make(client=None).client is None


def test_path_is_utf8_with_surrogateescape() -> None:
    assert make(path="/café".encode()).path == "/café"
    raw = b"/\xff\xfe"
    req = make(path=raw)
    assert req.path.encode("utf-8", "surrogateescape") == raw


def test_query_params_multi_valued() -> None:
    qp = make(query=b"a=1&b=2&a=3&empty=&sp=x%20y+z&u=%C3%A9").query_params
    assert qp.get("a") == "1"
    assert qp["a"] == "1"
    assert qp.getlist("a") == ["1", "3"]
    assert qp.get("empty") == ""
    assert qp.get("sp") == "x y z"
    assert qp.get("u") == "é"
    assert qp.get("missing") is None
    assert qp.getlist("missing") == []
    assert "b" in qp and "missing" not in qp
    assert list(qp) == ["a", "b", "empty", "sp", "u"]
    assert len(qp) == 5


def test_query_params_constructors() -> None:
    assert QueryParams("x=1").get("x") == "1"
    assert QueryParams([("x", "1"), ("x", "2")]).getlist("x") == ["1", "2"]


def test_headers_case_insensitive_multi_valued() -> None:
    h = make(headers=[(b"host", b"h"), (b"accept", b"a"), (b"accept", b"b"), (b"x-raw", b"\xff")]).headers
    assert h.get("Accept") == "a"
    assert h["ACCEPT"] == "a"
    assert h.getlist("accept") == ["a", "b"]
    assert "Host" in h and "cookie" not in h and 3 not in h
    assert h.get("cookie") is None and h.get("cookie", "d") == "d"
    assert h.get("x-raw") == "\xff"  # latin-1: every byte survives
    assert list(h) == ["host", "accept", "x-raw"]
    assert len(h) == 3
    with pytest.raises(KeyError):
        h["cookie"]
    assert Headers([]).getlist("x") == []


def test_cookies() -> None:
    req = make(headers=[(b"cookie", b"a=1; b=\"two\"; junk; =x"), (b"cookie", b"c=3; a=ignored")])
    assert req.cookies == {"a": "1", "b": "two", "c": "3"}
    assert make().cookies == {}


def test_body_whole_and_cached() -> None:
    stream = FakeStream(body=b"ab", chunks=[b"cd", b"ef"])
    req = Request(stream)

    async def main() -> tuple[bytes, bytes]:
        return await req.body(), await req.body()

    assert run(main) == (b"abcdef", b"abcdef")
    assert stream.receives == 3


def test_single_frame_body_is_not_copied() -> None:
    body = b"x" * 1000
    req = make(body=body)
    assert run(req.body) is body


def test_stream_yields_chunks() -> None:
    req = make(body=b"ab", chunks=[b"", b"cd"])

    async def main() -> list[bytes]:
        return [chunk async for chunk in req.stream()]

    assert run(main) == [b"ab", b"cd"]


def test_stream_after_body_replays_it_and_body_after_stream_fails() -> None:
    req = make(body=b"ab")

    async def main() -> list[bytes]:
        await req.body()
        return [chunk async for chunk in req.stream()]

    assert run(main) == [b"ab"]
    req2 = make(body=b"ab", chunks=[b"c"])

    async def main2() -> None:
        async for _ in req2.stream():
            pass
        await req2.body()

    with pytest.raises(RuntimeError):
        run(main2)


def test_text_and_json() -> None:
    req = make(body='{"a": "é"}'.encode())
    assert run(req.text) == '{"a": "é"}'
    assert run(req.json) == {"a": "é"}
    latin = make(body="é".encode("latin-1"), headers=[(b"content-type", b"text/plain; charset=latin-1")])
    assert run(latin.text) == "é"


def test_invalid_json_is_a_400() -> None:
    with pytest.raises(HTTPException) as info:
        run(make(body=b"{nope").json)
    assert info.value.status == 400
