"""Live swap: a newer generation of the app attaches and the older one drains
and exits, under a load of keep-alive clients, without one failed request.
"""

from __future__ import annotations

import http.client
import json
import threading
import time

from e2e_support import wait_until

CLIENTS = 8
MAX_REQUESTS = 20000          # per client: the load is bounded in count...
MAX_SECONDS = 20              # ...and in time


class Hammer:
    """Keep-alive clients asking /pid in a loop until stopped."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.stop = threading.Event()
        self.results: list[list[tuple[int, int]]] = [[] for _ in range(CLIENTS)]
        self.errors: list[str] = []
        self.threads = [threading.Thread(target=self.run, args=(i,)) for i in range(CLIENTS)]

    def run(self, i: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        deadline = time.monotonic() + MAX_SECONDS
        try:
            for _ in range(MAX_REQUESTS):
                if self.stop.is_set() or time.monotonic() > deadline:
                    break
                conn.request("GET", "/pid")
                resp = conn.getresponse()
                body = resp.read()
                pid = json.loads(body)["pid"] if resp.status == 200 else -1
                self.results[i].append((resp.status, pid))
                if resp.will_close:
                    conn.close()
                    conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        except Exception as exc:      # any failure is what the test is about
            self.errors.append(f"client {i}: {exc!r}")
        finally:
            conn.close()

    def __enter__(self) -> "Hammer":
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(60)

    def count(self) -> int:
        return sum(len(r) for r in self.results)


def test_new_generation_takes_over_under_load_without_errors(make_stack):
    st = make_stack()
    st.start_frontend()
    old = st.start_backend("--generation", "1")
    with Hammer(st.port) as load:
        wait_until(lambda: load.count() > 200, 20, "the load to get going")
        new = st.start_backend("--generation", "2", wait=False)
        # The old generation drains and exits by itself.
        assert old.popen.wait(30) == 0
        before = load.count()
        wait_until(lambda: load.count() > before + 200, 20, "more requests after the swap")
    assert not load.errors, load.errors
    statuses = {s for r in load.results for s, _ in r}
    assert statuses == {200}, statuses
    for r in load.results:
        pids = [p for _, p in r]
        assert set(pids) <= {old.pid, new.pid}
        # Once a client has been answered by the new code, never by the old again.
        if new.pid in pids:
            first_new = pids.index(new.pid)
            assert old.pid not in pids[first_new:]
        assert pids[-1] == new.pid
    assert "superseded" in old.log()
    assert "draining" in st.frontend.log()
    assert new.alive()


def test_an_older_generation_that_attaches_late_is_sent_away(make_stack):
    st = make_stack()
    st.start_frontend()
    new = st.start_backend("--generation", "5")
    stale = st.start_backend("--generation", "4", wait=False)
    assert stale.popen.wait(30) == 0
    assert new.alive()
    conn = http.client.HTTPConnection("127.0.0.1", st.port, timeout=30)
    for _ in range(10):
        conn.request("GET", "/pid")
        assert json.loads(conn.getresponse().read())["pid"] == new.pid
    conn.close()
