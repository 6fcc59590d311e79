"""Start the contenders, check their answers, warm them up, and measure them in interleaved rounds.

Every contender is started once and kept running; each round then runs every
scenario on every contender that serves it, in an order rotated by one place
each round, so that no two measurements of one contender on one scenario are
back to back and none is always first or last.  Around each wrk run the CPU
time of the contender's processes is read from /proc (so CPU per request is
theirs alone, wrk excluded) and their resident memory is sampled ten times a
second.
"""
from __future__ import annotations

import subprocess
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Optional
from . import wrk
from .contenders import Contender
from .procs import Group, cpu_seconds, rss_bytes, wait_http, wait_until
from .scenarios import Scenario, check

START_TIMEOUT = 30.0


@dataclass(frozen=True)
class Run:
    """One wrk run on one contender: what wrk saw and what the server's processes spent."""
    contender: str
    scenario: str
    round: int
    requests: int
    seconds: float
    rps: float
    cpu_us: float                      # all the contender's processes, per request
    cpu_us_by_role: dict[str, float]   # e.g. tandem's frontend and backend apart
    cpu_cores_by_role: dict[str, float]  # CPU seconds per second of the run: 1.0 is one core busy
    p50_ms: float
    p99_ms: float
    non_2xx: int
    socket_errors: int
    peak_rss_mb: float

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass
class Running:
    contender: Contender
    port: int
    group: Group


def start_all(contenders: list[Contender], tmp: Path, env: dict[str, str]) -> dict[str, Running]:
    """Start every contender (each in a folder of its own under tmp) and wait until each answers."""
    running: dict[str, Running] = {}
    pending = []
    try:
        for c in contenders:
            folder = tmp / c.key
            folder.mkdir()
            launch = c.server.launch(folder)
            group = Group(env, folder / "server.log")
            running[c.key] = Running(c, launch.port, group)
            for command in launch.commands:
                group.start(command)
            pending.append((c, launch))
        for c, launch in pending:
            _wait_ready(running[c.key], launch.ready)
    except BaseException:
        stop_all(running)
        raise
    return running


def _wait_ready(server: Running, ready: Optional[Callable[[], bool]]) -> None:
    try:
        if ready is not None:
            wait_until(ready, START_TIMEOUT, f"{server.contender.label} to be ready")
        wait_http(server.port, "/", timeout=START_TIMEOUT)
    except RuntimeError as e:
        log = server.group.log.read_text(errors="replace")[-3000:]
        raise RuntimeError(f"{server.contender.label} did not start: {e}\n--- its log ---\n{log}") from None


def stop_all(running: dict[str, Running]) -> None:
    for server in running.values():
        server.group.stop()


def check_all(running: dict[str, Running], scenarios: list[Scenario]) -> None:
    """Every contender answers every scenario it runs with the expected status, type and bytes."""
    wrong = [f"{r.contender.label}: {problem}" for r in running.values() for s in scenarios
             if r.contender.runs(s) and (problem := check(r.port, s, r.contender.family))]
    if wrong:
        raise RuntimeError("answers differ from what every contender must serve:\n  " + "\n  ".join(wrong))


def _cpu_by_role(group: Group) -> dict[str, float]:
    return {role: cpu_seconds(pids) for role, pids in group.pids_by_role().items()}


def _run_wrk(argv: list[str], pids: set[int], seconds: float) -> tuple[str, int]:
    """wrk's output and the largest sum of the servers' resident memory seen while it ran."""
    peak = 0
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + seconds + 30
        while proc.poll() is None:
            peak = max(peak, rss_bytes(pids))
            if time.monotonic() > deadline:
                proc.kill()
            time.sleep(0.1)
        return proc.stdout.read() if proc.stdout else "", peak
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if proc.stdout:
            proc.stdout.close()


def measure_one(server: Running, scenario: Scenario, seconds: float, tmp: Path, rnd: int) -> Run:
    """One wrk run of scenario on server, with the CPU and memory of its processes."""
    pids = set().union(*server.group.pids_by_role().values())
    argv = wrk.command(server.port, scenario.target, seconds, scenario.connections, scenario.wrk_args(tmp))
    before = _cpu_by_role(server.group)
    out, peak = _run_wrk(argv, pids, seconds)
    after = _cpu_by_role(server.group)
    result = wrk.parse(out)
    spent = {role: after[role] - before.get(role, 0.0) for role in after}
    per_request = 1e6 / max(result.requests, 1)
    return Run(server.contender.key, scenario.key, rnd, result.requests, result.seconds, result.rps,
               cpu_us=sum(spent.values()) * per_request,
               cpu_us_by_role={role: s * per_request for role, s in spent.items()},
               cpu_cores_by_role={role: s / result.seconds for role, s in spent.items()},
               p50_ms=result.p50_ms, p99_ms=result.p99_ms, non_2xx=result.non_2xx,
               socket_errors=result.socket_errors, peak_rss_mb=peak / 2**20)


Step = tuple[int, Scenario, Contender]


def plan(contenders: list[Contender], scenarios: list[Scenario], rounds: int) -> list[Step]:
    """Round by round, scenario by scenario, the contenders that serve it, rotated one place a round."""
    steps: list[Step] = []
    for rnd in range(1, rounds + 1):
        for s in scenarios:
            serving = [c for c in contenders if c.runs(s)]
            shift = (rnd - 1) % len(serving) if serving else 0
            steps += [(rnd, s, c) for c in serving[shift:] + serving[:shift]]
    return steps


class Progress:
    """One line per step on stdout: where the run is, the step's numbers, and the time left."""

    def __init__(self, total: int, seconds_per_step: float) -> None:
        self.total, self.done, self.estimate = total, 0, seconds_per_step
        self.started = time.monotonic()

    def step(self, text: str) -> None:
        self.done += 1
        elapsed = time.monotonic() - self.started
        per_step = elapsed / self.done if self.done else self.estimate
        left = int(per_step * (self.total - self.done))
        print(f"[{self.done:3}/{self.total}] {text}  ({left // 60}:{left % 60:02} left)", flush=True)


def _describe(label: str, scenario: str, run: Run) -> str:
    flag = "  ERRORS" if run.non_2xx or run.socket_errors else ""
    return (f"{scenario:6} {label:32} {run.rps:9,.0f} req/s {run.cpu_us:7.1f} us/req "
            f"p99 {run.p99_ms:7.2f} ms{flag}")


def run_steps(running: dict[str, Running], steps: list[Step], seconds: float, tmp: Path,
              warm_up: bool = False) -> tuple[list[Run], dict[str, str]]:
    """Measure every step; a contender whose process died or that answered nothing is left out from then on."""
    runs: list[Run] = []
    failed: dict[str, str] = {}
    progress = Progress(len(steps), seconds + 0.5)
    for rnd, scenario, contender in steps:
        server = running[contender.key]
        dead = failed.get(contender.key) or server.group.dead()
        if dead:
            failed[contender.key] = dead
            progress.step(f"{scenario.key:6} {contender.label:32} skipped: {dead}")
            continue
        try:
            run = measure_one(server, scenario, seconds, tmp, rnd)
        except ValueError as e:           # wrk reported nothing: the server answered no request
            failed[contender.key] = str(e).splitlines()[-1][:200]
            progress.step(f"{scenario.key:6} {contender.label:32} failed: {failed[contender.key]}")
            continue
        prefix = "warm-up " if warm_up else f"round {rnd} "
        progress.step(prefix + _describe(contender.label, scenario.key, run))
        if not warm_up:
            runs.append(run)
    return runs, failed

