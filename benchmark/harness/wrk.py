"""One wrk run, bounded in time, and what it printed.

wrk's "Non-2xx or 3xx responses" counts answers of 400 and above; its socket
errors are connect, read, write and timeout (a request unanswered after 2 s).
"""
from __future__ import annotations

import re
from dataclasses import dataclass

_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}


@dataclass(frozen=True)
class WrkResult:
    requests: int
    seconds: float
    rps: float
    p50_ms: float
    p99_ms: float
    non_2xx: int
    socket_errors: int


def command(port: int, target: str, seconds: float, connections: int, extra: list[str]) -> list[str]:
    """One wrk thread (the servers keep the rest of the machine), keep-alive, latency percentiles."""
    return ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", *extra,
            f"http://127.0.0.1:{port}{target}"]


def _latency_ms(out: str, percent: str) -> float:
    found = re.search(rf"^\s+{percent}%\s+([\d.]+)(us|ms|s|m)\s*$", out, re.M)
    return float(found.group(1)) * _UNITS[found.group(2)] if found else float("nan")


def parse(out: str) -> WrkResult:
    """The numbers of wrk's report; ValueError if it has none (wrk failed)."""
    done = re.search(r"(\d+) requests in ([\d.]+)(us|ms|s|m)", out)
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if done is None or rps is None:
        raise ValueError(f"no result in wrk's output:\n{out}")
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return WrkResult(requests=int(done.group(1)), seconds=float(done.group(2)) * _UNITS[done.group(3)] / 1e3,
                     rps=float(rps.group(1)), p50_ms=_latency_ms(out, "50"), p99_ms=_latency_ms(out, "99"),
                     non_2xx=int(non_2xx.group(1)) if non_2xx else 0,
                     socket_errors=sum(int(x) for x in errors.groups()) if errors else 0)
