"""Deterministic bodies of any size, made piece by piece and never held whole.

The apps stream these out and the tests rebuild the same pieces to check what
arrived by hash, so neither side ever holds 200 MB.
"""

from __future__ import annotations

import hashlib
import random
from typing import Iterator

CHUNK = 256 * 1024
_BLOCK = random.Random("tandem payload").randbytes(CHUNK)


def pieces(total: int, chunk: int = CHUNK) -> Iterator[bytes]:
    """``total`` bytes in pieces of ``chunk`` bytes (the last may be shorter).

    Every piece starts with its own 8-byte index, so a piece lost, repeated or
    reordered changes the hash.
    """
    chunk = max(8, min(chunk, CHUNK))
    sent = 0
    index = 0
    while sent < total:
        n = min(chunk, total - sent)
        piece = (index.to_bytes(8, "big") + _BLOCK[8:n])[:n]
        yield piece
        sent += n
        index += 1


def digest(total: int, chunk: int = CHUNK) -> str:
    h = hashlib.sha256()
    for piece in pieces(total, chunk):
        h.update(piece)
    return h.hexdigest()
