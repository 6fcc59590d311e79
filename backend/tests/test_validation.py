"""tandem.validation: the status and header rules, and that every interface applies the same ones."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

import pytest

from helpers import connected, request, run
from tandem import App, HTTPException, Response, asgi, protocol, wsgi
from tandem.protocol import END
from tandem.types import PreparedHeaders
from tandem.validation import (
    MAX_LENGTH_DIGITS, check_header, check_headers, check_status, content_length, flatten, status_of_line)

TOKEN_CHARS = set(b"!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
CONTROLS = set(range(0x20)) - {0x09} | {0x7f}


# --- status -------------------------------------------------------------------------


@pytest.mark.parametrize("status", [200, 204, 304, 404, 599, HTTPStatus.CREATED])
def test_final_statuses_pass(status: Any) -> None:
    assert check_status(status) == int(status) and type(check_status(status)) is int


@pytest.mark.parametrize("status, error", [
    (100, ValueError), (101, ValueError), (199, ValueError), (600, ValueError), (0, ValueError), (-200, ValueError),
    (True, TypeError), ("200", TypeError), (200.0, TypeError), (None, TypeError),
])
def test_other_statuses_are_refused(status: Any, error: type) -> None:
    with pytest.raises(error):
        check_status(status)


@pytest.mark.parametrize("line, code", [("200 OK", 200), ("404", 404), ("201 ", 201), ("500 Caf\xe9 \u20ac\t!", 500)])
def test_status_lines(line: str, code: int) -> None:
    assert status_of_line(line) == code


@pytest.mark.parametrize("line, error", [
    ("200 OK\r\nX-Injected: 1", ValueError), ("200 OK\x7f", ValueError), ("200\tOK", ValueError),
    ("2000 OK", ValueError), ("20 OK", ValueError), ("OK 200", ValueError), ("", ValueError),
    ("102 Processing", ValueError), ("600 Beyond", ValueError), (b"200 OK", TypeError), (200, TypeError),
])
def test_bad_status_lines(line: Any, error: type) -> None:
    with pytest.raises(error):
        status_of_line(line)


# --- one header, byte by byte ----------------------------------------------------------


@pytest.mark.parametrize("byte", range(256))
def test_every_byte_in_a_name(byte: int) -> None:
    name = b"x" + bytes([byte]) + b"y"
    if byte in TOKEN_CHARS:
        check_header(name, b"v")
    else:
        with pytest.raises(ValueError, match="invalid header name"):
            check_header(name, b"v")


@pytest.mark.parametrize("byte", range(256))
def test_every_byte_in_a_value(byte: int) -> None:
    for value in (bytes([byte]), b"a" + bytes([byte]) + b"b"):
        if byte in CONTROLS:
            with pytest.raises(ValueError, match="invalid value for header b'x'"):
                check_header(b"x", value)
        else:
            check_header(b"x", value)  # HTAB, SP, visible characters and obs-text


def test_empty_name_is_refused_and_empty_value_is_fine() -> None:
    with pytest.raises(ValueError):
        check_header(b"", b"v")
    check_header(b"x", b"")


# --- content-length -------------------------------------------------------------------


@pytest.mark.parametrize("value", [b"0", b"12", b"007", b"9" * MAX_LENGTH_DIGITS])
def test_content_lengths(value: bytes) -> None:
    assert content_length(value) == int(value)


@pytest.mark.parametrize("value", [b"", b"-1", b"+1", b" 1", b"1 ", b"1a", b"0x10", b"1.0", b"1,2",
                                   b"9" * (MAX_LENGTH_DIGITS + 1), "\uff11".encode()])
def test_bad_content_lengths(value: bytes) -> None:
    with pytest.raises(ValueError, match="invalid content-length"):
        content_length(value)


# --- header lists -----------------------------------------------------------------------


def test_check_headers_gives_the_declared_length() -> None:
    assert check_headers([]) is None
    assert check_headers([(b"x", b"1")]) is None
    assert check_headers([(b"Content-Length", b"12"), (b"x", b"1"), (b"content-length", b"12")]) == 12


@pytest.mark.parametrize("headers, error", [
    ([(b"content-length", b"1"), (b"content-length", b"2")], ValueError),
    ([(b"content-length", b"")], ValueError),
    ([("x", b"v")], TypeError),
    ([(b"x", "v")], TypeError),
    ([(b"x", bytearray(b"v"))], TypeError),
    ([(b"x", b"v", b"extra")], ValueError),
])
def test_check_headers_refuses(headers: Any, error: type) -> None:
    with pytest.raises(error):
        check_headers(headers)


def test_flatten_is_the_wire_form_and_checks_only_types() -> None:
    pairs = [(b"a", b"1"), (b"B", b"2"), (b"a", b"3")]
    assert flatten(pairs) == [b"a", b"1", b"B", b"2", b"a", b"3"]
    assert flatten(iter(pairs)) == flatten(pairs)
    assert PreparedHeaders(pairs).flat == tuple(flatten(pairs))
    assert flatten([(b"x y", b"\r\n")]) == [b"x y", b"\r\n"]
    for bad in ([("a", b"1")], [(b"a", 1)], [(b"a", memoryview(b"1"))]):
        with pytest.raises(TypeError):
            flatten(bad)


# --- the same rule for every interface ---------------------------------------------------

BAD = [
    (b"x-a", b"line\r\nx-b: injected"), (b"x-a", b"lf\nonly"), (b"x-a", b"cr\ronly"), (b"x-a", b"nul\x00"),
    (b"x-a", b"del\x7f"), (b"x-a", b"bell\x07"), (b"x-a", b"esc\x1b[0m"),
    (b"bad name", b"v"), (b"bad:name", b"v"), (b"bad\x00name", b"v"), (b"caf\xe9", b"v"),
    (b"content-length", b"12abc"),
]
GOOD = [(b"x-a", b"tab\there"), (b"x-a", b"caf\xe9"), (b"x-a", b""), (b"content-length", b"0")]


def _native(name: bytes, value: bytes) -> Any:
    return Response(b"", headers={name.decode("latin-1"): value.decode("latin-1")}).raw_headers


def _asgi(name: bytes, value: bytes) -> Any:
    return asgi.check_headers([(name, value)])


def _wsgi(name: bytes, value: bytes) -> Any:
    return wsgi.check_headers([(name.decode("latin-1"), value.decode("latin-1"))])


def _prepared(name: bytes, value: bytes) -> Any:
    return PreparedHeaders([(name, value)])


INTERFACES = {"native": _native, "asgi": _asgi, "wsgi": _wsgi, "prepared": _prepared}


@pytest.mark.parametrize("interface", INTERFACES)
@pytest.mark.parametrize("name, value", BAD)
def test_every_interface_refuses_the_same_headers(interface: str, name: bytes, value: bytes) -> None:
    # ASGI applications get RuntimeError, as from uvicorn; the others ValueError.
    with pytest.raises((ValueError, RuntimeError), match="invalid"):
        INTERFACES[interface](name, value)


@pytest.mark.parametrize("interface", INTERFACES)
@pytest.mark.parametrize("name, value", GOOD)
def test_every_interface_accepts_the_same_headers(interface: str, name: bytes, value: bytes) -> None:
    INTERFACES[interface](name, value)


@pytest.mark.parametrize("status", [101, 600, True, "200"])
def test_every_interface_refuses_the_same_statuses(status: Any) -> None:
    with pytest.raises((TypeError, ValueError)):
        Response(b"", status=status)
    with pytest.raises((TypeError, RuntimeError)):
        asgi.check_status(status)
    if type(status) is int:
        with pytest.raises(ValueError):
            status_of_line(f"{status} Reason")


# --- a native handler with a bad header ------------------------------------------------


def _native_app() -> App:
    app = App()

    @app.get("/bad-header")
    def bad_header(request: Any) -> Response:
        return Response(b"x", headers={"x": "a\r\nb"})

    @app.get("/bad-status")
    def bad_status(request: Any) -> Response:
        return Response(b"x", status=1000)

    @app.get("/bad-exception")
    def bad_exception(request: Any) -> Response:
        raise HTTPException(418, headers={"x-why": "tea\x00pot"})

    @app.get("/edited")
    def edited(request: Any) -> Response:
        response = Response(b"x")
        response.raw_headers.append((b"x", "a str"))
        return response

    return app


@pytest.mark.parametrize("path, handler, error", [
    (b"/bad-header", "bad_header", "invalid value for header b'x'"),
    (b"/bad-status", "bad_status", "status 1000 is not a final status"),
    (b"/bad-exception", "bad_exception", "invalid value for header b'x-why'"),
    (b"/edited", "edited", "header names and values must be bytes: b'x': 'a str'"),
])
def test_a_native_handler_with_a_bad_response_is_a_500_logged_with_its_route(
        tmp_path: Any, caplog: Any, path: bytes, handler: str, error: str) -> None:
    async def main() -> Any:
        async with connected(_native_app(), str(tmp_path)) as p:
            await p.fe.send(request(1, path=path), request(3, path=b"/bad-header"))
            return await p.fe.recv_frames(2)

    first, second = run(main)
    # The 500 is the backend's own (the frontend's would name the header), and
    # the connection goes on.
    assert first == protocol.Response(1, END, 500, [(b"content-type", b"text/plain; charset=utf-8")],
                                      b"Internal Server Error")
    assert (second.stream_id, second.status) == (3, 500)
    record = next(r for r in caplog.records if r.levelname == "ERROR")
    assert f"handler {handler} for GET {path.decode()}" in record.getMessage()
    assert error in caplog.text
