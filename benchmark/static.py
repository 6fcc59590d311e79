"""Static files: tandem's frontend against nginx, side by side (``make bench-static``).

Both serve the same folder: a 13-byte file, a 64 KiB file and a 1 MiB file.
nginx (Debian's) runs one worker with sendfile, tcp_nopush and open_file_cache on
and no access log, from a configuration in a temporary folder (``-p``/``-c``; the
system's is never read); tandem-frontend runs with one ``--static`` mount and
its defaults (small files kept in memory, large ones sent with sendfile).

For each round, each file, each server in turn (interleaved, the order rotated
per round): a 1 s wrk warm-up, then ``wrk -t1 -c64`` for ``--duration`` seconds,
with utime + stime of the server's processes (nginx's master and worker;
tandem's frontend and its thread pool) read from /proc around it.  Prints the
median requests per second with its range, the best CPU microseconds per
request, and tandem's ratios against the targets of issue 9 (on the 13-byte
file at least nginx's req/s and no more CPU; at least 0.9x nginx's req/s on
the larger ones).

    /usr/bin/python3 benchmark/static.py [--rounds 5] [--duration 4]
"""
from __future__ import annotations

import argparse
import getpass
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness.procs import cpu_seconds, descendants, free_port, wait_http  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
FRONTEND = ROOT / "build" / "tandem-frontend"
FILES = (("13 B", "hello.txt", 13), ("64 KiB", "f64k.bin", 64 * 1024), ("1 MiB", "f1m.bin", 1024 * 1024))
TARGET_RPS = {"hello.txt": 1.0, "f64k.bin": 0.9, "f1m.bin": 0.9}

NGINX_CONF = """\
{user}
worker_processes 1;
daemon off;
error_log {tmp}/error.log warn;
pid {tmp}/nginx.pid;
events {{ worker_connections 1024; }}
http {{
  access_log off;
  sendfile on;
  tcp_nopush on;
  open_file_cache max=1000 inactive=60s;
  open_file_cache_valid 1s;
  keepalive_requests 1000000;
  types {{ text/plain txt; application/octet-stream bin; }}
  client_body_temp_path {tmp}/cb; proxy_temp_path {tmp}/px; fastcgi_temp_path {tmp}/fc;
  uwsgi_temp_path {tmp}/uw; scgi_temp_path {tmp}/sc;
  server {{ listen 127.0.0.1:{port}; location /static/ {{ alias {files}/; }} }}
}}
"""


def make_files(folder: Path) -> None:
    folder.mkdir()
    for _, name, size in FILES:
        data = b"Hello, World!" if size == 13 else os.urandom(size)
        (folder / name).write_bytes(data)


def wrk(url: str, seconds: float, pids: set[int]) -> tuple[float, float]:
    """(requests per second, CPU microseconds per request of pids) over one wrk run."""
    subprocess.run(["wrk", "-t1", "-c64", "-d1", url], capture_output=True, timeout=60)
    before = cpu_seconds(pids)
    out = subprocess.run(["wrk", "-t1", "-c64", f"-d{seconds:g}", url], capture_output=True, text=True,
                         timeout=seconds + 30).stdout
    used = cpu_seconds(pids) - before
    n = int(re.search(r"(\d+) requests in", out).group(1))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)|Socket errors", out)
    if errors:
        raise RuntimeError(f"{url}: wrk reported errors:\n{out}")
    return float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)), used / n * 1e6


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--duration", type=float, default=4.0)
    args = ap.parse_args()
    for tool in ("wrk", "nginx"):
        if shutil.which(tool) is None:
            print(f"static.py: {tool} is not installed (make bench-static installs it)", file=sys.stderr)
            return 2
    tmp = Path(tempfile.mkdtemp(prefix="tandem-static-bench-"))
    procs: list[subprocess.Popen] = []
    try:
        files = tmp / "files"
        make_files(files)
        nport, tport = free_port(), free_port()
        (tmp / "nginx").mkdir()
        # As root, nginx's worker keeps the invoking user, who can read the temporary folder.
        user = f"user {getpass.getuser()};" if os.geteuid() == 0 else ""
        (tmp / "nginx" / "nginx.conf").write_text(NGINX_CONF.format(user=user, tmp=tmp / "nginx", port=nport,
                                                                     files=files))
        nginx = subprocess.Popen(["nginx", "-p", str(tmp / "nginx"), "-c", str(tmp / "nginx" / "nginx.conf")],
                                 stderr=subprocess.DEVNULL, start_new_session=True)
        procs.append(nginx)
        tandem = subprocess.Popen([str(FRONTEND), "--listen", f"127.0.0.1:{tport}", "--backend-socket",
                                   str(tmp / "b.sock"), "--static", f"/static={files}", "--log-level", "warn"],
                                  start_new_session=True)
        procs.append(tandem)
        servers = {"nginx": (nport, nginx.pid), "tandem": (tport, tandem.pid)}
        for port, _ in servers.values():
            wait_http(port, "/static/hello.txt")
        results: dict[tuple[str, str], list[tuple[float, float]]] = {}
        for rnd in range(args.rounds):
            for _, name, _ in FILES:
                order = list(servers) if rnd % 2 == 0 else list(reversed(servers))
                for server in order:
                    port, pid = servers[server]
                    rps, cpu = wrk(f"http://127.0.0.1:{port}/static/{name}", args.duration, descendants([pid]))
                    results.setdefault((server, name), []).append((rps, cpu))
                    print(f"round {rnd + 1} {name:10} {server:7} {rps:10,.0f} req/s {cpu:7.1f} us/req", flush=True)
        print()
        print("| file | nginx req/s | nginx CPU µs/req | tandem req/s | tandem CPU µs/req | req/s ratio | CPU ratio |")
        print("|---|---:|---:|---:|---:|---:|---:|")
        for label, name, _ in FILES:
            n, t = results[("nginx", name)], results[("tandem", name)]
            nr, tr = statistics.median(r for r, _ in n), statistics.median(r for r, _ in t)
            nc, tc = min(c for _, c in n), min(c for _, c in t)
            missed = []
            if tr / nr < TARGET_RPS[name]:
                missed.append(f"req/s < {TARGET_RPS[name]}x")
            if name == "hello.txt" and tc > nc:
                missed.append("CPU > 1x")
            print(f"| {label} | {nr:,.0f} ({min(r for r, _ in n):,.0f} - {max(r for r, _ in n):,.0f}) | {nc:.1f} "
                  f"| {tr:,.0f} ({min(r for r, _ in t):,.0f} - {max(r for r, _ in t):,.0f}) | {tc:.1f} "
                  f"| {tr / nr:.2f}x | {tc / nc:.2f}x{' (missed: ' + ', '.join(missed) + ')' if missed else ''} |")
        return 0
    finally:
        for p in procs:
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    p.kill()
        time.sleep(0.2)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
