"""tandem.replay: the recorded streams it finds and how it compares answers (the replay itself runs in
tests/test_record.py against real processes)."""

from __future__ import annotations

import struct

from tandem import protocol, recording, replay
from tandem.recording import FROM_BACKEND, MAGIC, TO_BACKEND
from tandem.replay import Answer


def rec(kind: int, frame: bytes, connection: int = 1, time_ns: int = 1) -> bytes:
    return struct.pack(">QIBI", time_ns, connection, kind, len(frame)) + frame


def request(sid: int, target: bytes, body: bytes = b"", end: bool = True) -> bytes:
    return protocol.request_frame(sid, protocol.END if end else 0, "POST", target, target, b"", "1.1", [], None,
                                  None, "http", body)


def test_exchanges_follow_each_stream_in_request_order() -> None:
    data = MAGIC + b"".join([
        rec(TO_BACKEND, request(1, b"/b", b"ab", end=False), 2, time_ns=20),
        rec(TO_BACKEND, request(1, b"/a"), 1, time_ns=10),
        rec(TO_BACKEND, protocol.data_frame(1, protocol.END, b"cd"), 2, time_ns=21),
        rec(FROM_BACKEND, protocol.response_frame(1, 0, 200, [b"x", b"1"], b"he"), 2, time_ns=22),
        rec(FROM_BACKEND, protocol.data_frame(1, protocol.END, b"llo"), 2, time_ns=23),
        rec(TO_BACKEND, request(3, b"/c"), 1, time_ns=30),
        rec(TO_BACKEND, protocol.cancel_frame(3, protocol.CANCEL_CLIENT_GONE), 1, time_ns=31),
    ])
    a, b, c = replay.exchanges(recording.conversations(data))
    assert [ex.title for ex in (a, b, c)] == ["POST /a", "POST /b", "POST /c"]
    assert [ex.order for ex in (a, b, c)] == [1, 2, 3]
    assert b.body == b"abcd" and b.request_ended
    assert (b.recorded.status, bytes(b.recorded.body), b.recorded.ended) == (200, b"hello", True)
    assert a.recorded.status is None and a.cancelled is None
    assert c.cancelled == protocol.CANCEL_CLIENT_GONE


def answer(status: int = 200, headers: list[tuple[bytes, bytes]] | None = None, body: bytes = b"ok",
           ended: bool = True, cancel: int | None = None) -> Answer:
    return Answer(status, headers or [], bytearray(body), False, ended, cancel)


def test_differences_name_what_changed() -> None:
    base = answer(headers=[(b"content-type", b"text/plain"), (b"date", b"Mon")])
    assert replay.differences(base, answer(headers=[(b"Content-Type", b"text/plain"), (b"date", b"Tue")]), set()) \
        == []
    assert replay.differences(base, answer(status=500, headers=[(b"content-type", b"text/plain")]), set()) == \
        ["status 200 recorded, 500 now"]
    changed = replay.differences(base, answer(headers=[(b"content-type", b"text/html")], body=b"on"), set())
    assert changed[0].startswith("headers") and changed[1] == \
        "body of 2 bytes recorded, 2 now, first difference at byte 1"
    assert replay.differences(answer(headers=[(b"x-id", b"1")]), answer(headers=[(b"x-id", b"2")]), {b"x-id"}) == []
    assert replay.differences(answer(), answer(ended=False, cancel=protocol.CANCEL_INTERNAL), set()) == \
        ["ended with END recorded, by CANCEL(INTERNAL) now"]


def test_websockets_are_listed_not_compared(capsys) -> None:
    ws = protocol.request_frame(1, protocol.END | protocol.WEBSOCKET, "GET", b"/ws", b"/ws", b"", "1.1", [], None,
                                None, "http", b"")
    data = MAGIC + rec(TO_BACKEND, ws) + rec(FROM_BACKEND, protocol.ws_accept_frame(1, "", []))
    (ex,) = replay.exchanges(recording.conversations(data))
    assert ex.websocket
    assert replay.report([replay.Outcome(ex)]) == 0
    out = capsys.readouterr().out
    assert "SKIP     1  GET /ws: a WebSocket, not replayed" in out and "0 same, 0 different, 1 not compared" in out
