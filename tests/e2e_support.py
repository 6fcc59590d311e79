"""Helpers for the end-to-end tests: processes, ports and raw HTTP.

Everything here speaks real bytes to the real binaries: no HTTP library beyond
the standard ``http.client``.  Every wait is bounded in time, and every process
started here is stopped by its owner (see ``stop``), even when a test fails.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import sys
import random
import signal
import socket
import subprocess
import threading
import time
from dataclasses import dataclass, field
from typing import IO, Callable, Optional

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# TANDEM_TEST_FRONTEND runs the suite against another build (a sanitizer build, say).
FRONTEND = os.path.abspath(os.environ.get("TANDEM_TEST_FRONTEND") or os.path.join(REPO, "build", "tandem-frontend"))
# The interpreter running the tests is the one the Makefile chose: it has uvloop and msgpack.
PYTHON = sys.executable
BACKEND_PATH = os.path.join(REPO, "backend")
APPS_DIR = os.path.join(REPO, "tests", "apps")
APP = "e2e_app:app"

START_TIMEOUT = 10.0   # seconds a process gets to become ready
STOP_TIMEOUT = 5.0     # seconds a process gets to exit after SIGTERM before SIGKILL
IO_TIMEOUT = 10.0      # seconds any single socket operation may block


# --- ports and processes -------------------------------------------------------


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (callers retry on EADDRINUSE)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(check: Callable[[], bool], timeout: float, what: str, interval: float = 0.02) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if check():
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def stop(proc: Optional[subprocess.Popen], sig: int = signal.SIGTERM) -> Optional[int]:
    """Stop proc (signal, bounded wait, then SIGKILL) and return its exit status."""
    if proc is None:
        return None
    if proc.poll() is None:
        try:
            proc.send_signal(sig)
        except ProcessLookupError:
            pass
        try:
            proc.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(STOP_TIMEOUT)
    return proc.returncode


def pid_gone(pid: int) -> bool:
    """True once pid has exited.  A zombie counts: a detached process's parent is not the test."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rpartition(")")[2].split()[0] == "Z"
    except (FileNotFoundError, ProcessLookupError):
        # ProcessLookupError: it was reaped between the open and the read.
        return True


def status_kib(pid: int, key: str = "VmRSS") -> int:
    """A memory figure of /proc/PID/status in KiB: VmRSS (resident now), VmHWM (its peak) ...;
    0 if the process has none (a zombie has no memory)."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def stop_pid(pid: int, sig: int = signal.SIGTERM) -> None:
    """Stop a process the test did not start itself (bounded wait, then SIGKILL)."""
    if pid_gone(pid):
        return
    try:
        os.kill(pid, sig)
        wait_until(lambda: pid_gone(pid), STOP_TIMEOUT, f"pid {pid} to exit")
    except TimeoutError:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def tail(path: str, limit: int = 4000) -> str:
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError:
        return ""
    return data[-limit:].decode("utf-8", "replace")


@dataclass
class Proc:
    """A started process with its log file (stdout and stderr together)."""

    name: str
    popen: subprocess.Popen
    log_path: str
    log_file: IO[bytes]

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def log(self, limit: int = 4000) -> str:
        return tail(self.log_path, limit)

    def stop(self, sig: int = signal.SIGTERM) -> Optional[int]:
        try:
            return stop(self.popen, sig)
        finally:
            self.log_file.close()


def spawn(name: str, argv: list[str], log_dir: str, env: Optional[dict[str, str]] = None,
          cwd: str = REPO, **kwargs) -> Proc:
    log_path = os.path.join(log_dir, f"{name}-{time.monotonic_ns()}.log")
    log_file = open(log_path, "wb")
    full_env = dict(os.environ)
    # The tests set these explicitly where they matter; inherited values must not leak in.
    for key in list(full_env):
        if key.startswith("TANDEM_"):
            del full_env[key]
    full_env["PYTHONPATH"] = BACKEND_PATH
    full_env["PYTHONUNBUFFERED"] = "1"
    if env:
        full_env.update(env)
    popen = subprocess.Popen(argv, stdout=log_file, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                             env=full_env, cwd=cwd, **kwargs)
    return Proc(name, popen, log_path, log_file)


def tcp_accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def frontend_argv(port: int, sock: str, static_dir: Optional[str], *extra: str) -> list[str]:
    argv = [FRONTEND, "--listen", f"127.0.0.1:{port}", "--backend-socket", sock]
    if static_dir is not None:
        argv += ["--static", f"/static={static_dir}"]
    return argv + list(extra)


def backend_argv(sock: str, *extra: str, app: str = APP, app_dir: str = APPS_DIR) -> list[str]:
    return [PYTHON, "-m", "tandem", app, "--app-dir", app_dir, "--connect", sock, *extra]


# The frontend's log line for a backend that completed its HELLO.
ATTACHED = re.compile(r"backend \S+ pid (\d+) generation (\d+) attached")


@dataclass
class Stack:
    """One frontend and its backends, all stopped by ``close()``."""

    tmpdir: str
    static_dir: Optional[str]
    port: int = 0
    sock: str = ""
    frontend: Optional[Proc] = None
    backends: list[Proc] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.sock = os.path.join(self.tmpdir, "backend.sock")
        self.mark_dir = os.path.join(self.tmpdir, "marks")
        os.makedirs(self.mark_dir, exist_ok=True)

    def in_flight(self, tag: str) -> int:
        """How many /slow?tag=TAG handlers are running now, over all backends."""
        return sum(1 for name in os.listdir(self.mark_dir) if name.startswith(tag + "."))

    def start_frontend(self, *extra: str, attempts: int = 5) -> Proc:
        """Start the frontend on a free port (retrying if the port was taken meanwhile)."""
        for _ in range(attempts):
            self.port = free_port()
            proc = spawn("frontend", frontend_argv(self.port, self.sock, self.static_dir, *extra), self.tmpdir)
            deadline = time.monotonic() + START_TIMEOUT
            while time.monotonic() < deadline and proc.alive() and not tcp_accepts(self.port):
                time.sleep(0.02)
            if proc.alive() and tcp_accepts(self.port):
                self.frontend = proc
                return proc
            log = proc.log()
            proc.stop()
            if "address already in use" not in log.lower() and "eaddrinuse" not in log.lower():
                raise RuntimeError(f"the frontend did not start:\n{log}")
        raise RuntimeError("no free port for the frontend after several attempts")

    def start_backend(self, *extra: str, wait: bool = True, app: str = APP, app_dir: str = APPS_DIR,
                      env: Optional[dict[str, str]] = None) -> Proc:
        """A backend serving ``app`` (imported from ``app_dir``); ``env`` adds variables."""
        proc = spawn("backend", backend_argv(self.sock, *extra, app=app, app_dir=app_dir), self.tmpdir,
                     env={"E2E_MARK_DIR": self.mark_dir, **(env or {})})
        self.backends.append(proc)
        if wait:
            self.wait_backend_ready(proc)
        return proc

    def wait_backend_ready(self, proc: Optional[Proc] = None) -> None:
        """Poll GET / until it is answered with something other than 503."""
        deadline = time.monotonic() + START_TIMEOUT
        last = None
        while time.monotonic() < deadline:
            if proc is not None and not proc.alive():
                raise RuntimeError(f"the backend exited with {proc.popen.returncode}:\n{proc.log()}")
            try:
                last = request(self.port, "GET", "/")
                if last.status != 503:
                    return
            except OSError as exc:
                last = exc
            time.sleep(0.05)
        detail = proc.log() if proc is not None else ""
        raise TimeoutError(f"no backend answered within {START_TIMEOUT}s (last: {last!r})\n{detail}")

    def wait_attached(self, proc: Proc) -> None:
        """Wait until the frontend logs that this backend process attached."""
        assert self.frontend is not None
        wait_until(lambda: f"pid {proc.pid} " in self.frontend.log(100000) or not proc.alive(),
                   START_TIMEOUT, f"backend {proc.pid} to attach")
        if not proc.alive():
            raise RuntimeError(f"the backend exited with {proc.popen.returncode}:\n{proc.log()}")

    def attached(self) -> list[tuple[int, int]]:
        """(pid, generation) of every backend the frontend has logged as attached, in order."""
        assert self.frontend is not None
        return [(int(pid), int(gen)) for pid, gen in ATTACHED.findall(self.frontend.log(1_000_000))]

    def close(self) -> None:
        for proc in self.backends:
            proc.stop()
        if self.frontend is not None:
            self.frontend.stop()


    def logs(self) -> str:
        parts = []
        if self.frontend is not None:
            parts.append("--- frontend ---\n" + self.frontend.log())
        for proc in self.backends:
            parts.append(f"--- backend {proc.pid} ---\n" + proc.log())
        return "\n".join(parts)


BLOB_SIZE = 1024 * 1024 + 123  # static/blob.bin, written by the `site` fixture


def blob_bytes() -> bytes:
    return random.Random("blob").randbytes(BLOB_SIZE)


def big_body(size: int) -> bytes:
    """The bytes the app's /big and /stream routes send (same formula as apps/e2e_app.py)."""
    return random.Random(size).randbytes(size)


# --- HTTP ----------------------------------------------------------------------


@dataclass
class Response:
    status: int
    reason: str
    version: str
    headers: list[tuple[str, str]]
    body: bytes
    chunked: bool = False

    def header(self, name: str) -> Optional[str]:
        name = name.lower()
        for k, v in self.headers:
            if k.lower() == name:
                return v
        return None


def request(port: int, method: str, path: str, body: Optional[bytes] = None,
            headers: Optional[dict[str, str]] = None, timeout: float = IO_TIMEOUT) -> Response:
    """One request on a fresh http.client connection."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        return from_http_client(conn.getresponse())
    finally:
        conn.close()


def from_http_client(resp: http.client.HTTPResponse) -> Response:
    body = resp.read()
    version = "HTTP/1.1" if resp.version == 11 else "HTTP/1.0"
    return Response(resp.status, resp.reason, version, list(resp.getheaders()), body, chunked=bool(resp.chunked))


def connect(port: int, timeout: float = IO_TIMEOUT) -> socket.socket:
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def recv_all(s: socket.socket, limit: int = 64 * 1024 * 1024) -> bytes:
    """Everything until the peer closes (bounded by the socket timeout and limit)."""
    parts = []
    total = 0
    while total < limit:
        try:
            chunk = s.recv(65536)
        except ConnectionResetError:
            break
        if not chunk:
            break
        parts.append(chunk)
        total += len(chunk)
    return b"".join(parts)


def raw_exchange(port: int, data: bytes, timeout: float = IO_TIMEOUT) -> bytes:
    """Send data on a fresh connection and read until the server closes it."""
    with connect(port, timeout) as s:
        s.sendall(data)
        return recv_all(s)


class ResponseReader:
    """Parses HTTP/1.x responses from a socket, one at a time, as they arrive."""

    def __init__(self, s: socket.socket) -> None:
        self.sock = s
        self.buf = b""
        self.eof = False

    def _fill(self) -> bool:
        if self.eof:
            return False
        try:
            chunk = self.sock.recv(262144)
        except ConnectionResetError:
            chunk = b""
        if not chunk:
            self.eof = True
            return False
        self.buf += chunk
        return True

    def _line(self) -> bytes:
        while b"\r\n" not in self.buf:
            if not self._fill():
                raise EOFError(f"connection closed inside a line: {self.buf[:200]!r}")
        line, _, self.buf = self.buf.partition(b"\r\n")
        return line

    def _exact(self, n: int) -> bytes:
        while len(self.buf) < n:
            if not self._fill():
                raise EOFError(f"connection closed {n - len(self.buf)} bytes short of a body")
        data, self.buf = self.buf[:n], self.buf[n:]
        return data

    def at_eof(self) -> bool:
        """True if the server closed the connection with nothing more buffered."""
        if self.buf:
            return False
        return not self._fill() and not self.buf

    def read(self, method: str = "GET") -> Response:
        status_line = self._line()
        version, _, rest = status_line.decode("latin-1").partition(" ")
        code, _, reason = rest.partition(" ")
        headers = []
        while True:
            line = self._line()
            if not line:
                break
            name, _, value = line.decode("latin-1").partition(":")
            headers.append((name, value.strip()))
        resp = Response(int(code), reason, version, headers, b"")
        status = resp.status
        te = resp.header("transfer-encoding")
        cl = resp.header("content-length")
        if method == "HEAD" or status in (204, 304) or 100 <= status < 200:
            return resp
        if te is not None and "chunked" in te.lower():
            resp.chunked = True
            parts = []
            while True:
                size = int(self._line().split(b";")[0], 16)
                if size == 0:
                    while self._line():
                        pass
                    break
                parts.append(self._exact(size))
                if self._exact(2) != b"\r\n":
                    raise ValueError("chunk not followed by CRLF")
            resp.body = b"".join(parts)
        elif cl is not None:
            resp.body = self._exact(int(cl))
        else:
            while self._fill():
                pass
            resp.body, self.buf = self.buf, b""
        return resp


def build_request(method: str, target: str, headers: Optional[list[tuple[str, str]]] = None,
                  body: bytes = b"", version: str = "HTTP/1.1", host: Optional[str] = "e2e.test") -> bytes:
    lines = [f"{method} {target} {version}"]
    if host is not None:
        lines.append(f"Host: {host}")
    for k, v in headers or []:
        lines.append(f"{k}: {v}")
    if body and not any(k.lower() in ("content-length", "transfer-encoding") for k, _ in headers or []):
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def is_closed(s: socket.socket, timeout: float = IO_TIMEOUT) -> bool:
    """True if the peer closes the connection (EOF or reset) within timeout, with no more bytes."""
    s.settimeout(timeout)
    try:
        data = s.recv(1)
    except ConnectionResetError:
        return True
    except socket.timeout:
        return False
    return data == b""


class _BytesSource:
    """A socket stand-in over bytes already received (for ResponseReader)."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    def recv(self, n: int) -> bytes:
        chunk, self.data = self.data[:n], self.data[n:]
        return chunk


def parse_responses(data: bytes, methods: Optional[list[str]] = None) -> list[Response]:
    """Every response in data (a whole connection's worth), in order."""
    reader = ResponseReader(_BytesSource(data))  # type: ignore[arg-type]
    out = []
    i = 0
    while not reader.at_eof():
        out.append(reader.read(methods[i] if methods and i < len(methods) else "GET"))
        i += 1
    return out


# --- load ----------------------------------------------------------------------


class Hammer:
    """Keep-alive clients asking ``path`` (/pid) in a loop until stopped.

    The load is bounded in count (``max_requests`` per client) and in time
    (``max_seconds``).  ``results[i]`` is client i's list of (status, pid).  Any
    exception is an error, unless ``frontend_stops``: then a refused connection
    ends that client, and a request whose kept-alive connection closed before
    any byte of an answer (the frontend closing an idle connection as it stops:
    the request was never accepted) counts in ``unanswered``.
    """

    def __init__(self, port: int, clients: int = 8, path: str = "/pid", frontend_stops: bool = False,
                 max_requests: int = 20000, max_seconds: float = 20.0) -> None:
        self.port = port
        self.path = path
        self.frontend_stops = frontend_stops
        self.max_requests = max_requests
        self.max_seconds = max_seconds
        self.stop = threading.Event()
        self.results: list[list[tuple[int, int]]] = [[] for _ in range(clients)]
        self.errors: list[str] = []
        self.refused = 0
        self.unanswered = 0
        self.threads = [threading.Thread(target=self.run, args=(i,)) for i in range(clients)]

    def run(self, i: int) -> None:
        conn: Optional[http.client.HTTPConnection] = None
        deadline = time.monotonic() + self.max_seconds
        try:
            for _ in range(self.max_requests):
                if self.stop.is_set() or time.monotonic() > deadline:
                    break
                if conn is None:
                    conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
                    try:
                        conn.connect()
                    except ConnectionRefusedError:
                        if not self.frontend_stops:
                            raise
                        self.refused += 1
                        return
                try:
                    conn.request("GET", self.path)
                    resp = conn.getresponse()
                except (ConnectionResetError, BrokenPipeError):
                    if not self.frontend_stops:
                        raise
                    self.unanswered += 1
                    conn.close()
                    conn = None
                    continue
                body = resp.read()
                pid = json.loads(body)["pid"] if resp.status == 200 else -1
                self.results[i].append((resp.status, pid))
                if resp.will_close:
                    conn.close()
                    conn = None
        except Exception as exc:      # any failure is what the test is about
            self.errors.append(f"client {i}: {exc!r}")
        finally:
            if conn is not None:
                conn.close()

    def __enter__(self) -> "Hammer":
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(60)

    def count(self) -> int:
        return sum(len(r) for r in self.results)

    def wait_for_more(self, n: int = 200, timeout: float = 20.0) -> None:
        """Wait until n more responses have arrived."""
        before = self.count()
        wait_until(lambda: self.count() >= before + n or self.errors, timeout, f"{n} more responses")

    def wait_all_reach(self, pids: set[int], timeout: float = 20.0) -> None:
        """Wait until every client has been answered by one of pids."""
        wait_until(lambda: all(any(p in pids for _, p in r) for r in self.results) or self.errors, timeout,
                   f"every client to be answered by one of {sorted(pids)}")

    def wait_ended(self, timeout: float = 30.0) -> None:
        """Wait until every client has ended by itself (refused, with ``frontend_stops``)."""
        wait_until(lambda: not any(t.is_alive() for t in self.threads), timeout, "every client to end")

    def statuses(self) -> set[int]:
        return {s for r in self.results for s, _ in r}

    def pids(self) -> set[int]:
        return {p for r in self.results for _, p in r}

    def check_swap(self, old: set[int], new: set[int]) -> None:
        """Each client was answered by old pids, then only by new ones, and last by a new one."""
        for r in self.results:
            pids = [p for _, p in r]
            assert set(pids) <= old | new, set(pids) - old - new
            first_new = next((k for k, p in enumerate(pids) if p in new), None)
            assert first_new is not None, "a client never reached the new processes"
            assert not set(pids[first_new:]) & old, "an old process answered after a new one"


def marks_by_pid(st: "Stack", tag: str) -> dict[int, int]:
    """How many TAG handlers (/delay, /slow) run in each backend process, by pid."""
    counts: dict[int, int] = {}
    for name in os.listdir(st.mark_dir):
        t, pid, _ = name.split(".")
        if t == tag:
            counts[int(pid)] = counts.get(int(pid), 0) + 1
    return counts


def read_statuses(socks: list[socket.socket]) -> list[int]:
    """The status of the one response each socket gets; the sockets are closed."""
    out = []
    for s in socks:
        out.append(ResponseReader(s).read().status)
        s.close()
    return out
