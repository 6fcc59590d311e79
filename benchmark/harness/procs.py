"""Server processes: started in a session of their own, stopped as a group, measured from /proc.

CPU time is ``utime + stime + cutime + cstime`` of every process in a server's
tree (its root and all descendants found under /proc), so a worker's time counts
while it lives and, once it has exited and been reaped, in its parent's
``cutime``/``cstime``.  The difference of two sums over the tree is the CPU the
server spent between them, threads included (/proc/PID/stat covers the whole
process).
"""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Optional

CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(port: int, path: str = "/", timeout: float = 15.0) -> None:
    """Return once GET path on 127.0.0.1:port answers 200; RuntimeError after timeout seconds."""
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


def wait_until(ready: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll ready() until it is true; RuntimeError naming what after timeout seconds."""
    deadline = time.monotonic() + timeout
    while not ready():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        time.sleep(0.05)


def attached_backends(socket_path: Path) -> int:
    """Connections accepted on a listening Unix socket: the backends attached to a frontend.

    /proc/net/unix names an accepted socket by its listener's path; state 03 is connected.
    """
    count = 0
    with open("/proc/net/unix") as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 8 and parts[7] == str(socket_path) and parts[5] == "03":
                count += 1
    return count


# --- /proc ----------------------------------------------------------------------------


def _stat_fields(pid: int) -> Optional[list[str]]:
    """Fields of /proc/PID/stat after the command name (index 0 is the state), or None if gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def descendants(roots: Iterable[int]) -> set[int]:
    """The roots that still exist and every process below them."""
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            fields = _stat_fields(int(entry.name))
            if fields is not None:
                children.setdefault(int(fields[1]), []).append(int(entry.name))
    found: set[int] = set()
    todo = [pid for pid in roots if _stat_fields(pid) is not None]
    while todo:
        pid = todo.pop()
        if pid not in found:
            found.add(pid)
            todo.extend(children.get(pid, ()))
    return found


def cpu_seconds(pids: Iterable[int]) -> float:
    """utime + stime + cutime + cstime of these processes, in seconds (gone ones count 0)."""
    ticks = 0
    for pid in pids:
        fields = _stat_fields(pid)
        if fields is not None:
            ticks += sum(int(x) for x in fields[11:15])
    return ticks / CLK_TCK


def rss_bytes(pids: Iterable[int]) -> int:
    """Resident memory of these processes now, added up (shared pages count once per process)."""
    total = 0
    for pid in pids:
        try:
            total += int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE_SIZE
        except (OSError, IndexError):
            pass
    return total


# --- a running server -------------------------------------------------------------------


@dataclass(frozen=True)
class Command:
    """One process of a server: its role (the CPU it spends is reported under that name)."""
    role: str
    argv: list[str]
    cwd: Optional[Path] = None
    stop_signal: int = signal.SIGTERM


@dataclass
class Group:
    """The processes of one server, each the leader of a session of its own."""
    env: dict[str, str]
    log: Path
    procs: list[tuple[Command, subprocess.Popen]] = field(default_factory=list)

    def start(self, command: Command) -> None:
        with open(self.log, "ab") as log:
            proc = subprocess.Popen(command.argv, cwd=command.cwd, env=self.env, stdin=subprocess.DEVNULL,
                                    stdout=log, stderr=log, start_new_session=True)
        self.procs.append((command, proc))

    def dead(self) -> Optional[str]:
        """Which process has exited, if one has."""
        for command, proc in self.procs:
            if proc.poll() is not None:
                return f"its {command.role} exited with status {proc.returncode}"
        return None

    def pids_by_role(self) -> dict[str, set[int]]:
        by_role: dict[str, set[int]] = {}
        for command, proc in self.procs:
            by_role.setdefault(command.role, set()).update(descendants([proc.pid]))
        return by_role

    def stop(self, timeout: float = 10.0) -> None:
        """Stop each process (last started first) with its signal, then kill what is left of its session."""
        for command, proc in reversed(self.procs):
            if proc.poll() is None:
                proc.send_signal(command.stop_signal)
                try:
                    proc.wait(timeout=timeout)
                except subprocess.TimeoutExpired:
                    pass
            try:
                os.killpg(proc.pid, signal.SIGKILL)   # workers that outlived their parent
            except (ProcessLookupError, PermissionError):
                pass
            if proc.poll() is None:
                proc.wait()
        self.procs.clear()
