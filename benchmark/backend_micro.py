"""Backend CPU per request, measured in-process, without sockets or load generator.

Feeds encoded REQUEST frames, as the frontend would send them for wrk's
requests, straight into the ``Channel``'s read buffer with a fake transport, and
times those calls.  This is the whole per-request work of the Python backend
(frame decoding, stream set-up, routing, the handler, the response conversion,
RESPONSE encoding, the batched write) minus the syscalls, so it does not depend on
what else the 2 cores of the machine are doing the way a wrk run does.

    /usr/bin/python3 benchmark/backend_micro.py                 # every scenario
    /usr/bin/python3 benchmark/backend_micro.py --scenario plain --batch 1
    /usr/bin/python3 benchmark/backend_micro.py --backend /tmp/old/backend   # another checkout
    /usr/bin/python3 benchmark/backend_micro.py --profile plain # cProfile of one scenario
    /usr/bin/python3 benchmark/backend_micro.py --instructions  # callgrind counts (slow: ~10 s a scenario)
    /usr/bin/python3 benchmark/backend_micro.py --under-load 5  # the real processes under wrk
    /usr/bin/python3 benchmark/backend_micro.py --interface asgi   # a raw ASGI app, hosted
    /usr/bin/python3 benchmark/backend_micro.py --interface wsgi   # a raw WSGI callable, hosted
    /usr/bin/python3 benchmark/backend_micro.py --interface wsgi --threads 0   # ... run inline

For each scenario it prints the CPU microseconds per request (``process_time``,
minimum and median over ``--repeat`` runs of ``--requests`` requests each) and a
digest of every byte the backend wrote: an optimisation must leave the digest
unchanged, since the output must stay byte-identical.

CPU time still moves by a few percent with what else runs on the machine
(caches, frequency).  ``--instructions`` counts instructions instead, which do
not: it runs the same feeding loop under ``valgrind --tool=callgrind`` twice,
with 1600 and 4800 requests after the same warm-up and the same prepared
frames, and divides the difference in instructions by the difference in
requests, so start-up and preparation cancel out.  ``PYTHONHASHSEED=0`` makes
the runs repeat to within a few instructions per request.

``--interface asgi`` and ``--interface wsgi`` measure the same four requests
answered by the raw ASGI application and the raw WSGI callable of apps.py (no
framework, the same bytes out), loaded as ``python3 -m tandem`` loads them.  Their calls run as the server runs them:
when a call does not finish inside the read (a Task, a worker
thread), the loop runs until every stream of the batch is answered, and that
time is counted too, worker threads' CPU included.

``--under-load SECONDS`` checks the in-process number against the real thing:
it starts build/tandem-frontend and one backend (benchmark/apps.py, from
``--backend``), runs wrk on ``/`` and ``/json`` (1 thread, 64 connections,
loopback), and divides the CPU time each process used (utime + stime from
/proc) by the requests served.  With ``--uvicorn`` it does the same for
uvicorn running the raw ASGI app of apps.py, 1 worker.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import hashlib
import importlib
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def _setup_path(backend: Path) -> None:
    sys.path.insert(0, str(backend))
    sys.path.insert(0, str(ROOT / "benchmark"))


class FakeTransport:
    """Just enough of a transport for the channel: collects what is written."""

    def __init__(self, keep: bool) -> None:
        self.keep = keep
        self.chunks: list[bytes] = []
        self.writes = 0
        self.written = 0

    def write(self, data: Any) -> None:
        self.writes += 1
        self.written += len(data)
        if self.keep:
            self.chunks.append(bytes(data))

    def writelines(self, frames: list[Any]) -> None:
        self.writes += 1
        for data in frames:
            self.written += len(data)
            if self.keep:
                self.chunks.append(bytes(data))

    def is_closing(self) -> bool:
        return False

    def close(self) -> None:
        pass

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return default


def build_app(interface: str = "native", threads: Any = None) -> Any:
    """The benchmark app (benchmark/apps.py, whose routes serve every scenario here) in the form asked
    for: ``app``, or ``asgi`` or ``wsgi`` wrapped as ``python3 -m tandem`` wraps them."""
    apps = importlib.import_module("apps")
    if interface == "native":
        return apps.app
    from tandem.importer import load_app
    return load_app(getattr(apps, interface), interface, name=f"apps:{interface}",
                    threads=threads if interface == "wsgi" else None)


# name -> (method, target, path, query, extra headers, body, expected response body)
SCENARIOS: dict[str, tuple[str, bytes, bytes, bytes, list[tuple[bytes, bytes]], bytes, bytes]] = {
    "plain": ("GET", b"/", b"/", b"", [], b"", b"Hello, World!"),
    "json": ("GET", b"/json", b"/json", b"", [], b"", b'{"message":"Hello, World!"}'),
    "params": ("GET", b"/users/42?q=x", b"/users/42", b"q=x", [(b"user-agent", b"micro/1.0")], b"",
               b'{"id":42,"q":"x","agent":"micro/1.0"}'),
    "post": ("POST", b"/echo", b"/echo", b"", [(b"content-type", b"application/octet-stream"),
                                                (b"content-length", b"5")], b"hello", b"hello"),
}


def encode_requests(protocol: Any, scenario: str, first_id: int, count: int, batch: int) -> list[bytes]:
    """``count`` REQUEST frames as the frontend sends wrk's requests, ``batch`` per read."""
    method, target, path, query, extra, body, _ = SCENARIOS[scenario]
    headers = [(b"host", b"127.0.0.1:8080")] + extra
    # Each with a request id, 32 hex digits as the frontend's (a REQUEST without
    # one makes the backend draw one from os.urandom), unless the checkout
    # measured is from before request ids.
    ids = "request_id" in protocol.Request._fields
    chunks = []
    for start in range(first_id, first_id + count, batch):
        chunks.append(b"".join(
            protocol.encode(protocol.Request(sid, protocol.END, method, target, path, query, "1.1", headers,
                                             ("127.0.0.1", 50000), ("127.0.0.1", 8080), "http", body,
                                             *([f"{sid:032x}"] if ids else [])))
            for sid in range(start, min(start + batch, first_id + count))))
    return chunks


def new_channel(loop: Any, app: Any, keep: bool) -> tuple[Any, FakeTransport]:
    from tandem import protocol
    from tandem.channel import Channel, HelloConfig

    channel = Channel(app, HelloConfig("apps:app", 1, pid=1), loop)
    transport = FakeTransport(keep)
    channel.connection_made(transport)  # type: ignore[arg-type]
    channel.data_received(protocol.encode(protocol.Hello(0, 1, "frontend", "tandem-frontend", 1, 0,
                                                         protocol.DEFAULT_MAX_FRAME, 0, protocol.DEFAULT_WINDOW)))
    assert channel.peer_hello is not None
    transport.chunks.clear()
    transport.writes = transport.written = 0
    return channel, transport


def check(loop: Any, app: Any, scenario: str, batch: int, interface: str = "native") -> str:
    """Run a fixed set of requests, check every response, digest the output bytes."""
    from tandem import protocol

    channel, transport = new_channel(loop, app, keep=True)
    count = 64
    feed(channel, encode_requests(protocol, scenario, 1, count, batch))
    decoder = protocol.Decoder(protocol.MAX_MAX_FRAME)
    decoder.feed(b"".join(transport.chunks))
    frames = list(decoder)
    expected = SCENARIOS[scenario][-1]
    assert len(frames) == count, f"{scenario}: {len(frames)} frames for {count} requests"
    for sid, frame in enumerate(frames, 1):
        assert isinstance(frame, protocol.Response) and frame.stream_id == sid and frame.status == 200, frame
        assert frame.flags == protocol.END and frame.body == expected, frame
    assert not channel.streams
    assert interface != "native" or channel.tasks_created == 0, "the native path made a Task"
    return hashlib.sha256(b"".join(transport.chunks)).hexdigest()[:16]


def prepare(loop: Any, app: Any, scenario: str, requests: int, batch: int) -> tuple[Any, FakeTransport, list[bytes]]:
    from tandem import protocol

    channel, transport = new_channel(loop, app, keep=False)
    return channel, transport, encode_requests(protocol, scenario, 1, requests, batch)


async def _drain(channel: Any) -> None:
    """Until every stream of the batch has been answered (Tasks, worker threads)."""
    while channel.streams:
        tasks = [s.task for s in channel.streams.values() if s.task is not None]
        if tasks:
            await asyncio.wait(tasks)
        else:
            await asyncio.sleep(0)


def _receiver(channel: Any) -> Any:
    """How the server hands the channel a read: into its own buffer (BufferedProtocol), the
    copy standing for the kernel's, or as bytes to data_received (a checkout from before)."""
    if not hasattr(channel, "get_buffer"):
        return channel.data_received
    get_buffer, buffer_updated = channel.get_buffer, channel.buffer_updated

    def receive(chunk: bytes) -> None:
        n = len(chunk)
        with get_buffer(n) as view:
            view[:n] = chunk
            buffer_updated(n)
    return receive


async def _feed(channel: Any, chunks: list[bytes]) -> None:
    receive = _receiver(channel)
    for chunk in chunks:
        receive(chunk)
        if channel.streams:
            await _drain(channel)


def feed(channel: Any, chunks: list[bytes]) -> None:
    """The chunks read by the channel one by one, inside the running loop as the server calls it."""
    channel.loop.run_until_complete(_feed(channel, chunks))


def measure(loop: Any, app: Any, scenario: str, requests: int, batch: int) -> float:
    """CPU seconds per request of ``requests`` requests through the channel."""
    channel, transport, chunks = prepare(loop, app, scenario, requests, batch)
    gc.collect()
    t0 = time.process_time()
    feed(channel, chunks)
    elapsed = time.process_time() - t0
    # One write a batch, unless calls that waited (Tasks, worker threads) wrote later.
    assert not channel.streams and (transport.writes == len(chunks) or channel.tasks_created > 0)
    return elapsed / requests


WARM_UP = 400
COUNTS = (1600, 4800)


def feed_only(loop: Any, app: Any, scenario: str, count: int, batch: int) -> None:
    """The loop --instructions counts: a warm-up, then ``count`` requests."""
    channel, _, chunks = prepare(loop, app, scenario, WARM_UP + COUNTS[-1], batch)
    feed(channel, chunks[:WARM_UP // batch])
    feed(channel, chunks[WARM_UP // batch:(WARM_UP + count) // batch])


def instructions(backend: Path, scenario: str, batch: int, interface: str, threads: Any = None) -> float:
    """Instructions per request of one scenario, from two callgrind runs."""
    collected = []
    env = dict(os.environ, PYTHONHASHSEED="0")
    with tempfile.TemporaryDirectory(prefix="tandem-cg-") as tmp:
        for count in COUNTS:
            run = subprocess.run(
                ["valgrind", "--tool=callgrind", f"--callgrind-out-file={tmp}/callgrind.out",
                 sys.executable, __file__, "--backend", str(backend), "--batch", str(batch),
                 "--interface", interface, *(["--threads", str(threads)] if threads is not None else []),
                 "--feed-only", scenario, str(count)],
                env=env, capture_output=True, text=True, timeout=600)
            found = re.search(r"Collected : (\d+)", run.stderr)
            if run.returncode != 0 or found is None:
                raise RuntimeError(f"callgrind run failed:\n{run.stderr[-2000:]}")
            collected.append(int(found.group(1)))
    return (collected[1] - collected[0]) / (COUNTS[1] - COUNTS[0])


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _cpu_per_request(procs: list[subprocess.Popen], port: int, seconds: int,
                     connections: int) -> list[tuple[str, float, list[float]]]:
    """For / and /json: req/s under wrk and each process's CPU microseconds per request."""
    import run  # benchmark/run.py: wait_http, wrk, stop

    rows = []
    try:
        run.wait_http(port)
        time.sleep(0.5)
        for path in ("/", "/json"):
            before = [_cpu_seconds(p.pid) for p in procs]
            rps = run.wrk(port, path, seconds, connections)
            after = [_cpu_seconds(p.pid) for p in procs]
            served = rps * seconds
            rows.append((path, rps, [(b - a) / served * 1e6 for a, b in zip(before, after)]))
    finally:
        run.stop(procs)
    return rows


def under_load(backend: Path, seconds: int, connections: int, uvicorn: bool) -> None:
    """req/s and CPU microseconds per request of the frontend and the backend (and uvicorn) under wrk."""
    import run  # benchmark/run.py: free_port, FRONTEND

    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(backend), str(ROOT / "benchmark")]))
    print(f"{'server':34} {'path':6} {'req/s':>8}  CPU us per request")
    with tempfile.TemporaryDirectory(prefix="tandem-load-") as tmp:
        port = run.free_port()
        sock = f"{tmp}/backend.sock"
        procs = [subprocess.Popen([str(run.FRONTEND), "--listen", f"127.0.0.1:{port}", "--backend-socket", sock,
                                   "--log-level", "warn"], env=env),
                 subprocess.Popen([sys.executable, "-m", "tandem", "apps:app", "--connect", sock,
                                   "--log-level", "warning"], env=env, cwd=ROOT / "benchmark")]
        for path, rps, (fe, be) in _cpu_per_request(procs, port, seconds, connections):
            print(f"{'tandem, 1 backend':34} {path:6} {rps:8,.0f}  frontend {fe:5.2f} + backend {be:5.2f}"
                  f" = {fe + be:5.2f}", flush=True)
    if uvicorn:
        port = run.free_port()
        procs = [subprocess.Popen([sys.executable, "-m", "uvicorn", "apps:asgi", "--port", str(port), "--loop",
                                   "uvloop", "--http", "httptools", "--log-level", "warning", "--no-access-log",
                                   "--workers", "1"], env=env, cwd=ROOT / "benchmark")]
        for path, rps, (uv,) in _cpu_per_request(procs, port, seconds, connections):
            print(f"{'uvicorn (uvloop, httptools), 1 wkr':34} {path:6} {rps:8,.0f}  {uv:5.2f}", flush=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--backend", type=Path, default=ROOT / "backend",
                    help="directory holding the tandem package to measure (default: this checkout's)")
    ap.add_argument("--scenario", action="append", choices=sorted(SCENARIOS),
                    help="repeatable; default: all")
    ap.add_argument("--requests", type=int, default=50000, help="requests per run (default 50000)")
    ap.add_argument("--repeat", type=int, default=7, help="runs per scenario (default 7)")
    ap.add_argument("--batch", type=int, default=16,
                    help="REQUEST frames per read (default 16; wrk with 64 connections "
                         "typically gives the backend several per read)")
    ap.add_argument("--profile", metavar="SCENARIO", choices=sorted(SCENARIOS),
                    help="print a cProfile of one scenario instead of timing")
    ap.add_argument("--instructions", action="store_true",
                    help="count instructions per request with callgrind instead of timing")
    ap.add_argument("--under-load", type=int, metavar="SECONDS",
                    help="run the real frontend and backend under wrk for SECONDS per path instead")
    ap.add_argument("--connections", type=int, default=64, help="wrk connections for --under-load (default 64)")
    ap.add_argument("--uvicorn", action="store_true",
                    help="with --under-load: also uvicorn running apps:asgi (1 worker), for comparison")
    ap.add_argument("--interface", choices=("native", "asgi", "wsgi"), default="native",
                    help="the app: tandem's own API (default), a raw ASGI app or a raw WSGI callable")
    ap.add_argument("--threads", type=int, help="with --interface wsgi: the adapter's threads (0: inline)")
    ap.add_argument("--feed-only", nargs=2, metavar=("SCENARIO", "COUNT"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if (args.instructions or args.feed_only) and any(n % args.batch for n in (WARM_UP, *COUNTS)):
        ap.error(f"--instructions: --batch must divide {WARM_UP}, {COUNTS[0]} and {COUNTS[1]}")

    _setup_path(args.backend)
    if args.under_load:
        under_load(args.backend.resolve(), args.under_load, args.connections, args.uvicorn)
        return 0
    import asyncio

    try:
        import uvloop
        loop = uvloop.new_event_loop()
    except ImportError:  # pragma: no cover - Debian's python3 has it
        loop = asyncio.new_event_loop()
    app = build_app(args.interface, args.threads)
    import tandem
    where = os.path.dirname(tandem.__file__)

    if args.feed_only:
        feed_only(loop, app, args.feed_only[0], int(args.feed_only[1]), args.batch)
        return 0

    if args.instructions:
        print(f"tandem from {where}; {args.batch} frames per read; instructions per request "
              "(callgrind, user space)")
        for scenario in args.scenario or list(SCENARIOS):
            count = instructions(args.backend, scenario, args.batch, args.interface, args.threads)
            print(f"{scenario:10} {count:10,.0f}", flush=True)
        return 0

    if args.profile:
        import cProfile
        import pstats
        check(loop, app, args.profile, args.batch, args.interface)
        channel, _, chunks = prepare(loop, app, args.profile, args.requests, args.batch)
        prof = cProfile.Profile()
        prof.runcall(feed, channel, chunks)
        pstats.Stats(prof).sort_stats("tottime").print_stats(25)
        return 0

    print(f"tandem from {where}, {args.interface} app; {args.requests} requests x {args.repeat} runs, "
          f"{args.batch} frames per read; CPU time per request")
    print(f"{'scenario':10} {'min us':>8} {'median us':>10} {'req/s/core':>11}  output digest")
    for scenario in args.scenario or list(SCENARIOS):
        digest = check(loop, app, scenario, args.batch, args.interface)
        measure(loop, app, scenario, min(args.requests, 5000), args.batch)  # warm-up
        runs = [measure(loop, app, scenario, args.requests, args.batch) for _ in range(args.repeat)]
        best, median = min(runs) * 1e6, statistics.median(runs) * 1e6
        print(f"{scenario:10} {best:8.2f} {median:10.2f} {1e6 / best:11,.0f}  {digest}", flush=True)
    loop.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
