"""The soak (``make soak``): a million keep-alive requests through the frontend and a backend, and their memory.

Starts tandem's frontend and one backend (tests/apps/e2e_app.py) on a free port
and a temporary socket, warms them up with a short wrk run, reads both
processes' resident memory (VmRSS), then runs ``wrk`` (32 keep-alive
connections, one thread) in rounds of --round seconds until at least
--requests requests have been answered, and reads the RSS again.  Every
response must be a 2xx, and each process may grow by less than --max-growth
MB; a server that leaks a few hundred bytes a request grows by hundreds of MB
here.  Bounded: it stops after --time-limit seconds whatever the count, and
stops every process it started.

    /usr/bin/python3 tests/hostile/soak.py [--requests 1000000] [--max-growth 20]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

from e2e_support import Stack, status_kib  # noqa: E402

PATHS = ("/", "/users/7?q=soak")     # a text answer, and a JSON one with a path parameter and a query


def wrk(port: int, path: str, seconds: int) -> int:
    """Requests answered in one wrk run; RuntimeError if any was not a 2xx or a socket failed."""
    out = subprocess.run(["wrk", "-t1", "-c32", f"-d{seconds}s", f"http://127.0.0.1:{port}{path}"],
                         capture_output=True, text=True, timeout=seconds + 60).stdout
    found = re.search(r"(\d+) requests in", out)
    if found is None:
        raise RuntimeError(f"wrk said:\n{out}")
    if re.search(r"Non-2xx or 3xx responses|Socket errors", out):
        raise RuntimeError(f"wrk reported errors:\n{out}")
    return int(found.group(1))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--requests", type=int, default=1_000_000)
    ap.add_argument("--round", type=int, default=10, help="seconds of each wrk run")
    ap.add_argument("--max-growth", type=float, default=20.0, help="MB each process may grow by")
    ap.add_argument("--time-limit", type=float, default=900.0)
    args = ap.parse_args()
    if shutil.which("wrk") is None:
        print("soak.py: wrk is not installed (apt-get install wrk)", file=sys.stderr)
        return 2
    tmp = tempfile.mkdtemp(prefix="tandem-soak-")
    st = Stack(tmp, None)
    try:
        st.start_frontend("--log-level", "warn")
        backend = st.start_backend()
        assert st.frontend is not None
        pids = {"frontend": st.frontend.pid, "backend": backend.pid}
        for path in PATHS:
            wrk(st.port, path, 2)                # warm-up: pools, caches, the interpreter's arenas
        start = {name: status_kib(pid) for name, pid in pids.items()}
        total, rounds = 0, 0
        began = time.monotonic()
        while total < args.requests:
            if time.monotonic() - began > args.time_limit:
                print(f"soak: only {total} requests within --time-limit {args.time_limit:g} s", file=sys.stderr)
                return 1
            total += wrk(st.port, PATHS[rounds % len(PATHS)], args.round)
            rounds += 1
            if not (st.frontend.alive() and backend.alive()):
                print(f"soak: a process died\n{st.logs()}", file=sys.stderr)
                return 1
        seconds = time.monotonic() - began
        end = {name: status_kib(pid) for name, pid in pids.items()}
    finally:
        st.close()
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"soak: {total} keep-alive requests in {seconds:.0f} s ({total / seconds:,.0f}/s), {rounds} wrk runs")
    failed = False
    for name in pids:
        grown = (end[name] - start[name]) / 1024
        print(f"soak: {name:8} RSS {start[name] / 1024:7.1f} MB at the start, {end[name] / 1024:7.1f} MB at the "
              f"end: grew {grown:+.1f} MB (bound {args.max_growth:g} MB)")
        failed |= grown >= args.max_growth
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
