"""tandem: Python backends for the tandem C HTTP frontend.

This module imports neither uvloop nor msgpack, so an app module can
``from tandem import App`` anywhere; the server side needs both.

Re-exports the public names of ``app``, ``datastructures``, ``exceptions``,
``request``, ``response`` and ``websocket`` (with ``types.WebSocketDisconnect``),
and imports nothing else of tandem.
"""

from .app import App
from .datastructures import Headers, QueryParams
from .exceptions import HTTPException
from .request import Request
from .response import HTMLResponse, JSONResponse, PlainTextResponse, Response, StreamingResponse
from .types import WebSocketDisconnect
from .websocket import WebSocket

__version__ = "0.1.0"

__all__ = [
    "App",
    "HTMLResponse",
    "HTTPException",
    "Headers",
    "JSONResponse",
    "PlainTextResponse",
    "QueryParams",
    "Request",
    "Response",
    "StreamingResponse",
    "WebSocket",
    "WebSocketDisconnect",
]
