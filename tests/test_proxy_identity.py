"""Behind a proxy: --forwarded-allow-ips, X-Forwarded-For/-Proto and Forwarded,
and request ids, end to end through the real frontend and backends.

What the application sees (tests/apps/ident_app.py answers it as JSON) in
each interface: the native ``request.client``/``scheme``/``id``, the ASGI
scope, the WSGI environ, and what Flask and Starlette make of them
(``is_secure``, ``url_for(_external=True)``).  The frontend's default trusts
loopback, which is where these tests connect from; a list without it makes
the same requests untrusted.
"""

from __future__ import annotations

import json
import re

import pytest

from e2e_support import APPS_DIR, FRONTEND, PYTHON, free_port, request, spawn, tcp_accepts, wait_until

APP_MODULE = "ident_app"
HEX_ID = re.compile(r"^[0-9a-f]{32}$")
FORWARDED = {"X-Forwarded-For": "198.51.100.9, 203.0.113.7", "X-Forwarded-Proto": "https",
             "X-Request-Id": "edge-7f3a"}
UNTRUSTING = ("--forwarded-allow-ips", "10.0.0.0/8")   # not loopback: the tests' own address is untrusted

INTERFACES = [
    pytest.param("app", (), id="native"),
    pytest.param("asgi_app", (), id="asgi"),
    pytest.param("wsgi_app", (), id="wsgi-threads"),
    pytest.param("wsgi_app", ("--threads", "0"), id="wsgi-inline"),
]


def start(make_stack, app: str, flags=(), frontend_flags=()):
    st = make_stack()
    st.start_frontend(*frontend_flags)
    st.start_backend(*flags, app=f"{APP_MODULE}:{app}", wait=False)
    wait_until(lambda: request(st.port, "GET", "/whoami").status == 200, 10, "the backend to serve")
    return st


def whoami(port: int, headers=None) -> tuple[dict, str]:
    r = request(port, "GET", "/whoami", headers=headers)
    assert r.status == 200, r.body
    return json.loads(r.body), r.header("x-request-id")


@pytest.mark.parametrize("app, flags", INTERFACES)
def test_trusted_proxy_headers_are_believed(make_stack, app, flags):
    st = start(make_stack, app, flags)
    seen, echoed = whoami(st.port, FORWARDED)
    # The rightmost address that is not a trusted proxy; its scheme; the proxy's id.
    assert seen["client"] == ["203.0.113.7", 0]
    assert seen["scheme"] == "https"
    assert seen["id"] == "edge-7f3a" == echoed
    # The headers themselves reach the application as the client sent them.
    assert seen["x_request_id"] == "edge-7f3a"
    # RFC 7239 Forwarded, when there is no X-Forwarded-For.
    seen, _ = whoami(st.port, {"Forwarded": 'for="[2001:db8::17]:4711";proto=https'})
    assert (seen["client"], seen["scheme"]) == (["2001:db8::17", 4711], "https")


@pytest.mark.parametrize("app, flags", INTERFACES)
def test_untrusted_proxy_headers_are_passed_but_not_believed(make_stack, app, flags):
    st = start(make_stack, app, flags, UNTRUSTING)
    seen, echoed = whoami(st.port, FORWARDED)
    assert seen["client"][0] == "127.0.0.1" and seen["client"][1] > 0
    assert seen["scheme"] == "http"
    # An id of the frontend's own, the same in the app and in the response.
    assert HEX_ID.match(seen["id"]) and echoed == seen["id"]
    assert seen["x_request_id"] == "edge-7f3a"
    seen, _ = whoami(st.port, {"Forwarded": "for=203.0.113.7;proto=https"})
    assert (seen["client"][0], seen["scheme"]) == ("127.0.0.1", "http")


def test_invalid_forwarded_values_are_ignored_not_refused(make_stack):
    st = start(make_stack, "app")
    for headers in ({"X-Forwarded-For": "not-an-address"}, {"X-Forwarded-For": "203.0.113.7:99999"},
                    {"X-Forwarded-Proto": "gopher"}, {"Forwarded": 'for="203.0.113.7'},
                    {"X-Request-Id": "has space"}, {"X-Request-Id": "x" * 201}):
        seen, echoed = whoami(st.port, headers)
        assert seen["client"][0] == "127.0.0.1" and seen["scheme"] == "http", headers
        assert HEX_ID.match(seen["id"]) and echoed == seen["id"], headers


def test_every_request_gets_its_own_id(make_stack):
    st = start(make_stack, "app", (), UNTRUSTING)
    ids = [whoami(st.port)[0]["id"] for _ in range(20)]
    assert len(set(ids)) == 20 and all(HEX_ID.match(i) for i in ids)
    # Static files and the frontend's own answers carry one too.
    r = request(st.port, "GET", "/static/hello.txt")
    assert r.status == 200 and HEX_ID.match(r.header("x-request-id"))


def test_the_applications_own_x_request_id_wins(make_stack):
    st = start(make_stack, "app")
    r = request(st.port, "GET", "/own-id", headers={"X-Request-Id": "from-proxy"})
    assert r.status == 200
    assert [v for k, v in r.headers if k.lower() == "x-request-id"] == ["set-by-the-app"]


@pytest.mark.parametrize("app, flags", INTERFACES)
def test_an_application_error_is_logged_with_its_request_id(make_stack, app, flags):
    st = start(make_stack, app, flags)
    r = request(st.port, "GET", "/boom", headers={"X-Request-Id": f"trace-{app}-1"})
    assert r.status == 500
    assert r.header("x-request-id") == f"trace-{app}-1"
    backend = st.backends[0]
    wait_until(lambda: "Traceback" in backend.log(100000), 10, "the traceback in the backend's log")
    log = backend.log(100000)
    line = next(x for x in log.splitlines() if f"trace-{app}-1" in x)
    assert " ERROR " in line and "/boom" in line
    assert "ValueError: boom in the" in log


def test_a_504_warning_names_the_request(make_stack):
    st = make_stack()
    st.start_frontend("--request-timeout", "1")
    st.start_backend()
    r = request(st.port, "GET", "/slow?tag=ident504", headers={"X-Request-Id": "slow-one"}, timeout=30)
    assert r.status == 504 and r.header("x-request-id") == "slow-one"
    log = st.frontend.log(100000)
    line = next(x for x in log.splitlines() if "no answer from the backend" in x)
    assert "GET /slow (id slow-one, client 127.0.0.1:" in line


@pytest.mark.parametrize("app, secure_url", [("flask_app", "https://frameworks.test/whoami"),
                                             ("starlette_app", "https://frameworks.test/whoami")])
def test_frameworks_build_https_urls_behind_a_trusted_proxy(make_stack, app, secure_url):
    flags = ("--interface", "wsgi") if app == "flask_app" else ()
    st = start(make_stack, app, flags)
    seen, _ = whoami(st.port, {"Host": "frameworks.test", **FORWARDED})
    assert seen["url"] == secure_url and seen["scheme"] == "https"
    assert seen["client"][0] == "203.0.113.7"
    if app == "flask_app":
        assert seen["secure"] is True
    # Untrusted, the same request builds http:// URLs.
    st2 = start(make_stack, app, flags, UNTRUSTING)
    seen, _ = whoami(st2.port, {"Host": "frameworks.test", **FORWARDED})
    assert seen["url"] == "http://frameworks.test/whoami" and seen["scheme"] == "http"


def test_serve_passes_forwarded_allow_ips_to_its_frontend(tmp_path):
    for flags, believed in (((), True), (UNTRUSTING, False)):
        port = free_port()
        proc = spawn("serve", [PYTHON, "-m", "tandem", f"{APP_MODULE}:app", "--app-dir", APPS_DIR, "--serve",
                               f"127.0.0.1:{port}", "--frontend", FRONTEND, *flags], str(tmp_path),
                     start_new_session=True)
        try:
            wait_until(lambda: tcp_accepts(port) and request(port, "GET", "/whoami").status == 200, 10,
                       "--serve to serve")
            seen, _ = whoami(port, FORWARDED)
            assert (seen["client"][0] == "203.0.113.7") is believed
            assert (seen["scheme"] == "https") is believed
        finally:
            proc.stop()
