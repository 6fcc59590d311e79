"""Loading the application from a ``MODULE:ATTR`` import string."""

from __future__ import annotations

import importlib
import os
import sys
from typing import Any


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


def load_app(obj: Any) -> Any:
    """Wrap whatever the import string named into the one app shape the channel calls.

    A native ``App`` is already that shape (``async def __call__(stream)``); so is
    any callable taking one ``stream`` argument.  ASGI and WSGI adapters plug in
    here, so that the channel's hot path has a single code path.
    """
    from .app import App

    if isinstance(obj, App):
        return obj
    if not callable(obj):
        raise ImportFromStringError(f"{obj!r} is not an application (not callable)")
    import inspect

    try:
        params = [p for p in inspect.signature(obj).parameters.values()
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.default is p.empty]
    except (TypeError, ValueError):
        params = []
    if len(params) == 1:
        return obj
    raise ImportFromStringError(
        f"{obj!r} is not a tandem application: expected a tandem.App or an `async def app(stream)` "
        f"callable (ASGI and WSGI applications are not supported yet)")
