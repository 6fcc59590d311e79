"""Request and response bodies: chunked uploads, 5 MB both ways, HEAD."""

from __future__ import annotations

import hashlib
import http.client
import json
import random
import time

from e2e_support import ResponseReader, big_body, build_request, connect, request

FIVE_MB = 5 * 1024 * 1024


def test_hand_written_chunked_upload_is_echoed(port):
    head = (b"POST /echo HTTP/1.1\r\nHost: e2e.test\r\nTransfer-Encoding: chunked\r\n"
            b"Content-Type: text/plain\r\n\r\n")
    chunks = b"5\r\nhello\r\n1;name=value\r\n \r\nA\r\n0123456789\r\n6\r\nworld!\r\n0\r\nX-Trailer: t\r\n\r\n"
    with connect(port) as s:
        s.sendall(head + chunks)
        reader = ResponseReader(s)
        r = reader.read()
        assert r.status == 201
        assert r.header("x-echo") == "1"
        assert r.header("content-type") == "text/plain; charset=utf-8"
        assert r.body == b"hello 0123456789world!"
        # The same again, this time trickled in small writes.
        s.sendall(head)
        for i in range(0, len(chunks), 7):
            s.sendall(chunks[i:i + 7])
            time.sleep(0.005)
        r = reader.read()
        assert (r.status, r.body) == (201, b"hello 0123456789world!")


def test_empty_chunked_upload(port):
    with connect(port) as s:
        s.sendall(b"POST /echo HTTP/1.1\r\nHost: e2e.test\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n")
        r = ResponseReader(s).read()
        assert (r.status, r.body) == (201, b"")


def test_five_megabyte_upload_is_echoed_byte_exact(port):
    body = random.Random("upload").randbytes(FIVE_MB)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("POST", "/echo", body=body, headers={"Content-Type": "application/octet-stream"})
        r = conn.getresponse()
        echoed = r.read()
        assert r.status == 201
        # A body bigger than the flow-control window cannot travel in one frame, so the
        # frontend may frame it chunked; if it sends a length, it must be the right one.
        assert r.getheader("content-length") in (None, str(FIVE_MB))
        assert len(echoed) == FIVE_MB
        assert hashlib.sha256(echoed).hexdigest() == hashlib.sha256(body).hexdigest()
        assert echoed == body
        # The backend saw exactly these bytes too.
        conn.request("POST", "/digest", body=body)
        r = conn.getresponse()
        assert r.status == 200
        assert json.loads(r.read()) == {"length": FIVE_MB, "sha256": hashlib.sha256(body).hexdigest()}
    finally:
        conn.close()


def test_five_megabyte_chunked_upload_reaches_the_app_intact(port):
    body = random.Random("chunked upload").randbytes(FIVE_MB)
    # Uneven chunk sizes, so chunk boundaries do not line up with anything.
    sizes = random.Random(7)
    pieces = []
    i = 0
    while i < len(body):
        n = sizes.randint(1, 300000)
        pieces.append(body[i:i + n])
        i += n
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("POST", "/digest", body=iter(pieces), encode_chunked=True,
                     headers={"Transfer-Encoding": "chunked"})
        r = conn.getresponse()
        assert r.status == 200
        assert json.loads(r.read()) == {"length": FIVE_MB, "sha256": hashlib.sha256(body).hexdigest()}
    finally:
        conn.close()


def test_five_megabyte_download_is_byte_exact(port):
    expected = big_body(FIVE_MB)
    r = request(port, "GET", f"/big/{FIVE_MB}", timeout=30)
    assert r.status == 200
    assert r.header("content-type") == "application/octet-stream"
    assert r.header("content-length") in (None, str(FIVE_MB))
    assert hashlib.sha256(r.body).hexdigest() == hashlib.sha256(expected).hexdigest()
    assert r.body == expected


def test_five_megabyte_streamed_download_is_chunked_and_byte_exact(port):
    expected = big_body(FIVE_MB)
    with connect(port, timeout=30) as s:
        s.sendall(build_request("GET", f"/stream/{FIVE_MB}"))
        reader = ResponseReader(s)
        r = reader.read()
        assert r.status == 200
        assert r.chunked
        assert r.header("content-length") is None
        assert r.body == expected
        # Another one on the same connection: the chunked framing ended exactly.
        s.sendall(build_request("GET", f"/stream/{FIVE_MB // 5}"))
        r = reader.read()
        assert r.body == big_body(FIVE_MB // 5)


def test_head_on_a_dynamic_route_has_headers_and_no_body(port):
    with connect(port) as s:
        s.sendall(build_request("HEAD", "/users/9?q=head") + build_request("GET", "/users/9?q=head"))
        reader = ResponseReader(s)
        head = reader.read("HEAD")
        get = reader.read()
        assert head.status == get.status == 200
        assert head.header("content-type") == get.header("content-type") == "application/json"
        assert head.body == b""
        assert get.body == b'{"id":9,"q":"head"}'
        # RFC 9110 8.6: content-length MAY be sent for HEAD, and then must be GET's.
        assert head.header("content-length") in (None, get.header("content-length"))
        # No stray body bytes arrived between the two responses: the GET parsed cleanly above.


def test_head_on_a_big_dynamic_response_sends_no_body(port):
    # The backend sends a body bigger than the frontend's per-stream window
    # (256 KiB); for HEAD the frontend drops it, and must still let it flow.
    with connect(port, timeout=5) as s:
        s.sendall(build_request("HEAD", f"/big/{FIVE_MB}") + build_request("GET", "/"))
        reader = ResponseReader(s)
        head = reader.read("HEAD")
        assert head.status == 200
        assert head.header("content-length") in (None, str(FIVE_MB))
        # The dropped body's window must be given back, or the backend stalls and this hangs.
        after = reader.read()
        assert after.body == b"Hello from tandem!"


def test_head_on_a_static_file_has_headers_and_no_body(port, site):
    with connect(port) as s:
        s.sendall(build_request("HEAD", "/static/hello.txt") + build_request("GET", "/static/hello.txt"))
        reader = ResponseReader(s)
        head = reader.read("HEAD")
        get = reader.read()
        assert head.status == 200
        assert head.body == b""
        assert head.header("content-type") == "text/plain; charset=utf-8"
        assert head.header("content-length") == "13"
        assert head.header("last-modified") == get.header("last-modified")
        assert get.body == b"hello static\n"
