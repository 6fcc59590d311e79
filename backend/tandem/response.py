"""Responses, and the conversion of handler return values into them.

=================  ==========================================================
handler returns    response
=================  ==========================================================
``Response``       as is
``str``            200, ``text/plain; charset=utf-8``
``bytes``          200, ``application/octet-stream``
``dict``/``list``  200, ``application/json`` (compact separators, UTF-8)
``None``           204, no body
=================  ==========================================================

Header names are sent lowercase.  The frontend does the message framing (it adds
``content-length`` for a response sent whole), so responses carry no
``content-length`` of their own.

A ``Response`` checks its status and headers as it is made (``validation.py``,
the rules of every interface), so a bad one raises ValueError or TypeError in
the handler that builds it, and the App logs it with the route.

Calls ``validation`` (the checks a Response makes as it is made),
``datastructures`` and ``types``.
"""

from __future__ import annotations

import json
from typing import Any, AsyncIterable, Iterable, Mapping, Optional, Union

from .datastructures import Headers
from .types import PreparedHeaders, Stream
from .validation import check_headers, check_status

HeadersInput = Union[Mapping[str, str], Iterable[tuple[str, str]], None]

# One encoder for every JSON body: json.dumps() with non-default options builds
# a new encoder per call.
_json_checked = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))

# JSONEncoder.encode() builds the C encoder anew on every call, with a fresh
# dict of the containers being encoded to detect reference cycles.  This one is
# built once, without that dict (so it keeps no state between calls and threads
# may share it), and writes exactly the same bytes.  A cycle then ends in
# RecursionError instead of ValueError; the checking encoder runs again on
# that rare failure and raises what it always raised.
_c_make_encoder = getattr(json.encoder, "c_make_encoder", None)
_json_fast = None if _c_make_encoder is None else _c_make_encoder(
    None, _json_checked.default, getattr(json.encoder, "encode_basestring"), None, ":", ",", False, False, True)


def json_encode(value: Any) -> str:
    """``value`` as compact JSON, non-ASCII characters as they are."""
    if _json_fast is None:  # pragma: no cover - CPython always has the C encoder
        return _json_checked.encode(value)
    try:
        return "".join(_json_fast(value, 0))
    except RecursionError:
        return _json_checked.encode(value)


_TEXT = b"text/plain; charset=utf-8"
_JSON = b"application/json"
_OCTETS = b"application/octet-stream"
_HTML = b"text/html; charset=utf-8"
_CONTENT_TYPE = b"content-type"


def _encode_headers(headers: HeadersInput) -> list[tuple[bytes, bytes]]:
    if not headers:
        return []
    items = headers.items() if isinstance(headers, Mapping) else headers
    return [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in items]


def _content_type(media_type: str) -> bytes:
    if media_type.startswith("text/") and "charset" not in media_type:
        media_type += "; charset=utf-8"
    return media_type.encode("latin-1")


class Response:
    """A whole response: ``Response(body, status=200, headers=None, media_type=None)``.

    ``body`` is bytes or str (encoded as UTF-8).  ``media_type`` sets
    ``content-type`` (``text/*`` types get ``charset=utf-8``) unless ``headers``
    already has one.
    """

    media_type: Optional[str] = None

    def __init__(self, body: Any = b"", status: int = 200,
                 headers: HeadersInput = None, media_type: Optional[str] = None) -> None:
        self.status = check_status(status)
        self.body = self.render(body)
        self.raw_headers = _encode_headers(headers)
        if media_type is None:
            media_type = self.media_type
        if media_type is not None and not any(k == _CONTENT_TYPE for k, _ in self.raw_headers):
            self.raw_headers.append((_CONTENT_TYPE, _content_type(media_type)))
        check_headers(self.raw_headers)

    def render(self, content: Any) -> bytes:
        if content is None:
            return b""
        if isinstance(content, str):
            return content.encode("utf-8")
        return bytes(content)

    @property
    def headers(self) -> Headers:
        """The headers, read-only (``raw_headers`` is the list that is sent)."""
        return Headers(self.raw_headers)

    async def send(self, stream: Stream) -> None:
        await stream.send_response(self.status, self.raw_headers, self.body, True)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.status} {len(self.body)} bytes>"


class PlainTextResponse(Response):
    media_type = "text/plain"


class HTMLResponse(Response):
    media_type = "text/html"


class JSONResponse(Response):
    """Any JSON-serialisable value, compact, UTF-8."""

    media_type = "application/json"

    def __init__(self, content: Any, status: int = 200, headers: HeadersInput = None,
                 media_type: Optional[str] = None) -> None:
        super().__init__(content, status, headers, media_type)

    def render(self, content: Any) -> bytes:
        return json_encode(content).encode("utf-8")


class StreamingResponse(Response):
    """A body produced piece by piece by an (async) iterable of bytes or str.

    Each piece is sent as it comes; the send waits while the frontend's window is
    exhausted, so a slow client slows the iterator down instead of filling memory.
    """

    def __init__(self, content: Union[AsyncIterable[Union[bytes, str]], Iterable[Union[bytes, str]]],
                 status: int = 200, headers: HeadersInput = None, media_type: Optional[str] = None) -> None:
        super().__init__(b"", status, headers, media_type)
        self.content = content

    async def send(self, stream: Stream) -> None:
        await stream.send_response(self.status, self.raw_headers, b"", False)
        content = self.content
        if isinstance(content, AsyncIterable):
            async for piece in content:
                if piece:
                    await stream.send_data(piece.encode("utf-8") if isinstance(piece, str) else piece)
        else:
            for piece in content:
                if piece:
                    await stream.send_data(piece.encode("utf-8") if isinstance(piece, str) else piece)
        await stream.send_data(b"", True)


# Prebuilt header lists for the conversions below; never mutated.
_TEXT_HEADERS = [(_CONTENT_TYPE, _TEXT)]
_JSON_HEADERS = [(_CONTENT_TYPE, _JSON)]
_OCTET_HEADERS = [(_CONTENT_TYPE, _OCTETS)]
_HTML_HEADERS = [(_CONTENT_TYPE, _HTML)]
# The same, in wire form already, for App to send without a Response object.
TEXT_HEADERS = PreparedHeaders(_TEXT_HEADERS)
JSON_HEADERS = PreparedHeaders(_JSON_HEADERS)
OCTET_HEADERS = PreparedHeaders(_OCTET_HEADERS)


class _Prepared(Response):
    """A response built by ``to_response`` without re-running the constructor."""

    def __init__(self, status: int, raw_headers: list[tuple[bytes, bytes]], body: bytes) -> None:
        self.status = status
        self.raw_headers = raw_headers
        self.body = body


def to_response(result: Any) -> Response:
    """Convert a handler's return value (see the table in the module doc)."""
    # Exact types first: the common cases then cost one comparison each.
    rtype = type(result)
    if rtype is str:
        return _Prepared(200, _TEXT_HEADERS, result.encode("utf-8"))
    if rtype is dict or rtype is list:
        return _Prepared(200, _JSON_HEADERS, json_encode(result).encode("utf-8"))
    if isinstance(result, Response):
        return result
    if isinstance(result, str):
        return _Prepared(200, _TEXT_HEADERS, result.encode("utf-8"))
    if isinstance(result, (dict, list)):
        return _Prepared(200, _JSON_HEADERS, json_encode(result).encode("utf-8"))
    if isinstance(result, (bytes, bytearray, memoryview)):
        return _Prepared(200, _OCTET_HEADERS, bytes(result))
    if result is None:
        return _Prepared(204, [], b"")
    raise TypeError(f"cannot make a response from {type(result).__name__!r}; return str, bytes, dict, list, "
                    "None or a Response")


def html(body: str, status: int = 200) -> Response:
    return _Prepared(status, _HTML_HEADERS, body.encode("utf-8"))


def plain(body: str, status: int, headers: Optional[list[tuple[bytes, bytes]]] = None) -> Response:
    """A text/plain response; ``status`` and ``headers`` (encoded already) are checked."""
    raw = [(_CONTENT_TYPE, _TEXT)]
    if headers:
        raw.extend(headers)
        check_headers(headers)
    return _Prepared(check_status(status), raw, body.encode("utf-8"))
