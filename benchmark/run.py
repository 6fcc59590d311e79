"""Measure tandem against the Python servers people would otherwise use.

Starts each server on a free loopback port, loads it with wrk for a fixed
time, prints a Markdown table.  Bounded: every run lasts --duration seconds
and targets 127.0.0.1 only.

    make bench                      # or: /usr/bin/python3 benchmark/run.py --duration 5
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
FRONTEND = ROOT / "build" / "tandem-frontend"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(port: int, path: str = "/", timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                s.sendall(f"GET {path} HTTP/1.1\r\nHost: b\r\nConnection: close\r\n\r\n".encode())
                if s.recv(64).startswith(b"HTTP/1.1 200"):
                    return
        except OSError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"server on port {port} did not answer 200 on {path}")


def wrk(port: int, path: str, duration: int, connections: int) -> float:
    out = subprocess.run(
        ["wrk", "-t2", f"-c{connections}", f"-d{duration}s", f"http://127.0.0.1:{port}{path}"],
        capture_output=True, text=True, check=True, timeout=duration + 30).stdout
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if errors:
        raise RuntimeError(f"{errors.group(1)} failed responses on {path}:\n{out}")
    return float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))


class Servers:
    """Each method starts one server and returns (port, processes)."""

    def __init__(self, tmp: Path, static_dir: Path) -> None:
        self.tmp = tmp
        self.static_dir = static_dir
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "backend"), str(ROOT / "benchmark")])
        self.env = env

    def tandem(self, backends: int) -> tuple[int, list[subprocess.Popen]]:
        port = free_port()
        sock = self.tmp / f"tandem-{port}.sock"
        procs = [subprocess.Popen(
            [str(FRONTEND), "--listen", f"127.0.0.1:{port}", "--backend-socket", str(sock),
             "--static", f"/static={self.static_dir}", "--log-level", "warn"], env=self.env)]
        for _ in range(backends):
            procs.append(subprocess.Popen(
                [PYTHON, "-m", "tandem", "apps:app", "--connect", str(sock), "--log-level", "warning"],
                env=self.env, cwd=ROOT / "benchmark"))
        return port, procs

    def uvicorn(self, workers: int) -> tuple[int, list[subprocess.Popen]]:
        port = free_port()
        return port, [subprocess.Popen(
            [PYTHON, "-m", "uvicorn", "apps:asgi", "--port", str(port), "--loop", "uvloop",
             "--http", "httptools", "--log-level", "warning", "--no-access-log",
             "--workers", str(workers)], env=self.env, cwd=ROOT / "benchmark")]

    def gunicorn(self, workers: int) -> tuple[int, list[subprocess.Popen]]:
        port = free_port()
        return port, [subprocess.Popen(
            [PYTHON, "-m", "gunicorn", "apps:wsgi", "-b", f"127.0.0.1:{port}", "-w", str(workers),
             "--log-level", "warning"], env=self.env, cwd=ROOT / "benchmark")]


def stop(procs: list[subprocess.Popen]) -> None:
    for p in reversed(procs):
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    for p in procs:
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--duration", type=int, default=5, help="seconds per measurement (default 5)")
    ap.add_argument("--connections", type=int, default=64, help="wrk connections (default 64)")
    ap.add_argument("--only-tandem", action="store_true", help="skip uvicorn and gunicorn")
    args = ap.parse_args()

    if shutil.which("wrk") is None:
        print("benchmark: wrk is not installed (apt-get install wrk)", file=sys.stderr)
        return 1
    if not FRONTEND.exists():
        print("benchmark: build the frontend first (make build)", file=sys.stderr)
        return 1
    cores = os.cpu_count() or 1
    rows: list[tuple[str, str, float]] = []
    with tempfile.TemporaryDirectory(prefix="tandem-bench-") as tmp_name:
        tmp = Path(tmp_name)
        static_dir = tmp / "static"
        static_dir.mkdir()
        (static_dir / "hello.txt").write_bytes(b"Hello, World!")
        (static_dir / "64k.bin").write_bytes(os.urandom(65536))
        servers = Servers(tmp, static_dir)
        plan = [("tandem, 1 backend", lambda: servers.tandem(1), ["/", "/json", "/static/hello.txt",
                                                                   "/static/64k.bin"]),
                (f"tandem, {cores} backends", lambda: servers.tandem(cores), ["/", "/json"])]
        if not args.only_tandem:
            plan += [("uvicorn (uvloop, httptools), 1 worker", lambda: servers.uvicorn(1), ["/", "/json"]),
                     (f"uvicorn, {cores} workers", lambda: servers.uvicorn(cores), ["/", "/json"]),
                     (f"gunicorn (sync), {cores} workers", lambda: servers.gunicorn(cores), ["/", "/json"])]
        for name, start, paths in plan:
            port, procs = start()
            try:
                wait_http(port)
                time.sleep(0.5)   # let every worker/backend attach before measuring
                for path in paths:
                    rps = wrk(port, path, args.duration, args.connections)
                    rows.append((name, path, rps))
                    print(f"{name:42} {path:20} {rps:12,.0f} req/s", flush=True)
            finally:
                stop(procs)

    print("\n| server | path | requests/s |\n|---|---|---:|")
    for name, path, rps in rows:
        print(f"| {name} | `{path}` | {rps:,.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
