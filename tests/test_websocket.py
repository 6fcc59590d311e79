"""WebSockets through the frontend to the native API (PROTOCOL.md section 8).

The RFC 6455 cases Autobahn's suite checks, in our own words, each with the
close code the frontend must answer with, spoken with the raw client of
``ws_client``; then the handshake's refusals, the close handshake seen from
the backend, pings, the size limit, and a backend that crashes."""

from __future__ import annotations

import os

import pytest

from e2e_support import APPS_DIR, IO_TIMEOUT, Stack, connect, wait_until
from ws_client import BINARY, CLOSE, CONT, PING, PONG, TEXT, WS, read_head

APP = "ws_app:app"
MAX_MESSAGE = 70000          # --ws-max-message of the shared stack: above one 64 KiB part


@pytest.fixture(scope="module")
def ws_stack(tmp_path_factory, site):
    st = Stack(str(tmp_path_factory.mktemp("ws")), site["static"])
    try:
        st.start_frontend("--ws-max-message", str(MAX_MESSAGE))
        st.start_backend(app=APP, app_dir=APPS_DIR)
        yield st
    except BaseException:
        print(st.logs())
        raise
    finally:
        st.close()


@pytest.fixture
def port(ws_stack):
    return ws_stack.port


def echo(ws: WS, kind: int, data: bytes) -> None:
    assert ws.recv_message() == (kind, data)


# --- messages -------------------------------------------------------------------------------


def test_text_and_binary_echo(port):
    ws = WS(port)
    ws.send(TEXT, "héllo".encode())
    echo(ws, TEXT, "héllo".encode())
    ws.send(BINARY, b"\x00\xff" * 10)
    echo(ws, BINARY, b"\x00\xff" * 10)
    ws.send(TEXT, b"")
    echo(ws, TEXT, b"")
    ws.send_close(1000)
    ws.expect_close(1000)
    ws.expect_eof()


def test_a_fragmented_message_arrives_whole(port):
    ws = WS(port)
    ws.send(TEXT, b"frag", fin=False)
    ws.send(CONT, b"men", fin=False)
    ws.send(CONT, b"ted", fin=True)
    echo(ws, TEXT, b"fragmented")


def test_control_frames_inside_a_fragmented_message(port):
    ws = WS(port)
    ws.send(BINARY, b"one ", fin=False)
    ws.send(PING, b"are you there")
    ws.send(CONT, b"two ", fin=False)
    ws.send(PONG, b"unasked")          # an unsolicited pong is ignored
    ws.send(CONT, b"three", fin=True)
    assert ws.recv_frame() == (True, PONG, b"are you there")
    echo(ws, BINARY, b"one two three")


def test_utf8_split_across_fragments_is_valid(port):
    ws = WS(port)
    snowman = "☃".encode()             # three bytes
    ws.send(TEXT, b"a" + snowman[:1], fin=False)
    ws.send(CONT, snowman[1:2], fin=False)
    ws.send(CONT, snowman[2:] + b"z", fin=True)
    echo(ws, TEXT, b"a" + snowman + b"z")


def test_a_message_of_several_parts_on_the_channel(port):
    """Larger than one 64 KiB part, within --ws-max-message: the backend gets it whole."""
    ws = WS(port)
    data = os.urandom(MAX_MESSAGE)
    ws.send(BINARY, data[:1000], fin=False)
    ws.send(CONT, data[1000:], fin=True)
    echo(ws, BINARY, data)


def test_ping_is_answered_by_the_frontend(port):
    ws = WS(port)
    ws.send(PING, b"x" * 125)
    assert ws.recv_frame() == (True, PONG, b"x" * 125)


# --- the client breaks the protocol: the close code it gets ----------------------------------


@pytest.mark.parametrize("frames, code", [
    pytest.param([dict(opcode=TEXT, payload=b"\xc3\x28")], 1007, id="invalid-utf8"),
    pytest.param([dict(opcode=TEXT, payload=b"ok \xed\xa0\x80")], 1007, id="utf16-surrogate"),
    pytest.param([dict(opcode=TEXT, payload=b"\xf4\x90\x80\x80")], 1007, id="above-u10ffff"),
    pytest.param([dict(opcode=TEXT, payload=b"\xc0\xaf")], 1007, id="overlong"),
    pytest.param([dict(opcode=TEXT, payload=b"abc\xe2\x98", fin=False), dict(opcode=CONT, payload=b"x")], 1007,
                 id="invalid-utf8-split-across-fragments"),
    pytest.param([dict(opcode=TEXT, payload=b"abc\xe2\x98")], 1007, id="text-ends-inside-a-character"),
    pytest.param([dict(opcode=TEXT, payload=b"hi", mask=False)], 1002, id="unmasked"),
    pytest.param([dict(opcode=TEXT, payload=b"hi", rsv=4)], 1002, id="reserved-bit"),
    pytest.param([dict(opcode=3, payload=b"")], 1002, id="reserved-opcode"),
    pytest.param([dict(opcode=CONT, payload=b"x")], 1002, id="continuation-without-a-message"),
    pytest.param([dict(opcode=TEXT, payload=b"a", fin=False), dict(opcode=TEXT, payload=b"b")], 1002,
                 id="new-message-inside-a-fragmented-one"),
    pytest.param([dict(opcode=PING, payload=b"x" * 126)], 1002, id="control-frame-over-125-bytes"),
    pytest.param([dict(opcode=PING, payload=b"x", fin=False)], 1002, id="fragmented-control-frame"),
    pytest.param([dict(opcode=CLOSE, payload=b"\x03")], 1002, id="close-with-one-byte"),
    pytest.param([dict(opcode=CLOSE, payload=b"\x03\xe8\xff")], 1007, id="close-reason-not-utf8"),
    pytest.param([dict(opcode=BINARY, payload=b"", length=MAX_MESSAGE + 1)], 1009, id="frame-over-the-limit"),
    pytest.param([dict(opcode=BINARY, payload=b"x" * 60000, fin=False), dict(opcode=CONT, payload=b"y" * 10001)],
                 1009, id="fragments-over-the-limit"),
])
def test_protocol_violations_get_their_close_code(port, frames, code):
    ws = WS(port)
    for f in frames:
        ws.send(**f)
    ws.expect_close(code)
    ws.expect_eof()


@pytest.mark.parametrize("code", [0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535])
def test_invalid_close_codes_get_1002(port, code):
    ws = WS(port)
    ws.send_close(code)
    ws.expect_close(1002)
    ws.expect_eof()


@pytest.mark.parametrize("code", [1000, 1001, 1003, 1007, 1011, 3000, 4999])
def test_valid_close_codes_are_echoed(port, code):
    ws = WS(port)
    ws.send_close(code, b"reason")
    ws.expect_close(code)
    ws.expect_eof()


def test_close_without_a_code_is_answered_without_one(port):
    ws = WS(port)
    ws.send_close(None)
    ws.expect_close(None)
    ws.expect_eof()


def test_the_backend_sees_the_clients_close_code(port, tmp_path):
    for code, sent in ((4123, 4123), (None, 1005)):
        out = tmp_path / f"code-{sent}"
        ws = WS(port, f"/close-code?file={out}")
        ws.send(TEXT, b"x")
        if code is None:
            ws.send_close(None)
        else:
            ws.send_close(code)
        ws.expect_close(code)
        wait_until(lambda: out.exists() and out.read_text() != "", IO_TIMEOUT, "the handler's close code")
        assert out.read_text() == str(sent)


def test_a_dropped_connection_is_1006_for_the_backend(port, tmp_path):
    out = tmp_path / "code-dropped"
    ws = WS(port, f"/close-code?file={out}")
    ws.send(TEXT, b"x")
    ws.close_socket()
    wait_until(lambda: out.exists() and out.read_text() != "", IO_TIMEOUT, "the handler's close code")
    assert out.read_text() == "1006"


# --- the backend's side -------------------------------------------------------------------------


def test_the_backend_closes_with_a_code_and_reason(port):
    ws = WS(port, "/bye")
    ws.send(TEXT, b"now")
    echo(ws, TEXT, b"bye now")
    assert ws.expect_close(4000) == b"see you"
    ws.send_close(4000)
    ws.expect_eof()


def test_subprotocol_and_headers_of_the_accept(port):
    ws = WS(port, "/proto", extra=("Sec-WebSocket-Protocol: chat, superchat",))
    assert ws.headers["sec-websocket-protocol"] == "superchat"
    assert ws.headers["x-room"] == "7"
    echo(ws, TEXT, b"chat,superchat")
    assert ws.expect_close(4001) == b"done"


def test_a_refusal_before_accept_is_403(port):
    WS(port, "/refuse", expect=403)


def test_no_websocket_route_is_404(port):
    WS(port, "/nowhere", expect=404)


def test_a_handler_that_raises_closes_with_1011(port):
    ws = WS(port, "/crash")
    ws.send(TEXT, b"boom")
    ws.expect_close(1011)


# --- handshakes the frontend refuses itself --------------------------------------------------------


def bad_handshake(port: int, lines: list[str]) -> tuple[int, dict[str, str]]:
    s = connect(port)
    s.sendall(("\r\n".join(["GET /echo HTTP/1.1", "Host: t", *lines]) + "\r\n\r\n").encode())
    status, headers, _ = read_head(s)
    s.close()
    return status, headers


def test_handshakes_the_frontend_refuses(port):
    up = ["Upgrade: websocket", "Connection: keep-alive, Upgrade"]
    key = "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ=="
    assert bad_handshake(port, up + [key])[0] == 426              # no version
    status, headers = bad_handshake(port, up + [key, "Sec-WebSocket-Version: 8"])
    assert (status, headers["sec-websocket-version"], headers["upgrade"]) == (426, "13", "websocket")
    assert "upgrade" in headers["connection"].lower()
    assert bad_handshake(port, up + ["Sec-WebSocket-Version: 13"])[0] == 400          # no key
    assert bad_handshake(port, up + ["Sec-WebSocket-Key: c2hvcnQ=", "Sec-WebSocket-Version: 13"])[0] == 400
    assert bad_handshake(port, up + [key, key, "Sec-WebSocket-Version: 13"])[0] == 400  # two keys
    # Without "connection: upgrade" it is no upgrade at all: plain HTTP, the app's 404 for GET /echo.
    assert bad_handshake(port, ["Upgrade: websocket", key, "Sec-WebSocket-Version: 13"])[0] == 404


def test_post_upgrade_is_400(port):
    s = connect(port)
    s.sendall(b"POST /echo HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
              b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
              b"Content-Length: 0\r\n\r\n")
    assert read_head(s)[0] == 400
    s.close()


def test_http_before_the_upgrade_on_the_same_connection(port):
    s = connect(port)
    s.sendall(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
    status, headers, rest = read_head(s)
    assert status == 200
    while len(rest) < int(headers["content-length"]):
        rest += s.recv(65536)
    key = b"dGhlIHNhbXBsZSBub25jZQ=="
    s.sendall(b"GET /echo HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
              b"Sec-WebSocket-Key: " + key + b"\r\nSec-WebSocket-Version: 13\r\n\r\n")
    status, headers, rest = read_head(s)
    assert status == 101 and headers["sec-websocket-accept"] == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
    s.close()


# --- limits, pings, crashes --------------------------------------------------------------------


def test_ping_interval_and_timeout(make_stack):
    st = make_stack()
    st.start_frontend("--ws-ping-interval", "1", "--ws-ping-timeout", "1")
    st.start_backend(app=APP, app_dir=APPS_DIR)
    ws = WS(st.port)
    ws.sock.settimeout(IO_TIMEOUT)
    fin, opcode, payload = ws.recv_frame()            # silent for a second: the frontend pings
    assert opcode == PING
    ws.send(PONG, payload)
    assert ws.recv_frame()[1] == PING                 # alive: pinged again after the next silence
    ws.expect_close(1011)                             # not answered: dropped
    ws.expect_eof()


def test_a_16_mib_message_fits_and_one_byte_more_is_1009(make_stack):
    st = make_stack()
    st.start_frontend()
    st.start_backend(app=APP, app_dir=APPS_DIR)
    ws = WS(st.port, "/size")
    big = b"m" * (16 * 1024 * 1024)
    ws.sock.sendall(ws.frame(BINARY, big))
    assert ws.recv_message() == (TEXT, str(len(big)).encode())
    ws.send(BINARY, b"", length=16 * 1024 * 1024 + 1)
    ws.expect_close(1009)


def test_a_backend_that_dies_closes_its_websockets_with_1011(make_stack):
    st = make_stack()
    st.start_frontend()
    st.start_backend(app=APP, app_dir=APPS_DIR)
    ws, other = WS(st.port, "/exit"), WS(st.port, "/echo")
    ws.send(TEXT, b"die")
    ws.expect_close(1011)
    other.expect_close(1011)
    ws.expect_eof()
    assert "websocket" in st.frontend.log()


def test_frontend_shutdown_closes_with_1001(make_stack):
    st = make_stack()
    st.start_frontend()
    st.start_backend(app=APP, app_dir=APPS_DIR)
    ws = WS(st.port)
    ws.send(TEXT, b"x")
    echo(ws, TEXT, b"x")
    st.frontend.popen.send_signal(15)
    ws.expect_close(1001)
    ws.send_close(1001)
    ws.expect_eof()
    assert st.frontend.popen.wait(timeout=IO_TIMEOUT) == 0


def test_max_connections_counts_websockets(make_stack):
    st = make_stack()
    st.start_frontend("--max-connections", "2")
    st.start_backend(app=APP, app_dir=APPS_DIR)
    first, second = WS(st.port), WS(st.port)
    third = connect(st.port)
    third.settimeout(IO_TIMEOUT)
    assert third.recv(1) == b""                       # closed at accept: two WebSockets are open
    first.send_close(1000)
    first.expect_close(1000)
    first.expect_eof()
    second.send(TEXT, b"still")
    echo(second, TEXT, b"still")
    wait_until(lambda: _accepted(st.port), IO_TIMEOUT, "room for a new connection once one WebSocket closed")


def _accepted(port: int) -> bool:
    s = connect(port)
    try:
        s.sendall(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
        return read_head(s)[0] == 200
    except ConnectionError:
        return False
    finally:
        s.close()


def test_a_stopping_backend_closes_its_websockets_with_1012(make_stack):
    st = make_stack()
    st.start_frontend()
    backend = st.start_backend(app=APP, app_dir=APPS_DIR)
    ws = WS(st.port)
    ws.send(TEXT, b"x")
    echo(ws, TEXT, b"x")
    backend.popen.send_signal(15)
    assert ws.expect_close(1012) == b"backend shutting down"
    ws.send_close(1012)
    ws.expect_eof()
    assert backend.popen.wait(timeout=IO_TIMEOUT) == 0


def test_a_request_pipelined_after_the_handshake_gets_400(port):
    """Bytes after the handshake would be HTTP, not frames: the frontend will not switch such a connection."""
    s = connect(port)
    s.sendall(b"GET /echo HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
              b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
              b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
    status, headers, rest = read_head(s)
    assert status == 400 and headers["connection"] == "close"
    s.settimeout(IO_TIMEOUT)
    while s.recv(65536):
        pass
    s.close()
