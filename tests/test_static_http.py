"""Static files, the HTTP side (issue 9): validators and conditional requests, ranges, hidden files,
the query on redirects and Cache-Control, through the real frontend.

The files are made by the test in a folder of its own (``files``): text, a 1 MiB binary (sent with
sendfile), an empty file, dotfiles and a ``.well-known`` folder, and a folder next to the mount whose
name starts with the mount's.  Expected outcomes are RFC 9110's (sections 13 and 14).
"""

from __future__ import annotations

import email.utils
import hashlib
import os
import socket
import time

import pytest

from e2e_support import Stack, build_request, connect, parse_responses, raw_exchange, request, status_kib

BIG = 1024 * 1024
HUGE = 256 * 1024 * 1024


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("files")
    pub = root / "pub"
    (pub / "sub").mkdir(parents=True)
    (pub / ".git").mkdir()
    (pub / ".well-known").mkdir()
    (pub / "hello.txt").write_bytes(b"Hello, World!")
    (pub / "m60.bin").write_bytes(bytes((i * 13) & 0xFF for i in range(60000)))   # kept, in a memfd
    (pub / "empty.txt").write_bytes(b"")
    (pub / "future.txt").write_bytes(b"from 2100\n")
    os.utime(pub / "future.txt", (4102444800, 4102444800))
    big = bytes((i * 7 + i // 251) & 0xFF for i in range(BIG))
    (pub / "big.bin").write_bytes(big)
    with open(pub / "huge.bin", "wb") as f:     # sparse: no disk, all zeros
        f.truncate(HUGE)
    # Precompressed variants (their bytes need not be real gzip or brotli here).
    (pub / "app.js").write_bytes(b"console.log('identity');\n")
    (pub / "app.js.gz").write_bytes(b"GZIP-BYTES")
    (pub / "app.js.br").write_bytes(b"BROTLI-BYTES")
    (pub / "style.css").write_bytes(b"body {}\n")
    (pub / "style.css.gz").write_bytes(b"GZ-CSS")
    (root / "outside.br").write_bytes(b"OUTSIDE")
    (pub / "plain.txt").write_bytes(b"plain\n")
    os.symlink(root / "outside.br", pub / "plain.txt.br")
    (pub / "sub" / "index.html").write_bytes(b"<h1>sub</h1>\n")
    (pub / ".env").write_bytes(b"SECRET=dotenv\n")
    (pub / ".git" / "config").write_bytes(b"[core] secret\n")
    (pub / "sub" / ".hidden.txt").write_bytes(b"hidden\n")
    (pub / ".well-known" / "token").write_bytes(b"acme-token\n")
    # Visible names for hidden files, and an index.html that is a folder.
    os.symlink(".env", pub / "visible-env")
    os.symlink(".git", pub / "visible-git")
    (pub / "odd" / "index.html").mkdir(parents=True)
    # A folder whose name starts with the mount's folder's: never reachable through it.
    (root / "pub_private").mkdir()
    (root / "pub_private" / "x.txt").write_bytes(b"PRIVATE\n")
    return {"root": root, "pub": pub, "big": big}


@pytest.fixture(scope="module")
def fstack(tmp_path_factory, files):
    stack = Stack(str(tmp_path_factory.mktemp("stack")), None)
    stack.start_frontend("--static", f"/files={files['pub']}", "--static", f"/cached={files['pub']}",
                         "--static-max-age", "/cached=3600")
    try:
        yield stack
    finally:
        stack.close()


@pytest.fixture(scope="module")
def fport(fstack):
    return fstack.port


def get(port, path, **headers):
    return request(port, "GET", path, headers=headers)


# --- validators and conditional requests ---------------------------------------------


def test_validators_on_every_file(fport, files):
    r = get(fport, "/files/hello.txt")
    assert r.status == 200 and r.body == b"Hello, World!"
    st = os.stat(files["pub"] / "hello.txt")
    etag = r.header("etag")
    assert etag.startswith('"') and etag.endswith('"') and not etag.startswith("W/")
    assert email.utils.parsedate_to_datetime(r.header("last-modified")).timestamp() == int(st.st_mtime)
    assert r.header("accept-ranges") == "bytes"
    assert r.header("cache-control") is None          # no --static-max-age for /files
    # The same file answers with the same tag; another file with another.
    assert get(fport, "/files/hello.txt").header("etag") == etag
    assert get(fport, "/files/empty.txt").header("etag") != etag


def test_if_none_match_gives_304_without_a_body(fport):
    etag = get(fport, "/files/hello.txt").header("etag")
    for value in (etag, f'"nope", {etag}', f"W/{etag}", "*"):
        r = get(fport, "/files/hello.txt", **{"If-None-Match": value})
        assert r.status == 304, value
        assert r.body == b"" and r.header("etag") == etag and r.header("content-length") is None
    assert get(fport, "/files/hello.txt", **{"If-None-Match": '"nope"'}).status == 200


def test_head_304_and_raw_bytes_of_a_304(fport):
    etag = get(fport, "/files/hello.txt").header("etag")
    raw = raw_exchange(fport, build_request("GET", "/files/hello.txt",
                                            [("If-None-Match", etag), ("Connection", "close")]))
    head, _, rest = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 304 Not Modified\r\n") and rest == b""
    assert request(fport, "HEAD", "/files/hello.txt", headers={"If-None-Match": etag}).status == 304


def test_if_modified_since(fport, files):
    mtime = int(os.stat(files["pub"] / "hello.txt").st_mtime)
    same = email.utils.formatdate(mtime, usegmt=True)
    before = email.utils.formatdate(mtime - 10, usegmt=True)
    assert get(fport, "/files/hello.txt", **{"If-Modified-Since": same}).status == 304
    assert get(fport, "/files/hello.txt", **{"If-Modified-Since": before}).status == 200
    assert get(fport, "/files/hello.txt", **{"If-Modified-Since": "not a date"}).status == 200
    # If-None-Match wins: a tag that does not match means the whole file, whatever the date.
    r = get(fport, "/files/hello.txt", **{"If-None-Match": '"nope"', "If-Modified-Since": same})
    assert r.status == 200 and r.body == b"Hello, World!"


def test_if_match_and_if_unmodified_since_give_412(fport, files):
    etag = get(fport, "/files/hello.txt").header("etag")
    mtime = int(os.stat(files["pub"] / "hello.txt").st_mtime)
    assert get(fport, "/files/hello.txt", **{"If-Match": etag}).status == 200
    assert get(fport, "/files/hello.txt", **{"If-Match": '"nope"'}).status == 412
    assert get(fport, "/files/hello.txt", **{"If-Match": f"W/{etag}"}).status == 412
    assert get(fport, "/files/hello.txt",
               **{"If-Unmodified-Since": email.utils.formatdate(mtime - 10, usegmt=True)}).status == 412
    assert get(fport, "/files/hello.txt",
               **{"If-Unmodified-Since": email.utils.formatdate(mtime, usegmt=True)}).status == 200


def fresh(port, path, want_status, want_body=None, limit=10.0):
    """GET path until it answers as wanted: a kept copy is checked against the disk once a second."""
    deadline = time.monotonic() + limit
    while True:
        r = get(port, path)
        if r.status == want_status and (want_body is None or r.body == want_body):
            return r
        assert time.monotonic() < deadline, f"{path}: still {r.status} {r.body[:40]!r}"
        time.sleep(0.1)


def test_an_edited_file_is_served_fresh_with_a_new_tag(fport, files):
    path = files["pub"] / "edited.txt"
    path.write_bytes(b"one")
    first = get(fport, "/files/edited.txt")
    assert first.body == b"one"
    assert get(fport, "/files/edited.txt").body == b"one"      # now kept in memory
    path.write_bytes(b"two")
    second = fresh(fport, "/files/edited.txt", 200, b"two")
    assert second.header("etag") != first.header("etag")
    assert get(fport, "/files/edited.txt", **{"If-None-Match": first.header("etag")}).status == 200
    # A file that grows past what is kept in memory is read from the disk again.
    path.write_bytes(b"x" * 100000)
    assert len(fresh(fport, "/files/edited.txt", 200, b"x" * 100000).body) == 100000
    # Its descriptor is kept now; a new file put in its place by rename is seen too.
    assert get(fport, "/files/edited.txt").body == b"x" * 100000
    tmp = files["pub"] / "edited.tmp"
    tmp.write_bytes(b"z" * 100001)
    os.replace(tmp, path)
    assert fresh(fport, "/files/edited.txt", 200, b"z" * 100001).header("content-length") == "100001"
    # And a removed one is gone.
    path.unlink()
    fresh(fport, "/files/edited.txt", 404)


# --- ranges --------------------------------------------------------------------------


@pytest.mark.parametrize("spec, first, last", [
    ("bytes=0-0", 0, 0), ("bytes=0-4", 0, 4), ("bytes=7-", 7, 12), ("bytes=-5", 8, 12), ("bytes=-100", 0, 12),
    ("bytes=10-99", 10, 12),
])
def test_single_range_of_a_small_file(fport, spec, first, last):
    r = get(fport, "/files/hello.txt", Range=spec)
    assert r.status == 206
    assert r.header("content-range") == f"bytes {first}-{last}/13"
    assert r.body == b"Hello, World!"[first:last + 1]
    assert int(r.header("content-length")) == last - first + 1


@pytest.mark.parametrize("spec, first, last", [
    ("bytes=0-99", 0, 99), ("bytes=1000-200000", 1000, 200000), (f"bytes={BIG - 10}-", BIG - 10, BIG - 1),
    ("bytes=-65537", BIG - 65537, BIG - 1), ("bytes=500000-", 500000, BIG - 1),
])
def test_single_range_of_a_large_file_is_exact(fport, files, spec, first, last):
    r = get(fport, "/files/big.bin", Range=spec)
    assert r.status == 206 and r.header("content-range") == f"bytes {first}-{last}/{BIG}"
    assert hashlib.sha256(r.body).hexdigest() == hashlib.sha256(files["big"][first:last + 1]).hexdigest()


def test_unsatisfiable_range_is_416(fport):
    for path, size in (("/files/hello.txt", 13), ("/files/big.bin", BIG), ("/files/empty.txt", 0)):
        r = get(fport, path, Range=f"bytes={size}-")
        assert r.status == 416 and r.header("content-range") == f"bytes */{size}"


def test_a_suffix_range_of_an_empty_file_gives_the_whole_file(fport):
    # Satisfiable (RFC 9110 section 14.1.1), but no Content-Range can say so: nginx answers 200 too.
    r = get(fport, "/files/empty.txt", Range="bytes=-5")
    assert (r.status, r.body, r.header("content-length")) == (200, b"", "0")


def test_a_file_from_the_future_is_last_modified_now(fport, files):
    r = get(fport, "/files/future.txt")
    last, date = (email.utils.parsedate_to_datetime(r.header(h)) for h in ("last-modified", "date"))
    assert r.status == 200 and last <= date
    assert get(fport, "/files/future.txt", **{"If-Modified-Since": r.header("last-modified")}).status == 304


def test_ranges_that_are_ignored_give_the_whole_file(fport):
    for spec in ("bytes=5-2", "items=0-1", "bytes=x-y", "bytes=0-1,3-4", "bytes 0-1"):
        r = get(fport, "/files/hello.txt", Range=spec)
        assert (r.status, r.body) == (200, b"Hello, World!"), spec


def test_a_thousand_overlapping_ranges_cost_one_file(fport, files):
    spec = "bytes=" + ",".join(["0-0"] * 1000)
    r = get(fport, "/files/big.bin", Range=spec)
    assert r.status == 200 and len(r.body) == BIG and r.body == files["big"]


def test_if_range(fport):
    ok = get(fport, "/files/hello.txt")
    etag, modified = ok.header("etag"), ok.header("last-modified")
    assert get(fport, "/files/hello.txt", Range="bytes=0-4", **{"If-Range": etag}).status == 206
    assert get(fport, "/files/hello.txt", Range="bytes=0-4", **{"If-Range": modified}).status == 206
    for stale in ('"nope"', f"W/{etag}", "Thu, 01 Jan 1970 00:00:00 GMT"):
        r = get(fport, "/files/hello.txt", Range="bytes=0-4", **{"If-Range": stale})
        assert (r.status, r.body) == (200, b"Hello, World!"), stale


def test_head_with_a_range_is_the_whole_head(fport):
    r = request(fport, "HEAD", "/files/big.bin", headers={"Range": "bytes=0-9"})
    assert r.status == 200 and r.header("content-length") == str(BIG) and r.body == b""


def test_pipelined_ranges_on_one_connection(fport):
    data = b"".join(build_request("GET", "/files/hello.txt", [("Range", f"bytes={i}-{i}")]) for i in range(5))
    raw = raw_exchange(fport, data + build_request("GET", "/files/hello.txt", [("Connection", "close")]))
    responses = parse_responses(raw)
    assert [r.status for r in responses] == [206] * 5 + [200]
    assert [r.body for r in responses[:5]] == [b"H", b"e", b"l", b"l", b"o"]


# --- hidden files, redirects, Cache-Control -------------------------------------------------


@pytest.mark.parametrize("path", ["/files/.env", "/files/.git/config", "/files/.git/", "/files/sub/.hidden.txt",
                                  "/files/%2eenv", "/files/sub/..%2f.env", "/files/.well-known/../.env",
                                  "/files/visible-env", "/files/visible-git/config"])
def test_hidden_files_are_404(fport, path):
    raw = raw_exchange(fport, build_request("GET", path, [("Connection", "close")]))
    assert raw.split(b" ", 2)[1] in (b"400", b"404"), raw[:200]
    assert b"SECRET" not in raw and b"secret" not in raw and b"hidden\n" not in raw


def test_an_index_html_that_is_a_folder_is_no_index(fport):
    # Redirected to the slash, the folder is then answered as one without an index (it used to redirect to
    # "/files/odd//", which normalises back to "/files/odd/": a loop).
    r = get(fport, "/files/odd")
    assert r.status == 301 and r.header("location") == "/files/odd/"
    assert get(fport, "/files/odd/").status == 404


def test_well_known_is_served(fport):
    r = get(fport, "/files/.well-known/token")
    assert (r.status, r.body) == (200, b"acme-token\n")


def test_a_sibling_folder_with_the_mounts_name_is_not_reachable(fport):
    for path in ("/files/../pub_private/x.txt", "/files_private/x.txt", "/files/%2e%2e/pub_private/x.txt"):
        raw = raw_exchange(fport, build_request("GET", path, [("Connection", "close")]))
        assert b"PRIVATE" not in raw, path


def test_redirects_keep_the_query(fport):
    for path, location in (("/files/sub?a=1&b=2", "/files/sub/?a=1&b=2"), ("/files?x=%20y", "/files/?x=%20y"),
                           ("/files/sub", "/files/sub/")):
        raw = raw_exchange(fport, build_request("GET", path, [("Connection", "close")]))
        r = parse_responses(raw)[0]
        assert r.status == 301 and r.header("location").endswith(location), (path, r.header("location"))


def test_a_redirect_keeps_its_own_query_when_requests_follow_it(fport):
    # The directory is looked up on the thread pool, while the next request's head is read: the redirect
    # used to take that request's query (or bytes of a head still arriving).
    nxt = build_request("GET", "/files/hello.txt?zzz=1", [])
    raw = raw_exchange(fport, build_request("GET", "/files/sub?a=1", []) + nxt
                       + build_request("GET", "/files/sub", [("Connection", "close")]))
    first, second, third = parse_responses(raw)
    assert first.status == 301 and first.header("location") == "/files/sub/?a=1"
    assert (second.status, second.body) == (200, b"Hello, World!")
    assert third.status == 301 and third.header("location") == "/files/sub/"
    with connect(fport) as s:
        s.sendall(build_request("GET", "/files/sub?a=1", []) + b"GET /x HTTP/1.1\r\nCookie: sess=topsecret")
        raw = b""
        while not raw.endswith(b"Moved Permanently\n"):
            chunk = s.recv(65536)
            assert chunk, raw
            raw += chunk
        r = parse_responses(raw)[0]
    assert r.status == 301 and r.header("location") == "/files/sub/?a=1"


def test_cache_control_per_mount(fport):
    r = get(fport, "/cached/hello.txt")
    assert r.status == 200 and r.header("cache-control") == "public, max-age=3600"
    r304 = get(fport, "/cached/hello.txt", **{"If-None-Match": r.header("etag")})
    assert r304.status == 304 and r304.header("cache-control") == "public, max-age=3600"
    assert get(fport, "/files/hello.txt").header("cache-control") is None


def test_a_mounts_own_max_age_wins_over_the_general_one_in_any_order(tmp_path, files):
    """--static-max-age PREFIX=SECONDS is that mount's, SECONDS every other's, whichever comes first."""
    stack = Stack(str(tmp_path), None)
    stack.start_frontend("--static", f"/a={files['pub']}", "--static", f"/b={files['pub']}",
                         "--static-max-age", "/b=0", "--static-max-age", "100")
    try:
        assert get(stack.port, "/a/hello.txt").header("cache-control") == "public, max-age=100"
        assert get(stack.port, "/b/hello.txt").header("cache-control") == "public, max-age=0"
    finally:
        stack.close()


@pytest.mark.parametrize("flags, listed", [
    (["--static-listing"], True),                   # a switch alone is on
    (["--static-listing", "--static-follow-symlinks"], True),
    (["--static-listing", "0"], False),
    (["--static-listing=1"], True),
])
def test_switches_are_on_alone_or_take_0_or_1(tmp_path, files, flags, listed):
    stack = Stack(str(tmp_path), None)
    stack.start_frontend("--static", f"/l={files['pub']}", *flags)
    try:
        r = get(stack.port, "/l/")
        assert (r.status, b"hello.txt" in r.body) == ((200, True) if listed else (404, False))
    finally:
        stack.close()


def test_a_slow_reader_of_a_huge_file_costs_the_frontend_no_memory(fstack):
    """256 MiB to a client that reads 64 KiB at a time, slowly: the frontend holds no more than its buffers."""
    pid = fstack.frontend.pid
    before = status_kib(pid)
    peak = before
    with connect(fstack.port) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
        s.sendall(build_request("GET", "/files/huge.bin", [("Connection", "close")]))
        got = 0
        for _ in range(40):
            data = s.recv(65536)
            assert data
            got += len(data)
            peak = max(peak, status_kib(pid))
            time.sleep(0.02)
        # The file is far from sent, and the frontend still answers others meanwhile.
        assert got < HUGE // 4
        assert get(fstack.port, "/files/hello.txt").body == b"Hello, World!"
    # sendfile goes from the page cache to the socket: nothing of the file is copied into the frontend.
    assert peak - before < 8 * 1024, f"RSS grew from {before} KiB to {peak} KiB"


def test_pipelined_requests_of_a_client_that_does_not_read_hold_bounded_memory(fstack, files):
    """1,000 pipelined GETs of a 60 KB file (60 MB of answers, far more than the sockets' buffers take) from a
    client that reads nothing for a while: the frontend parses no further once about 256 KiB of answers wait,
    as nginx answers a pipelined request only when the one before is out, rather than buffering them all (it
    used to, up to its 64 MiB cap, and then crashed); then, as the client reads, every answer comes, in order
    and whole."""
    pid = fstack.frontend.pid
    body = (files["pub"] / "m60.bin").read_bytes()
    n = 1000
    before = status_kib(pid)
    with connect(fstack.port) as s:
        s.sendall(b"".join(build_request("GET", "/files/m60.bin") for _ in range(n - 1))
                  + build_request("GET", "/files/m60.bin", [("Connection", "close")]))
        time.sleep(0.5)
        held = status_kib(pid) - before
        # The frontend is alive and answers others meanwhile.
        assert get(fstack.port, "/files/hello.txt").body == b"Hello, World!"
        assert held < 16 * 1024, f"RSS grew by {held} KiB while the client read nothing"
        data = bytearray()
        while chunk := s.recv(1 << 20):     # the last request asked the frontend to close after it
            data += chunk
    responses = parse_responses(bytes(data))
    assert len(responses) == n
    assert all(r.status == 200 and r.body == body for r in responses)


# --- precompressed variants ---------------------------------------------------------------


@pytest.mark.parametrize("accept, body, encoding", [
    ("gzip, deflate, br", b"BROTLI-BYTES", "br"),
    ("br", b"BROTLI-BYTES", "br"),
    ("gzip", b"GZIP-BYTES", "gzip"),
    ("br;q=0, gzip", b"GZIP-BYTES", "gzip"),
    ("identity", b"console.log('identity');\n", None),
    (None, b"console.log('identity');\n", None),
    ("*", b"BROTLI-BYTES", "br"),
])
def test_precompressed_variant_by_accept_encoding(fport, accept, body, encoding):
    for _ in range(2):          # from the disk, then from memory
        r = get(fport, "/files/app.js", **({"Accept-Encoding": accept} if accept else {}))
        assert r.status == 200 and r.body == body
        assert r.header("content-encoding") == encoding
        assert r.header("vary") == "accept-encoding"
        assert r.header("content-type") == "text/javascript; charset=utf-8"


def test_each_variant_has_its_own_tag_and_conditions(fport):
    tags = {enc: get(fport, "/files/app.js", **{"Accept-Encoding": enc}).header("etag") for enc in ("br", "gzip", "x")}
    assert len(set(tags.values())) == 3
    r = get(fport, "/files/app.js", **{"Accept-Encoding": "gzip", "If-None-Match": tags["gzip"]})
    assert r.status == 304 and r.header("vary") == "accept-encoding"
    # The identity tag does not match the gzip variant.
    assert get(fport, "/files/app.js", **{"Accept-Encoding": "gzip", "If-None-Match": tags["x"]}).status == 200
    r = get(fport, "/files/app.js", **{"Accept-Encoding": "gzip", "Range": "bytes=0-3"})
    assert (r.status, r.body, r.header("content-range")) == (206, b"GZIP", "bytes 0-3/10")


def test_only_the_variants_that_exist(fport):
    r = get(fport, "/files/style.css", **{"Accept-Encoding": "br"})
    assert (r.body, r.header("content-encoding"), r.header("vary")) == (b"body {}\n", None, "accept-encoding")
    r = get(fport, "/files/style.css", **{"Accept-Encoding": "br, gzip"})
    assert (r.body, r.header("content-encoding")) == (b"GZ-CSS", "gzip")
    # No variant at all: no Vary either.
    assert get(fport, "/files/hello.txt", **{"Accept-Encoding": "br, gzip"}).header("vary") is None


def test_a_variant_outside_the_mount_is_not_used(fport):
    r = get(fport, "/files/plain.txt", **{"Accept-Encoding": "br"})
    assert (r.status, r.body, r.header("content-encoding")) == (200, b"plain\n", None)
    assert b"OUTSIDE" not in raw_exchange(fport, build_request("GET", "/files/plain.txt.br", [("Connection", "close")]))


def test_symlinks_out_of_the_mount_only_with_the_flag(tmp_path, files):
    stack = Stack(str(tmp_path), None)
    stack.start_frontend("--static", f"/files={files['pub']}", "--static-follow-symlinks", "1")
    try:
        r = get(stack.port, "/files/plain.txt.br")
        assert (r.status, r.body) == (200, b"OUTSIDE")
        # Still never by climbing: the path is normalised before any file is looked at.
        raw = raw_exchange(stack.port, build_request("GET", "/files/../pub_private/x.txt", [("Connection", "close")]))
        assert b"PRIVATE" not in raw
    finally:
        stack.close()


def test_symlinks_out_of_the_mount_are_404_by_default(fport):
    raw = raw_exchange(fport, build_request("GET", "/files/plain.txt.br", [("Connection", "close")]))
    assert raw.startswith(b"HTTP/1.1 404 ") and b"OUTSIDE" not in raw


def test_directory_listing_only_with_the_flag(tmp_path, fport):
    root = tmp_path / "site"
    (root / "list" / "inner").mkdir(parents=True)
    (root / "list" / "a&b <x>.txt").write_bytes(b"x" * 1234)
    (root / "list" / "plain.txt").write_bytes(b"p")
    (root / "list" / ".secret").write_bytes(b"s")
    (root / "withindex").mkdir()
    (root / "withindex" / "index.html").write_bytes(b"<p>index</p>")
    stack = Stack(str(tmp_path / "stack"), None)
    stack.start_frontend("--static", f"/l={root}", "--static-listing", "1")
    try:
        r = get(stack.port, "/l/list/")
        assert r.status == 200 and r.header("content-type") == "text/html; charset=utf-8"
        page = r.body.decode()
        assert "Index of /l/list/" in page
        assert '<a href="a%26b%20%3Cx%3E.txt">a&amp;b &lt;x&gt;.txt</a>' in page and "1234" in page
        assert '<a href="inner/">inner/</a>' in page and '<a href="plain.txt">plain.txt</a>' in page
        assert ".secret" not in page
        assert page.index("a&amp;b") < page.index("inner/") < page.index("plain.txt")    # sorted
        # An index.html wins over the listing; the listing of the root works too.
        assert get(stack.port, "/l/withindex/").body == b"<p>index</p>"
        assert '<a href="list/">list/</a>' in get(stack.port, "/l/").body.decode()
        assert get(stack.port, "/l/nope/").status == 404
    finally:
        stack.close()
    # Without the flag (the module's frontend): a directory without index.html is 404.
    assert get(fport, "/files/.well-known/").status == 404


# --- --static-fallthrough ----------------------------------------------------------------


def test_fallthrough_sends_what_is_no_file_to_the_application(tmp_path):
    root = tmp_path / "site"
    root.mkdir()
    (root / "hello.txt").write_bytes(b"from the disk\n")
    (root / ".env").write_bytes(b"SECRET=1\n")
    stack = Stack(str(tmp_path / "stack"), None)
    stack.start_frontend("--static", f"/={root}", "--static-fallthrough", "1")
    stack.start_backend()
    try:
        port = stack.port
        assert get(port, "/hello.txt").body == b"from the disk\n"
        assert get(port, "/hello.txt").body == b"from the disk\n"          # and from memory
        r = get(port, "/whoami")
        assert r.status == 200 and b'"path":"/whoami"' in r.body.replace(b" ", b"")
        assert get(port, "/").body == b"Hello from tandem!"               # no index.html: the app's /
        assert get(port, "/users/42?q=x").body.replace(b" ", b"") == b'{"id":42,"q":"x"}'
        r = request(port, "POST", "/echo", body=b"posted", headers={"Content-Type": "text/plain"})
        assert (r.status, r.body) == (201, b"posted")
        r = get(port, "/.env")                                             # hidden: the app's, not the file
        assert r.status == 404 and b"SECRET" not in r.body
        assert request(port, "HEAD", "/whoami").status == 200
        # Pipelined on one connection, files and the app's answers keep their order.
        data = b"".join(build_request("GET", t) for t in ("/hello.txt", "/whoami", "/missing", "/hello.txt"))
        raw = raw_exchange(port, data + build_request("GET", "/pid", [("Connection", "close")]))
        responses = parse_responses(raw)
        assert [r.status for r in responses] == [200, 200, 404, 200, 200]
        assert responses[0].body == responses[3].body == b"from the disk\n"
        assert b"whoami" in responses[1].body and b"pid" in responses[4].body
    finally:
        stack.close()


def test_fallthrough_without_a_backend_is_503(tmp_path):
    root = tmp_path / "site"
    root.mkdir()
    (root / "hello.txt").write_bytes(b"file\n")
    stack = Stack(str(tmp_path / "stack"), None)
    stack.start_frontend("--static", f"/={root}", "--static-fallthrough", "1", "--backend-wait", "0")
    try:
        assert get(stack.port, "/hello.txt").body == b"file\n"
        r = get(stack.port, "/missing")
        assert r.status == 503 and b"no backend" in r.body
        assert get(stack.port, "/hello.txt").status == 200                 # the connection goes on
    finally:
        stack.close()
