"""tandem.connection, driven with bytes: the golden vectors, and every rule of PROTOCOL.md sections 2 to 5.

No socket and no event loop: the frontend's bytes go in with receive_data(),
the owner's side is a recorder of the callbacks that also keeps what the
backend would write (receive_data()'s answer, and data_to_send()), and decodes
it again.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Optional

import pytest

from tandem import protocol
from tandem.connection import (
    CLOSED, DRAIN_RULES, HALF_CLOSED_REQ, HALF_CLOSED_RESP, OPEN, WAIT, Attached, BodyReceived, Connection,
    ConnectionFailed, DrainAsked, HelloConfig, Outcome, StreamReset, StreamState, WindowOpened)
from tandem.protocol import END, Decoder

VECTORS = Path(__file__).resolve().parents[2] / "protocol" / "vectors"


def vector(name: str) -> bytes:
    return (VECTORS / f"{name}.bin").read_bytes()


def request(sid: int, end: bool = True, body: bytes = b"") -> bytes:
    return protocol.request_frame(sid, END if end else 0, "GET", b"/", b"/", b"", "1.1", [b"host", b"x"],
                                  ("127.0.0.1", 1), ("127.0.0.1", 2), "http", body)


def frontend_hello(max_frame_size: int = protocol.DEFAULT_MAX_FRAME, initial_window: int = protocol.DEFAULT_WINDOW,
                   version: int = 1, role: str = "frontend") -> bytes:
    return protocol.hello_frame(0, version, role, "tandem-frontend", 1, 0, max_frame_size, 0, initial_window)


class Owner:
    """The owner's side: records every callback (``done`` decides what on_stream answers), feeds the
    connection the frontend's bytes and keeps what it would write."""

    def __init__(self, done: Callable[[StreamState], bool] = lambda stream: False) -> None:
        self.done = done
        self.streams: list[StreamState] = []
        self.events: list[Any] = []
        self.outputs = 0
        self.conn: Any = None
        self.out = bytearray()

    def feed(self, data: bytes) -> None:
        self.out += b"".join(self.conn.receive_data(data))

    def read(self) -> bytes:
        """Everything the backend has written since the last read."""
        self.out += b"".join(self.conn.data_to_send())
        data = bytes(self.out)
        self.out.clear()
        return data

    def sent(self) -> list[protocol.Frame]:
        decoder = Decoder(protocol.MAX_MAX_FRAME)
        decoder.feed(self.read())
        frames = list(decoder)
        assert decoder.buffered == 0
        return frames

    def on_stream(self, stream: StreamState) -> bool:
        self.streams.append(stream)
        self.events.append(stream)
        return self.done(stream)

    def on_event(self, event: Any) -> None:
        self.events.append(event)

    def on_output(self) -> None:
        self.outputs += 1


def new(hello: Optional[HelloConfig] = None, **owner: Any) -> tuple[Connection, Owner]:
    rec = Owner(**owner)
    conn = rec.conn = Connection(hello or HelloConfig("app:app", 1700000000000, pid=4242), on_stream=rec.on_stream,
                                 on_event=rec.on_event, on_output=rec.on_output)
    return conn, rec


def attached(hello: Optional[HelloConfig] = None, frontend: bytes = b"", **owner: Any) -> tuple[Connection, Owner]:
    """A connection whose HELLO exchange is done, its output and events cleared."""
    conn, rec = new(hello, **owner)
    conn.start()
    rec.feed(frontend or vector("hello-frontend"))
    assert isinstance(rec.events.pop(), Attached) and not rec.events
    rec.read()
    return conn, rec


def failed(conn: Connection, rec: Owner, code: Optional[int], message: str) -> None:
    """The last event is ConnectionFailed with ``message``, and the GOAWAY out (or none) has ``code``."""
    event = rec.events[-1]
    assert isinstance(event, ConnectionFailed) and message in event.error, rec.events
    goaways = [f for f in rec.sent() if isinstance(f, protocol.GoAway)]
    assert [g.code for g in goaways] == ([] if code is None else [code])
    if code is not None:
        assert goaways[0].message == event.error


# --- a conversation in golden vectors ---------------------------------------------------------


def test_hello_exchange_in_golden_vectors() -> None:
    conn, rec = new()
    conn.start()
    assert rec.read() == vector("hello-backend-features")
    rec.feed(vector("hello-frontend"))
    (event,) = rec.events
    assert isinstance(event, Attached) and event.hello.app == "tandem-frontend"
    assert (conn.peer_max_frame, conn.peer_window) == (1048576, 1048576)


def test_a_conversation_in_golden_vectors() -> None:
    conn, rec = attached()
    rec.feed(vector("request-get"))
    (get,) = rec.streams
    assert get.head == protocol.decode_payload(vector("request-get")[4:]) and get.state == HALF_CLOSED_REQ
    assert conn.send_response(get, 200, [b"content-type", b"text/plain; charset=utf-8"], b"hello", True) == 5
    assert rec.read() == vector("response-hello")
    assert get.state == CLOSED

    rec.feed(request(7, end=False) + vector("data-chunk") + vector("window") + vector("ping"))
    stream7 = rec.streams[-1]
    assert rec.events[-2:] == [BodyReceived(stream7, b"event: tick\ndata: 1\n\n", False), WindowOpened(stream7)]
    assert rec.read() == vector("ping-ack")
    assert stream7.send_window == protocol.DEFAULT_WINDOW + 524288
    conn.send_response(stream7, 200, [b"content-type", b"text/event-stream", b"cache-control", b"no-cache"], b"",
                       False)
    conn.send_data(stream7, b"event: tick\ndata: 1\n\n", False)
    conn.send_data(stream7, b"", True)
    assert rec.read() == vector("response-streaming") + vector("data-chunk") + vector("data-end-empty")
    assert stream7.state == HALF_CLOSED_RESP

    rec.feed(request(13))
    conn.send_file(rec.streams[-1], 200, [b"content-type", b"application/pdf"], b"/srv/app/files/report.pdf")
    assert rec.read() == vector("response-file")

    rec.feed(vector("unknown-type-99"))
    conn.drain("shutting down")
    assert rec.read() == vector("goaway-drain")


def test_request_vectors_open_streams_in_their_states() -> None:
    conn, rec = attached()
    rec.feed(vector("request-get") + vector("request-post-body") + vector("request-head-no-end"))
    assert [(s.id, s.state) for s in rec.streams] == [(1, HALF_CLOSED_REQ), (3, HALF_CLOSED_REQ), (5, OPEN)]
    post = rec.streams[1]
    assert post.recv_window == protocol.DEFAULT_WINDOW - len(post.head.body)
    rec.feed(vector("cancel-client-gone"))
    assert rec.events[-1] == StreamReset(post, protocol.CANCEL_CLIENT_GONE, "") and post.state == CLOSED
    assert sorted(conn.streams) == [1, 5]


def test_data_vectors_are_request_body() -> None:
    conn, rec = attached()
    rec.feed(request(11, end=False) + vector("data-large"))
    stream = rec.streams[0]
    assert rec.events[-1] == BodyReceived(stream, b"0123456789" * 7000, True)
    assert stream.state == HALF_CLOSED_REQ and stream.recv_window == protocol.DEFAULT_WINDOW - 70000


def test_window_with_extra_elements_counts() -> None:
    conn, rec = attached()
    rec.feed(request(9) + vector("window-extra-elements"))
    assert rec.events[-1] == WindowOpened(rec.streams[0])
    assert rec.streams[0].send_window == protocol.DEFAULT_WINDOW + 1000


@pytest.mark.parametrize("name", sorted(p.stem for p in VECTORS.glob("invalid-*.bin")))
def test_invalid_vectors_are_connection_errors(name: str) -> None:
    conn, rec = attached()
    rec.feed(vector(name) + vector("ping"))
    error = [line for line in (VECTORS / f"{name}.txt").read_text().splitlines() if line.startswith("error:")]
    code = protocol.FRAME_TOO_LARGE if error == ["error: E2BIG"] else protocol.PROTOCOL_ERROR
    failed(conn, rec, code, "")
    assert rec.events == [rec.events[-1]]  # nothing read after it: the PING goes unanswered


def test_byte_at_a_time_gives_the_same_callbacks() -> None:
    script = (vector("hello-frontend") + vector("request-get") + request(7, end=False) + vector("data-chunk")
              + vector("window") + vector("ping") + vector("goaway-drain"))
    whole_conn, whole = new()
    whole.feed(script)
    conn, rec = new()
    for i in range(len(script)):
        rec.feed(script[i:i + 1])
    assert [type(e) for e in rec.events] == [type(e) for e in whole.events]
    assert [e for e in rec.events if isinstance(e, (Attached, DrainAsked))] == \
        [e for e in whole.events if isinstance(e, (Attached, DrainAsked))]
    assert rec.read() == whole.read() == vector("ping-ack")


# --- HELLO ----------------------------------------------------------------------------------


@pytest.mark.parametrize("hello, message", [
    (frontend_hello(role="backend"), "role 'backend'"),
    (frontend_hello(max_frame_size=65535), "max_frame_size 65535 out of bounds"),
    (frontend_hello(max_frame_size=16777217), "max_frame_size 16777217 out of bounds"),
    (frontend_hello(initial_window=65535), "initial_window 65535 out of bounds"),
    (frontend_hello(initial_window=2**31), "initial_window 2147483648 out of bounds"),
])
def test_hello_bounds(hello: bytes, message: str) -> None:
    conn, rec = new()
    rec.feed(hello + request(1))
    failed(conn, rec, protocol.PROTOCOL_ERROR, message)
    assert conn.peer_hello is None and rec.streams == []


def test_hello_at_the_bounds_is_accepted() -> None:
    for hello in (frontend_hello(65536, 65536), frontend_hello(16777216, 2**31 - 1)):
        conn, rec = new()
        rec.feed(hello)
        assert isinstance(rec.events[-1], Attached)


def test_another_version_fails_without_goaway() -> None:
    conn, rec = new()
    rec.feed(frontend_hello(version=2) + vector("ping"))
    failed(conn, rec, None, "frontend speaks protocol version 2, this backend speaks version 1")
    assert "upgrade one of them" in rec.events[-1].log


@pytest.mark.parametrize("first", ["request-get", "ping", "window", "data-chunk", "cancel-client-gone",
                                   "response-hello"])
def test_frames_before_hello(first: str) -> None:
    conn, rec = new()
    rec.feed(vector(first))
    name = type(protocol.decode_payload(vector(first)[4:])).__name__.upper()
    failed(conn, rec, protocol.PROTOCOL_ERROR, f"{name} frame before HELLO")


def test_before_hello_the_limit_is_65536() -> None:
    conn, rec = new()
    rec.feed((65537).to_bytes(4, "big"))
    failed(conn, rec, protocol.FRAME_TOO_LARGE, "above the maximum frame size 65536")
    conn, rec = attached()
    rec.feed(protocol.data_frame(1, 0, b"x" * 70000)[:4])
    assert rec.events == []  # the HELLO raised it to ours: still waiting for the payload


def test_unknown_frames_and_goaway_before_hello() -> None:
    conn, rec = new()
    rec.feed(vector("unknown-type-99") + vector("goaway-drain"))
    assert rec.events == [DrainAsked(False, "shutting down")]


@pytest.mark.parametrize("frames, message", [
    (vector("hello-frontend"), "second HELLO"),
    (vector("response-hello"), "RESPONSE frame from the frontend"),
    (vector("goaway-version-mismatch"), "frontend closed the connection with GOAWAY(VERSION_MISMATCH)"),
])
def test_frames_after_hello_that_end_it(frames: bytes, message: str) -> None:
    conn, rec = attached()
    rec.feed(frames + request(1))
    peer_goaway = frames == vector("goaway-version-mismatch")
    failed(conn, rec, None if peer_goaway else protocol.PROTOCOL_ERROR, message)
    assert rec.streams == []


# --- stream ids ---------------------------------------------------------------------------


@pytest.mark.parametrize("ids", [(1, 1), (3, 2), (5, 7, 6)])
def test_a_request_not_above_the_highest_used_is_a_connection_error(ids: tuple[int, ...]) -> None:
    conn, rec = attached()
    rec.feed(b"".join(request(sid) for sid in ids) + vector("ping"))
    highest = max(ids[:-1])
    failed(conn, rec, protocol.PROTOCOL_ERROR, f"REQUEST on stream {ids[-1]}, not above the highest used ({highest})")
    assert [s.id for s in rec.streams] == list(ids[:-1])


def test_ids_above_the_highest_may_skip() -> None:
    conn, rec = attached()
    rec.feed(request(2) + request(100) + request(2**31 - 1))
    assert [s.id for s in rec.streams] == [2, 100, 2**31 - 1]


@pytest.mark.parametrize("frame", [protocol.data_frame(9, 0, b"x"), protocol.window_frame(9, 1),
                                   protocol.cancel_frame(9, 0)])
def test_a_frame_for_a_stream_never_opened_is_a_connection_error(frame: bytes) -> None:
    conn, rec = attached()
    rec.feed(request(3) + frame)
    failed(conn, rec, protocol.PROTOCOL_ERROR, "frame for stream 9, above the highest opened")


@pytest.mark.parametrize("frame", [protocol.data_frame(3, END, b"late"), protocol.window_frame(3, 1),
                                   protocol.cancel_frame(3, 0)])
def test_late_frames_for_an_ended_stream_are_ignored(frame: bytes) -> None:
    conn, rec = attached(done=lambda stream: True)  # the owner is done with each stream at once
    rec.feed(request(3) + request(5))
    assert conn.streams == {}
    rec.feed(frame + vector("ping"))
    assert len(rec.events) == 2 and rec.read() == vector("ping-ack")


# --- stream states --------------------------------------------------------------------------


def test_body_after_end_is_a_stream_error() -> None:
    conn, rec = attached()
    rec.feed(request(3) + protocol.data_frame(3, 0, b"more") + request(5))
    stream = rec.streams[0]
    assert rec.events[1] == StreamReset(stream, protocol.CANCEL_INTERNAL, "request body after END")
    assert rec.sent() == [protocol.Cancel(3, protocol.CANCEL_INTERNAL)]
    assert stream.state == CLOSED and list(conn.streams) == [5]  # and the connection goes on


def test_window_is_ignored_once_the_response_has_ended() -> None:
    conn, rec = attached()
    rec.feed(request(3, end=False))
    stream = rec.streams[0]
    conn.send_response(stream, 200, [], b"x", True)
    window = stream.send_window
    rec.feed(protocol.window_frame(3, 10) + protocol.data_frame(3, END, b"body"))
    assert stream.send_window == window and stream.state == CLOSED
    assert rec.events[-1] == BodyReceived(stream, b"body", True)


def test_response_once_and_data_only_in_between() -> None:
    conn, rec = attached()
    rec.feed(request(3) + request(5))
    first, second = rec.streams
    with pytest.raises(RuntimeError, match="stream 3: send_data\\(\\) before send_response\\(\\)"):
        conn.send_data(first, b"x", False)
    conn.send_response(first, 200, [], b"", True)
    for call in (lambda: conn.send_response(first, 200, [], b"", True),
                 lambda: conn.send_file(first, 200, [], b"/f")):
        with pytest.raises(RuntimeError, match="stream 3: response already started"):
            call()
    with pytest.raises(RuntimeError, match="stream 3: response already ended"):
        conn.send_data(first, b"x", True)
    conn.reset(second, protocol.CANCEL_INTERNAL)
    with pytest.raises(RuntimeError, match="stream 5: cancelled"):
        conn.send_response(second, 200, [], b"", True)
    assert rec.sent() == [protocol.Response(3, END, 200, [], b""), protocol.Cancel(5, protocol.CANCEL_INTERNAL)]


# --- flow control ---------------------------------------------------------------------------


def test_a_request_body_beyond_the_window_is_a_flow_control_error() -> None:
    conn, rec = attached(HelloConfig("a", 1, initial_window=65536))
    rec.feed(request(1, body=b"x" * 65537))
    failed(conn, rec, protocol.FLOW_CONTROL_ERROR, "stream 1: request body beyond the window")
    conn, rec = attached(HelloConfig("a", 1, initial_window=65536))
    rec.feed(request(1, end=False, body=b"x" * 60000) + protocol.data_frame(1, 0, b"y" * 5536))
    assert rec.events[-1].data == b"y" * 5536  # exactly the window
    rec.feed(protocol.data_frame(1, 0, b"z"))
    failed(conn, rec, protocol.FLOW_CONTROL_ERROR, "stream 1: request body beyond the window")


def test_consumed_body_is_granted_back_in_halves() -> None:
    conn, rec = attached(HelloConfig("a", 1, initial_window=65536))
    rec.feed(request(1, end=False, body=b"x" * 20000))
    stream = rec.streams[0]
    conn.consumed(stream, 20000)
    assert rec.sent() == []  # below half the window
    conn.consumed(stream, 12768)
    assert rec.sent() == [protocol.Window(1, 32768)]
    assert stream.recv_window == 65536 - 20000 + 32768
    rec.feed(protocol.data_frame(1, END, b""))
    conn.consumed(stream, 40000)
    assert rec.sent() == []  # the body has ended: nothing more to grant


def test_sends_keep_to_the_window_and_the_frame_size() -> None:
    conn, rec = attached(frontend=frontend_hello(max_frame_size=65536, initial_window=100000))
    rec.feed(request(1))
    stream = rec.streams[0]
    body = bytes(range(256)) * 1000  # 256000 bytes
    first = conn.send_response(stream, 200, [b"content-type", b"x"], body, True)
    assert 0 < first < 65536 and stream.state == HALF_CLOSED_REQ
    pos = first + conn.send_data(stream, memoryview(body)[first:], True)
    assert pos == 100000 and stream.send_window == 0
    assert conn.send_data(stream, memoryview(body)[pos:], True) == 0
    rec.feed(protocol.window_frame(1, 200000))
    assert rec.events[-1] == WindowOpened(stream)
    assert conn.send_data(stream, memoryview(body)[pos:], True) == len(body) - pos
    frames = rec.sent()
    assert all(len(protocol.encode(f)) - 4 <= 65536 for f in frames)
    assert b"".join(f.body if isinstance(f, protocol.Response) else f.data for f in frames) == body
    assert [bool(f.flags & END) for f in frames] == [False] * (len(frames) - 1) + [True]
    assert stream.state == CLOSED


def test_a_paused_transport_stops_the_body_not_the_head() -> None:
    conn, rec = attached()
    rec.feed(request(1))
    stream = rec.streams[0]
    conn.writing_paused = True
    assert conn.send_response(stream, 200, [], b"head", False) == 4
    assert conn.send_data(stream, b"body", True) == 0
    conn.writing_paused = False
    assert conn.send_data(stream, b"body", True) == 4
    assert [type(f) for f in rec.sent()] == [protocol.Response, protocol.Data]


def test_headers_that_do_not_fit_a_frame() -> None:
    conn, rec = attached(frontend=frontend_hello(max_frame_size=65536))
    rec.feed(request(1) + request(3))
    with pytest.raises(ValueError, match="do not fit in one frame"):
        conn.send_response(rec.streams[0], 200, [b"x", b"y" * 70000], b"", True)
    with pytest.raises(ValueError, match="does not fit in one frame"):
        conn.send_file(rec.streams[1], 200, [b"x", b"y" * 70000], b"/f")
    assert rec.sent() == []


# --- refusals and draining -------------------------------------------------------------------


def test_beyond_max_streams_a_request_is_refused() -> None:
    conn, rec = attached(HelloConfig("a", 1, max_streams=2))
    rec.feed(request(1) + request(3) + request(5))
    assert [s.id for s in rec.streams] == [1, 3]
    assert rec.sent() == [protocol.Cancel(5, protocol.CANCEL_REFUSED)]
    conn.forget(rec.streams[0])
    rec.feed(request(7))
    assert [s.id for s in rec.streams] == [1, 3, 7]


def test_a_stream_the_owner_is_done_with_leaves_room_at_once() -> None:
    conn, rec = attached(HelloConfig("a", 1, max_streams=1), done=lambda stream: stream.id % 2 == 1)
    rec.feed(request(1) + request(3) + request(4) + request(5))
    assert [s.id for s in rec.streams] == [1, 3, 4]
    assert rec.sent() == [protocol.Cancel(5, protocol.CANCEL_REFUSED)]
    assert list(conn.streams) == [4]


GOAWAYS = {None: b"", protocol.NO_ERROR: vector("goaway-drain"), protocol.SUPERSEDED: vector("goaway-superseded")}


# What PROTOCOL.md's GOAWAY section asks, row by row: our GOAWAY, the frontend's,
# then whether a new REQUEST is served, what to do once no stream is left, and
# how to read the frontend closing the connection then.
DRAINS = [
    (False, None, True, None, Outcome.LOST),
    (True, None, True, WAIT, Outcome.DRAINED),
    (False, protocol.NO_ERROR, False, Outcome.DRAINED, Outcome.LOST),
    (False, protocol.SUPERSEDED, False, Outcome.SUPERSEDED, Outcome.SUPERSEDED),
    (True, protocol.NO_ERROR, True, Outcome.DRAINED, Outcome.DRAINED),
    (True, protocol.SUPERSEDED, True, Outcome.SUPERSEDED, Outcome.SUPERSEDED),
]


def test_the_drain_table_has_every_row() -> None:
    assert sorted(DRAIN_RULES, key=str) == sorted(((o, t) for o, t, *_ in DRAINS), key=str)


@pytest.mark.parametrize("ours, theirs, served, when_idle, if_closed", DRAINS)
def test_drain_rules(ours: bool, theirs: Optional[int], served: bool, when_idle: Any, if_closed: Outcome) -> None:
    conn, rec = attached()
    rec.feed(request(1))
    if ours:
        conn.drain("backend shutting down")
    rec.feed(GOAWAYS[theirs])
    assert conn.draining == (ours or theirs is not None)
    assert conn.when_idle() is None and conn.outcome_if_closed() is Outcome.LOST  # stream 1 is open
    rec.feed(request(3))
    assert [s.id for s in rec.streams] == ([1, 3] if served else [1])
    frames = rec.sent()
    assert (protocol.GoAway(0, protocol.NO_ERROR, "backend shutting down") in frames) == ours
    assert (protocol.Cancel(3, protocol.CANCEL_REFUSED) in frames) == (not served)
    for stream in rec.streams:
        conn.forget(stream)
    assert conn.when_idle() == when_idle
    assert conn.outcome_if_closed() is if_closed


def test_no_goaway_of_ours_after_the_frontends_and_superseded_stays() -> None:
    conn, rec = attached()
    rec.feed(vector("goaway-superseded") + vector("goaway-drain"))
    assert rec.events == [DrainAsked(True, "generation 1700000099000 of app:app has attached"),
                          DrainAsked(False, "shutting down")]
    conn.drain("backend shutting down")
    assert rec.sent() == [] and conn.when_idle() is Outcome.SUPERSEDED


def test_our_drain_before_hello_and_only_once() -> None:
    conn, rec = new()
    conn.start()
    conn.drain("bye")
    conn.drain("bye again")
    assert [type(f) for f in rec.sent()] == [protocol.Hello, protocol.GoAway]
    assert conn.when_idle() == WAIT


def test_close_stops_the_reading() -> None:
    conn, rec = attached(done=lambda stream: conn.close() or False)
    rec.feed(request(1) + request(3))
    assert [s.id for s in rec.streams] == [1]


def test_close_all_hands_back_the_open_streams() -> None:
    conn, rec = attached()
    rec.feed(request(1) + request(3))
    assert conn.close_all() == rec.streams and conn.streams == {}
    assert all(s.state == CLOSED for s in rec.streams)


# --- output ---------------------------------------------------------------------------------


def test_on_output_only_outside_receive_data_and_into_an_empty_buffer() -> None:
    conn, rec = new()
    conn.start()
    assert rec.outputs == 1  # the HELLO, queued outside receive_data()
    answer = conn.receive_data(vector("hello-frontend") + vector("ping") + request(1))
    assert rec.outputs == 1  # inside receive_data() nothing is announced: it returns what is queued
    assert b"".join(answer) == vector("hello-backend-features") + vector("ping-ack") and conn.data_to_send() == []
    conn.send_response(rec.streams[0], 200, [], b"", False)
    conn.send_data(rec.streams[0], b"", True)
    assert rec.outputs == 2  # once, for the first frame into the empty buffer
    assert [type(f) for f in rec.sent()] == [protocol.Response, protocol.Data]
