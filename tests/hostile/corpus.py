"""The hostile-input corpus: one request case per file in tests/hostile/cases/.

A case file is text, so that its bytes survive editors and git: comment lines
(``#``) that say what the case is and where it comes from, then keys, then a
line ``---`` and the raw bytes::

    # Content-Length together with Transfer-Encoding (CL.TE smuggling).
    expect: 400 close
    ---
    POST / HTTP/1.1\\r\\n
    Host: h\\r\\n
    ...

The bytes are the lines after ``---`` with their line breaks removed and these
escapes decoded: ``\\r``, ``\\n``, ``\\t``, ``\\0``, ``\\\\`` and ``\\xHH``.  A line
may not end in a space or a tab (write ``\\x20``), and may hold only printable
ASCII, so every byte of a case is visible in the file.

Keys:

``expect:``
    the statuses of the responses, in order (``100?``: an interim 100 that may
    or may not come), then ``close`` if the connection must close after them.
    Without ``close`` the runner's probe, sent right after the case, must be
    answered next, and nothing after it.  ``200:head`` reads a response to HEAD
    (no body).
``seen:``
    one line per request the application must see, in order:
    ``METHOD TARGET`` and optionally ``version=1.0`` and ``body=BYTES`` (escaped
    as above, no spaces).  No ``seen:`` line: the application sees nothing.
``header:``
    ``name: value``: the request of the last ``seen:`` had this header (name in
    lowercase, value exact and escaped as the bytes are), ``header-absent:``
    ``name``: it had none.
``splits:``
    ``no``: replay the case whole only, not split (none needs it today).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import Optional

CASES_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "cases")

_ESCAPE = re.compile(rb"\\(x[0-9A-Fa-f]{2}|[rnt0\\]|.?)")
_SIMPLE = {b"r": b"\r", b"n": b"\n", b"t": b"\t", b"0": b"\0", b"\\": b"\\"}


class CaseError(ValueError):
    """A case file that does not follow the format."""


def unescape(text: str, where: str = "") -> bytes:
    raw = text.encode("ascii")

    def one(m: re.Match[bytes]) -> bytes:
        code = m.group(1)
        if code in _SIMPLE:
            return _SIMPLE[code]
        if code[:1] == b"x" and len(code) == 3:
            return bytes([int(code[1:], 16)])
        raise CaseError(f"{where}: unknown escape \\{code.decode()!s}")

    return _ESCAPE.sub(one, raw)


@dataclass
class Seen:
    """A request the application must see."""

    method: str
    target: str
    version: str = "1.1"
    body: Optional[bytes] = None
    headers: list[tuple[str, bytes]] = field(default_factory=list)
    absent: list[str] = field(default_factory=list)

    def mismatch(self, rec: dict) -> Optional[str]:
        """Why the application's record rec is not this request (None if it is)."""
        got = (rec["method"], rec["target"], rec["http_version"])
        if got != (self.method, self.target, self.version):
            return f"saw {got}, want {(self.method, self.target, self.version)}"
        body = rec["body"].encode("latin-1")
        if self.body is not None and body != self.body:
            return f"body {body!r}, want {self.body!r}"
        headers = [(n, v.encode("latin-1")) for n, v in rec["headers"]]
        for h in self.headers:
            if h not in headers:
                return f"no header {h[0]}: {h[1]!r} in {headers}"
        for name in self.absent:
            if any(n == name for n, _ in headers):
                return f"header {name} present in {headers}"
        return None


@dataclass
class Case:
    name: str
    description: str
    data: bytes
    statuses: list[str]            # "400", "100?", "200:head"
    close: bool
    seen: list[Seen]
    splits: bool = True


def _parse_seen(value: str, where: str) -> Seen:
    parts = value.split()
    if len(parts) < 2:
        raise CaseError(f"{where}: seen: needs METHOD TARGET")
    s = Seen(parts[0], parts[1])
    for opt in parts[2:]:
        key, _, v = opt.partition("=")
        if key == "version":
            s.version = v
        elif key == "body":
            s.body = unescape(v, where)
        else:
            raise CaseError(f"{where}: unknown seen: option {opt!r}")
    return s


def _parse_keys(lines: list[str], where: str) -> dict:
    keys: dict = {"expect": None, "seen": [], "splits": True, "comments": []}
    for line in lines:
        if line.startswith("#"):
            keys["comments"].append(line[1:].strip())
            continue
        if not line.strip():
            continue
        key, sep, value = line.partition(":")
        value = value.strip()
        if not sep:
            raise CaseError(f"{where}: not a key: {line!r}")
        if key == "expect":
            keys["expect"] = value.split()
        elif key == "seen":
            keys["seen"].append(_parse_seen(value, where))
        elif key in ("header", "header-absent"):
            if not keys["seen"]:
                raise CaseError(f"{where}: {key}: before any seen:")
            if key == "header":
                name, _, v = value.partition(":")
                keys["seen"][-1].headers.append((name.strip(), unescape(v.strip(), where)))
            else:
                keys["seen"][-1].absent.append(value)
        elif key == "splits":
            keys["splits"] = value != "no"
        else:
            raise CaseError(f"{where}: unknown key {key!r}")
    return keys


def parse_case(name: str, text: str) -> Case:
    head, sep, body = text.partition("\n---\n")
    if not sep:
        raise CaseError(f"{name}: no line --- before the bytes")
    keys = _parse_keys(head.split("\n"), name)
    if not keys["comments"]:
        raise CaseError(f"{name}: no comment saying what the case is")
    if not keys["expect"]:
        raise CaseError(f"{name}: no expect:")
    chunks = []
    for i, line in enumerate(body.split("\n")):
        where = f"{name}: bytes line {i + 1}"
        if line != line.rstrip(" \t"):
            raise CaseError(f"{where}: ends in whitespace (write \\x20)")
        if any(not (0x20 <= ord(ch) < 0x7f) for ch in line):
            raise CaseError(f"{where}: a character that is not printable ASCII (escape it)")
        chunks.append(unescape(line, where))
    data = b"".join(chunks)
    if not data:
        raise CaseError(f"{name}: no bytes")
    statuses = keys["expect"]
    close = statuses[-1] == "close"
    if close:
        statuses = statuses[:-1]
    for st in statuses:
        if not re.fullmatch(r"[1-5]\d\d(\?|:head)?", st):
            raise CaseError(f"{name}: expect: {st!r} is not a status")
    return Case(name, " ".join(keys["comments"]), data, statuses, close, keys["seen"], keys["splits"])


def load_cases(directory: str = CASES_DIR) -> list[Case]:
    cases = []
    for fname in sorted(os.listdir(directory)):
        if not fname.endswith(".case"):
            continue
        with open(os.path.join(directory, fname), encoding="ascii") as f:
            cases.append(parse_case(fname[:-len(".case")], f.read()))
    return cases
