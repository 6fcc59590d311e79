"""The --workers parent (arbiter.py) with stand-in workers (fake_worker_bin.py).

The parent runs in a child process of the test, as it does in production: it
handles real signals, starts real processes and reads their lines.  Every wait
is bounded; every process is stopped at the end, pass or fail.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable, Optional, Union

import pytest

from tandem import arbiter
from tandem.reload import child_command, next_generation

BACKEND = Path(__file__).resolve().parents[1]
FAKE_WORKER = Path(__file__).resolve().parent / "fake_worker_bin.py"
GUARD = 20.0  # seconds: only a failure guard

# Runs an Arbiter whose workers are fake_worker_bin.py.  "modes" holds one entry
# per generation, in the order they are started (the last one repeats); an
# entry is a mode, or a list of modes for the workers of that generation in
# the order they are started (the last one repeats).
DRIVER = """
import json, sys
from tandem.arbiter import Arbiter
from tandem.cli import setup_logging

cfg = json.loads(sys.argv[1])
setup_logging("info")
generations, spawned = [], {}

def command(gen, fd):
    if gen not in generations:
        generations.append(gen)
    entry = cfg["modes"][min(generations.index(gen), len(cfg["modes"]) - 1)]
    n = spawned[gen] = spawned.get(gen, -1) + 1
    mode = entry if isinstance(entry, str) else entry[min(n, len(entry) - 1)]
    return [sys.executable, cfg["fake"], mode, "--generation", str(gen), "--worker-fd", str(fd)]

sys.exit(Arbiter(command, cfg["size"], cfg["generation"]).run())
"""


def wait_until(check: Callable[[], Any], what: str, timeout: float = GUARD) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)


def gone(pid: int) -> bool:
    """True if pid has exited (a zombie counts: its parent may not be us)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rpartition(")")[2].split()[0] == "Z"
    except FileNotFoundError:
        return True


class Parent:
    def __init__(self, tmp_path: Path, size: int, modes: list[Union[str, list[str]]], generation: int = 100) -> None:
        self.report = tmp_path / "report"
        self.log_path = tmp_path / "parent.log"
        cfg = {"fake": str(FAKE_WORKER), "size": size, "modes": modes, "generation": generation}
        env = dict(os.environ, PYTHONPATH=str(BACKEND), FAKE_WORKER_REPORT=str(self.report))
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen([sys.executable, "-c", DRIVER, json.dumps(cfg)], env=env, stdout=log,
                                         stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def events(self) -> list[tuple[int, int, str]]:
        if not self.report.exists():
            return []
        out = []
        for line in self.report.read_text().splitlines():
            pid, gen, event = line.split()
            out.append((int(pid), int(gen), event))
        return out

    def pids(self, event: str, generation: Optional[int] = None) -> list[int]:
        return [p for p, g, e in self.events() if e == event and (generation is None or g == generation)]

    def generations(self) -> list[int]:
        seen: list[int] = []
        for _, g, _ in self.events():
            if g not in seen:
                seen.append(g)
        return seen

    def log(self) -> str:
        return self.log_path.read_text()

    def wait_log(self, text: str, count: int = 1) -> None:
        wait_until(lambda: self.log().count(text) >= count, f"{count} x {text!r} in the log:\n{self.log()}")

    def signal(self, sig: int) -> None:
        os.kill(self.pid, sig)

    def wait(self) -> int:
        return self.proc.wait(GUARD)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        for pid in {p for p, _, _ in self.events()}:
            if not gone(pid):
                os.kill(pid, signal.SIGKILL)


@pytest.fixture
def parents(tmp_path: Path) -> Any:
    made: list[Parent] = []

    def factory(size: int, modes: list[Union[str, list[str]]], generation: int = 100) -> Parent:
        p = Parent(tmp_path, size, modes, generation)
        made.append(p)
        return p

    yield factory
    for p in made:
        p.close()


def test_starts_n_workers_of_one_generation_and_stops_them_on_sigterm(parents: Any) -> None:
    p = parents(3, ["serve"], generation=42)
    wait_until(lambda: len(p.pids("attached")) == 3, "three workers to attach")
    p.wait_log("has attached", 3)
    assert p.generations() == [42]
    p.signal(signal.SIGTERM)
    assert p.wait() == 0
    assert sorted(p.pids("term")) == sorted(p.pids("attached"))
    assert p.log().count("exited with status 0") == 3
    assert "all workers have exited" in p.log()


def test_sigint_is_passed_on_as_one_sigterm(parents: Any) -> None:
    p = parents(2, ["serve"])
    wait_until(lambda: len(p.pids("attached")) == 2, "two workers to attach")
    p.signal(signal.SIGINT)
    assert p.wait() == 0
    assert len(p.pids("term")) == 2


def test_a_worker_that_dies_is_started_again(parents: Any) -> None:
    p = parents(2, ["serve"])
    wait_until(lambda: len(p.pids("attached")) == 2, "two workers to attach")
    victim = p.pids("attached")[0]
    os.kill(victim, signal.SIGKILL)
    wait_until(lambda: len(p.pids("attached")) == 3, "a replacement to attach")
    assert f"(pid {victim}) was killed by SIGKILL; starting another in 0.1s" in p.log()
    assert len(p.generations()) == 1
    p.signal(signal.SIGTERM)
    assert p.wait() == 0


def test_restarts_back_off(parents: Any) -> None:
    p = parents(1, ["crash"])
    p.wait_log("starting another in 0.4s")
    log = p.log()
    assert log.index("starting another in 0.1s") < log.index("starting another in 0.2s") < log.index(
        "starting another in 0.4s")
    p.signal(signal.SIGTERM)
    assert p.wait() == 0


def test_a_generation_that_cannot_start_stops_the_parent_with_status_1(parents: Any) -> None:
    p = parents(3, ["fail"])
    assert p.wait() == 1
    # Each place was tried once: no loop.
    assert len(p.pids("started")) == 3
    assert "generation 100 cannot start: every worker exited before attaching to the frontend" in p.log()


def test_a_place_that_failed_waits_until_the_generation_has_attached(parents: Any) -> None:
    p = parents(2, [["fail", "late", "serve"]])
    p.wait_log("its place starts again once a worker of generation 100 has attached")
    wait_until(lambda: len(p.pids("started")) == 2, "the second worker to start")
    late = [pid for pid in p.pids("started") if pid not in p.pids("failed")]
    assert len(late) == 1
    os.kill(late[0], signal.SIGUSR2)
    wait_until(lambda: len(p.pids("attached")) == 2, "the failed place to be started again and attach")
    assert len(p.pids("failed")) == 1
    p.signal(signal.SIGTERM)
    assert p.wait() == 0


def test_sighup_starts_a_new_generation_and_reaps_the_old_one(parents: Any) -> None:
    p = parents(2, ["serve"], generation=100)
    wait_until(lambda: len(p.pids("attached")) == 2, "two workers to attach")
    old = p.pids("attached")
    p.signal(signal.SIGHUP)
    wait_until(lambda: len(p.generations()) == 2 and len(p.pids("attached", p.generations()[1])) == 2,
               "the new generation to attach")
    new_gen = p.generations()[1]
    assert new_gen > 100
    p.wait_log(f"reload: generation {new_gen} is serving; the frontend drains generation 100")
    # The frontend would tell the old workers SUPERSEDED: they exit 0, and nobody restarts them.
    for pid in old:
        os.kill(pid, signal.SIGUSR1)
    p.wait_log("has been replaced", 2)
    assert all(gone(pid) for pid in old)
    assert p.proc.poll() is None
    assert len(p.pids("started")) == 4
    p.signal(signal.SIGTERM)
    assert p.wait() == 0
    assert sorted(p.pids("term")) == sorted(p.pids("attached", new_gen))


def test_a_reload_that_cannot_start_leaves_the_old_generation_serving(parents: Any) -> None:
    p = parents(2, ["serve", "fail", "serve"])
    wait_until(lambda: len(p.pids("attached")) == 2, "two workers to attach")
    old = p.pids("attached")
    p.signal(signal.SIGHUP)
    p.wait_log("reload failed: generation")
    assert "cannot start: every worker exited before attaching to the frontend" in p.log()
    assert "generation 100 keeps serving" in p.log()
    assert not any(gone(pid) for pid in old)
    assert len(p.pids("failed")) == 2
    # The next SIGHUP tries again, with code that works this time.
    p.signal(signal.SIGHUP)
    wait_until(lambda: len(p.generations()) == 3 and len(p.pids("attached", p.generations()[2])) == 2,
               "the third generation to attach")
    p.signal(signal.SIGTERM)
    assert p.wait() == 0


def test_sighup_while_a_reload_is_pending_is_ignored_and_sigterm_stops_it(parents: Any) -> None:
    p = parents(1, ["serve", "hang"])
    wait_until(lambda: len(p.pids("attached")) == 1, "the worker to attach")
    p.signal(signal.SIGHUP)
    wait_until(lambda: len(p.pids("started")) == 2, "the new worker to start")
    p.signal(signal.SIGHUP)
    p.wait_log("a reload is in progress")
    p.signal(signal.SIGTERM)
    assert p.wait() == 0
    assert len(p.pids("term")) == 2


def test_superseded_from_elsewhere_the_parent_exits_0(parents: Any) -> None:
    p = parents(2, ["serve"])
    wait_until(lambda: len(p.pids("attached")) == 2, "two workers to attach")
    for pid in p.pids("attached"):
        os.kill(pid, signal.SIGUSR1)
    assert p.wait() == 0
    assert p.log().count("superseded by a newer generation") == 2
    assert "was superseded by a newer one and its workers have exited; exiting" in p.log()
    assert len(p.pids("started")) == 2


def test_workers_exit_when_the_parent_is_killed(parents: Any) -> None:
    p = parents(2, ["serve"])
    wait_until(lambda: len(p.pids("attached")) == 2, "two workers to attach")
    p.signal(signal.SIGKILL)
    p.proc.wait(GUARD)
    wait_until(lambda: len(p.pids("orphaned")) == 2, "the workers to notice")


def test_backoff() -> None:
    assert [arbiter.backoff(n) for n in (1, 2, 3, 4)] == [0.1, 0.2, 0.4, 0.8]
    assert arbiter.backoff(50) == arbiter.BACKOFF_MAX


def test_child_command_replaces_the_parents_own_flags() -> None:
    argv = ["app:app", "--connect", "s.sock", "--workers", "4", "--generation=7", "--threads", "2",
            "--ready-fd", "9"]
    cmd = child_command(argv, 123, "--worker-fd", 5)
    assert cmd[:3] == [sys.executable, "-m", "tandem"]
    assert cmd[3:] == ["app:app", "--connect", "s.sock", "--threads", "2", "--generation", "123", "--worker-fd", "5"]
    # After "--" everything is positional.
    assert child_command(["--connect", "s", "--", "app:app"], 1, "--ready-fd", 3)[3:] == [
        "--connect", "s", "--generation", "1", "--ready-fd", "3", "--", "app:app"]


def test_next_generation_grows() -> None:
    now = int(time.time() * 1000)
    assert next_generation(5) >= now
    assert next_generation(now + 10_000) == now + 10_001
    assert re.fullmatch(r"\d+", str(next_generation(0)))
