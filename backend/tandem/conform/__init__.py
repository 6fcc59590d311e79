"""tandem-conform: the backend conformance kit (``python3 -m tandem.conform``).

The kit plays the frontend's part of protocol/PROTOCOL.md against a backend
under test: it listens on a Unix socket, starts the backend's command (or waits
for one started by hand), and runs numbered cases, each citing the section of
PROTOCOL.md it checks.  The backend serves the application of ``app.py``, whose
few routes any backend in any language can implement.

Modules, lowest first: ``wire`` (frames, well-formed and malformed, and hex
dumps), ``peer`` (one connection seen from the frontend's side, with the rules a
backend's frames must keep), ``checks`` (what several cases check), ``runner``
(the backend's process, its reconnections, the report), ``cases_errors`` and
``cases`` (the cases, listed in ``cases.CASES``) and ``cli``.
``app`` is the application, in the three forms tandem serves.

This file imports nothing, so ``tandem.conform.app`` loads without the kit.
"""
