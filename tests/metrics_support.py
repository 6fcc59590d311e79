"""Helpers for the --metrics-listen tests: a stack with the listener, scrapes parsed strictly, exact
requests.

Every request here goes on a connection of its own with ``Connection: close`` and is read to the
end, so the bytes the frontend read and wrote are exactly the bytes sent and received here.
"""

from __future__ import annotations

import http.client
import json
import re
import time
from typing import Optional

from prometheus_client.parser import text_string_to_metric_families

from e2e_support import IO_TIMEOUT, connect, free_port, recv_all

# The text format 0.0.4, line by line: HELP, TYPE, or a sample with its labels and a value.
NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
LABEL = r'[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*"'
LINE = re.compile(rf"^(?:# HELP {NAME} [^\n]*|# TYPE {NAME} (?:counter|gauge|histogram|summary|untyped)"
                  rf"|{NAME}(?:\{{{LABEL}(?:,{LABEL})*\}})? (?:[0-9]+(?:\.[0-9]+)?|\+Inf|-Inf|NaN))$")

Samples = dict[tuple[str, frozenset], float]


def start_with_metrics(make_stack, *extra: str, attempts: int = 5):
    """A stack whose frontend also listens for metrics; returns (stack, metrics port)."""
    st = make_stack()
    for _ in range(attempts):
        mport = free_port()
        try:
            st.start_frontend("--metrics-listen", f"127.0.0.1:{mport}", *extra, attempts=1)
            return st, mport
        except RuntimeError as exc:
            if "no free port" not in str(exc):  # either port was taken meanwhile: both anew
                raise
    raise RuntimeError("no free port for --metrics-listen")


def get(mport: int, path: str, method: str = "GET") -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", mport, timeout=IO_TIMEOUT)
    try:
        conn.request(method, path)
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


def scrape(mport: int) -> Samples:
    """/metrics, checked line by line against the text format, then parsed by prometheus_client."""
    status, headers, body = get(mport, "/metrics")
    assert status == 200
    assert headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    text = body.decode("utf-8")
    assert text.endswith("\n")
    for line in text.splitlines():
        assert LINE.match(line), f"not a line of the text format: {line!r}"
    samples: Samples = {}
    types: dict[str, str] = {}
    for family in text_string_to_metric_families(text):
        assert family.name not in types, f"family {family.name} twice"
        types[family.name] = family.type
        for s in family.samples:
            key = (s.name, frozenset(s.labels.items()))
            assert key not in samples, f"sample {key} twice"
            samples[key] = s.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def status_json(mport: int) -> dict:
    status, headers, body = get(mport, "/status")
    assert status == 200 and headers["content-type"] == "application/json"
    return json.loads(body)


def exchange(port: int, method: str, target: str, extra: bytes = b"") -> tuple[int, int, int]:
    """One request on its own connection: (status, bytes sent, bytes received)."""
    data = (f"{method} {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n".encode() + extra + b"\r\n")
    with connect(port) as s:
        s.sendall(data)
        answer = recv_all(s)
    return int(answer.split(b" ", 2)[1]), len(data), len(answer)


def wait_for(check, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.02)


def backend_series(samples: Samples, name: str, pid: int) -> Optional[float]:
    for (n, labels), v in samples.items():
        if n == name and dict(labels).get("pid") == str(pid):
            return v
    return None
