"""What several cases of the frontend kit share: checks of a client's response, a request asked and answered,
and the scene of a misbehaving backend among well-behaved ones.

Connection errors (group F3, and F6 where a backend goes away) are played out
in a ``Scene``: a misbehaving backend holds the request of a "victim" client
(a POST, which section 5 does not send again) and announces max_streams 1, so
that a second, well-behaved backend must take the request of a "bystander";
after the error the bystander is answered (served during), a new client is
served (after), and once the well-behaved backend has drained, a backend that
connects afterwards serves the victim's client (``survives``).  Handshake
refusals (F1) keep a bystander in flight the same way (``refused``).

Calls ``protocol``, ``link`` (the exceptions), ``client`` (the Response
record) and ``mirror`` (the kit and its fake backend).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional

from .. import protocol
from .client import Client, Response
from .link import CaseFailed
from .mirror import BStream, FakeBackend, MirrorKit, cancel_name

TEXT = [(b"content-type", b"text/plain")]
SAFE = ("GET", "HEAD", "OPTIONS")


# --- what many cases check ---------------------------------------------------------------------


def expect(resp: Response, status: int, body: Optional[bytes], what: str, why: str) -> None:
    """A whole response with this status (and body, if given)."""
    if not resp.complete:
        raise CaseFailed(f"{what}: the frontend closed the client connection in the middle of its answer "
                         f"({resp}); {why}")
    if resp.status != status or (body is not None and resp.body != body):
        wanted = f"{status}" + (f" with {len(body)} bytes {body[:40]!r}" if body is not None else "")
        raise CaseFailed(f"{what} was answered {resp}, not {wanted} ({why})")


def expect_cut(resp: Response, status: int, what: str, why: str) -> None:
    """A response that had begun (with ``status``), cut short by the close of the client connection."""
    if resp.complete:
        raise CaseFailed(f"{what} was answered {resp} as if whole ({resp.framing} framing), though its backend's "
                         f"response was cut short: the client must see its connection closed ({why})")
    if resp.status != status:
        raise CaseFailed(f"{what} began with status {resp.status}, not the backend's {status}")


def ask(kit: MirrorKit, backend: FakeBackend, client: Client, target: str, body: bytes, what: str) -> BStream:
    """GET ``target`` from ``client``; ``backend`` must get it and answers 200 ``body``, which the client must
    get whole."""
    client.request("GET", target)
    stream = backend.next_request(what)
    if stream.request.target != target.encode():
        raise CaseFailed(f"{backend.name} was sent {stream.what} where the kit expected GET {target}")
    backend.respond(stream, 200, TEXT, body)
    expect(client.response(f"GET {target}"), 200, body, what, "section 2, RESPONSE")
    return stream


def connection_goes_on(kit: MirrorKit, backend: FakeBackend, why: str) -> None:
    """A PING answered and a new request served on the same backend connection."""
    backend.roundtrip(f"the answer to a PING after {why}")
    ask(kit, backend, kit.client(), "/goes-on", b"the connection goes on", f"a request after {why}")


def reusable(client: Client) -> bool:
    """The client's connection may carry another request: open, and its last response whole and not closing."""
    last = client.responses[-1] if client.responses else None
    return not client.eof and (last is None or (last.complete and "close" not in
                                                 (last.header("connection") or "").lower()))


# --- a misbehaving backend among others ----------------------------------------------------------


@dataclass
class Scene:
    """The connections of a connection-error case (see the module doc)."""

    bad: FakeBackend
    victim: Client
    stream: BStream          # the victim's request, on ``bad``
    good: FakeBackend
    bystander: Client
    bystream: BStream        # the bystander's request, on ``good``


def scene(kit: MirrorKit, method: str = "POST", target: str = "/victim", rcvbuf: int = 0,
          good_streams: int = 16) -> Scene:
    bad = kit.backend("misbehaving backend", max_streams=1)
    victim = kit.client("the victim's client", rcvbuf)
    victim.request(method, target, body=b"the victim's body" if method == "POST" else b"")
    stream = bad.next_request(f"the victim's {method} {target}")
    good = kit.backend("well-behaved backend", max_streams=good_streams)
    bystander = kit.client("the bystander's client")
    bystander.request("GET", "/bystander")
    bystream = good.next_request("the bystander's GET /bystander (the misbehaving backend, at its max_streams of "
                                 "1, cannot take it)")
    return Scene(bad, victim, stream, good, bystander, bystream)


def not_sent_again(sc: Scene, why: str = "") -> None:
    """The victim's request, once its backend is gone, is answered or cut, not sent to the other backend: it is
    not a safe request whole in its REQUEST without a RESPONSE (section 5, Sent again), or ``why``."""
    sc.good.wait(lambda: sc.victim.has_head() or sc.victim.eof or bool(sc.good.new_streams),
                 f"the frontend's answer to the victim's {sc.stream.what}, its backend gone")
    if sc.good.new_streams:
        again = sc.good.new_streams[0]
        why = why or ("it is not a GET, HEAD or OPTIONS" if sc.stream.request.method not in SAFE else
                      "its RESPONSE had arrived")
        raise CaseFailed(f"the frontend sent the victim's {again.what} again to the other backend, though {why} "
                         "(section 5, Sent again)")


def victim_gets(sc: Scene, status: int, why: str) -> Response:
    not_sent_again(sc)
    resp = sc.victim.response(f"the victim's {sc.stream.what}")
    expect(resp, status, None, f"the victim's {sc.stream.what}", why)
    return resp


def survives(kit: MirrorKit, sc: Scene, what: str) -> None:
    """Others are served during and after the misbehaving connection's end, and a new backend serves the victim."""
    during = b"served while another backend failed"
    sc.good.respond(sc.bystream, 200, TEXT, during)
    expect(sc.bystander.response("the bystander's GET /bystander"), 200, during,
           f"the bystander's request, open on the well-behaved backend during {what}",
           "section 5: other backend connections and other clients are not affected")
    ask(kit, sc.good, kit.client("a later client"), "/after", b"served after",
        f"a request after {what}, which the well-behaved backend must serve")
    # The well-behaved backend drains, so that the victim's next request can only go to a new one.  With no
    # stream open, the frontend may close it at once rather than answer the PING.
    sc.good.goaway(protocol.NO_ERROR, "tandem-conform: this backend drains")
    sc.good.wait(lambda: sc.good.goaway_read, "the answer to the PING after the well-behaved backend's GOAWAY (or the "
                 "close of the drained connection)", eof_ok=True)
    fresh = kit.backend("a backend connecting afterwards")
    client = sc.victim
    if not reusable(client):
        client = kit.client("the victim's client, connected again")
    try:
        ask(kit, fresh, client, "/again", b"served by a new backend", f"the victim's next request after {what}")
    except CaseFailed:
        if client is not sc.victim or not client.eof or fresh.new_streams:
            raise
        kit.note("the frontend closed the victim's kept-alive connection without connection: close; the kit "
                 "asked again on a new one")
        ask(kit, fresh, kit.client("the victim's client, connected again"), "/again", b"served by a new backend",
            f"the victim's next request after {what}")


def connection_error(misbehave: Callable[[Scene], None], code: int, what: str) -> Callable[[MirrorKit], None]:
    """A case: ``misbehave`` on the victim's backend is a connection error ``code``: GOAWAY(code) and close, the
    victim 502, and the others served (``survives``)."""

    def run(kit: MirrorKit) -> None:
        sc = scene(kit)
        misbehave(sc)
        sc.bad.expect_connection_error(code, what)
        victim_gets(sc, 502, "section 5: when a backend connection closes, each of its streams gets 502 if no "
                    "response byte was sent")
        survives(kit, sc, what)

    return run


def bystander(kit: MirrorKit) -> tuple[FakeBackend, Client, BStream]:
    good = kit.backend("well-behaved backend")
    client = kit.client("the bystander's client")
    client.request("GET", "/bystander")
    return good, client, good.next_request("the bystander's GET /bystander")


def bystander_served(good: FakeBackend, client: Client, stream: BStream, what: str) -> None:
    body = b"served while another backend was refused"
    good.respond(stream, 200, TEXT, body)
    expect(client.response("the bystander's GET /bystander"), 200, body,
           f"the bystander's request, open on a well-behaved backend during {what}",
           "section 5: other backend connections and other clients are not affected")


def refused(hello: bytes, code: int, what: str) -> Callable[[MirrorKit], None]:
    """A case: the frontend refuses a HELLO with GOAWAY(code) instead of its own, then closes."""

    def run(kit: MirrorKit) -> None:
        good, client, stream = bystander(kit)
        bad = kit.connect_backend("refused backend")
        bad.hello(hello)
        bad.expect_connection_error(code, what)
        if bad.frontend_hello is not None:
            raise CaseFailed(f"the frontend answered {what} with its HELLO before it refused it (section 2, HELLO: "
                             "it answers with its own HELLO, or with GOAWAY and a close if it refuses the backend)")
        bystander_served(good, client, stream, what)

    return run


def no_room(kit: MirrorKit, client: Client, backend: FakeBackend, what: str) -> Optional[BStream]:
    """A request that came when no backend had room: the frontend held it until ``backend`` had (its stream, once
    there) or answered it 503 (None): "what it does with a request no backend has room for is its own policy"
    (section 2, HELLO)."""
    backend.wait(lambda: bool(backend.new_streams) or client.has_head(),
                 f"the REQUEST of {what} on {backend.name}, now that it has room, or a 503 for it")
    if backend.new_streams:
        return backend.next_request(what)
    expect(client.response(what), 503, None, what, "section 2, HELLO: a request no backend has room for")
    kit.note(f"the frontend answered {what} with 503 rather than hold it until a backend had room (its own "
             "policy)")
    return None


def expect_stream_error(backend: FakeBackend, stream: BStream, client: Client, status: Optional[int],
                        what: str, code: int = protocol.CANCEL_INTERNAL) -> None:
    """CANCEL(code) of the stream to the backend; the client gets ``status`` (None: its response, begun, is cut
    short); the backend connection goes on."""
    got = backend.wait_cancel(stream, f"the stream error of {what}")
    if got != code:
        raise CaseFailed(f"the frontend answered {what} with CANCEL({cancel_name(got)}), not "
                         f"CANCEL({cancel_name(code)}) (sections 2 and 5)")
    resp = client.response(stream.what)
    if status is None:
        expect_cut(resp, 200, f"{stream.what}, after {what}", "section 5: else its connection is closed")
    else:
        expect(resp, status, None, f"{stream.what}, after {what}", "sections 2 and 5")
    backend.roundtrip(f"the answer to a PING after {what}")
    if backend.goaways:
        raise CaseFailed(f"the frontend sent GOAWAY({backend.goaways[-1].code}) for {what}, a stream error")
