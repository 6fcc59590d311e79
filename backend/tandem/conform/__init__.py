"""tandem-conform: the conformance kit (``python3 -m tandem.conform``), for backends and, mirrored, frontends.

The kit plays the frontend's part of protocol/PROTOCOL.md against a backend
under test: it listens on a Unix socket, starts the backend's command (or waits
for one started by hand), and runs numbered cases, each citing the section of
PROTOCOL.md it checks.  The backend serves the application of ``app.py``, whose
few routes any backend in any language can implement.

With ``--frontend`` it plays the other part, the mirror kit: it starts a
frontend under test, connects to its socket as fake backends that misbehave in
each way the spec defines, and to its port as HTTP clients, and runs the cases
numbered F1.1 onwards.

Modules, lowest first: ``wire`` (frames, well-formed and malformed, and hex
dumps), ``link`` (one framed connection: its I/O, frames and transcript),
``peer`` (a connection seen from the frontend's side, with the rules a
backend's frames must keep), ``checks`` (what several backend cases check),
``runner`` (the backend's process, its reconnections, and the report both
kits share), ``cases_errors`` and ``cases`` (the backend cases, listed in
``cases.CASES``); ``client`` (the mirror kit's HTTP clients), ``mirror`` (its
fake backends, with the rules a frontend's frames must keep, the frontend's
process and the loop that serves them all), ``scenes`` (what several frontend
cases share), ``cases_frontend_errors`` and ``cases_frontend`` (the frontend
cases, listed in ``cases_frontend.CASES``); and ``cli``.  ``app`` is the
application, in the three forms tandem serves.

This file imports nothing, so ``tandem.conform.app`` loads without the kit.
"""
