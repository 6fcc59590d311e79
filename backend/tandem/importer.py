"""Loading the application from a ``MODULE:ATTR`` import string, and wrapping it
to the one app shape the channel calls (``types.AppCallable``).

``load_app`` finds out which interface the object speaks, or takes the one it
is told (``--interface``), and wraps it once, at load time, so the channel's
hot path has a single code path:

=========  ==================================================  ===============================
interface  what the object is                                  served by
=========  ==================================================  ===============================
native     a ``tandem.App``, or ``async def app(stream)``     itself
asgi3      ``async def app(scope, receive, send)``             ``asgi.ASGIAdapter``
asgi2      ``app(scope)`` returning ``async (receive, send)``  ``ASGIAdapter(ASGI2Middleware)``
wsgi       ``app(environ, start_response)``                    ``wsgi.WSGIAdapter`` (threads, or inline)
=========  ==================================================  ===============================

Detection (``interface="auto"``) looks at the object only, never calls it:

1. a ``tandem.App`` instance is native;
2. a class is instantiated per request, so it is ASGI 3 if it has
   ``__await__`` (uvicorn's rule), else judged by its constructor's arguments
   (one: ASGI 2, two: WSGI);
3. otherwise the object (a function) or its ``__call__`` is a coroutine function
   or not, and takes some number of positional arguments:

   =================  =====  ===========================
   coroutine function  args  interface
   =================  =====  ===========================
   yes                 1     native (``app(stream)``)
   yes                 3     asgi3
   no                  1     asgi2
   no                  2     wsgi
   no                  3     asgi3 (returns an awaitable)
   =================  =====  ===========================

   A ``*args`` catch-all fits any count: an ``async`` one is taken as ASGI 3, a
   plain one is ambiguous and needs ``--interface``.

``interface="asgi"`` chooses between ASGI 3 and ASGI 2 only, as uvicorn's
``--interface auto`` does: ASGI 3 if the class has ``__await__``, or the
function or ``__call__`` is a coroutine function; ASGI 2 otherwise.

With ``factory=True`` the object is first called with no arguments and what it
returns is the application.  Without it, an object that can be called with no
arguments at all (and is no ``tandem.App``) is taken as a factory too, with a
warning, as uvicorn does.

Calls ``app`` (to recognise a tandem App), ``asgi`` and ``wsgi`` (the
adapters), each when it is needed.
"""

from __future__ import annotations

import asyncio
import functools
import importlib
import inspect
import logging
import os
import sys
from typing import Any, Optional

logger = logging.getLogger("tandem.importer")

INTERFACES = ("auto", "native", "asgi3", "asgi2", "asgi", "wsgi")

DESCRIPTIONS = {
    "native": "a tandem application",
    "asgi3": "an ASGI 3 application",
    "asgi2": "an ASGI 2 application",
    "wsgi": "a WSGI application",
}


class ImportFromStringError(Exception):
    pass


def import_from_string(import_str: str, app_dir: str = ".") -> Any:
    """Import ``module.path:attr.path`` with ``app_dir`` first on sys.path."""
    module_str, _, attrs_str = import_str.partition(":")
    if not module_str or not attrs_str:
        raise ImportFromStringError(f'import string "{import_str}" must be in the form "module:attribute"')
    app_dir = os.path.abspath(app_dir)
    if app_dir not in sys.path:
        sys.path.insert(0, app_dir)
    try:
        module = importlib.import_module(module_str)
    except ModuleNotFoundError as exc:
        if exc.name != module_str and not module_str.startswith(f"{exc.name}."):
            raise  # a module the app itself imports is missing: show the real error
        raise ImportFromStringError(f'could not import module "{module_str}" (looked in {app_dir})') from None
    instance: Any = module
    try:
        for attr in attrs_str.split("."):
            instance = getattr(instance, attr)
    except AttributeError:
        raise ImportFromStringError(f'attribute "{attrs_str}" not found in module "{module_str}"') from None
    return instance


def default_threads() -> int:
    """WSGI worker threads when --threads is not given: four per CPU this process may use, at most 32."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cpus = os.cpu_count() or 1
    return max(1, min(32, 4 * cpus))


def load_app(obj: Any, interface: str = "auto", factory: bool = False, root_path: str = "",
             threads: Optional[int] = None, name: Optional[str] = None) -> Any:
    """Wrap whatever the import string named into the one app shape the channel calls.

    Raises ImportFromStringError when the object is no application, or when its
    interface cannot be told (the message says to pass --interface).
    """
    if interface not in INTERFACES:
        raise ImportFromStringError(f"unknown interface {interface!r} (one of {', '.join(INTERFACES)})")
    label = name or repr(obj)
    if factory:
        obj = _call_factory(obj, label)
    elif _looks_like_factory(obj):
        logger.warning("%s takes no arguments: calling it as an application factory "
                       "(pass --factory to say so)", label)
        obj = _call_factory(obj, label)
    if interface == "auto":
        kind = detect_interface(obj)
    elif interface == "asgi":
        kind = detect_asgi_version(obj)
    else:
        kind = interface
        if not callable(obj):
            raise ImportFromStringError(f"{label} is not an application (not callable)")
    logger.info("serving %s as %s", label, DESCRIPTIONS[kind])
    if threads is not None and kind != "wsgi":
        logger.warning("--threads applies to WSGI applications only; ignored")
    if kind == "native":
        return obj
    if kind in ("asgi3", "asgi2"):
        from .asgi import ASGI2Middleware, ASGIAdapter

        return ASGIAdapter(obj if kind == "asgi3" else ASGI2Middleware(obj), root_path=root_path, interface=kind)
    from .wsgi import WSGIAdapter

    return WSGIAdapter(obj, threads=default_threads() if threads is None else threads, root_path=root_path)


def _call_factory(obj: Any, label: str) -> Any:
    if not callable(obj):
        raise ImportFromStringError(f"--factory: {label} is not callable")
    arity = _positional_arity(obj)
    if arity is not None and arity[0] > 0:
        raise ImportFromStringError(f"--factory: {label} must be callable without arguments, "
                                    f"but it takes {arity[0]}")
    app = obj()
    if inspect.isawaitable(app):
        close = getattr(app, "close", None)
        if close is not None:
            close()  # no "never awaited" warning on top of the error
        raise ImportFromStringError(f"--factory: {label} returned an awaitable; the factory must be a plain "
                                    "function that returns the application")
    if app is None:
        raise ImportFromStringError(f"--factory: {label} returned None instead of an application")
    return app


def _looks_like_factory(obj: Any) -> bool:
    """A callable that takes no argument at all cannot be an application of any interface."""
    from .app import App

    if isinstance(obj, App) or not callable(obj):
        return False
    arity = _positional_arity(obj)
    return arity is not None and arity == (0, 0)


def _positional_arity(obj: Any) -> Optional[tuple[int, float]]:
    """(required, most) positional arguments ``obj`` can be called with; None if it cannot be told."""
    try:
        signature = inspect.signature(obj)
    except (TypeError, ValueError):
        return None
    required = 0
    most: float = 0
    for param in signature.parameters.values():
        if param.kind in (param.POSITIONAL_ONLY, param.POSITIONAL_OR_KEYWORD):
            most += 1
            if param.default is param.empty:
                required += 1
        elif param.kind is param.VAR_POSITIONAL:
            most = float("inf")
        elif param.kind is param.KEYWORD_ONLY and param.default is param.empty:
            return None  # needs a keyword argument no interface passes
    return required, most


def _is_coroutine_function(obj: Any) -> bool:
    return inspect.iscoroutinefunction(obj) or asyncio.iscoroutinefunction(obj)


def _call_target(obj: Any) -> Any:
    """What runs when ``obj`` is called: the function itself, or an instance's ``__call__``."""
    if inspect.isroutine(obj) or isinstance(obj, functools.partial):
        return obj
    return getattr(obj, "__call__", obj)


def detect_asgi_version(obj: Any) -> str:
    """uvicorn's choice between ASGI 3 and ASGI 2."""
    if not callable(obj):
        raise ImportFromStringError(f"{obj!r} is not an application (not callable)")
    if inspect.isclass(obj):
        return "asgi3" if hasattr(obj, "__await__") else "asgi2"
    return "asgi3" if _is_coroutine_function(_call_target(obj)) else "asgi2"


def detect_interface(obj: Any) -> str:
    """The interface ``obj`` speaks, from its type and signature (see the module docstring)."""
    from .app import App

    if isinstance(obj, App):
        return "native"
    if not callable(obj):
        raise ImportFromStringError(f"{obj!r} is not an application (not callable)")
    hint = "pass --interface native, asgi3, asgi2 or wsgi"
    if inspect.isclass(obj):
        if hasattr(obj, "__await__"):
            return "asgi3"
        arity = _positional_arity(obj)
        by_count = {1: "asgi2", 2: "wsgi"}
    else:
        arity = _positional_arity(obj)
        if _is_coroutine_function(_call_target(obj)):
            by_count = {1: "native", 3: "asgi3"}
        else:
            by_count = {1: "asgi2", 2: "wsgi", 3: "asgi3"}
    if arity is None:
        raise ImportFromStringError(f"cannot tell which interface {obj!r} speaks (its signature is unknown); {hint}")
    required, most = arity
    fits = [kind for count, kind in by_count.items() if required <= count <= most]
    if len(fits) == 1:
        return fits[0]
    if fits and _is_coroutine_function(_call_target(obj)) and "asgi3" in fits:
        return "asgi3"
    raise ImportFromStringError(
        f"cannot tell which interface {obj!r} speaks: it is "
        f"{'a coroutine function' if _is_coroutine_function(_call_target(obj)) else 'a plain callable'} taking "
        f"{_describe_arity(required, most)} positional argument(s), which "
        f"{'fits ' + ' and '.join(fits) if fits else 'fits no interface'}; {hint}")


def _describe_arity(required: int, most: float) -> str:
    if most == required:
        return str(required)
    if most == float("inf"):
        return f"{required} or more"
    return f"{required} to {int(most)}"
