"""The issue's example app served through the real frontend and backend."""

from __future__ import annotations

import http.client
import json

from e2e_support import request


def test_index_is_plain_text(port):
    r = request(port, "GET", "/")
    assert r.status == 200
    assert r.body == b"Hello from tandem!"
    assert r.header("content-type") == "text/plain; charset=utf-8"
    assert r.header("content-length") == str(len(b"Hello from tandem!"))
    assert r.header("date")
    assert r.header("server")


def test_path_parameter_and_query_give_json(port):
    r = request(port, "GET", "/users/5?q=hi")
    assert r.status == 200
    assert r.header("content-type") == "application/json"
    assert json.loads(r.body) == {"id": 5, "q": "hi"}
    assert r.body == b'{"id":5,"q":"hi"}'


def test_query_is_percent_decoded(port):
    r = request(port, "GET", "/users/42?q=h%C3%A9+llo%26x")
    assert r.status == 200
    assert json.loads(r.body) == {"id": 42, "q": "hé llo&x"}


def test_int_parameter_rejects_non_digits(port):
    r = request(port, "GET", "/users/abc")
    assert r.status == 404
    assert b"Not Found" in r.body


def test_post_echo_answers_201_with_the_body(port):
    body = "ünïcode body\x00 and bytes".encode("utf-8")
    r = request(port, "POST", "/echo", body=body, headers={"Content-Type": "text/x-e2e"})
    assert r.status == 201
    assert r.header("x-echo") == "1"
    assert r.header("content-type") == "text/x-e2e; charset=utf-8"
    assert r.body == body


def test_post_echo_empty_body(port):
    r = request(port, "POST", "/echo", body=b"")
    assert r.status == 201
    assert r.body == b""
    assert r.header("content-length") == "0"


def test_template_route_renders_escaped_html(port):
    r = request(port, "GET", "/hello/%3Cb%3Eworld")
    assert r.status == 200
    assert r.header("content-type") == "text/html; charset=utf-8"
    assert r.body == (b"<!doctype html>\n<title>Hello</title>\n<h1>Hello, &lt;b&gt;world!</h1>\n"
                      b"<ul><li>one</li><li>two</li></ul>")


def test_unknown_path_is_404(port):
    r = request(port, "GET", "/no/such/page")
    assert r.status == 404
    assert r.body == b"Not Found"


def test_wrong_method_is_405_with_allow(port):
    r = request(port, "DELETE", "/echo")
    assert r.status == 405
    assert r.header("allow") == "POST"
    r = request(port, "POST", "/users/5")
    assert r.status == 405
    assert r.header("allow") == "GET, HEAD"


def test_handler_error_is_500_and_the_connection_goes_on(port):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", "/boom")
        r = conn.getresponse()
        assert r.status == 500
        assert r.read() == b"Internal Server Error"
        assert not r.will_close
        conn.request("GET", "/users/7?q=after")
        r = conn.getresponse()
        assert r.status == 200
        assert r.read() == b'{"id":7,"q":"after"}'
    finally:
        conn.close()


def test_none_is_204_without_body(port):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", "/nothing")
        r = conn.getresponse()
        assert r.status == 204
        assert r.read() == b""
        assert r.getheader("content-length") in (None, "0")
        assert r.getheader("transfer-encoding") is None
        # The next response on the connection is parsed correctly, so no stray body was sent.
        conn.request("GET", "/")
        r = conn.getresponse()
        assert r.status == 200
        assert r.read() == b"Hello from tandem!"
    finally:
        conn.close()
