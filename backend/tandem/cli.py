"""Command line: ``python3 -m tandem MODULE:ATTR (--connect SOCK | --serve HOST:PORT) ...``.

Every flag has an environment variable; a flag on the command line wins over
its variable, and ``--help`` lists both with the default.

What runs: with ``--workers N`` above 1, a parent process that starts and
watches N backend processes (``arbiter.py``); with ``--serve``, the frontend
and one backend (``devserver.py``); otherwise this process is the backend,
and SIGHUP reloads it in place (``reload.py``).  ``--worker-fd`` and
``--ready-fd`` are internal: the line from a backend to the tandem process
that started it.

Calls ``importer``, ``lifespan``, ``asgi``, ``server``, ``devserver``,
``arbiter`` and ``reload``, most of them only once it knows what runs, so that
``--help`` and a ``--workers`` parent import little.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import math
import os
import signal
import sys
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Mapping, Optional, Sequence

from . import __version__
from .importer import INTERFACES
from .lifespan import MODES as LIFESPAN_MODES

if TYPE_CHECKING:
    from .lifespan import Lifespan
    from .reload import ParentLink
    from .server import ServerConfig

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
    shutdown_timeout: int = 30         # whole seconds, as the frontend reads them
    interface: str = "auto"
    factory: bool = False
    root_path: str = ""
    threads: Optional[int] = None  # None: importer.default_threads()
    lifespan: str = "auto"
    frontend_args: list[str] = field(default_factory=list)  # --access-log & co., for the --serve frontend
    frontend_flags_given: list[str] = field(default_factory=list)  # those given as flags (not variables)
    workers: int = 1
    reload: bool = False             # --reload: backends as children, reloaded on source changes
    worker_fd: Optional[int] = None  # internal: a worker of a --workers parent (reload.py)
    ready_fd: Optional[int] = None   # internal: a copy started by SIGHUP (reload.py)


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
    ("--workers", "TANDEM_WORKERS", "1",
     "run N backend processes (1..1024) under a parent process that serves nothing: it restarts a worker "
     "that dies, reloads them all on SIGHUP, and passes SIGTERM/SIGINT on to them; "
     "1: this process is the backend"),
    ("--reload", "TANDEM_RELOAD", "off",
     "development: reload the backend when a .py file or a template under --app-dir changes, by a live swap "
     "(requests in flight finish on the old code); a new version that fails to start leaves the old one "
     "serving (needs python3-watchdog; the variable: 1 or 0)"),
    ("--max-streams", "TANDEM_MAX_STREAMS", "1024", "most requests served at once (1..65535)"),
    ("--log-level", "TANDEM_LOG_LEVEL", "info",
     "one of " + ", ".join(LOG_LEVELS) + " (or warn); with --serve, the frontend's too"),
    ("--frontend", "TANDEM_FRONTEND", "build/tandem-frontend of this checkout, else tandem-frontend on PATH",
     "the frontend binary --serve starts"),
    ("--access-log", "TANDEM_ACCESS_LOG", "off",
     "the --serve frontend's access log: PATH, - (stderr) or off, one line per request (see tandem-frontend "
     "--help)"),
    ("--access-log-format", "TANDEM_ACCESS_LOG_FORMAT", "combined",
     "the access log's format: combined (nginx's, with request time, upstream time, backend and request id "
     "appended) or json"),
    ("--metrics-listen", "TANDEM_METRICS_LISTEN", "off",
     "the --serve frontend also serves /metrics (Prometheus), /status and /status.html on HOST:PORT"),
    ("--forwarded-allow-ips", "TANDEM_FORWARDED_ALLOW_IPS", "127.0.0.1,::1",
     "--serve: the proxies (comma-separated IPs and ADDRESS/PREFIX networks, '*' for any) whose X-Forwarded-For, "
     "X-Forwarded-Proto, Forwarded and X-Request-Id the frontend believes: the application then sees the "
     "client address and scheme they forward (the frontend reads the variable itself)"),
    ("--connect-timeout", "TANDEM_CONNECT_TIMEOUT", "wait forever",
     "give up if the frontend socket has not appeared after SECONDS"),
    ("--shutdown-timeout", "TANDEM_SHUTDOWN_TIMEOUT", "30",
     "seconds a graceful stop (SIGTERM, SIGINT, SIGQUIT) waits for the requests in flight before cancelling them "
     "(0: at once; the variable is the frontend's too)"),
    ("--interface", "TANDEM_INTERFACE", "auto",
     "how to call the application: auto (detected from the object), native (a tandem App or "
     "`async def app(stream)`), asgi3, asgi2, asgi (detect which ASGI version) or wsgi"),
    ("--factory", "TANDEM_FACTORY", "off",
     "MODULE:ATTR is a function taking no arguments that returns the application (the variable: 1 or 0)"),
    ("--root-path", "TANDEM_ROOT_PATH", "empty",
     "the URL prefix the application is mounted at, behind a proxy that may or may not strip it: the ASGI "
     "scope's root_path, WSGI's SCRIPT_NAME"),
    ("--threads", "TANDEM_THREADS", "4 per CPU, at most 32",
     "threads that run a WSGI application's requests (1..1024); 0 runs it on the event loop's own thread, "
     "one request at a time as a gunicorn sync worker does (faster; use --workers for parallelism)"),
    ("--lifespan", "TANDEM_LIFESPAN", "auto",
     "ASGI lifespan protocol: auto (used if the application supports it), on (required: a failure stops "
     "the backend), off"),
]

METAVARS = {"--connect": "SOCK", "--serve": "HOST:PORT", "--static": "PREFIX=DIR", "--app-dir": "DIR",
            "--app-name": "NAME", "--generation": "N", "--workers": "N", "--max-streams": "N", "--log-level": "LEVEL",
            "--frontend": "PATH", "--forwarded-allow-ips": "LIST", "--connect-timeout": "SECONDS",
            "--interface": "INTERFACE", "--root-path": "PATH", "--threads": "N", "--lifespan": "MODE",
            "--access-log": "PATH", "--access-log-format": "FORMAT", "--metrics-listen": "HOST:PORT",
            "--shutdown-timeout": "SECONDS"}

# The frontend's own settings that --serve passes on to the frontend it starts.
FRONTEND_FLAGS = ("--access-log", "--access-log-format", "--metrics-listen", "--forwarded-allow-ips")
ACCESS_LOG_FORMATS = ("combined", "json")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tandem",
        description="Run a tandem, ASGI or WSGI application as a backend of the tandem C HTTP frontend.",
        epilog="Examples:\n"
               "  python3 -m tandem app:app --serve 127.0.0.1:8080 --static /static=./public\n"
               "  python3 -m tandem app:app --serve 127.0.0.1:8080 --reload\n"
               "  python3 -m tandem app:app --connect /run/tandem/backend.sock\n"
               "  python3 -m tandem myproject.wsgi:application --threads 16 --serve 127.0.0.1:8080\n"
               "  python3 -m tandem main:create_app --factory --root-path /api --serve 127.0.0.1:8080\n"
               "  python3 -m tandem app:app --connect /run/tandem/backend.sock --workers 4\n"
               "A flag on the command line wins over its environment variable.\n\n"
               "Signals (with --connect): SIGTERM, SIGINT or SIGQUIT drains (the requests in flight finish) and\n"
               "exits 0; a second one stops at once.  SIGHUP reloads: new processes with a newer\n"
               "generation import the application anew, and the running ones finish their requests and\n"
               "exit once the frontend has the new ones; if the new ones cannot start, the running ones\n"
               "keep serving.  Without --workers the new process is started detached (its own session).",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("app", nargs="?", metavar="MODULE:ATTR",
                        help="the application, e.g. app:app (env TANDEM_APP)")
    for flag, env, default, text in FLAGS:
        kwargs: dict[str, Any] = {"default": None, "help": f"{text} (env {env}; default: {default})"}
        if flag in ("--factory", "--reload"):
            kwargs.update(action="store_const", const="1")
        else:
            kwargs["metavar"] = METAVARS[flag]
        if flag == "--static":
            kwargs["action"] = "append"
        if flag in ("--log-level", "--interface", "--lifespan"):
            kwargs["type"] = str.lower
        parser.add_argument(flag, **kwargs)
    # Internal: the line to the tandem process that started this one (reload.py).
    parser.add_argument("--worker-fd", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--ready-fd", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--version", action="version", version=f"tandem {__version__}")
    return parser


def _seconds(value: str, what: str) -> float:
    try:
        seconds = float(value)
    except ValueError:
        seconds = math.nan
    if not 0 <= seconds < math.inf:
        raise UsageError(f"{what} must be a number of seconds, 0 or more, not {value!r}")
    return seconds


# A Unix socket's path, NUL included, fits in sockaddr_un's sun_path: 108 bytes on Linux.
SOCKET_PATH_MAX = 107


def _socket_path(path: str) -> str:
    """The frontend's socket path, refused at once if no socket can have it (it would never appear)."""
    if len(os.fsencode(path)) > SOCKET_PATH_MAX:
        raise UsageError(f"--connect: the socket path is {len(os.fsencode(path))} bytes long; a Unix socket's "
                         f"path holds at most {SOCKET_PATH_MAX}: {path}")
    return path


def _int(value: str, what: str, low: int, high: int) -> int:
    try:
        number = int(value)
    except ValueError:
        raise UsageError(f"{what} must be an integer, not {value!r}") from None
    if not low <= number <= high:
        raise UsageError(f"{what} must be between {low} and {high}, not {number}")
    return number


def parse_listen(value: str, flag: str = "--serve") -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not host:
        raise UsageError(f"{flag} wants HOST:PORT, not {value!r}")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    return host, _int(port, f"{flag} port", 0, 65535)


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
    opts.connect, opts.serve = _frontend_address(ns, env)
    if ns.static is not None:
        opts.static = [parse_static(v) for v in ns.static]
        opts.frontend_flags_given.append("--static")
    elif env.get("TANDEM_STATIC"):
        opts.static = [parse_static(v.strip()) for v in env["TANDEM_STATIC"].split(",") if v.strip()]
    _backend_options(opts, pick)
    _frontend_options(opts, ns, pick)
    _application_options(opts, pick, ns.factory if ns.factory is not None else env.get("TANDEM_FACTORY", ""))
    if ns.worker_fd is not None and ns.ready_fd is not None:
        raise UsageError("--worker-fd and --ready-fd exclude each other")
    opts.worker_fd, opts.ready_fd = ns.worker_fd, ns.ready_fd
    reload = ns.reload if ns.reload is not None else env.get("TANDEM_RELOAD", "")
    reload = reload.strip().lower()
    if reload not in TRUE_WORDS + FALSE_WORDS:
        raise UsageError(f"TANDEM_RELOAD must be 1 or 0, not {reload!r}")
    opts.reload = reload in TRUE_WORDS
    if opts.worker_fd is not None or opts.ready_fd is not None:
        opts.workers = 1      # a worker never starts workers of its own,
        opts.reload = False   # nor watches files: its parent does
    return opts


def _frontend_address(ns: argparse.Namespace,
                      env: Mapping[str, str]) -> tuple[Optional[str], Optional[tuple[str, int]]]:
    """``(connect, serve)``, one of them set: a flag wins over both variables."""
    if ns.connect is not None and ns.serve is not None:
        raise UsageError("--connect and --serve exclude each other")
    if ns.connect is not None:
        return _socket_path(ns.connect), None
    if ns.serve is not None:
        return None, parse_listen(ns.serve)
    # The frontend reads the same two variables, so an environment shared
    # with a separately run frontend has both: then the socket is what the
    # backend needs.
    sock, listen = env.get("TANDEM_BACKEND_SOCKET"), env.get("TANDEM_LISTEN")
    if sock:
        return _socket_path(sock), None
    if listen:
        return None, parse_listen(listen)
    raise UsageError("say where the frontend is: --connect SOCK (or TANDEM_BACKEND_SOCKET), "
                     "or start one with --serve HOST:PORT (or TANDEM_LISTEN)")


def _backend_options(opts: Options, pick: Callable[[str, str], Optional[str]]) -> None:
    """The options of the backend process: where from, its name and limits, logging, workers."""
    opts.app_dir = pick("app_dir", "TANDEM_APP_DIR") or "."
    if not os.path.isdir(opts.app_dir):
        raise UsageError(f"--app-dir: {opts.app_dir} is not a folder")
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
        opts.connect_timeout = _seconds(timeout, "--connect-timeout")
    timeout = pick("shutdown_timeout", "TANDEM_SHUTDOWN_TIMEOUT")
    if timeout is not None:
        # Whole seconds, as the frontend that may share the variable reads them.
        opts.shutdown_timeout = _int(timeout, "--shutdown-timeout", 0, 86400)
    workers = pick("workers", "TANDEM_WORKERS")
    if workers is not None:
        opts.workers = _int(workers, "--workers", 1, 1024)


def _frontend_options(opts: Options, ns: argparse.Namespace, pick: Callable[[str, str], Optional[str]]) -> None:
    """The frontend's settings that --serve passes on (the frontend checks the values itself)."""
    for flag, env, _, _ in FLAGS:
        if flag not in FRONTEND_FLAGS:
            continue
        name = flag[2:].replace("-", "_")
        value = pick(name, env)
        if value is None:
            continue
        if flag == "--access-log-format":
            value = _choice(value, flag, ACCESS_LOG_FORMATS)
        if flag == "--metrics-listen" and value.lower() != "off":
            parse_listen(value, flag)
        if flag == "--metrics-listen" and value.lower() == "off":
            continue
        opts.frontend_args += [flag, value]
        if getattr(ns, name) is not None:
            opts.frontend_flags_given.append(flag)
    if opts.serve is not None:
        # The frontend it starts logs as much as the backend (it takes Python's level names too), and
        # gives the answers in flight as long to finish when stopping.
        opts.frontend_args += ["--log-level", opts.log_level, "--shutdown-timeout", str(opts.shutdown_timeout)]


def _application_options(opts: Options, pick: Callable[[str, str], Optional[str]], factory: str) -> None:
    """The options of how the application is loaded and called."""
    opts.interface = _choice(pick("interface", "TANDEM_INTERFACE") or "auto", "--interface", INTERFACES)
    opts.lifespan = _choice(pick("lifespan", "TANDEM_LIFESPAN") or "auto", "--lifespan", LIFESPAN_MODES)
    factory = factory.strip().lower()
    if factory not in TRUE_WORDS + FALSE_WORDS:
        raise UsageError(f"TANDEM_FACTORY must be 1 or 0, not {factory!r}")
    opts.factory = factory in TRUE_WORDS
    root_path = pick("root_path", "TANDEM_ROOT_PATH") or ""
    if root_path and not root_path.startswith("/"):
        raise UsageError(f"--root-path must start with '/', not {root_path!r}")
    opts.root_path = root_path.rstrip("/")
    threads = pick("threads", "TANDEM_THREADS")
    if threads is not None:
        opts.threads = _int(threads, "--threads", 0, 1024)


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


def _sighup_while_starting(signum: int, frame: Any) -> None:
    logging.getLogger("tandem").warning("SIGHUP before this backend serves: ignored")


def main(argv: Optional[Sequence[str]] = None, env: Optional[Mapping[str, str]] = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    env = os.environ if env is None else env
    # What a reload copy of this process is started with (the application may change them).
    start_cwd, start_environ = os.getcwd(), dict(os.environ)
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

    if opts.workers > 1 or opts.reload:
        return _supervise(opts, argv, log)

    previous_sighup = signal.getsignal(signal.SIGHUP)
    try:
        return _backend(opts, argv, log, start_cwd, start_environ)
    finally:
        signal.signal(signal.SIGHUP, previous_sighup)


def _supervise(opts: Options, argv: Sequence[str], log: logging.Logger) -> int:
    """--workers above 1, or --reload: the backends run as child processes (supervisor.py)."""
    from .server import start_time_ms
    from .supervisor import supervise

    generation = start_time_ms() if opts.generation is None else opts.generation
    root = os.path.abspath(opts.app_dir) if opts.reload else None
    if opts.serve is None:
        return supervise(argv, opts.workers, generation, root)
    from .devserver import FrontendNotFound, find_frontend

    try:
        frontend = find_frontend(opts.frontend)
    except FrontendNotFound as exc:
        log.error("%s", exc)
        return 1
    return supervise(argv, opts.workers, generation, root, frontend, opts.serve, opts.static, opts.frontend_args)


def _backend(opts: Options, argv: Sequence[str], log: logging.Logger, start_cwd: str,
             start_environ: Mapping[str, str]) -> int:
    """This process is the backend (with --connect) or runs one with its frontend (--serve)."""
    from .reload import ParentLink

    link: Optional[ParentLink] = None
    if opts.serve is None:
        # Until the event loop handles it, SIGHUP must not kill a backend that is starting.
        signal.signal(signal.SIGHUP, _sighup_while_starting)
        fd = opts.worker_fd if opts.worker_fd is not None else opts.ready_fd
        if fd is not None:
            try:
                link = ParentLink(fd, worker=opts.worker_fd is not None)
            except OSError as exc:
                log.error("file descriptor %d from the parent process: %s", fd, exc)
                return 2
    app = _load_app(opts, log)
    if app is None:
        return 1
    lifespan = make_lifespan(app, opts.lifespan, log)

    import uvloop

    from .server import ServerConfig, start_time_ms

    def config(socket_path: str) -> ServerConfig:
        return ServerConfig(
            socket_path=socket_path,
            app_name=opts.app_name or opts.app,
            generation=start_time_ms() if opts.generation is None else opts.generation,
            max_streams=opts.max_streams,
            connect_timeout=opts.connect_timeout,
            shutdown_timeout=opts.shutdown_timeout,
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
        run = lambda: serve_with_frontend(app, config, frontend, serve, opts.static, lifespan,  # noqa: E731
                                          opts.frontend_args)
    else:
        # Flags only: the variables may be there for a frontend sharing the environment.
        for flag in opts.frontend_flags_given:
            log.warning("%s is a setting of the frontend: pass it to tandem-frontend; ignored here", flag)
        assert opts.connect is not None
        server_config = config(opts.connect)
        run = lambda: _serve_connected(app, server_config, lifespan, link, argv, start_cwd,  # noqa: E731
                                       start_environ, log)

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return int(runner.run(run()))


def _load_app(opts: Options, log: logging.Logger) -> Any:
    """The application wrapped to the one app shape, or None if it failed to load (logged)."""
    from .importer import ImportFromStringError, import_from_string, load_app

    try:
        return load_app(import_from_string(opts.app, opts.app_dir), interface=opts.interface,
                        factory=opts.factory, root_path=opts.root_path, threads=opts.threads, name=opts.app)
    except ImportFromStringError as exc:
        log.error("%s", exc)
    except Exception:
        # One log record, traceback included: the workers of --workers share stderr.
        log.exception("the application %s failed to load", opts.app)
    return None


async def _serve_connected(app: Any, server_config: "ServerConfig", lifespan: Optional["Lifespan"],
                           link: Optional["ParentLink"], argv: Sequence[str], start_cwd: str,
                           start_environ: Mapping[str, str], log: logging.Logger) -> int:
    """--connect: serve until stopped, reloading on SIGHUP (or, as a worker, watching the parent)."""
    from .server import Server

    loop = asyncio.get_running_loop()
    server = Server(app, server_config, lifespan, on_attached=link.attached if link else None)
    server.install_signal_handlers(loop)
    reloader = None
    if link is not None and link.worker:
        link.watch(loop, lambda: _parent_gone(server, log))
        loop.add_signal_handler(signal.SIGHUP, _worker_sighup, log)
    else:
        from .reload import Reloader

        reloader = Reloader(server, argv, start_cwd, start_environ, loop)
        server.on_shutdown = reloader.on_shutdown
        loop.add_signal_handler(signal.SIGHUP, reloader.on_sighup)
    try:
        return await server.run()
    finally:
        if link is not None:
            link.exiting(server.superseded)
        if reloader is not None:
            reloader.close()


def _parent_gone(server: Any, log: logging.Logger) -> None:
    if not server.stopping:
        log.warning("the --workers parent process is gone: finishing the requests in flight, then exiting")
        server.shutdown()


def _worker_sighup(log: logging.Logger) -> None:
    log.info("SIGHUP: a worker does not reload by itself; send SIGHUP to its parent (pid %d) to reload them all",
             os.getppid())
