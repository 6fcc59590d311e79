"""Command line: ``python3 -m tandem MODULE:ATTR (--connect SOCK | --serve HOST:PORT) ...``.

Every flag has an environment variable; a flag on the command line wins over
its variable, and ``--help`` lists both with the default.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Optional, Sequence

from . import __version__
from .importer import INTERFACES
from .lifespan import MODES as LIFESPAN_MODES

DEPS_MESSAGE = (
    "tandem: this Python ({exe}) cannot import {missing}.\n"
    "Run tandem with an interpreter that has Debian's python3-uvloop and python3-msgpack packages,\n"
    "e.g. /usr/bin/python3 -m tandem ..., or install them with `make deps`."
)

LOG_FORMAT = "%(asctime)s tandem[%(process)d] %(levelname)s %(name)s: %(message)s"
LOG_LEVELS = ("critical", "error", "warning", "info", "debug")
# The frontend's spelling, since TANDEM_LOG_LEVEL may be shared with it.
LOG_LEVEL_ALIASES = {"warn": "warning"}


class UsageError(Exception):
    pass


@dataclass
class Options:
    app: str
    connect: Optional[str] = None
    serve: Optional[tuple[str, int]] = None
    static: list[tuple[str, str]] = field(default_factory=list)
    app_dir: str = "."
    app_name: Optional[str] = None
    generation: Optional[int] = None
    max_streams: int = 1024
    log_level: str = "info"
    frontend: Optional[str] = None
    connect_timeout: Optional[float] = None
    interface: str = "auto"
    factory: bool = False
    root_path: str = ""
    threads: Optional[int] = None  # None: importer.default_threads()
    lifespan: str = "auto"


TRUE_WORDS = ("1", "true", "yes", "on")
FALSE_WORDS = ("0", "false", "no", "off", "")


# (flag, environment variable, default shown in --help, help text)
FLAGS: list[tuple[str, str, str, str]] = [
    ("--connect", "TANDEM_BACKEND_SOCKET", "none",
     "connect to a running frontend's backend socket SOCK (retrying until it appears); when both variables "
     "are set, this one wins"),
    ("--serve", "TANDEM_LISTEN", "none",
     "dev mode: start the C frontend listening on HOST:PORT and connect to it over a private socket"),
    ("--static", "TANDEM_STATIC", "none",
     "serve DIR under URL PREFIX from the frontend (--serve only; repeatable; the variable is a "
     "comma-separated PREFIX=DIR list)"),
    ("--app-dir", "TANDEM_APP_DIR", "the current directory", "directory to import the app module from"),
    ("--app-name", "TANDEM_APP_NAME", "the import string", "application name announced to the frontend"),
    ("--generation", "TANDEM_GENERATION", "start time in ms since the epoch",
     "deployment generation announced to the frontend (grows with each deployment)"),
    ("--max-streams", "TANDEM_MAX_STREAMS", "1024", "most requests served at once (1..65535)"),
    ("--log-level", "TANDEM_LOG_LEVEL", "info", "one of " + ", ".join(LOG_LEVELS) + " (or warn)"),
    ("--frontend", "TANDEM_FRONTEND", "build/tandem-frontend of this checkout, else tandem-frontend on PATH",
     "the frontend binary --serve starts"),
    ("--connect-timeout", "TANDEM_CONNECT_TIMEOUT", "wait forever",
     "give up if the frontend socket has not appeared after SECONDS"),
    ("--interface", "TANDEM_INTERFACE", "auto",
     "how to call the application: auto (detected from the object), native (a tandem App or "
     "`async def app(stream)`), asgi3, asgi2, asgi (detect which ASGI version) or wsgi"),
    ("--factory", "TANDEM_FACTORY", "off",
     "MODULE:ATTR is a function taking no arguments that returns the application (the variable: 1 or 0)"),
    ("--root-path", "TANDEM_ROOT_PATH", "empty",
     "the URL prefix a proxy in front removed from the path: the ASGI scope's root_path, WSGI's SCRIPT_NAME"),
    ("--threads", "TANDEM_THREADS", "4 per CPU, at most 32",
     "threads that run a WSGI application's requests (1..1024)"),
    ("--lifespan", "TANDEM_LIFESPAN", "auto",
     "ASGI lifespan protocol: auto (used if the application supports it), on (required: a failure stops "
     "the backend), off"),
]

METAVARS = {"--connect": "SOCK", "--serve": "HOST:PORT", "--static": "PREFIX=DIR", "--app-dir": "DIR",
            "--app-name": "NAME", "--generation": "N", "--max-streams": "N", "--log-level": "LEVEL",
            "--frontend": "PATH", "--connect-timeout": "SECONDS", "--interface": "INTERFACE",
            "--root-path": "PATH", "--threads": "N", "--lifespan": "MODE"}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tandem",
        description="Run a tandem, ASGI or WSGI application as a backend of the tandem C HTTP frontend.",
        epilog="Examples:\n"
               "  python3 -m tandem app:app --serve 127.0.0.1:8080 --static /static=./public\n"
               "  python3 -m tandem app:app --connect /run/tandem/backend.sock\n"
               "  python3 -m tandem myproject.wsgi:application --threads 16 --serve 127.0.0.1:8080\n"
               "  python3 -m tandem main:create_app --factory --root-path /api --serve 127.0.0.1:8080\n"
               "A flag on the command line wins over its environment variable.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("app", nargs="?", metavar="MODULE:ATTR",
                        help="the application, e.g. app:app (env TANDEM_APP)")
    for flag, env, default, text in FLAGS:
        kwargs: dict[str, Any] = {"default": None, "help": f"{text} (env {env}; default: {default})"}
        if flag == "--factory":
            kwargs.update(action="store_const", const="1")
        else:
            kwargs["metavar"] = METAVARS[flag]
        if flag == "--static":
            kwargs["action"] = "append"
        if flag in ("--log-level", "--interface", "--lifespan"):
            kwargs["type"] = str.lower
        parser.add_argument(flag, **kwargs)
    parser.add_argument("--version", action="version", version=f"tandem {__version__}")
    return parser


def _int(value: str, what: str, low: int, high: int) -> int:
    try:
        number = int(value)
    except ValueError:
        raise UsageError(f"{what} must be an integer, not {value!r}") from None
    if not low <= number <= high:
        raise UsageError(f"{what} must be between {low} and {high}, not {number}")
    return number


def parse_listen(value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not host:
        raise UsageError(f"--serve wants HOST:PORT, not {value!r}")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    return host, _int(port, "--serve port", 0, 65535)


def parse_static(value: str) -> tuple[str, str]:
    prefix, sep, directory = value.partition("=")
    if not sep or not prefix.startswith("/") or not directory:
        raise UsageError(f"--static wants PREFIX=DIR with PREFIX starting with '/', not {value!r}")
    return prefix, directory


def parse_options(argv: Sequence[str], env: Mapping[str, str]) -> Options:
    """Command line and environment -> Options; raises UsageError."""
    ns = build_parser().parse_args(list(argv))

    def pick(name: str, var: str) -> Optional[str]:
        value = getattr(ns, name)
        if value is not None:
            return value  # type: ignore[no-any-return]
        return env.get(var) or None

    app = ns.app or env.get("TANDEM_APP")
    if not app:
        raise UsageError("missing the application: python3 -m tandem MODULE:ATTR ...")
    opts = Options(app=app)

    # --connect and --serve: a flag wins over both variables.
    if ns.connect is not None and ns.serve is not None:
        raise UsageError("--connect and --serve exclude each other")
    if ns.connect is not None:
        opts.connect = ns.connect
    elif ns.serve is not None:
        opts.serve = parse_listen(ns.serve)
    else:
        # The frontend reads the same two variables, so an environment shared
        # with a separately run frontend has both: then the socket is what the
        # backend needs.
        sock, listen = env.get("TANDEM_BACKEND_SOCKET"), env.get("TANDEM_LISTEN")
        if sock:
            opts.connect = sock
        elif listen:
            opts.serve = parse_listen(listen)
        else:
            raise UsageError("say where the frontend is: --connect SOCK (or TANDEM_BACKEND_SOCKET), "
                             "or start one with --serve HOST:PORT (or TANDEM_LISTEN)")

    if ns.static is not None:
        opts.static = [parse_static(v) for v in ns.static]
    elif env.get("TANDEM_STATIC"):
        opts.static = [parse_static(v.strip()) for v in env["TANDEM_STATIC"].split(",") if v.strip()]

    opts.app_dir = pick("app_dir", "TANDEM_APP_DIR") or "."
    opts.app_name = pick("app_name", "TANDEM_APP_NAME")
    generation = pick("generation", "TANDEM_GENERATION")
    if generation is not None:
        opts.generation = _int(generation, "--generation", 0, 2**64 - 1)
    max_streams = pick("max_streams", "TANDEM_MAX_STREAMS")
    if max_streams is not None:
        opts.max_streams = _int(max_streams, "--max-streams", 1, 65535)
    log_level = (pick("log_level", "TANDEM_LOG_LEVEL") or "info").lower()
    log_level = LOG_LEVEL_ALIASES.get(log_level, log_level)
    if log_level not in LOG_LEVELS:
        raise UsageError(f"--log-level must be one of {', '.join(LOG_LEVELS)}, not {log_level!r}")
    opts.log_level = log_level
    opts.frontend = pick("frontend", "TANDEM_FRONTEND")
    timeout = pick("connect_timeout", "TANDEM_CONNECT_TIMEOUT")
    if timeout is not None:
        try:
            opts.connect_timeout = float(timeout)
        except ValueError:
            raise UsageError(f"--connect-timeout must be a number of seconds, not {timeout!r}") from None
    opts.interface = _choice(pick("interface", "TANDEM_INTERFACE") or "auto", "--interface", INTERFACES)
    opts.lifespan = _choice(pick("lifespan", "TANDEM_LIFESPAN") or "auto", "--lifespan", LIFESPAN_MODES)
    factory = (ns.factory if ns.factory is not None else env.get("TANDEM_FACTORY", "")).strip().lower()
    if factory not in TRUE_WORDS + FALSE_WORDS:
        raise UsageError(f"TANDEM_FACTORY must be 1 or 0, not {factory!r}")
    opts.factory = factory in TRUE_WORDS
    root_path = pick("root_path", "TANDEM_ROOT_PATH") or ""
    if root_path and not root_path.startswith("/"):
        raise UsageError(f"--root-path must start with '/', not {root_path!r}")
    opts.root_path = root_path.rstrip("/")
    threads = pick("threads", "TANDEM_THREADS")
    if threads is not None:
        opts.threads = _int(threads, "--threads", 1, 1024)
    return opts


def _choice(value: str, what: str, choices: Sequence[str]) -> str:
    value = value.lower()
    if value not in choices:
        raise UsageError(f"{what} must be one of {', '.join(choices)}, not {value!r}")
    return value


def check_dependencies() -> Optional[str]:
    """None if uvloop and msgpack import, else the message to print."""
    missing = []
    for name in ("uvloop", "msgpack"):
        try:
            __import__(name)
        except ImportError:
            missing.append(name)
    if not missing:
        return None
    return DEPS_MESSAGE.format(exe=sys.executable, missing=" and ".join(missing))


def setup_logging(level: str) -> None:
    logging.basicConfig(level=level.upper(), format=LOG_FORMAT, stream=sys.stderr)


def make_lifespan(app: Any, mode: str, log: logging.Logger) -> Any:
    """The ASGI lifespan runner for an ASGI application (None for other interfaces, or with "off")."""
    from .asgi import ASGIAdapter

    if not isinstance(app, ASGIAdapter):
        if mode == "on":
            log.warning("--lifespan on: only ASGI applications have a lifespan protocol; ignored")
        return None
    if mode == "off":
        return None
    from .lifespan import Lifespan

    return Lifespan(app.app, app.state, mode)


def main(argv: Optional[Sequence[str]] = None, env: Optional[Mapping[str, str]] = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    env = os.environ if env is None else env
    try:
        opts = parse_options(argv, env)
    except UsageError as exc:
        print(f"tandem: {exc}", file=sys.stderr)
        return 2
    problem = check_dependencies()
    if problem is not None:
        print(problem, file=sys.stderr)
        return 1
    setup_logging(opts.log_level)
    log = logging.getLogger("tandem")

    from .importer import ImportFromStringError, import_from_string, load_app

    try:
        app = load_app(import_from_string(opts.app, opts.app_dir), interface=opts.interface,
                       factory=opts.factory, root_path=opts.root_path, threads=opts.threads, name=opts.app)
    except ImportFromStringError as exc:
        log.error("%s", exc)
        return 1
    lifespan = make_lifespan(app, opts.lifespan, log)

    import uvloop

    from .server import Server, ServerConfig, start_time_ms

    def config(socket_path: str) -> ServerConfig:
        return ServerConfig(
            socket_path=socket_path,
            app_name=opts.app_name or opts.app,
            generation=start_time_ms() if opts.generation is None else opts.generation,
            max_streams=opts.max_streams,
            connect_timeout=opts.connect_timeout,
        )

    run: Callable[[], Any]
    if opts.serve is not None:
        from .devserver import FrontendNotFound, find_frontend, serve_with_frontend

        try:
            frontend = find_frontend(opts.frontend)
        except FrontendNotFound as exc:
            log.error("%s", exc)
            return 1
        serve = opts.serve
        run = lambda: serve_with_frontend(app, config, frontend, serve, opts.static, lifespan)  # noqa: E731
    else:
        if opts.static:
            log.warning("--static is served by the frontend: pass it to tandem-frontend; ignored here")
        assert opts.connect is not None
        server_config = config(opts.connect)

        async def run_connect() -> int:
            server = Server(app, server_config, lifespan)
            server.install_signal_handlers(asyncio.get_running_loop())
            return await server.run()

        run = run_connect

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return int(runner.run(run()))
