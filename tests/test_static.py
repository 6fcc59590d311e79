"""Static files served by the frontend, and paths that must never escape the mount."""

from __future__ import annotations

import os

import pytest

from e2e_support import (BLOB_SIZE, ResponseReader, blob_bytes, build_request, connect, is_closed, raw_exchange,
                         recv_all, request)


def test_text_file_with_type_length_and_bytes(port):
    r = request(port, "GET", "/static/hello.txt")
    assert r.status == 200
    assert r.header("content-type") == "text/plain; charset=utf-8"
    assert r.header("content-length") == "13"
    assert r.body == b"hello static\n"
    assert r.header("last-modified").endswith(" GMT")


@pytest.mark.parametrize("path, content_type, src", [
    ("/static/data.json", "application/json", "data.json"),
    ("/static/sub/style.css", "text/css; charset=utf-8", "sub/style.css"),
    ("/static/index.html", "text/html; charset=utf-8", "index.html"),
    ("/static/alias.txt", "text/plain; charset=utf-8", "hello.txt"),  # a symlink that stays inside
])
def test_content_types(port, site, path, content_type, src):
    with open(os.path.join(site["static"], src), "rb") as f:
        expected = f.read()
    r = request(port, "GET", path)
    assert r.status == 200
    assert r.header("content-type") == content_type
    assert r.header("content-length") == str(len(expected))
    assert r.body == expected


def test_binary_file_is_byte_exact(port):
    r = request(port, "GET", "/static/blob.bin", timeout=30)
    assert r.status == 200
    assert r.header("content-type") == "application/octet-stream"
    assert r.header("content-length") == str(BLOB_SIZE)
    assert r.body == blob_bytes()


def test_empty_file(port):
    r = request(port, "GET", "/static/empty.txt")
    assert (r.status, r.body, r.header("content-length")) == (200, b"", "0")


def test_head_on_a_static_file(port):
    with connect(port) as s:
        s.sendall(build_request("HEAD", "/static/blob.bin") + build_request("GET", "/static/hello.txt"))
        reader = ResponseReader(s)
        head = reader.read("HEAD")
        assert head.status == 200
        assert head.header("content-length") == str(BLOB_SIZE)
        assert head.header("content-type") == "application/octet-stream"
        assert head.body == b""
        # The next response follows at once: no file bytes were sent after the HEAD headers.
        r = reader.read()
        assert r.body == b"hello static\n"


def test_missing_file_is_404(port):
    r = request(port, "GET", "/static/nope.txt")
    assert r.status == 404


def test_post_to_a_static_file_is_405(port):
    r = request(port, "POST", "/static/hello.txt", body=b"x")
    assert r.status == 405
    assert r.header("allow") == "GET, HEAD"


def test_mount_without_slash_redirects(port):
    r = request(port, "GET", "/static")
    assert r.status == 301
    assert r.header("location") == "/static/"


def test_directory_without_slash_redirects(port):
    r = request(port, "GET", "/static/docs")
    assert r.status == 301
    assert r.header("location") == "/static/docs/"


def test_directory_serves_its_index_html(port, site):
    for path, src in (("/static/", "index.html"), ("/static/docs/", "docs/index.html")):
        with open(os.path.join(site["static"], src), "rb") as f:
            expected = f.read()
        r = request(port, "GET", path)
        assert r.status == 200, path
        assert r.body == expected, path
        assert r.header("content-length") == str(len(expected))
        assert r.header("content-type") == "text/html; charset=utf-8", path


def test_directory_without_index_is_404(port):
    assert request(port, "GET", "/static/sub/").status == 404


def test_dot_segments_inside_the_mount_are_resolved(port):
    raw = raw_exchange(port, build_request("GET", "/static/docs/./../hello.txt", [("Connection", "close")]))
    assert raw.startswith(b"HTTP/1.1 200 ")
    assert raw.endswith(b"\r\n\r\nhello static\n")


TRAVERSALS = [
    "/static/../secret",
    "/static/../secret.txt",
    "/static/%2e%2e/secret",
    "/static/%2E%2E/secret.txt",
    "/static/..%2fsecret",
    "/static/..%2Fsecret.txt",
    "/static/%2e%2e%2fsecret",
    "/static/a%00b",
    "/static/hello.txt%00.html",
    "/static/%5c..%5csecret",
    "/static/..%5csecret",
    "/static/..\\secret",
    "/static/sub/../../secret",
    "/static/sub/%2e%2e/%2e%2e/secret",
    "/static/../../../../../../etc/passwd",
    "/static/leak.txt",            # symlink to ../secret
    "/static/escape/secret",       # symlinked directory pointing outside
    "/static/escape/secret.txt",
    "/../secret",
    "//secret",
    "/static/%252e%252e/secret",          # encoded twice: decoded once, a name, not a climb
    "/static/%252e%252e%252fsecret",
    "/static/%c0%ae%c0%ae/secret",        # overlong UTF-8 dots
    "/static/%c0%ae%c0%ae%c0%afsecret",   # ... and slash
    "/static/..%c0%afsecret",
    "/static/..%e0%80%afsecret",
    "/static/.%2e/secret",
    "/static/%2e./secret",
    "/static/..;/secret",
    "/static/..%255csecret",
    "/static/%2e%2e%5csecret",
    "/static/sub/..%2f..%2fsecret",
    "/static/./../secret",
    "/static//../secret",
    "/static/%2f..%2fsecret",
    "/static/%u002e%u002e/secret",
    "/static/..%00/secret",
    "/static/.../secret",
]


@pytest.mark.parametrize("target", TRAVERSALS)
def test_traversal_is_refused_without_leaking(port, site, target):
    raw = raw_exchange(port, build_request("GET", target, [("Connection", "close")]))
    status = int(raw.split(b" ", 2)[1])
    assert status in (400, 403, 404), raw[:300]
    assert site["secret"].encode() not in raw
    assert b"root:" not in raw


@pytest.mark.parametrize("target", [
    "http://{host}/static/../secret",
    "http://{host}/static/%2e%2e/secret",
    "http://{host}/static/leak.txt",
    "http://{host}/../secret",
    "http://{host}",
])
def test_absolute_form_traversal_is_refused_without_leaking(port, site, target):
    host = f"127.0.0.1:{port}"
    raw = raw_exchange(port, build_request("GET", target.format(host=host), [("Connection", "close")], host=host))
    status = int(raw.split(b" ", 2)[1])
    assert status in (200, 400, 403, 404), raw[:300]
    if target.endswith("}"):
        # "http://host" alone is the root path: the app's index.
        assert raw.endswith(b"Hello from tandem!")
    else:
        assert status != 200
    assert site["secret"].encode() not in raw


def test_absolute_form_serves_the_same_static_file(port):
    host = f"127.0.0.1:{port}"
    raw = raw_exchange(port, build_request("GET", f"http://{host}/static/hello.txt", [("Connection", "close")],
                                           host=host))
    assert raw.startswith(b"HTTP/1.1 200 ")
    assert raw.endswith(b"\r\n\r\nhello static\n")


def test_secret_is_really_there(site):
    # Guards the traversal tests: the file they try to reach exists and is readable.
    with open(os.path.join(site["root"], "secret")) as f:
        assert f.read().strip() == site["secret"]
    assert os.path.realpath(os.path.join(site["static"], "leak.txt")) == os.path.join(site["root"], "secret")


def test_many_traversals_on_one_connection_leave_it_usable_or_closed(port, site):
    # Pipelined attempts on one connection: each is refused, nothing leaks, and
    # the connection still serves a legitimate file afterwards.
    data = b"".join(build_request("GET", t) for t in ("/static/leak.txt", "/static/%2e%2e/secret",
                                                      "/static/escape/secret"))
    with connect(port) as s:
        s.sendall(data + build_request("GET", "/static/hello.txt", [("Connection", "close")]))
        raw = recv_all(s)
    assert site["secret"].encode() not in raw
    assert raw.count(b"HTTP/1.1 404 ") == 3
    assert raw.endswith(b"hello static\n")


@pytest.mark.parametrize("method, path, status", [
    ("POST", "/static/hello.txt", 405),
    ("GET", "/static/hello.txt", 200),
])
def test_answered_request_whose_body_then_fails_closes(port, method, path, status):
    # The frontend answers this request itself before its body has arrived; the
    # body then turns out malformed.  The connection used to stay open for ever
    # (reading nothing, no timer), so a few hundred of these used up
    # --max-connections for everyone.
    with connect(port) as s:
        s.sendall(build_request(method, path, [("Transfer-Encoding", "chunked")]) + b"5\r\nhello\r\n")
        reader = ResponseReader(s)
        assert reader.read(method).status == status
        s.sendall(b"not a chunk size\r\n")
        assert is_closed(s)
    assert request(port, "GET", "/static/hello.txt").status == 200


def test_the_traversal_corpus_is_large_enough():
    assert len(set(TRAVERSALS)) >= 30
