"""Memory per client connection: the frontend's RSS growth for many open connections (``make bench-conn-memory``).

The mix of issue 11: N connections (10,000 by default), half of them idle
keep-alive connections that have had one response (a 13-byte static file),
half in the middle of their request headers (a request line and three header
lines, no blank line).  The server serves a static folder only, so no backend
is involved; its resident memory (VmRSS) is read before the connections open
(after a short warm-up on one connection) and once they are all in place, when
it has stopped moving.  Prints the growth in MB and in KB per connection.

Debian's nginx, if installed, gets the same mix for comparison: one process
(``master_process off``), configured from a temporary folder (the system's
configuration is never read), with its default header buffers.

Both servers, and this script, get their open-file limit raised to the hard
limit (setrlimit); N must fit under it.  Everything runs on 127.0.0.1, every
wait is bounded, and every server started is stopped, even on failure.

    /usr/bin/python3 benchmark/conn_memory.py [--connections 10000] [--no-nginx]
"""
from __future__ import annotations

import argparse
import getpass
import os
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable, Optional

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness.procs import free_port, rss_bytes  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
FRONTEND = ROOT / "build" / "tandem-frontend"
REQUEST = b"GET /static/hello.txt HTTP/1.1\r\nHost: localhost\r\n\r\n"
PARTIAL = (b"GET /static/hello.txt HTTP/1.1\r\nHost: localhost\r\nUser-Agent: conn-memory/1.0\r\n"
           b"Accept: */*\r\n")
BATCH = 500              # connections opened before their requests are sent
IO_TIMEOUT = 10.0        # seconds one socket operation may wait
SETTLE_TIMEOUT = 20.0    # seconds the server's RSS gets to stop moving

NGINX_CONF = """\
{user}
worker_processes 1;
master_process off;
daemon off;
worker_rlimit_nofile {fds};
error_log {tmp}/error.log error;
pid {tmp}/nginx.pid;
events {{ worker_connections {conns}; }}
http {{
  access_log off;
  keepalive_timeout 600s;
  keepalive_requests 1000000;
  client_header_timeout 600s;
  types {{ text/plain txt; }}
  client_body_temp_path {tmp}/cb; proxy_temp_path {tmp}/px; fastcgi_temp_path {tmp}/fc;
  uwsgi_temp_path {tmp}/uw; scgi_temp_path {tmp}/sc;
  server {{ listen 127.0.0.1:{port} backlog=4096; location /static/ {{ alias {files}/; }} }}
}}
"""


def raise_fd_limit() -> int:
    """Raises this process's open-file limit to its hard limit; returns it."""
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


def read_response(s: socket.socket) -> bytes:
    """One response with a content-length (the whole of it)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = s.recv(4096)
        if not chunk:
            raise RuntimeError(f"connection closed before a response: {data[:200]!r}")
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
    while len(body) < length:
        chunk = s.recv(4096)
        if not chunk:
            raise RuntimeError("connection closed in a response's body")
        body += chunk
    if not head.startswith(b"HTTP/1.1 200"):
        raise RuntimeError(f"not a 200: {head[:200]!r}")
    return body


def wait_ready(port: int, alive: Callable[[], bool]) -> None:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and alive():
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                s.sendall(REQUEST)
                read_response(s)
                return
        except (OSError, RuntimeError):
            time.sleep(0.05)
    raise RuntimeError(f"the server on port {port} did not answer")


def settled_rss(pid: int) -> int:
    """The RSS once two reads half a second apart agree (or after SETTLE_TIMEOUT)."""
    deadline = time.monotonic() + SETTLE_TIMEOUT
    last = rss_bytes([pid]) // 1024
    while time.monotonic() < deadline:
        time.sleep(0.5)
        now = rss_bytes([pid]) // 1024
        if now == last:
            break
        last = now
    return last


def open_batch(port: int, n: int) -> list[socket.socket]:
    socks = []
    for _ in range(n):
        s = socket.create_connection(("127.0.0.1", port), timeout=IO_TIMEOUT)
        socks.append(s)
    return socks


def open_mix(port: int, total: int) -> list[socket.socket]:
    """total connections: the first half idle after one response, the rest with partial headers."""
    socks: list[socket.socket] = []
    idle = total // 2
    while len(socks) < total:
        n = min(BATCH, (idle - len(socks)) if len(socks) < idle else total - len(socks))
        batch = open_batch(port, n)
        if len(socks) < idle:
            for s in batch:
                s.sendall(REQUEST)
            for s in batch:
                read_response(s)
        else:
            for s in batch:
                s.sendall(PARTIAL)
        socks += batch
    return socks


def measure(name: str, pid: int, port: int, total: int, alive: Callable[[], bool]) -> tuple[int, int]:
    """(RSS before, RSS after) in KiB for total connections of the mix."""
    wait_ready(port, alive)
    with socket.create_connection(("127.0.0.1", port), timeout=IO_TIMEOUT) as s:
        for _ in range(200):               # warm-up: the server's first allocations
            s.sendall(REQUEST)
            read_response(s)
    before = settled_rss(pid)
    socks: list[socket.socket] = []
    try:
        started = time.monotonic()
        socks = open_mix(port, total)
        if not alive():
            raise RuntimeError(f"{name} exited")
        after = settled_rss(pid)
        print(f"{name}: {total} connections opened in {time.monotonic() - started:.1f} s", flush=True)
        # Still served: a fresh request is answered.
        wait_ready(port, alive)
        return before, after
    finally:
        for s in socks:
            s.close()


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def run_tandem(tmp: Path, files: Path, total: int, fds: int, frontend: Path) -> tuple[int, int]:
    port = free_port()
    argv = [str(frontend), "--listen", f"127.0.0.1:{port}", "--backend-socket", str(tmp / "b.sock"),
            "--static", f"/static={files}", "--max-connections", str(total + 100),
            "--header-timeout", "600", "--keepalive-timeout", "600", "--log-level", "error"]
    proc = subprocess.Popen(argv, preexec_fn=raise_fd_limit, stdin=subprocess.DEVNULL,
                            start_new_session=True)
    try:
        return measure("tandem-frontend", proc.pid, port, total, lambda: proc.poll() is None)
    finally:
        stop(proc)


def run_nginx(tmp: Path, files: Path, total: int, fds: int) -> tuple[int, int]:
    port = free_port()
    conf = tmp / "nginx"
    conf.mkdir()
    user = f"user {getpass.getuser()};" if os.geteuid() == 0 else ""
    (conf / "nginx.conf").write_text(NGINX_CONF.format(user=user, tmp=conf, port=port, files=files,
                                                       conns=total + 100, fds=fds))
    proc = subprocess.Popen(["nginx", "-p", str(conf), "-c", str(conf / "nginx.conf")],
                            preexec_fn=raise_fd_limit, stdin=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        return measure("nginx", proc.pid, port, total, lambda: proc.poll() is None)
    finally:
        stop(proc)


def report(name: str, total: int, before: int, after: int) -> None:
    grown = after - before
    print(f"{name:16} RSS {before / 1024:7.1f} MB -> {after / 1024:7.1f} MB: grew {grown / 1024:6.1f} MB, "
          f"{grown * 1024 / total / 1000:5.2f} KB per connection", flush=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--connections", type=int, default=10000)
    ap.add_argument("--frontend", type=Path, default=FRONTEND)
    ap.add_argument("--no-nginx", action="store_true", help="measure tandem's frontend only")
    args = ap.parse_args()
    fds = raise_fd_limit()
    if args.connections + 200 > fds:
        print(f"conn_memory.py: {args.connections} connections need about {args.connections + 200} open files; "
              f"the hard limit here is {fds}", file=sys.stderr)
        return 2
    if not args.frontend.exists():
        print(f"conn_memory.py: no {args.frontend} (make build)", file=sys.stderr)
        return 2
    tmp = Path(tempfile.mkdtemp(prefix="tandem-conn-memory-"))
    results: list[tuple[str, int, int]] = []
    try:
        files = tmp / "files"
        files.mkdir()
        (files / "hello.txt").write_bytes(b"Hello, World!")
        results.append(("tandem-frontend", *run_tandem(tmp, files, args.connections, fds, args.frontend)))
        nginx: Optional[str] = None if args.no_nginx else shutil.which("nginx")
        if nginx is not None:
            time.sleep(1)     # the first run's sockets leave TIME_WAIT's port range alone
            results.append(("nginx", *run_nginx(tmp, files, args.connections, fds)))
        elif not args.no_nginx:
            print("nginx is not installed: tandem's frontend only", flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"\n{args.connections} connections: {args.connections // 2} idle keep-alive after one response, "
          f"{args.connections - args.connections // 2} with partial headers")
    for name, before, after in results:
        report(name, args.connections, before, after)
    return 0


if __name__ == "__main__":
    sys.exit(main())
