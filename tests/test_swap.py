"""Live swap: a newer generation of the app attaches and the older one drains
and exits, under a load of keep-alive clients, without one failed request.
"""

from __future__ import annotations

import http.client
import json

from e2e_support import Hammer, wait_until


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
