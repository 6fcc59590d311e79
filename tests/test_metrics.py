"""--metrics-listen: /metrics scraped before and after a known mix of requests, every counter checked to
move by exactly what the mix made it move; the text parsed strictly; /status as JSON; the listener's
own HTTP (404, 405, HEAD, a bounded head)."""

from __future__ import annotations

import os
import signal

from e2e_support import ResponseReader, connect, raw_exchange, request
from metrics_support import (backend_series, exchange, get, scrape, start_with_metrics, status_json, value,
                             wait_for)

ROUTES = ("none", "static", "dynamic")


def delta(after, before, name, **labels) -> float:
    return value(after, name, **labels) - value(before, name, **labels)


def test_counters_move_by_exactly_the_mix(make_stack):
    st, mport = start_with_metrics(make_stack, "--backend-wait", "0")
    backend = st.start_backend("--generation", "3")
    before = scrape(mport)
    mix = [("GET", "/static/hello.txt")] * 3 + [("GET", "/static/missing.txt")] * 2 + \
          [("GET", "/users/1")] * 4 + [("GET", "/no/such/route"), ("GET", "/boom"), ("HEAD", "/static/hello.txt")]
    results = [exchange(st.port, m, t) for m, t in mix]
    assert [r[0] for r in results] == [200] * 3 + [404] * 2 + [200] * 4 + [404, 500, 200]
    after = scrape(mport)

    assert delta(after, before, "tandem_requests_total", route="static", code="2xx") == 4
    assert delta(after, before, "tandem_requests_total", route="static", code="4xx") == 2
    assert delta(after, before, "tandem_requests_total", route="dynamic", code="2xx") == 4
    assert delta(after, before, "tandem_requests_total", route="dynamic", code="4xx") == 1
    assert delta(after, before, "tandem_requests_total", route="dynamic", code="5xx") == 1
    moved = sum(delta(after, before, "tandem_requests_total", route=r, code=c)
                for r in ROUTES for c in ("none", "1xx", "2xx", "3xx", "4xx", "5xx"))
    assert moved == len(mix)
    assert delta(after, before, "tandem_request_duration_seconds_count", route="static") == 6
    assert delta(after, before, "tandem_request_duration_seconds_count", route="dynamic") == 6
    for route in ROUTES:
        assert value(after, "tandem_request_duration_seconds_bucket", route=route, le="+Inf") == \
            value(after, "tandem_request_duration_seconds_count", route=route)
    assert delta(after, before, "tandem_received_bytes_total") == sum(r[1] for r in results)
    assert delta(after, before, "tandem_sent_bytes_total") == sum(r[2] for r in results)
    assert delta(after, before, "tandem_connections_accepted_total") == len(mix)
    assert delta(after, before, "tandem_gateway_errors_total", code="502") == 0
    assert value(after, "tandem_requests_in_flight") == 0
    assert value(after, "tandem_requests_queued") == 0
    assert backend_series(after, "tandem_backend_requests_total", backend.pid) - \
        backend_series(before, "tandem_backend_requests_total", backend.pid) == 6
    assert value(after, "tandem_backends", app="e2e_app:app", generation="3", state="ready") == 1

    # A request in the backend, then the backend killed: in flight 1, then a 502, then a 503 at once
    # (--backend-wait 0) since no backend is left.
    s = connect(st.port)
    try:
        s.sendall(b"GET /slow?tag=m502 HTTP/1.1\r\nHost: x\r\n\r\n")
        wait_for(lambda: st.in_flight("m502") == 1, 10, "the request in the backend")
        during = scrape(mport)
        assert value(during, "tandem_requests_in_flight") == 1
        assert backend_series(during, "tandem_backend_requests_in_flight", backend.pid) == 1
        assert value(during, "tandem_connections_open") == 1
        os.kill(backend.pid, signal.SIGKILL)
        backend.popen.wait(10)
        assert ResponseReader(s).read().status == 502
    finally:
        s.close()
    assert exchange(st.port, "GET", "/users/1")[0] == 503
    wait_for(lambda: value(scrape(mport), "tandem_connections_open") == 0, 10, "the connections to close")
    last = scrape(mport)
    assert delta(last, after, "tandem_gateway_errors_total", code="502") == 1
    assert delta(last, after, "tandem_gateway_errors_total", code="503") == 1
    assert delta(last, after, "tandem_requests_total", route="dynamic", code="5xx") == 2
    assert delta(last, after, "tandem_backend_disconnects_total", reason="closed") == 1
    assert value(last, "tandem_backends", app="e2e_app:app", generation="3", state="ready") == 0
    assert backend_series(last, "tandem_backend_requests_total", backend.pid) is None
    assert value(last, "tandem_requests_in_flight") == 0


def test_timeouts_cancels_and_swaps(make_stack):
    st, mport = start_with_metrics(make_stack, "--request-timeout", "1")
    old = st.start_backend("--generation", "1")
    before = scrape(mport)
    # --request-timeout: 504.
    assert exchange(st.port, "GET", "/slow?tag=t504")[0] == 504
    # A client that leaves with its request in the backend: cancelled by the client.
    s = connect(st.port)
    s.sendall(b"GET /slow?tag=gone HTTP/1.1\r\nHost: x\r\n\r\n")
    wait_for(lambda: st.in_flight("gone") == 1, 10, "the request in the backend")
    s.close()
    wait_for(lambda: value(scrape(mport), "tandem_requests_in_flight") == 0, 10, "the request to be dropped")
    mid = scrape(mport)
    assert delta(mid, before, "tandem_timeouts_total", kind="request") == 1
    assert delta(mid, before, "tandem_gateway_errors_total", code="504") == 1
    assert delta(mid, before, "tandem_requests_cancelled_total", by="client") == 1
    assert delta(mid, before, "tandem_requests_total", route="dynamic", code="none") == 1
    assert delta(mid, before, "tandem_requests_total", route="dynamic", code="5xx") == 1
    # A newer generation attaches: one swap, and the old backend drains and goes.
    new = st.start_backend("--generation", "2", wait=False)
    st.wait_attached(new)
    wait_for(lambda: value(scrape(mport), "tandem_backend_disconnects_total", reason="drained") ==
             value(before, "tandem_backend_disconnects_total", reason="drained") + 1, 20, "the old one to drain")
    last = scrape(mport)
    assert delta(last, before, "tandem_backend_swaps_total") == 1
    assert value(last, "tandem_backends", app="e2e_app:app", generation="2", state="ready") == 1
    assert value(last, "tandem_backends", app="e2e_app:app", generation="1", state="ready") == 0
    old.popen.wait(20)


def test_status_json(make_stack):
    st, mport = start_with_metrics(make_stack)
    backend = st.start_backend("--generation", "5")
    first = status_json(mport)
    for _ in range(3):
        assert request(st.port, "GET", "/users/2").status == 200
    assert request(st.port, "GET", "/static/hello.txt").status == 200
    second = status_json(mport)
    assert second["pid"] == st.frontend.pid
    assert second["requests_total"] - first["requests_total"] == 4
    assert second["responses"]["2xx"] - first["responses"]["2xx"] == 4
    assert second["requests_in_flight"] == 0 and second["requests_queued"] == 0
    (b,) = second["backends"]
    assert (b["app"], b["pid"], b["generation"], b["state"], b["in_flight"]) == \
        ("e2e_app:app", backend.pid, 5, "ready", 0)
    (a,) = first["backends"]
    assert b["served"] - a["served"] == 3
    assert b["max_streams"] == 1024
    assert second["uptime_seconds"] >= first["uptime_seconds"]


def test_the_listener_answers_only_its_paths(make_stack):
    st, mport = start_with_metrics(make_stack)
    assert get(mport, "/metrics/")[0] == 404
    assert get(mport, "/")[0] == 404
    status, headers, body = get(mport, "/metrics", method="HEAD")
    assert status == 200 and body == b"" and int(headers["content-length"]) > 0
    assert get(mport, "/status", method="POST")[0] == 405
    status, headers, body = get(mport, "/status.html")
    assert status == 200 and headers["content-type"] == "text/html; charset=utf-8"
    assert b"<script>" in body and b"src=" not in body and b"href=" not in body
    assert raw_exchange(mport, b"NONSENSE\r\n\r\n").startswith(b"HTTP/1.1 400")
    assert raw_exchange(mport, b"GET /" + b"a" * 10000 + b" HTTP/1.1\r\n\r\n").startswith(b"HTTP/1.1 431")
    # Its requests are not the application's: nothing of them is counted.
    assert value(scrape(mport), "tandem_requests_total", route="none", code="4xx") == 0
