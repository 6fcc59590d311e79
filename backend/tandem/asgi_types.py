"""The ASGI interface, as types: what ``asgi.py`` and ``lifespan.py`` speak.

ASGI 3 applications are ``async def app(scope, receive, send)``; ASGI 2
applications are ``app(scope)`` returning an instance ``async (receive, send)``.
Scopes and messages are plain dicts; the TypedDicts below describe the ones
tandem builds and the keys it reads (the ASGI "HTTP" spec 2.4 and "lifespan"
spec 2.0, plus the ``http.response.pathsend`` extension).

Calls nothing of tandem.
"""

from __future__ import annotations

from typing import Any, Awaitable, Callable, Literal, MutableMapping, Optional, TypedDict, Union

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

ASGI3Application = Callable[[Scope, Receive, Send], Awaitable[None]]
ASGI2Instance = Callable[[Receive, Send], Awaitable[None]]
ASGI2Application = Callable[[Scope], ASGI2Instance]
ASGIApplication = Union[ASGI3Application, ASGI2Application]


class ASGIVersions(TypedDict):
    version: Literal["3.0"]
    spec_version: str


class HTTPScope(TypedDict):
    type: Literal["http"]
    asgi: ASGIVersions
    http_version: str
    method: str
    scheme: str
    path: str
    raw_path: bytes
    query_string: bytes
    root_path: str
    headers: list[tuple[bytes, bytes]]
    client: Optional[tuple[str, int]]
    server: Optional[tuple[str, int]]
    state: dict[str, Any]
    extensions: dict[str, dict[object, object]]


class LifespanScope(TypedDict):
    type: Literal["lifespan"]
    asgi: ASGIVersions
    state: dict[str, Any]


# --- messages the server sends (receive() returns them) -------------------------

class HTTPRequestEvent(TypedDict):
    type: Literal["http.request"]
    body: bytes
    more_body: bool


class HTTPDisconnectEvent(TypedDict):
    type: Literal["http.disconnect"]


class LifespanStartupEvent(TypedDict):
    type: Literal["lifespan.startup"]


class LifespanShutdownEvent(TypedDict):
    type: Literal["lifespan.shutdown"]


# --- messages the application sends (send() takes them) ---------------------------

class HTTPResponseStartEvent(TypedDict, total=False):
    type: Literal["http.response.start"]
    status: int
    headers: list[tuple[bytes, bytes]]
    trailers: bool


class HTTPResponseBodyEvent(TypedDict, total=False):
    type: Literal["http.response.body"]
    body: bytes
    more_body: bool


class HTTPResponsePathsendEvent(TypedDict):
    type: Literal["http.response.pathsend"]
    path: str


class LifespanStartupCompleteEvent(TypedDict):
    type: Literal["lifespan.startup.complete"]


class LifespanStartupFailedEvent(TypedDict, total=False):
    type: Literal["lifespan.startup.failed"]
    message: str


class LifespanShutdownCompleteEvent(TypedDict):
    type: Literal["lifespan.shutdown.complete"]


class LifespanShutdownFailedEvent(TypedDict, total=False):
    type: Literal["lifespan.shutdown.failed"]
    message: str
