"""Path routing: static paths by dict lookup, dynamic paths by a segment tree.

Patterns are split on ``/`` into segments.  A segment is a literal, ``{name}``
(one segment, str), ``{name:int}`` (one segment of ASCII digits, int), or
``{name:path}`` (the rest of the path, may contain ``/`` and be empty; only as
the last segment).  A pattern without parameters lives in one dict keyed by the
whole path, so most lookups are a single dict access.  Patterns with parameters
live in a tree with one node per segment: at each node a literal child is tried
before ``{name}``/``{name:int}`` children, and ``{name:path}`` last, so the
most specific route wins and no lookup scans all routes.

``Router.resolve()`` answers with a ``Match``: the route and its parameters, or
404 with nothing, or 405 with the methods the path does allow.  A route that
allows GET allows HEAD too.

Calls nothing of tandem.
"""

from __future__ import annotations

import re
from typing import Any, Callable, Iterable, NamedTuple, Optional

Params = dict[str, Any]

FOUND = 200
NOT_FOUND = 404
METHOD_NOT_ALLOWED = 405

_PARAM = re.compile(r"^\{([A-Za-z_][A-Za-z0-9_]*)(?::(str|int|path))?\}$")


class Route:
    """A path pattern, its methods and endpoint.

    ``options`` are what the app registered the route with; ``is_async`` and
    ``template``, the two the app reads on every request, are also attributes.
    """

    __slots__ = ("path", "methods", "explicit_head", "endpoint", "name", "options", "is_async", "template")

    def __init__(self, path: str, methods: Iterable[str], endpoint: Callable[..., Any],
                 name: Optional[str] = None, **options: Any) -> None:
        self.path = path
        self.methods = frozenset(m.upper() for m in methods)
        self.explicit_head = "HEAD" in self.methods
        if "GET" in self.methods:
            self.methods |= {"HEAD"}
        self.endpoint = endpoint
        self.name = name or getattr(endpoint, "__name__", path)
        self.options = options
        self.is_async: bool = bool(options.get("is_async", False))
        self.template: Optional[str] = options.get("template")

    def __repr__(self) -> str:
        return f"Route({self.path!r}, {sorted(self.methods)}, {self.name!r})"


class Match(NamedTuple):
    status: int  # FOUND, NOT_FOUND or METHOD_NOT_ALLOWED
    route: Optional[Route]
    params: Params
    allowed: frozenset[str]


_EMPTY: Params = {}
_NONE: frozenset[str] = frozenset()
_NOT_FOUND = Match(NOT_FOUND, None, _EMPTY, _NONE)


def _convert_int(segment: str) -> Optional[int]:
    if segment.isascii() and segment.isdigit():
        return int(segment)
    return None


def _convert_str(segment: str) -> Optional[str]:
    return segment if segment else None


_CONVERTERS: dict[str, Callable[[str], Any]] = {"str": _convert_str, "int": _convert_int}


class _Node:
    __slots__ = ("literals", "params", "rest", "methods")

    def __init__(self) -> None:
        self.literals: dict[str, _Node] = {}
        # (name, converter, child) for {name} and {name:int}, in registration order
        self.params: list[tuple[str, str, _Node]] = []
        # (name, method table) for {name:path}
        self.rest: Optional[tuple[str, dict[str, Route]]] = None
        # method -> route for a pattern that ends at this node
        self.methods: Optional[dict[str, Route]] = None


def _parse(path: str) -> list[tuple[str, Optional[str], Optional[str]]]:
    """Pattern -> [(literal, None, None) | ("", name, kind)]."""
    if not path.startswith("/"):
        raise ValueError(f"route path must start with '/': {path!r}")
    segments = path[1:].split("/")
    parsed: list[tuple[str, Optional[str], Optional[str]]] = []
    for i, segment in enumerate(segments):
        if "{" in segment or "}" in segment:
            m = _PARAM.match(segment)
            if m is None:
                raise ValueError(f"bad path parameter {segment!r} in {path!r}; use {{name}}, "
                                 "{name:int} or {name:path} as a whole segment")
            kind = m.group(2) or "str"
            if kind == "path" and i != len(segments) - 1:
                raise ValueError(f"{{{m.group(1)}:path}} must be the last segment of {path!r}")
            parsed.append(("", m.group(1), kind))
        else:
            parsed.append((segment, None, None))
    names = [name for _, name, _ in parsed if name]
    if len(set(names)) != len(names):
        raise ValueError(f"duplicate parameter name in {path!r}")
    return parsed


class Router:
    def __init__(self) -> None:
        self.routes: list[Route] = []
        self._static: dict[str, dict[str, Route]] = {}
        # The same table with each route's Match built once: a static path costs
        # two dict lookups and no allocation.
        self._static_found: dict[str, dict[str, Match]] = {}
        self._root = _Node()

    def add(self, route: Route) -> Route:
        parsed = _parse(route.path)
        if all(name is None for _, name, _ in parsed):
            table = self._static.setdefault(route.path, {})
        else:
            table = self._insert(parsed)
        updates: dict[str, Route] = {}
        for method in route.methods:
            existing = table.get(method)
            if existing is None or (method == "HEAD" and not existing.explicit_head):
                updates[method] = route
            elif method == "HEAD" and not route.explicit_head:
                continue  # an explicit HEAD route wins over the HEAD a GET implies
            else:
                raise ValueError(f"{method} {route.path} is already routed to {existing.name}")
        table.update(updates)
        if route.path in self._static:
            self._static_found[route.path] = {m: Match(FOUND, r, _EMPTY, _NONE) for m, r in table.items()}
        self.routes.append(route)
        return route

    def _insert(self, parsed: list[tuple[str, Optional[str], Optional[str]]]) -> dict[str, Route]:
        node = self._root
        for literal, name, kind in parsed:
            if name is None:
                node = node.literals.setdefault(literal, _Node())
            elif kind == "path":
                if node.rest is None:
                    node.rest = (name, {})
                elif node.rest[0] != name:
                    raise ValueError(f"conflicting {{...:path}} parameter names {node.rest[0]!r} and {name!r}")
                return node.rest[1]
            else:
                assert kind is not None
                for pname, pkind, child in node.params:
                    if pname == name and pkind == kind:
                        node = child
                        break
                else:
                    child = _Node()
                    node.params.append((name, kind, child))
                    node = child
        if node.methods is None:
            node.methods = {}
        return node.methods

    def resolve(self, method: str, path: str) -> Match:
        found = self._static_found.get(path)
        if found is not None:
            match = found.get(method)
            if match is not None:
                return match
        table = self._static.get(path)
        params: Params = _EMPTY
        if table is None:
            params = {}
            segments = path[1:].split("/") if path.startswith("/") else [path]
            table = _walk(self._root, segments, 0, params)
            if table is None:
                return _NOT_FOUND
        route = table.get(method)
        if route is None:
            return Match(METHOD_NOT_ALLOWED, None, _EMPTY, frozenset(table))
        return Match(FOUND, route, params, _NONE)

    def url_path_for(self, name: str, **params: Any) -> str:
        """The path of the route called ``name`` with ``params`` filled in."""
        for route in self.routes:
            if route.name == name:
                path = route.path
                for key, value in params.items():
                    path = re.sub(r"\{%s(?::\w+)?\}" % re.escape(key), str(value), path)
                if "{" in path:
                    raise ValueError(f"missing parameters for route {name!r}: {path}")
                return path
        raise KeyError(name)


def _walk(node: _Node, segments: list[str], i: int, params: Params) -> Optional[dict[str, Route]]:
    """Depth-first match of segments[i:] below node; fills params on success."""
    if i == len(segments):
        if node.methods is not None:
            return node.methods
        return None
    segment = segments[i]
    child = node.literals.get(segment)
    if child is not None:
        found = _walk(child, segments, i + 1, params)
        if found is not None:
            return found
    for name, kind, child in node.params:
        value = _CONVERTERS[kind](segment)
        if value is not None:
            found = _walk(child, segments, i + 1, params)
            if found is not None:
                params[name] = value
                return found
    if node.rest is not None:
        name, table = node.rest
        params[name] = "/".join(segments[i:])
        return table
    return None
