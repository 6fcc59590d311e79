"""--access-log and --access-log-format: the lines the real frontend writes, parsed field by field.

A static hit, a dynamic request, a 404 from each side, a 502 (the backend killed with the request in
it), and hostile bytes in the request line and the headers, in both formats; the stderr form, the
old 1/0 spellings, and the reopen on SIGUSR1 after a rotation.
"""

from __future__ import annotations

import json
import os
import re
import signal

import pytest

from e2e_support import APPS_DIR, ResponseReader, connect, raw_exchange, request, wait_until
from ws_client import TEXT, WS

# nginx's combined format, then request time, upstream time, backend and request id.  A quoted field
# holds no '"' but as \x22: every '"' and '\' inside is escaped, so the pattern below is exact.
QUOTED = r'"((?:[^"\\]|\\x[0-9a-f]{2})*)"'
COMBINED = re.compile(
    r'^(?P<addr>\S+) - - \[(?P<time>\d{2}/[A-Z][a-z]{2}/\d{4}:\d{2}:\d{2}:\d{2} [+-]\d{4})\] '
    + QUOTED.replace("(", "(?P<request>", 1) + r" (?P<status>\d{3}) (?P<bytes>\d+) "
    + QUOTED.replace("(", "(?P<referer>", 1) + " " + QUOTED.replace("(", "(?P<agent>", 1)
    + r" (?P<request_time>\d+\.\d{3}) (?P<upstream_time>-|\d+\.\d{3}) (?P<backend>-|static|\d+/\d+) "
    + QUOTED.replace("(", "(?P<request_id>", 1) + "$")
JSON_KEYS = {"time", "remote_addr", "request", "status", "body_bytes_sent", "referer", "user_agent",
             "request_time", "upstream_time", "backend", "request_id"}


def unescape(field: str) -> bytes:
    """The bytes a combined field stands for (\\xHH back to its byte)."""
    return re.sub(rb"\\x([0-9a-f]{2})", lambda m: bytes([int(m.group(1), 16)]), field.encode("ascii"))


def is_probe(line: str) -> bool:
    """A line of wait_backend_ready's GET / probes, which come before each test's requests."""
    return '"GET / HTTP/1.1"' in line or '"request":"GET / HTTP/1.1"' in line


def read_lines(path: str, count: int) -> list[str]:
    """The log's lines but the probes, once there are count of them (the log is written from the loop,
    asynchronously: this waits for the lines, it does not time them)."""
    def lines() -> list[str]:
        if not os.path.exists(path):
            return []
        data = open(path, "rb").read()
        data = data[:data.rfind(b"\n") + 1]
        return [x for x in data.decode("utf-8").split("\n")[:-1] if not is_probe(x)]
    wait_until(lambda: len(lines()) >= count, 10, f"{count} lines in {path}")
    found = lines()
    assert len(found) == count, found
    return found


def parse_combined(line: str) -> dict[str, str]:
    m = COMBINED.match(line)
    assert m is not None, f"not a combined line: {line!r}"
    return m.groupdict()


def parse_json(line: str) -> dict:
    entry = json.loads(line)
    assert set(entry) == JSON_KEYS, entry
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d\d:\d\d", entry["time"])
    return entry


def start(make_stack, tmp_path, fmt: str):
    path = str(tmp_path / "access.log")
    st = make_stack()
    st.start_frontend("--access-log", path, "--access-log-format", fmt)
    backend = st.start_backend("--generation", "7")
    return st, backend, path


def the_mix(st) -> None:
    """A static hit, a dynamic 200 with a referer, a dynamic 404 and a static 404."""
    assert request(st.port, "GET", "/static/hello.txt", headers={"User-Agent": "probe/1"}).status == 200
    assert request(st.port, "GET", "/users/5?q=x", headers={"Referer": "http://example.test/a",
                                                           "User-Agent": "probe/2"}).status == 200
    assert request(st.port, "GET", "/no/such/route", headers={"User-Agent": "probe/3"}).status == 404
    assert request(st.port, "GET", "/static/missing.txt", headers={"User-Agent": "probe/4"}).status == 404


def test_combined_lines_for_static_dynamic_and_404(make_stack, tmp_path):
    st, backend, path = start(make_stack, tmp_path, "combined")
    the_mix(st)
    lines = [parse_combined(line) for line in read_lines(path, 4)]
    static, dynamic, missing, static_missing = lines
    assert static["request"] == "GET /static/hello.txt HTTP/1.1"
    assert (static["status"], static["backend"], static["upstream_time"]) == ("200", "static", "-")
    assert int(static["bytes"]) == os.path.getsize(os.path.join(st.static_dir, "hello.txt"))
    assert (static["referer"], static["agent"]) == ("-", "probe/1")
    assert dynamic["request"] == "GET /users/5?q=x HTTP/1.1"
    assert (dynamic["status"], dynamic["bytes"]) == ("200", str(len(b'{"id":5,"q":"x"}')))
    assert dynamic["backend"] == f"{backend.pid}/7"
    assert dynamic["referer"] == "http://example.test/a" and dynamic["agent"] == "probe/2"
    assert dynamic["upstream_time"] != "-"
    assert float(dynamic["upstream_time"]) <= float(dynamic["request_time"])
    assert (missing["status"], missing["backend"]) == ("404", f"{backend.pid}/7")
    assert (static_missing["status"], static_missing["backend"]) == ("404", "static")
    for line in lines:
        assert line["addr"] == "127.0.0.1"
        assert re.fullmatch(r"[0-9a-f]{32}", line["request_id"])
    assert len({line["request_id"] for line in lines}) == 4


def test_json_lines_for_static_dynamic_and_404(make_stack, tmp_path):
    st, backend, path = start(make_stack, tmp_path, "json")
    the_mix(st)
    static, dynamic, missing, static_missing = [parse_json(line) for line in read_lines(path, 4)]
    assert static["request"] == "GET /static/hello.txt HTTP/1.1"
    assert (static["status"], static["backend"], static["upstream_time"]) == (200, "static", None)
    assert (static["referer"], static["user_agent"]) == (None, "probe/1")
    assert dynamic["request"] == "GET /users/5?q=x HTTP/1.1"
    assert (dynamic["status"], dynamic["body_bytes_sent"]) == (200, len(b'{"id":5,"q":"x"}'))
    assert dynamic["backend"] == f"{backend.pid}/7"
    assert dynamic["referer"] == "http://example.test/a"
    assert isinstance(dynamic["upstream_time"], float) and dynamic["upstream_time"] <= dynamic["request_time"]
    assert (missing["status"], missing["backend"]) == (404, f"{backend.pid}/7")
    assert (static_missing["status"], static_missing["backend"]) == (404, "static")
    assert all(e["remote_addr"] == "127.0.0.1" for e in (static, dynamic, missing, static_missing))
    ids = {e["request_id"] for e in (static, dynamic, missing, static_missing)}
    assert len(ids) == 4 and all(re.fullmatch(r"[0-9a-f]{32}", i) for i in ids)


def test_a_websocket_is_logged_as_its_101(make_stack, tmp_path):
    path = str(tmp_path / "access.log")
    st = make_stack()
    st.start_frontend("--access-log", path)
    backend = st.start_backend("--generation", "7", app="ws_app:app", app_dir=APPS_DIR)
    ws = WS(st.port, "/echo")
    ws.send(TEXT, b"hi")
    assert ws.recv_message() == (TEXT, b"hi")
    ws.send_close(1000)
    ws.expect_close(1000)
    (line,) = read_lines(path, 1)
    entry = parse_combined(line)
    assert (entry["request"], entry["status"], entry["bytes"]) == ("GET /echo HTTP/1.1", "101", "0")
    assert entry["backend"] == f"{backend.pid}/7"


@pytest.mark.parametrize("fmt", ["combined", "json"])
def test_a_502_names_the_backend_that_died(make_stack, tmp_path, fmt):
    st, backend, path = start(make_stack, tmp_path, fmt)
    s = connect(st.port)
    try:
        s.sendall(b"GET /slow?tag=log502 HTTP/1.1\r\nHost: x\r\nUser-Agent: probe/502\r\n\r\n")
        wait_until(lambda: st.in_flight("log502") == 1, 10, "the request in the backend")
        os.kill(backend.pid, signal.SIGKILL)
        backend.popen.wait(10)
        assert ResponseReader(s).read().status == 502
    finally:
        s.close()
    (line,) = read_lines(path, 1)
    if fmt == "json":
        entry = parse_json(line)
        assert (entry["status"], entry["backend"]) == (502, f"{backend.pid}/7")
        assert entry["request"] == "GET /slow?tag=log502 HTTP/1.1" and entry["upstream_time"] is not None
    else:
        entry = parse_combined(line)
        assert (entry["status"], entry["backend"]) == ("502", f"{backend.pid}/7")
        assert entry["request"] == "GET /slow?tag=log502 HTTP/1.1" and entry["upstream_time"] != "-"


# Every kind of byte a header value may hold: quotes, backslashes, a tab, obs-text that is not UTF-8,
# and UTF-8 that is.
HOSTILE_AGENT = b'Mozilla "quoted" \\back\\slash\there \xff\xfe caf\xc3\xa9 end'
HOSTILE_TARGET = b'/users/9?q=%22%0a"x\\y\'<script>'


def hostile_exchange(st) -> bytes:
    return raw_exchange(st.port, b"GET " + HOSTILE_TARGET + b" HTTP/1.1\r\nHost: x\r\nUser-Agent: " + HOSTILE_AGENT
                        + b"\r\nReferer: \\\"\r\nConnection: close\r\n\r\n")


def test_hostile_bytes_are_escaped_in_combined(make_stack, tmp_path):
    st, backend, path = start(make_stack, tmp_path, "combined")
    answer = hostile_exchange(st)
    # A second request, on a request line of its own: the first line cannot have made two.
    bad = raw_exchange(st.port, b"GET /a\x01b HTTP/1.1\r\nHost: x\r\n\r\n")
    assert bad.startswith(b"HTTP/1.1 400")
    lines = read_lines(path, 2)
    entry = parse_combined(lines[0])
    assert answer.startswith(b"HTTP/1.1 200"), answer
    assert unescape(entry["request"]) == b"GET " + HOSTILE_TARGET + b" HTTP/1.1"
    assert entry["referer"] == r"\x5c\x22"
    assert unescape(entry["agent"]) == HOSTILE_AGENT
    assert '"' not in entry["agent"] and "\t" not in entry["agent"]
    assert all(0x20 <= ord(c) < 0x7f for c in lines[0])
    assert entry["agent"].startswith(r"Mozilla \x22quoted\x22 \x5cback")
    refused = parse_combined(lines[1])
    assert refused["status"] == "400"
    assert all(0x20 <= ord(c) < 0x7f for c in lines[1])


def test_hostile_bytes_are_escaped_in_json(make_stack, tmp_path):
    st, backend, path = start(make_stack, tmp_path, "json")
    answer = hostile_exchange(st)
    (line,) = read_lines(path, 1)
    entry = parse_json(line)
    # Valid UTF-8 stays as it is; a byte that is not part of any becomes \u00HH (its Latin-1 reading).
    assert entry["user_agent"] == HOSTILE_AGENT.decode("latin-1").replace("caf\xc3\xa9", "café")
    assert entry["referer"] == '\\"'
    assert "\\u0009" in line and "\t" not in line and "\\u00ff\\u00fe" in line
    assert answer.startswith(b"HTTP/1.1 200"), answer
    assert entry["request"] == "GET " + HOSTILE_TARGET.decode("ascii") + " HTTP/1.1"


def test_stderr_and_the_old_spellings(make_stack, tmp_path):
    st = make_stack()
    st.start_frontend("--access-log", "1")
    st.start_backend()
    assert request(st.port, "GET", "/users/3", headers={"User-Agent": "probe/stderr"}).status == 200
    wait_until(lambda: "probe/stderr" in st.frontend.log(100000), 10, "the line on stderr")
    (line,) = [x for x in st.frontend.log(100000).splitlines() if "probe/stderr" in x]
    assert parse_combined(line)["request"] == "GET /users/3 HTTP/1.1"
    off = make_stack()
    off.start_frontend("--access-log", "0")
    off.start_backend()
    assert request(off.port, "GET", "/users/3", headers={"User-Agent": "probe/off"}).status == 200
    assert "probe/off" not in off.frontend.log(100000)


def test_sigusr1_reopens_the_file_after_a_rotation(make_stack, tmp_path):
    st, backend, path = start(make_stack, tmp_path, "combined")
    assert request(st.port, "GET", "/users/1", headers={"User-Agent": "probe/before"}).status == 200
    wait_until(lambda: b"probe/before" in open(path, "rb").read(), 10, "the first line")
    os.rename(path, path + ".1")
    os.kill(st.frontend.pid, signal.SIGUSR1)
    wait_until(lambda: os.path.exists(path), 10, "the new file")
    assert request(st.port, "GET", "/users/2", headers={"User-Agent": "probe/after"}).status == 200
    wait_until(lambda: b"probe/after" in open(path, "rb").read(), 10, "the line in the new file")
    assert b"probe/after" not in open(path + ".1", "rb").read()
    assert b"probe/before" not in open(path, "rb").read()


def test_a_head_refused_for_what_it_asks_is_logged_with_its_request_line(make_stack, tmp_path):
    # 413 and 417 refuse a well-formed head: nginx logs its request line, and so does the frontend; a head
    # refused for its form (400) has none to log.
    path = str(tmp_path / "access.log")
    st = make_stack()
    st.start_frontend("--access-log", path, "--max-body-size", "10")
    for raw in (b"POST /up?x=1 HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\n",
                b"GET /e HTTP/1.1\r\nHost: t\r\nExpect: magic\r\n\r\n",
                b"POST /%zz HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\n"):
        raw_exchange(st.port, raw)
    lines = [parse_combined(line) for line in read_lines(path, 3)]
    assert [(line["request"], line["status"]) for line in lines] == [
        ("POST /up?x=1 HTTP/1.1", "413"), ("GET /e HTTP/1.1", "417"), ("-", "400")]


def test_bytes_after_a_last_request_are_not_logged_as_a_bad_request(make_stack, tmp_path):
    # After Connection: close nothing more is read (nginx neither): the next bytes are no request to refuse,
    # so the log has the one answered request, not a 400 that was never sent too.
    st, _, path = start(make_stack, tmp_path, "combined")
    data = raw_exchange(st.port, b"GET /static/hello.txt HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
                                 b"GET /users/1 HTTP/1.1\r\nHost: t\r\n\r\nXYZ")
    assert data.startswith(b"HTTP/1.1 200 ") and data.count(b"HTTP/1.1 ") == 1
    request(st.port, "GET", "/static/empty.txt")     # a later line: the log has had time for any before it
    lines = [parse_combined(line) for line in read_lines(path, 2)]
    assert [(line["request"], line["status"]) for line in lines] == [
        ("GET /static/hello.txt HTTP/1.1", "200"), ("GET /static/empty.txt HTTP/1.1", "200")]
