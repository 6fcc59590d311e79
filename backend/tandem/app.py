"""The native application: routes, handlers, templates.

::

    app = App()

    @app.get("/users/{user_id:int}")
    def user(request, user_id):
        return {"id": user_id}

Handlers are called ``handler(request, **path_params)`` and may be sync or async.
Sync handlers run inline on the event loop, like the code of an async handler
between two awaits: they must be fast (no blocking I/O, no long computation), or
every other request on this backend waits for them.  Their return value is
converted by ``response.to_response`` (str, bytes, dict/list, None, Response);
with ``template="name.html"`` a returned dict is rendered with Jinja2 instead.

WebSocket routes (``@app.websocket("/ws")``) get a ``websocket.WebSocket``
(``handler(ws, **path_params)``, async): see that module.  An upgrade to a path
without a WebSocket route is answered 404.

``App`` is itself the callable the channel runs for each stream
(``types.AppCallable``).  Unknown paths get 404, known paths with another method
405 with an ``allow`` header, and an exception in a handler 500 (the traceback
goes to the log; other requests are unaffected).

Calls ``routing``, ``request``, ``response``, ``templating``, ``exceptions`` and
``types``; the channel calls it, through ``types.AppCallable``, never by name.
"""

from __future__ import annotations

import inspect
import logging
import sys
from types import CoroutineType
from typing import Any, Callable, Iterable, Optional, TypeVar

from .exceptions import HTTPException
from .request import Request
from .response import JSON_HEADERS, OCTET_HEADERS, TEXT_HEADERS, Response, html, json_encode, plain, to_response
from .routing import FOUND, NOT_FOUND, Route, Router
from .templating import Templates, templates_dir_for
from .types import WEBSOCKET_FLAG, Stream, StreamCancelled, WebSocketDisconnect
from .websocket import WebSocket

logger = logging.getLogger("tandem.app")

F = TypeVar("F", bound=Callable[..., Any])


class App:
    """A tandem application.

    ``templates``: the Jinja2 template folder, relative to the directory of the
    module that creates the App (default ``"templates"`` there).
    ``fast_path``: set False if handlers need ``asyncio.current_task()`` from their
    first line (``asyncio.timeout``, ``TaskGroup``); see ``channel.py``.
    """

    def __init__(self, templates: Optional[str] = None, fast_path: bool = True) -> None:
        caller_file = sys._getframe(1).f_globals.get("__file__")
        self.router = Router()
        self.ws_router = Router()
        self.templates = Templates(templates_dir_for(caller_file, templates))
        self.tandem_fast_path = fast_path

    # --- registration -----------------------------------------------------------

    def route(self, path: str, methods: Iterable[str] = ("GET",), *, name: Optional[str] = None,
              template: Optional[str] = None) -> Callable[[F], F]:
        def decorator(endpoint: F) -> F:
            self.add_route(path, endpoint, methods, name=name, template=template)
            return endpoint
        return decorator

    def add_route(self, path: str, endpoint: Callable[..., Any], methods: Iterable[str] = ("GET",), *,
                  name: Optional[str] = None, template: Optional[str] = None) -> Route:
        is_async = inspect.iscoroutinefunction(endpoint) or inspect.iscoroutinefunction(
            getattr(endpoint, "__call__", None))
        return self.router.add(Route(path, methods, endpoint, name, is_async=is_async, template=template))

    def get(self, path: str, **kwargs: Any) -> Callable[[F], F]:
        return self.route(path, ("GET",), **kwargs)

    def post(self, path: str, **kwargs: Any) -> Callable[[F], F]:
        return self.route(path, ("POST",), **kwargs)

    def put(self, path: str, **kwargs: Any) -> Callable[[F], F]:
        return self.route(path, ("PUT",), **kwargs)

    def patch(self, path: str, **kwargs: Any) -> Callable[[F], F]:
        return self.route(path, ("PATCH",), **kwargs)

    def delete(self, path: str, **kwargs: Any) -> Callable[[F], F]:
        return self.route(path, ("DELETE",), **kwargs)

    def websocket(self, path: str, *, name: Optional[str] = None) -> Callable[[F], F]:
        """Register an async ``handler(ws, **path_params)`` for WebSocket upgrades to ``path``."""
        def decorator(endpoint: F) -> F:
            if not (inspect.iscoroutinefunction(endpoint) or inspect.iscoroutinefunction(
                    getattr(endpoint, "__call__", None))):
                raise TypeError(f"a WebSocket handler must be async: {endpoint!r}")
            self.ws_router.add(Route(path, ("GET",), endpoint, name, is_async=True))
            return endpoint
        return decorator

    async def _websocket(self, stream: Stream, path: str) -> None:
        match = self.ws_router.resolve("GET", path)
        if match.route is None:
            response = plain("Not Found", 404)
            await stream.send_response(response.status, response.raw_headers, response.body, True)
            return
        ws = WebSocket(stream, path, match.params)
        try:
            await match.route.endpoint(ws, **match.params)
        except (WebSocketDisconnect, StreamCancelled):
            return  # the client went: nothing more to say (the channel closes what is left open)

    def url_path_for(self, name: str, **params: Any) -> str:
        return self.router.url_path_for(name, **params)

    # --- serving ----------------------------------------------------------------

    async def __call__(self, stream: Stream) -> None:
        head = stream.head
        path = head.path.decode("utf-8", "surrogateescape")  # decode_path(), inline
        if head.flags & WEBSOCKET_FLAG:
            await self._websocket(stream, path)
            return
        match = self.router.resolve(head.method, path)
        route = match.route
        if route is None:
            if match.status == NOT_FOUND:
                response = plain("Not Found", 404)
            else:
                allow = ", ".join(sorted(match.allowed)).encode("latin-1")
                response = plain("Method Not Allowed", 405, [(b"allow", allow)])
            await stream.send_response(response.status, response.raw_headers, response.body, True)
            return
        params = match.params
        request = Request(stream, path, params)
        # The plain return values (str, bytes, dict, list) of a route without a template
        # are sent straight from here, without a Response object: to_response()
        # would make the same status, headers and body.
        prepared: Optional[Response] = None
        try:
            if route.is_async:
                result = await (route.endpoint(request, **params) if params else route.endpoint(request))
            else:
                result = route.endpoint(request, **params) if params else route.endpoint(request)
                if type(result) is CoroutineType:  # an async handler behind a plain wrapper
                    result = await result
            rtype = type(result)
            if route.template is not None and not isinstance(result, Response):
                prepared = html(self.templates.render(route.template, result))
            elif rtype is str:
                headers, body = TEXT_HEADERS, result.encode("utf-8")
            elif rtype is dict or rtype is list:
                headers, body = JSON_HEADERS, json_encode(result).encode("utf-8")
            elif rtype is bytes:
                headers, body = OCTET_HEADERS, result
            else:
                prepared = to_response(result)
        except HTTPException as exc:
            prepared = _http_error(exc, route, head.method, path)
        except StreamCancelled:
            return
        except Exception:
            if stream.cancelled:
                return
            logger.exception("error in handler %s for %s %s (request id %s)", route.name, head.method, path,
                             head.request_id)
            prepared = plain("Internal Server Error", 500)
        try:
            if prepared is None:
                await stream.send_response(200, headers, body, True)
            else:
                await prepared.send(stream)
        except StreamCancelled:
            return
        except Exception:
            # A Response is checked as it is made; one changed afterwards (its
            # raw_headers edited) fails here, before anything was sent, and is
            # logged with its route like any failure of the handler.
            if stream.response_started or stream.cancelled:
                raise
            logger.exception("invalid response from handler %s for %s %s (request id %s)", route.name,
                             head.method, path, head.request_id)
            await plain("Internal Server Error", 500).send(stream)


def _http_error(exc: HTTPException, route: Route, method: str, path: str) -> Response:
    """The response for an HTTPException, or a 500 if its status or headers cannot be sent."""
    try:
        return plain(exc.detail, exc.status, _encode(exc.headers))
    except Exception:
        logger.exception("invalid HTTPException from handler %s for %s %s", route.name, method, path)
        return plain("Internal Server Error", 500)


def _encode(headers: Optional[Any]) -> Optional[list[tuple[bytes, bytes]]]:
    if not headers:
        return None
    return [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]
