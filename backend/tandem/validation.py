"""What a response may carry: one rule for every interface.

Owns the checks of a response's status and headers: a status the frontend
accepts (200..599), header names that are RFC 9110 tokens, header values
without control characters, and the syntax of ``content-length``; and the wire
form of headers, ``flatten()``, the package's one header flattening (the
codec's ``encode()`` uses it too).  The native ``Response``, the ASGI and WSGI
adapters and ``PreparedHeaders`` check with these functions where the
application hands its status and headers over, so a bad one raises in the
application's own call, where the log can name the handler.  The stream
under them (the raw ``app(stream)`` interface) checks only the types, which
keep the frame well-formed.  The frontend checks again as the trust boundary
(PROTOCOL.md, RESPONSE), and answers 500 for whatever gets past.

``prepare()``, which every response with headers of its own goes through,
is done by ``tandem._speedups`` when it is in use (``accelerator``) for the
headers it takes; the Python code here says what is wrong with the others.

Calls nothing else of tandem but ``accelerator``.
"""

from __future__ import annotations

import re
from typing import Any, Iterable, Optional

from . import accelerator

# The statuses a RESPONSE may carry: final ones only (the frontend sends
# ``100 Continue`` itself and answers 500 to anything outside this range).
MIN_STATUS = 200
MAX_STATUS = 599

# RFC 9110 section 5.6.2: a header name is a token.
_NOT_TOKEN = re.compile(rb"[^!#$%&'*+\-.^_`|~0-9A-Za-z]")

# Control characters other than HTAB.  RFC 9110 section 5.5 allows only visible
# characters, obs-text, SP and HTAB in a field value.  The frontend refuses them
# too, as the trust boundary; they are refused here first, and by every
# interface alike: a client may take a lone control character for a line end or
# reject the whole response (strict parsers such as llhttp's and h11's do), and
# here the value can still be traced to the handler that produced it.  The same
# rule covers a WSGI status line's reason phrase.
_CONTROL = "\x00-\x08\x0a-\x1f\x7f"
_CONTROL_BYTES = re.compile(("[" + _CONTROL + "]").encode("ascii"))
_CONTROL_TEXT = re.compile("[" + _CONTROL + "]")

# A status line as WSGI's start_response() takes it: "200 OK".
_STATUS_LINE = re.compile(r"([0-9]{3})(?: (.*))?\Z", re.DOTALL)

# The frontend takes at most 18 digits (the value must fit an int64).
MAX_LENGTH_DIGITS = 18
_CONTENT_LENGTH = b"content-length"


def check_status(status: Any) -> int:
    """``status`` as an int, if it is an int in MIN_STATUS..MAX_STATUS; else TypeError or ValueError."""
    if not isinstance(status, int) or isinstance(status, bool):
        raise TypeError(f"status must be an int, not {type(status).__name__}")
    if not MIN_STATUS <= status <= MAX_STATUS:
        raise ValueError(f"status {status} is not a final status ({MIN_STATUS}..{MAX_STATUS})")
    return int(status)


def status_of_line(line: Any) -> int:
    """The status code of a status line (``"200 OK"``), which must pass check_status()."""
    if type(line) is not str:
        raise TypeError(f"status must be a str, not {type(line).__name__}")
    match = _STATUS_LINE.match(line)
    if match is None or (match.group(2) is not None and _CONTROL_TEXT.search(match.group(2))):
        raise ValueError(f"invalid status line {line!r}")
    return check_status(int(match.group(1)))


def check_header(name: bytes, value: bytes) -> None:
    """Raises ValueError unless ``name`` is a token and ``value`` holds no control character but HTAB."""
    if not name or _NOT_TOKEN.search(name) is not None:
        raise ValueError(f"invalid header name {name!r}")
    if _CONTROL_BYTES.search(value) is not None:
        raise ValueError(f"invalid value for header {name!r}: {value!r}")


def content_length(value: bytes) -> int:
    """A ``content-length`` value: 1 to MAX_LENGTH_DIGITS ASCII digits, nothing else."""
    if not 0 < len(value) <= MAX_LENGTH_DIGITS or not (value.isascii() and value.isdigit()):
        raise ValueError(f"invalid content-length {value!r}")
    return int(value)


# Pairs found valid, as the application gave them, with the name lowercased:
# most responses repeat the same few headers, and a dict lookup costs far less
# than the two pattern searches.  A content-length pair is cached only once its
# value has passed content_length() too, with the one _CONTENT_LENGTH object
# as its name.  Bounded: short values only, and emptied when full, so that
# headers that never repeat (a cookie, an echoed value) cannot grow it.
_CHECKED: dict[tuple[bytes, bytes], bytes] = {}
_CHECKED_MAX = 1024
_CHECKED_VALUE_MAX = 256


def checked_name(name: bytes, value: bytes) -> bytes:
    """``name`` lowercased, once ``(name, value)`` (both bytes) passes check_header(); else ValueError.

    A content-length value must pass content_length() too.
    """
    low = _CHECKED.get((name, value))
    if low is None:
        check_header(name, value)
        low = name.lower()
        if low == _CONTENT_LENGTH:
            content_length(value)
            low = _CONTENT_LENGTH
        if len(value) <= _CHECKED_VALUE_MAX:
            if len(_CHECKED) >= _CHECKED_MAX:
                _CHECKED.clear()
            _CHECKED[(name, value)] = low
    return low


def prepare(headers: Iterable[tuple[bytes, bytes]], lower: bool = False) -> tuple[list[bytes], Optional[int]]:
    """Checks every ``(name, value)`` pair, both bytes, in one pass.

    Returns their wire form ``[name, value, ...]`` (names lowercased if
    ``lower``) and the content-length they declare (None if none).  Repeated
    ``content-length`` headers must agree.
    """
    if _c_prepare is not None:
        done = _c_prepare(headers, lower)
        if done is not None:
            return done  # type: ignore[no-any-return]
    return _prepare(headers, lower)


def _prepare(headers: Iterable[tuple[bytes, bytes]], lower: bool) -> tuple[list[bytes], Optional[int]]:
    """prepare() in Python: every input, and the error that says what is wrong."""
    flat: list[bytes] = []
    length: Optional[int] = None
    checked = _CHECKED
    for pair in headers:
        name, value = pair
        if type(name) is not bytes or type(value) is not bytes:
            raise TypeError(f"header names and values must be bytes: {name!r}: {value!r}")
        # The pair itself is the key when it is a tuple: no new one to build.
        low = checked.get(pair) if type(pair) is tuple else None
        if low is None:
            low = checked_name(name, value)
        flat.append(low if lower else name)
        flat.append(value)
        if low is _CONTENT_LENGTH:
            declared = int(value)     # its syntax was checked with the pair
            if length is not None and declared != length:
                raise ValueError(f"content-length {declared} after content-length {length}")
            length = declared
    return flat, length


_c_prepare = accelerator.module.prepare_headers if accelerator.module is not None else None


def check_headers(headers: Iterable[tuple[bytes, bytes]]) -> Optional[int]:
    """Checks every ``(name, value)`` pair, both bytes; returns the content-length they declare, or None.

    Repeated ``content-length`` headers must agree.
    """
    return prepare(headers)[1]


def flatten(headers: Iterable[tuple[bytes, bytes]]) -> list[bytes]:
    """The wire form ``[name, value, ...]`` of ``(name, value)`` pairs, which must be bytes.

    Only the types are checked here: a name or value of another type would make
    the frame malformed and cost the whole connection.  The rules are
    check_headers()'s, applied where the application hands its headers over.
    """
    flat: list[bytes] = []
    for name, value in headers:
        if type(name) is not bytes or type(value) is not bytes:
            raise TypeError(f"header names and values must be bytes: {name!r}: {value!r}")
        flat.append(name)
        flat.append(value)
    return flat
