"""Instructions the frontend spends per request, counted by callgrind.

Unlike requests per second, this number does not depend on what else the
machine is doing, so it shows the effect of a change to the C code reliably:

    make build && /usr/bin/python3 benchmark/callgrind.py [--requests 2000]
    /usr/bin/python3 benchmark/callgrind.py --frontend /tmp/old/tandem-frontend   # another build

It runs the frontend under valgrind with one backend (benchmark/apps.py),
warms up, zeroes the counters, sends N keep-alive requests one at a time
from one client, dumps the counters and divides.  User-space instructions
only (the frontend, libuv, libc, msgpack-c; not the kernel).
"""
from __future__ import annotations

import argparse
import glob
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmark"))
from run import free_port, wait_http  # noqa: E402  (the same helpers as make bench)
FRONTEND = ROOT / "build" / "tandem-frontend"


def requests(port: int, path: str, n: int) -> None:
    """n sequential GETs on one connection; each response read whole."""
    req = f"GET {path} HTTP/1.1\r\nHost: bench\r\n\r\n".encode()
    buf = b""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
        for _ in range(n):
            s.sendall(req)
            while True:
                end = buf.find(b"\r\n\r\n")
                if end >= 0:
                    m = re.search(rb"(?i)\r\ncontent-length: (\d+)", buf[:end + 2])
                    size = end + 4 + int(m.group(1))
                    if len(buf) >= size:
                        buf = buf[size:]
                        break
                data = s.recv(65536)
                if not data:
                    raise RuntimeError("connection closed")
                buf += data


def measure(frontend: Path, path: str, n: int, tmp: Path) -> int:
    port = free_port()
    sock = tmp / "backend.sock"
    out = tmp / "cg.out"
    for f in glob.glob(f"{out}*"):
        os.unlink(f)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT / "backend"), str(ROOT / "benchmark")]))
    fe = subprocess.Popen(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", str(frontend),
                           "--listen", f"127.0.0.1:{port}", "--backend-socket", str(sock),
                           "--static", f"/static={tmp}", "--log-level", "error"],
                          stderr=subprocess.DEVNULL)
    be = None
    try:
        while not sock.exists():
            if fe.poll() is not None:
                raise RuntimeError("valgrind exited")
            time.sleep(0.1)
        be = subprocess.Popen([sys.executable, "-m", "tandem", "apps:app", "--connect", str(sock),
                               "--log-level", "warning"], env=env, cwd=ROOT / "benchmark")
        wait_http(port, path, timeout=60)   # valgrind starts slowly
        requests(port, path, 200)                       # warm up
        subprocess.run(["callgrind_control", "--zero", str(fe.pid)], check=True, capture_output=True)
        requests(port, path, n)
        subprocess.run(["callgrind_control", "--dump", str(fe.pid)], check=True, capture_output=True)
        dumps = sorted(glob.glob(f"{out}.*"))
        text = subprocess.run(["callgrind_annotate", dumps[-1]], capture_output=True, text=True).stdout
        total = int(re.search(r"([\d,]+)\s+\(100.0%\)\s+PROGRAM TOTALS", text).group(1).replace(",", ""))
        return total // n
    finally:
        for p in (be, fe):
            if p is not None and p.poll() is None:
                p.terminate()
                try:
                    p.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    p.kill()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--requests", type=int, default=2000)
    ap.add_argument("--frontend", type=Path, default=FRONTEND, help="the frontend binary to measure")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="tandem-cg-") as name:
        tmp = Path(name)
        (tmp / "hello.txt").write_bytes(b"Hello, World!")
        for path in ("/", "/json", "/static/hello.txt"):
            print(f"{path:20} {measure(args.frontend, path, args.requests, tmp):8,} instructions/request", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
