"""Replacing the only backend the way `docker compose up --build` does: the old
one gets SIGTERM and exits, then the new one starts.  Under a load of keep-alive
clients (GETs and POSTs) no request fails: those the frontend sent before it read
the old backend's GOAWAY are still answered by it, and the rest wait in the
frontend (--backend-wait) for the new one.
"""

from __future__ import annotations

import http.client
import json
import threading
import time

from e2e_support import Hammer

CLIENTS = 6
ROUNDS = 3
MAX_SECONDS = 30              # the load is bounded in time...
MAX_REQUESTS = 200_000        # ...and in count


class Load(Hammer):
    """Keep-alive clients on 127.0.0.1: GET /pid, and every third request a POST /echo
    (Hammer's threads and stopping; its own requests and counts)."""

    def __init__(self, port: int) -> None:
        super().__init__(port, clients=CLIENTS, max_seconds=MAX_SECONDS)
        self.lock = threading.Lock()
        self.sent = 0
        self.ok = 0
        self.pids: set[int] = set()

    def run(self, i: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=40)
        deadline = time.monotonic() + MAX_SECONDS
        n = 0
        try:
            while not self.stop.is_set() and time.monotonic() < deadline:
                with self.lock:
                    if self.sent >= MAX_REQUESTS:
                        break
                    self.sent += 1
                n += 1
                if n % 3 == 0:
                    body = f"client {i} request {n}".encode()
                    conn.request("POST", "/echo", body=body, headers={"content-type": "text/plain"})
                    resp = conn.getresponse()
                    got = resp.read()
                    if resp.status != 201 or got != body:
                        self.errors.append(f"POST /echo -> {resp.status} {got[:80]!r}")
                        continue
                else:
                    conn.request("GET", "/pid")
                    resp = conn.getresponse()
                    got = resp.read()
                    if resp.status != 200:
                        self.errors.append(f"GET /pid -> {resp.status} {got[:80]!r}")
                        continue
                    with self.lock:
                        self.pids.add(json.loads(got)["pid"])
                with self.lock:
                    self.ok += 1
        except Exception as exc:      # a dropped connection is a failure too
            self.errors.append(f"client {i}: {exc!r}")
        finally:
            conn.close()

    def wait_for_more(self, count: int = 300, timeout: float = 20) -> None:
        with self.lock:
            target = self.ok + count
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not self.errors:
            with self.lock:
                if self.ok >= target:
                    return
            time.sleep(0.01)
        raise AssertionError(f"the load stalled at {self.ok} answers; errors: {self.errors[:3]}")


def test_sigterm_then_a_new_backend_under_load_fails_no_request(make_stack):
    st = make_stack()
    st.start_frontend("--backend-wait", "30")
    backend = st.start_backend()
    exits = []
    with Load(st.port) as load:
        load.wait_for_more()
        for _ in range(ROUNDS):
            backend.popen.terminate()
            exits.append(backend.popen.wait(30))
            backend = st.start_backend(wait=False)
            st.wait_attached(backend)
            load.wait_for_more()
    assert not load.errors, load.errors[:5]
    assert exits == [0] * ROUNDS
    assert len(load.pids) == ROUNDS + 1, "every backend served a share"
