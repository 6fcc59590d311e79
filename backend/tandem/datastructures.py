"""Read-only multi-valued mappings for request headers and query parameters.

Both keep every (key, value) pair in arrival order, like starlette's: ``[key]``
and ``get()`` give the first value, ``getlist()`` all of them.

Calls nothing of tandem.
"""

from __future__ import annotations

from typing import Iterator, Mapping, Optional, Sequence, TypeVar, overload
from urllib.parse import parse_qsl

T = TypeVar("T")


class Headers(Mapping[str, str]):
    """Request headers, case-insensitive, decoded as latin-1 (HTTP's byte-transparent choice).

    Built from the raw ``(name, value)`` byte pairs the frontend sends (names
    already lowercase); nothing is decoded until asked for.
    """

    __slots__ = ("raw",)

    def __init__(self, raw: Sequence[tuple[bytes, bytes]]) -> None:
        self.raw = raw

    def getlist(self, key: str) -> list[str]:
        name = key.lower().encode("latin-1")
        return [v.decode("latin-1") for n, v in self.raw if n == name]

    @overload
    def get(self, key: str) -> Optional[str]: ...

    @overload
    def get(self, key: str, default: T) -> str | T: ...

    def get(self, key: str, default: object = None) -> object:
        name = key.lower().encode("latin-1")
        for n, v in self.raw:
            if n == name:
                return v.decode("latin-1")
        return default

    def __getitem__(self, key: str) -> str:
        value = self.get(key)
        if value is None:
            raise KeyError(key)
        return value

    def __contains__(self, key: object) -> bool:
        if not isinstance(key, str):
            return False
        name = key.lower().encode("latin-1")
        return any(n == name for n, _ in self.raw)

    def __iter__(self) -> Iterator[str]:
        seen: set[bytes] = set()
        for n, _ in self.raw:
            if n not in seen:
                seen.add(n)
                yield n.decode("latin-1")

    def __len__(self) -> int:
        return len({n for n, _ in self.raw})

    def multi_items(self) -> list[tuple[str, str]]:
        return [(n.decode("latin-1"), v.decode("latin-1")) for n, v in self.raw]

    def __repr__(self) -> str:
        return f"Headers({self.multi_items()!r})"


class QueryParams(Mapping[str, str]):
    """Query string parameters, percent-decoded as UTF-8; blank values are kept."""

    __slots__ = ("_list", "_dict")

    def __init__(self, query: bytes | str | Sequence[tuple[str, str]] = b"") -> None:
        if isinstance(query, bytes):
            query = query.decode("utf-8", "surrogateescape")
        if isinstance(query, str):
            if "%" in query or "+" in query:
                items = parse_qsl(query, keep_blank_values=True)
            else:
                # Nothing to unescape: what parse_qsl() does, without its
                # generic argument handling and per-field unquote() calls.
                items = []
                for field in query.split("&"):
                    if field:
                        name, _, value = field.partition("=")
                        items.append((name, value))
        else:
            items = list(query)
        self._list = items
        first: dict[str, str] = {}
        for k, v in items:
            first.setdefault(k, v)
        self._dict = first

    def getlist(self, key: str) -> list[str]:
        return [v for k, v in self._list if k == key]

    def __getitem__(self, key: str) -> str:
        return self._dict[key]

    def __contains__(self, key: object) -> bool:
        return key in self._dict

    def __iter__(self) -> Iterator[str]:
        return iter(self._dict)

    def __len__(self) -> int:
        return len(self._dict)

    def multi_items(self) -> list[tuple[str, str]]:
        return list(self._list)

    def __repr__(self) -> str:
        return f"QueryParams({self._list!r})"
