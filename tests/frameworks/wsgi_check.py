"""``validated(app)``: a WSGI application inside ``wsgiref.validate.validator``.

The validator checks every call against PEP 3333 (environ keys and types,
start_response, the input stream, the iterable and its close()); its warnings
are made errors here.  One check is stricter than the PEP: the validator wants
exactly one argument to ``wsgi.input.read()``, while PEP 3333 says a server
should allow ``read()`` without one, and Werkzeug calls it so when the server
sets ``wsgi.input_terminated``.  ``_ReadAll`` sits between the validator and the
application and turns such a call into sized reads until end of input, so the
validator still sees (and checks) every read.
"""

from __future__ import annotations

import warnings
from wsgiref.validate import WSGIWarning, validator

warnings.simplefilter("error", WSGIWarning)


class _ReadAll:
    def __init__(self, inner) -> None:
        self._inner = inner

    def read(self, size=-1) -> bytes:
        if size is not None and size >= 0:
            return self._inner.read(size)
        parts = []
        while True:
            data = self._inner.read(65536)
            if not data:
                return b"".join(parts)
            parts.append(data)

    def readline(self, *args) -> bytes:
        return self._inner.readline(*args)

    def readlines(self, *args) -> list:
        return self._inner.readlines(*args)

    def __iter__(self):
        return iter(self._inner)


def validated(app):
    def read_all_allowed(environ, start_response):
        environ["wsgi.input"] = _ReadAll(environ["wsgi.input"])
        return app(environ, start_response)

    return validator(read_all_allowed)
