"""Checks the cases share: a connection error's GOAWAY and close, a request that must go unanswered.

Calls ``protocol`` and ``peer``.
"""

from __future__ import annotations

from typing import Callable, Optional

from .. import protocol
from .peer import CaseFailed, Peer, Stream, WaitTimedOut


def code_name(code: int) -> str:
    return protocol.GOAWAY_NAMES.get(code, str(code))


def expect_connection_error(peer: Peer, code: int, after: str, note: Callable[[str], None]) -> None:
    """Section 5: on a connection error the backend sends GOAWAY(code, message) "(if it can)" and closes.

    The close is binding; a GOAWAY, if one comes, must carry ``code``.  A close
    without GOAWAY passes with a note, since the spec asks for one only if the
    backend can send it.
    """
    try:
        peer.wait_closed(f"the backend to close the connection after {after}")
    except WaitTimedOut:
        said = f"; it sent GOAWAY({code_name(peer.goaways[-1].code)})" if peer.goaways else ""
        raise CaseFailed(f"the backend did not close the connection within {peer.timeout:g}s after {after}{said} "
                         f"(section 5: a connection error {code_name(code)}: GOAWAY, then close)") from None
    if not peer.goaways:
        note(f"the backend closed without GOAWAY({code_name(code)}); section 5 asks for one \"if it can\"")
        return
    got = peer.goaways[-1]
    if got.code != code:
        raise CaseFailed(f"the backend answered {after} with GOAWAY({code_name(got.code)}, {got.message!r}), "
                         f"not GOAWAY({code_name(code)}) (section 5)")


def expect_unanswered(stream: Optional[Stream], why: str) -> None:
    """The stream must have had no response: the backend had no right to serve it."""
    if stream is not None and stream.status is not None:
        raise CaseFailed(f"the backend answered {stream.what} on stream {stream.id} with {stream.status}, "
                         f"though {why}")


def stream_target(n: int, size: int) -> bytes:
    return f"/stream?n={n}&size={size}".encode()
