"""The request object handlers receive.

Everything is computed lazily from the stream's REQUEST head, so a handler pays
only for what it reads.  The path is the frontend's percent-decoded path bytes
decoded as UTF-8 with ``surrogateescape``: valid UTF-8 (nearly every real path)
reads naturally, and any other bytes survive as lone surrogates, so
``request.path.encode("utf-8", "surrogateescape")`` gives the exact bytes back.

Calls ``datastructures``, ``exceptions`` and ``types`` (the stream it reads).
"""

from __future__ import annotations

import json
from typing import Any, AsyncIterator, Optional

from .datastructures import Headers, QueryParams
from .exceptions import HTTPException
from .types import Stream


def decode_path(raw: bytes) -> str:
    return raw.decode("utf-8", "surrogateescape")


class Request:
    __slots__ = ("_stream", "path", "path_params", "_headers", "_query_params", "_body", "_consumed")

    def __init__(self, stream: Stream, path: Optional[str] = None,
                 path_params: Optional[dict[str, Any]] = None) -> None:
        self._stream = stream
        self.path = decode_path(stream.head.path) if path is None else path
        self.path_params = {} if path_params is None else path_params
        self._headers: Optional[Headers] = None
        self._query_params: Optional[QueryParams] = None
        self._body: Optional[bytes] = None
        self._consumed = False

    def __repr__(self) -> str:
        return f"<Request {self.method} {self.target}>"

    @property
    def channel_stream(self) -> Stream:
        """The channel stream this request arrived on (the app interface of types.py)."""
        return self._stream

    @property
    def method(self) -> str:
        return self._stream.head.method

    @property
    def http_version(self) -> str:
        return self._stream.head.http_version

    @property
    def scheme(self) -> str:
        return self._stream.head.scheme

    @property
    def client(self) -> Optional[tuple[str, int]]:
        """``(host, port)`` of the client; behind a trusted proxy, the one it forwarded for
        (the frontend's ``--forwarded-allow-ips``)."""
        return self._stream.head.client

    @property
    def id(self) -> str:
        """The request id: the trusted ``X-Request-Id`` the frontend got, or one it made; the
        response's ``X-Request-Id`` header and both processes' log lines carry it."""
        return self._stream.head.request_id

    @property
    def server(self) -> Optional[tuple[str, int]]:
        return self._stream.head.server

    @property
    def raw_target(self) -> bytes:
        """The request target exactly as on the request line."""
        return self._stream.head.target

    @property
    def target(self) -> str:
        return self._stream.head.target.decode("latin-1")

    @property
    def query_string(self) -> bytes:
        """The raw query string, without ``?``, not decoded."""
        return self._stream.head.query

    @property
    def query_params(self) -> QueryParams:
        if self._query_params is None:
            self._query_params = QueryParams(self._stream.head.query)
        return self._query_params

    @property
    def headers(self) -> Headers:
        if self._headers is None:
            self._headers = Headers(self._stream.head.headers)
        return self._headers

    @property
    def cookies(self) -> dict[str, str]:
        """Cookies from the ``cookie`` header(s), as browsers send them (``a=1; b=2``)."""
        cookies: dict[str, str] = {}
        for header in self.headers.getlist("cookie"):
            for part in header.split(";"):
                name, sep, value = part.partition("=")
                name = name.strip()
                if sep and name:
                    cookies.setdefault(name, value.strip().strip('"'))
        return cookies

    @property
    def url(self) -> str:
        """The full URL as the client asked for it (host from the Host header)."""
        host = self.headers.get("host")
        if host is None:
            server = self.server
            host = f"{server[0]}:{server[1]}" if server else "localhost"
        return f"{self.scheme}://{host}{self.target}"

    async def stream(self) -> AsyncIterator[bytes]:
        """The request body chunk by chunk, as it arrives (flow control follows the reading)."""
        if self._body is not None:
            if self._body:
                yield self._body
            return
        if self._consumed:
            raise RuntimeError("the request body was already streamed")
        self._consumed = True
        more = True
        while more:
            chunk, more = await self._stream.receive()
            if chunk:
                yield chunk

    async def body(self) -> bytes:
        """The whole request body (read once, then cached)."""
        if self._body is None:
            if self._consumed:
                raise RuntimeError("the request body was already streamed")
            chunk, more = await self._stream.receive()
            if more:
                parts = [chunk]
                while more:
                    chunk, more = await self._stream.receive()
                    parts.append(chunk)
                chunk = b"".join(parts)
            self._body = chunk
        return self._body

    async def text(self) -> str:
        return (await self.body()).decode(self._charset(), "replace")

    async def json(self) -> Any:
        """The body parsed as JSON; an invalid body answers 400."""
        body = await self.body()
        try:
            return json.loads(body)
        except ValueError as exc:
            raise HTTPException(400, f"Invalid JSON body: {exc}") from None

    def _charset(self) -> str:
        content_type = self.headers.get("content-type", "")
        for param in content_type.split(";")[1:]:
            key, _, value = param.strip().partition("=")
            if key.lower() == "charset" and value:
                return value.strip('"')
        return "utf-8"
