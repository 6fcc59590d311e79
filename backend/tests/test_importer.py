"""Interface detection and wrapping (importer.load_app), and the flags that steer it."""

from __future__ import annotations

import functools
import logging
from typing import Any

import pytest

from tandem import App
from tandem.asgi import ASGI2Middleware, ASGIAdapter
from tandem.cli import parse_options, UsageError
from tandem.importer import ImportFromStringError, default_threads, detect_asgi_version, detect_interface, load_app


# --- one object per interface ---------------------------------------------------------

async def native_fn(stream: Any) -> None:
    pass


async def asgi3_fn(scope: Any, receive: Any, send: Any) -> None:
    pass


def asgi2_fn(scope: Any) -> Any:
    async def instance(receive: Any, send: Any) -> None:
        pass
    return instance


def wsgi_fn(environ: Any, start_response: Any) -> Any:
    start_response("200 OK", [])
    return [b""]


class ASGI3Instance:
    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        pass


class ASGI2Class:
    def __init__(self, scope: Any) -> None:
        self.scope = scope

    async def __call__(self, receive: Any, send: Any) -> None:
        pass


class WSGIInstance:
    def __call__(self, environ: Any, start_response: Any) -> Any:
        return []


class WSGIClass:  # PEP 3333 allows a class: calling it returns the iterable
    def __init__(self, environ: Any, start_response: Any) -> None:
        pass

    def __iter__(self) -> Any:
        return iter(())


class AwaitableClass:  # uvicorn's rule: a class with __await__ is ASGI 3
    def __init__(self, scope: Any, receive: Any, send: Any) -> None:
        pass

    def __await__(self) -> Any:
        return iter(())


class SyncWrapperASGI3:  # a plain __call__ returning the coroutine
    def __call__(self, scope: Any, receive: Any, send: Any) -> Any:
        return asgi3_fn(scope, receive, send)


async def with_defaults(scope: Any, receive: Any, send: Any, extra: Any = None) -> None:
    pass


@pytest.mark.parametrize("obj, expected", [
    (App(), "native"),
    (native_fn, "native"),
    (asgi3_fn, "asgi3"),
    (ASGI3Instance(), "asgi3"),
    (functools.partial(with_defaults, extra=1), "asgi3"),
    (with_defaults, "asgi3"),
    (AwaitableClass, "asgi3"),
    (SyncWrapperASGI3(), "asgi3"),
    (asgi2_fn, "asgi2"),
    (ASGI2Class, "asgi2"),
    (wsgi_fn, "wsgi"),
    (WSGIInstance(), "wsgi"),
    (WSGIClass, "wsgi"),
])
def test_detection(obj: Any, expected: str) -> None:
    assert detect_interface(obj) == expected


def test_detection_of_real_frameworks() -> None:
    import fastapi
    import flask
    import starlette.applications

    assert detect_interface(flask.Flask("t")) == "wsgi"
    assert detect_interface(starlette.applications.Starlette()) == "asgi3"
    assert detect_interface(fastapi.FastAPI()) == "asgi3"


def test_detection_of_django_handlers() -> None:
    """Django's handlers, in a fresh interpreter (settings are process-wide)."""
    import subprocess
    import sys
    from pathlib import Path

    code = ("from django.conf import settings; settings.configure(); import django; django.setup()\n"
            "from django.core.handlers.wsgi import WSGIHandler\n"
            "from django.core.handlers.asgi import ASGIHandler\n"
            "from tandem.importer import detect_interface\n"
            "print(detect_interface(WSGIHandler()), detect_interface(ASGIHandler()))\n")
    backend = Path(__file__).resolve().parents[1]
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                            env={"PYTHONPATH": str(backend), "PATH": "/usr/bin:/bin"})
    assert result.stdout.split() == ["wsgi", "asgi3"], result.stderr


@pytest.mark.parametrize("obj, words", [
    (42, "not callable"),
    (lambda *args: None, "plain callable taking 0 or more positional argument(s), which fits asgi2 and wsgi"),
    (lambda a, b, c, d: None, "fits no interface"),
    (lambda *, key: None, "signature is unknown"),
])
def test_undecidable_objects_ask_for_interface(obj: Any, words: str) -> None:
    with pytest.raises(ImportFromStringError) as info:
        detect_interface(obj)
    assert words in str(info.value)
    if words != "not callable":
        assert "pass --interface" in str(info.value)


def test_async_catch_all_is_asgi3() -> None:
    async def anything(*args: Any) -> None:
        pass
    assert detect_interface(anything) == "asgi3"


@pytest.mark.parametrize("obj, expected", [
    (asgi3_fn, "asgi3"), (ASGI3Instance(), "asgi3"), (AwaitableClass, "asgi3"),
    (asgi2_fn, "asgi2"), (ASGI2Class, "asgi2"), (wsgi_fn, "asgi2"),  # uvicorn would call WSGI ASGI 2 too
])
def test_asgi_means_uvicorns_choice(obj: Any, expected: str) -> None:
    assert detect_asgi_version(obj) == expected


# --- wrapping --------------------------------------------------------------------------


def test_native_apps_are_served_as_they_are() -> None:
    app = App()
    assert load_app(app) is app
    assert load_app(native_fn) is native_fn


def test_asgi3_apps_are_wrapped_once() -> None:
    adapter = load_app(asgi3_fn, root_path="/api")
    assert isinstance(adapter, ASGIAdapter)
    assert adapter.app is asgi3_fn and adapter.root_path == "/api" and adapter.interface == "asgi3"
    assert adapter.tandem_fast_path is False


def test_asgi2_apps_get_the_asgi2_middleware() -> None:
    adapter = load_app(ASGI2Class)
    assert isinstance(adapter, ASGIAdapter) and isinstance(adapter.app, ASGI2Middleware)
    assert adapter.app.app is ASGI2Class and adapter.interface == "asgi2"


def test_wsgi_apps_get_the_wsgi_adapter() -> None:
    wsgi = pytest.importorskip("tandem.wsgi")
    adapter = load_app(wsgi_fn, threads=3, root_path="/mnt")
    try:
        assert isinstance(adapter, wsgi.WSGIAdapter)
        assert (adapter.app, adapter.threads, adapter.root_path) == (wsgi_fn, 3, "/mnt")
    finally:
        adapter.shutdown()
    adapter = load_app(wsgi_fn)
    try:
        assert adapter.threads == default_threads()
    finally:
        adapter.shutdown()


def test_default_threads() -> None:
    import os

    assert default_threads() == min(32, 4 * len(os.sched_getaffinity(0)))


@pytest.mark.parametrize("interface, obj, check", [
    ("native", lambda stream: None, lambda app: not isinstance(app, ASGIAdapter)),
    ("asgi3", SyncWrapperASGI3(), lambda app: isinstance(app, ASGIAdapter) and app.interface == "asgi3"),
    ("asgi3", lambda *args: None, lambda app: app.interface == "asgi3"),
    ("asgi2", lambda *args: None, lambda app: isinstance(app.app, ASGI2Middleware)),
    ("asgi", ASGI2Class, lambda app: isinstance(app.app, ASGI2Middleware)),
    ("asgi", asgi3_fn, lambda app: app.app is asgi3_fn),
])
def test_interface_can_be_forced(interface: str, obj: Any, check: Any) -> None:
    assert check(load_app(obj, interface=interface))


def test_forcing_wsgi() -> None:
    wsgi = pytest.importorskip("tandem.wsgi")
    adapter = load_app(lambda *args: [], interface="wsgi", threads=1)
    try:
        assert isinstance(adapter, wsgi.WSGIAdapter)
    finally:
        adapter.shutdown()


def test_forcing_needs_a_callable() -> None:
    with pytest.raises(ImportFromStringError):
        load_app(42, interface="asgi3")
    with pytest.raises(ImportFromStringError):
        load_app(asgi3_fn, interface="cgi")


def test_threads_for_a_non_wsgi_app_are_ignored_with_a_warning(caplog: Any) -> None:
    load_app(asgi3_fn, threads=4)
    assert "--threads applies to WSGI applications only" in caplog.text


def test_the_interface_is_logged(caplog: Any) -> None:
    caplog.set_level(logging.INFO)
    load_app(asgi3_fn, name="main:app")
    assert "serving main:app as an ASGI 3 application" in caplog.text


# --- factories -----------------------------------------------------------------------


def test_factory() -> None:
    made: list[Any] = []

    def create_app() -> Any:
        made.append(App())
        return made[-1]

    assert load_app(create_app, factory=True) is made[0]

    def create_asgi() -> Any:
        return asgi3_fn

    adapter = load_app(create_asgi, factory=True, root_path="/r")
    assert isinstance(adapter, ASGIAdapter) and adapter.app is asgi3_fn and adapter.root_path == "/r"


def test_a_factory_is_detected_with_a_warning(caplog: Any) -> None:
    def create_app() -> Any:
        return asgi3_fn

    assert load_app(create_app).app is asgi3_fn
    assert "takes no arguments: calling it as an application factory (pass --factory" in caplog.text


@pytest.mark.parametrize("factory, words", [
    (lambda request: None, "must be callable without arguments, but it takes 1"),
    (lambda: None, "returned None"),
    (42, "is not callable"),
])
def test_bad_factories(factory: Any, words: str) -> None:
    with pytest.raises(ImportFromStringError) as info:
        load_app(factory, factory=True)
    assert words in str(info.value)


def test_an_async_factory_is_refused() -> None:
    async def create_app() -> Any:
        return asgi3_fn

    with pytest.raises(ImportFromStringError) as info:
        load_app(create_app, factory=True)
    assert "returned an awaitable" in str(info.value)


def test_a_factory_that_raises_shows_its_error() -> None:
    def create_app() -> Any:
        raise KeyError("SECRET_KEY")

    with pytest.raises(KeyError):
        load_app(create_app, factory=True)


# --- the flags -------------------------------------------------------------------------


def test_new_flags() -> None:
    opts = parse_options(["m:a", "--connect", "s", "--interface", "ASGI2", "--factory", "--root-path", "/api/",
                          "--threads", "8", "--lifespan", "on"], {})
    assert (opts.interface, opts.factory, opts.root_path, opts.threads, opts.lifespan) == (
        "asgi2", True, "/api", 8, "on")


def test_threads_0_runs_a_wsgi_application_inline() -> None:
    assert parse_options(["m:a", "--connect", "s", "--threads", "0"], {}).threads == 0
    adapter = load_app(lambda environ, start_response: [], interface="wsgi", threads=0)
    assert adapter.threads == 0 and adapter.executor is None


def test_new_flags_defaults() -> None:
    opts = parse_options(["m:a", "--connect", "s"], {})
    assert (opts.interface, opts.factory, opts.root_path, opts.threads, opts.lifespan) == (
        "auto", False, "", None, "auto")


def test_new_environment_variables() -> None:
    env = {"TANDEM_INTERFACE": "wsgi", "TANDEM_FACTORY": "true", "TANDEM_ROOT_PATH": "/mnt",
           "TANDEM_THREADS": "3", "TANDEM_LIFESPAN": "off"}
    opts = parse_options(["m:a", "--connect", "s"], env)
    assert (opts.interface, opts.factory, opts.root_path, opts.threads, opts.lifespan) == (
        "wsgi", True, "/mnt", 3, "off")
    assert parse_options(["m:a", "--connect", "s"], {"TANDEM_FACTORY": "0"}).factory is False
    flags = parse_options(["m:a", "--connect", "s", "--interface", "asgi3", "--lifespan", "auto", "--factory"],
                          dict(env, TANDEM_FACTORY="0"))
    assert (flags.interface, flags.lifespan, flags.factory) == ("asgi3", "auto", True)


@pytest.mark.parametrize("argv, env", [
    (["--interface", "cgi"], {}),
    (["--lifespan", "maybe"], {}),
    (["--threads", "-1"], {}),
    (["--threads", "1025"], {}),
    (["--threads", "many"], {}),
    (["--root-path", "api"], {}),
    ([], {"TANDEM_FACTORY": "perhaps"}),
    ([], {"TANDEM_INTERFACE": "rack"}),
])
def test_new_usage_errors(argv: list[str], env: dict[str, str]) -> None:
    with pytest.raises(UsageError):
        parse_options(["m:a", "--connect", "s", *argv], env)
