"""How each kind of server is started: a function of the app that returns a ``Server``.

Every server listens on a free port of 127.0.0.1 and keeps every file it makes
(configuration, pid file, logs, Unix sockets, nginx's temporary folders) in a
folder of its own under the run's temporary directory, which is removed at the
end.  nginx runs with ``-p`` and ``-c`` pointing there and never reads or writes
the system's configuration; as root its workers keep the invoking user (the
``user`` directive), as they would for anyone else.

Each Python server runs one application process: tandem one backend, uvicorn one
worker, gunicorn one worker, uWSGI one worker (with its master).  Concurrency inside
that process is each server's own: tandem's event loop (and, for WSGI, its default
thread pool), uvicorn's event loop, gunicorn's sync worker (one connection at a
time, no keep-alive) or gthread worker (threads), uWSGI's single worker.
"""
from __future__ import annotations

import getpass
import os
import signal
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

from .procs import Command, attached_backends, free_port

ROOT = Path(__file__).resolve().parent.parent.parent
BENCH = ROOT / "benchmark"
FRONTEND = ROOT / "build" / "tandem-frontend"
FLOOR_BACKEND = ROOT / "build" / "floor-backend"
PYTHON = sys.executable
# tandem's default for a WSGI app (--threads: 4 per CPU, at most 32); gthread gets the same.
WSGI_THREADS = min(32, 4 * (os.cpu_count() or 1))


@dataclass(frozen=True)
class Launch:
    """One server to start: its processes in order, where it answers, and when it is ready."""
    port: int
    commands: list[Command]
    ready: Optional[Callable[[], bool]] = None


@dataclass(frozen=True)
class Server:
    """How to start one kind of server with one app, and the programs that takes."""
    tools: tuple[str, ...]
    launch: Callable[[Path], Launch]     # given the server's own temporary folder


def tandem(app: str, interface: str, backends: int = 1, extra: tuple[str, ...] = ()) -> Server:
    """The C frontend and a backend with ``--workers backends`` hosting app (``extra``: more backend flags)."""
    def launch(tmp: Path) -> Launch:
        port, sock = free_port(), tmp / "backend.sock"
        frontend = Command("frontend", [str(FRONTEND), "--listen", f"127.0.0.1:{port}",
                                        "--backend-socket", str(sock), "--log-level", "warn"])
        backend = Command("backend", [PYTHON, "-m", "tandem", app, "--connect", str(sock),
                                      "--interface", interface, "--workers", str(backends),
                                      "--log-level", "warning", *extra], cwd=BENCH)
        return Launch(port, [frontend, backend], ready=lambda: attached_backends(sock) >= backends)
    return Server((str(FRONTEND),), launch)


def floor() -> Server:
    """The C frontend and benchmark/floor_backend.c, which answers every request without looking at it."""
    def launch(tmp: Path) -> Launch:
        port, sock = free_port(), tmp / "backend.sock"
        frontend = Command("frontend", [str(FRONTEND), "--listen", f"127.0.0.1:{port}",
                                        "--backend-socket", str(sock), "--log-level", "warn"])
        backend = Command("backend", [str(FLOOR_BACKEND), str(sock)])
        return Launch(port, [frontend, backend], ready=lambda: attached_backends(sock) >= 1)
    return Server((str(FRONTEND), str(FLOOR_BACKEND)), launch)


def uvicorn(app: str) -> Server:
    """uvicorn with uvloop and httptools, one worker, no access log."""
    def launch(tmp: Path) -> Launch:
        port = free_port()
        return Launch(port, [Command("uvicorn", [
            PYTHON, "-m", "uvicorn", app, "--host", "127.0.0.1", "--port", str(port), "--loop", "uvloop",
            "--http", "httptools", "--no-access-log", "--log-level", "warning"], cwd=BENCH)])
    return Server((), launch)


def gunicorn(app: str, worker: str) -> Server:
    """gunicorn with one worker of the class worker (sync or gthread)."""
    def launch(tmp: Path) -> Launch:
        port = free_port()
        threads = ["--threads", str(WSGI_THREADS)] if worker == "gthread" else []
        return Launch(port, [Command("gunicorn", [
            PYTHON, "-m", "gunicorn", app, "--bind", f"127.0.0.1:{port}", "--workers", "1",
            "--worker-class", worker, *threads, "--log-level", "warning", "--worker-tmp-dir", str(tmp)],
            cwd=BENCH, stop_signal=signal.SIGINT)])    # SIGINT: gunicorn's quick shutdown
    return Server((), launch)


def _uwsgi(module: str, sock: Path) -> Command:
    """uWSGI, one worker under its master, on a Unix socket, without request logging."""
    return Command("uwsgi", [
        "uwsgi", "--plugin", "python3", "--socket", str(sock), "--chdir", str(BENCH), "--module", module,
        "--master", "--processes", "1", "--need-app", "--disable-logging", "--die-on-term",
        "--ignore-sigpipe", "--ignore-write-errors", "--disable-write-exception"],
        stop_signal=signal.SIGINT)


_NGINX_CONF = """\
worker_processes 1;
daemon off;
master_process on;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log warn;
{user}
events {{ worker_connections 4096; }}
http {{
    access_log off;
    keepalive_requests 1000000;
    client_body_temp_path {tmp}/client_body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    server {{
        listen 127.0.0.1:{port};
{locations}
    }}
}}
"""

_UWSGI_PARAMS = ("QUERY_STRING $query_string", "REQUEST_METHOD $request_method",
                 "CONTENT_TYPE $content_type", "CONTENT_LENGTH $content_length",
                 "REQUEST_URI $request_uri", "PATH_INFO $document_uri", "DOCUMENT_ROOT $document_root",
                 "SERVER_PROTOCOL $server_protocol", "REQUEST_SCHEME $scheme", "REMOTE_ADDR $remote_addr",
                 "REMOTE_PORT $remote_port", "SERVER_ADDR $server_addr", "SERVER_PORT $server_port",
                 "SERVER_NAME $server_name")


def _nginx(tmp: Path, port: int, locations: str) -> Command:
    """nginx's master and one worker, with a configuration written to tmp."""
    user = f"user {getpass.getuser()};" if os.geteuid() == 0 else ""
    conf = tmp / "nginx.conf"
    conf.write_text(_NGINX_CONF.format(tmp=tmp, port=port, user=user, locations=locations))
    return Command("nginx", ["nginx", "-p", f"{tmp}/", "-c", str(conf), "-e", f"{tmp}/error.log"])


def nginx_uwsgi(module: str) -> Server:
    """nginx passing every request to uWSGI over a Unix socket (the uwsgi protocol)."""
    def launch(tmp: Path) -> Launch:
        port, sock = free_port(), tmp / "uwsgi.sock"
        params = "\n".join(f"            uwsgi_param {p};" for p in _UWSGI_PARAMS)
        locations = f"        location / {{\n{params}\n            uwsgi_pass unix:{sock};\n        }}"
        return Launch(port, [_uwsgi(module, sock), _nginx(tmp, port, locations)],
                      ready=sock.exists)
    return Server(("uwsgi", "nginx"), launch)


def nginx_return() -> Server:
    """nginx answering / and /json from its configuration: no application at all."""
    def launch(tmp: Path) -> Launch:
        port = free_port()
        locations = ('        location = / { default_type "text/plain; charset=utf-8"; '
                     'return 200 "Hello, World!"; }\n'
                     '        location = /json { default_type application/json; '
                     "return 200 '{\"message\":\"Hello, World!\"}'; }")
        return Launch(port, [_nginx(tmp, port, locations)])
    return Server(("nginx",), launch)
