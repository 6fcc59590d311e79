"""The scenarios, one row each, and the bytes every contender must answer to them.

A contender is of one kind: ``native`` (tandem's App), ``asgi``, ``wsgi``, or
``config`` (nginx answering from its configuration, no application).  A scenario
lists the kinds that run it; ``SKIPPED`` says why the others do not.
"""
from __future__ import annotations

import http.client
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

NATIVE, ASGI, WSGI, CONFIG = "native", "asgi", "wsgi", "config"

TEXT = "text/plain; charset=utf-8"
JSON = "application/json"
OCTETS = "application/octet-stream"
HELLO = b"Hello, World!"
_CHUNK = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_"
POST_BODY = _CHUNK * 64                          # 4 KiB


@dataclass(frozen=True)
class Scenario:
    key: str
    label: str
    method: str
    target: str
    connections: int
    kinds: frozenset[str]
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""
    quick: bool = False

    def wrk_args(self, tmp: Path) -> list[str]:
        """wrk's options for this request (a Lua script in tmp for a body)."""
        args = [f"-H{name}: {value}" for name, value in self.headers]
        if self.body:
            script = tmp / f"{self.key}.lua"
            chunk = _CHUNK.decode()
            assert self.body == _CHUNK * (len(self.body) // len(chunk))
            script.write_text(f'wrk.method = "{self.method}"\n'
                              f'wrk.body = string.rep("{chunk}", {len(self.body) // len(chunk)})\n')
            args += ["-s", str(script)]
        return args


SCENARIOS: tuple[Scenario, ...] = (
    Scenario("plain", "plaintext hello", "GET", "/", 64, frozenset({NATIVE, ASGI, WSGI, CONFIG}), quick=True),
    Scenario("json", "JSON", "GET", "/json", 64, frozenset({NATIVE, ASGI, WSGI, CONFIG})),
    Scenario("params", "path parameter, query, header", "GET", "/users/42?q=x", 64,
             frozenset({NATIVE, ASGI, WSGI}), headers=(("User-Agent", "bench"),)),
    Scenario("post", "POST echo of 4 KiB", "POST", "/echo", 64, frozenset({NATIVE, ASGI, WSGI}),
             headers=(("Content-Type", OCTETS),), body=POST_BODY),
    Scenario("sleep", "await asyncio.sleep(0.01), 512 connections", "GET", "/sleep", 512,
             frozenset({NATIVE, ASGI})),
)

SKIPPED: dict[str, str] = {
    CONFIG: "it runs no application and has only the two constant answers (plaintext and JSON): it is "
            "there as the limit of C alone",
    WSGI: "a WSGI callable cannot await; sleeping would block a thread (or the whole process) for 10 ms, "
          "which would measure thread and process counts rather than the server",
}

# (content type, body) each scenario must answer, per app (apps.py, apps_fastapi.py, apps_flask.py).
_SAME = {
    "plain": (TEXT, HELLO),
    "json": (JSON, b'{"message":"Hello, World!"}'),
    "params": (JSON, b'{"id":42,"q":"x","agent":"bench"}'),
    "post": (OCTETS, POST_BODY),
    "sleep": (TEXT, HELLO),
}
EXPECTED: dict[str, dict[str, tuple[str, bytes]]] = {
    "raw": _SAME,
    "fastapi": _SAME,
    # Flask's JSON provider sorts keys and ends with a newline.
    "flask": {**_SAME, "json": (JSON, b'{"message":"Hello, World!"}\n'),
              "params": (JSON, b'{"agent":"bench","id":42,"q":"x"}\n')},
}


def check(port: int, scenario: Scenario, family: str) -> Optional[str]:
    """One request as wrk will send it; what is wrong with the answer, or None."""
    ctype, body = EXPECTED[family][scenario.key]
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request(scenario.method, scenario.target, body=scenario.body or None, headers=dict(scenario.headers))
        response = conn.getresponse()
        got = response.read()
        got_ctype = (response.getheader("content-type") or "").replace("; ", ";").lower()
    except (OSError, http.client.HTTPException) as e:
        return f"{scenario.target}: {e!r}"
    finally:
        conn.close()
    if response.status != 200 or got_ctype != ctype.replace("; ", ";").lower() or got != body:
        return (f"{scenario.method} {scenario.target}: {response.status} {got_ctype!r} {got[:80]!r}, "
                f"expected 200 {ctype!r} {body[:80]!r}")
    return None
