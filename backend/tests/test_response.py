from __future__ import annotations

import pytest

from helpers import FakeStream, run
from tandem import HTMLResponse, JSONResponse, PlainTextResponse, Response, StreamingResponse
from tandem.response import to_response


def raw(response: Response) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    return response.status, response.raw_headers, response.body


def test_response_defaults() -> None:
    assert raw(Response(b"x")) == (200, [], b"x")
    assert raw(Response("é")) == (200, [], "é".encode())
    assert raw(Response(None, 304)) == (304, [], b"")


def test_media_type_and_lowercase_header_names() -> None:
    r = Response(b"{}", status=201, headers={"X-Echo": "1", "Cache-Control": "no-store"},
                 media_type="application/json")
    assert raw(r) == (201, [(b"x-echo", b"1"), (b"cache-control", b"no-store"),
                            (b"content-type", b"application/json")], b"{}")
    assert r.headers["X-ECHO"] == "1"


def test_text_media_types_get_a_charset() -> None:
    assert Response("x", media_type="text/csv").headers["content-type"] == "text/csv; charset=utf-8"
    assert PlainTextResponse("x").headers["content-type"] == "text/plain; charset=utf-8"
    assert HTMLResponse("<p>").headers["content-type"] == "text/html; charset=utf-8"


def test_explicit_content_type_header_wins() -> None:
    r = Response(b"", headers=[("Content-Type", "image/png")], media_type="text/plain")
    assert r.raw_headers == [(b"content-type", b"image/png")]


def test_json_response_is_compact() -> None:
    assert raw(JSONResponse({"a": [1, "é"]})) == (200, [(b"content-type", b"application/json")],
                                                  '{"a":[1,"é"]}'.encode())


@pytest.mark.parametrize("value, expected", [
    ("hi", (200, [(b"content-type", b"text/plain; charset=utf-8")], b"hi")),
    (b"\x00", (200, [(b"content-type", b"application/octet-stream")], b"\x00")),
    ({"a": 1}, (200, [(b"content-type", b"application/json")], b'{"a":1}')),
    ([1, 2], (200, [(b"content-type", b"application/json")], b"[1,2]")),
    (None, (204, [], b"")),
])
def test_conversions(value: object, expected: tuple[int, list[tuple[bytes, bytes]], bytes]) -> None:
    assert raw(to_response(value)) == expected


def test_response_passes_through() -> None:
    r = Response(b"x")
    assert to_response(r) is r


def test_unconvertible_value() -> None:
    with pytest.raises(TypeError):
        to_response(3.5)


def test_send_whole() -> None:
    stream = FakeStream()
    run(lambda: Response(b"abc", 202, media_type="text/plain").send(stream))
    assert (stream.status, stream.body, stream.ended) == (202, b"abc", True)


def test_streaming_response_sync_and_async() -> None:
    async def agen():  # type: ignore[no-untyped-def]
        yield "a"
        yield b""
        yield b"b"

    for content in (["a", b"", b"b"], agen()):
        stream = FakeStream()
        run(lambda: StreamingResponse(content, media_type="text/plain").send(stream))  # noqa: B023
        assert (stream.status, bytes(stream.body), stream.ended) == (200, b"ab", True)
        assert stream.header(b"content-type") == b"text/plain; charset=utf-8"
