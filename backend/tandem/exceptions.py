"""Exceptions a handler may raise to answer with an error status.

Calls nothing of tandem; ``app.py`` turns them into responses.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Mapping, Optional


class HTTPException(Exception):
    """Raise in a handler to answer ``status`` with ``detail`` as a plain-text body."""

    def __init__(self, status: int, detail: Optional[str] = None,
                 headers: Optional[Mapping[str, str]] = None) -> None:
        if detail is None:
            try:
                detail = HTTPStatus(status).phrase
            except ValueError:
                detail = ""
        super().__init__(status, detail)
        self.status = status
        self.detail = detail
        self.headers = headers

    def __repr__(self) -> str:
        return f"HTTPException({self.status}, {self.detail!r})"
