from __future__ import annotations

from typing import Any

import pytest

from tandem.routing import FOUND, METHOD_NOT_ALLOWED, NOT_FOUND, Route, Router


def endpoint(name: str) -> Any:
    def handler(request: Any, **params: Any) -> str:
        return name
    handler.__name__ = name
    return handler


@pytest.fixture
def router() -> Router:
    r = Router()
    r.add(Route("/", ["GET"], endpoint("index")))
    r.add(Route("/users", ["GET", "POST"], endpoint("users")))
    r.add(Route("/users/me", ["GET"], endpoint("me")))
    r.add(Route("/users/{user_id:int}", ["GET", "DELETE"], endpoint("user")))
    r.add(Route("/users/{name}", ["GET"], endpoint("user_by_name")))
    r.add(Route("/users/{user_id:int}/posts/{slug}", ["GET"], endpoint("post")))
    r.add(Route("/files/{rest:path}", ["GET"], endpoint("files")))
    r.add(Route("/files/special/{x}", ["GET"], endpoint("special")))
    r.add(Route("/{lang}/about", ["GET"], endpoint("about")))
    return r


def resolve(router: Router, method: str, path: str) -> tuple[int, Any, dict[str, Any], frozenset[str]]:
    m = router.resolve(method, path)
    return m.status, m.route.name if m.route else None, m.params, m.allowed


def test_static_routes(router: Router) -> None:
    assert resolve(router, "GET", "/") == (FOUND, "index", {}, frozenset())
    assert resolve(router, "POST", "/users") == (FOUND, "users", {}, frozenset())
    assert resolve(router, "GET", "/users/me")[:2] == (FOUND, "me")


def test_static_paths_are_one_dict_lookup(router: Router) -> None:
    # A static route lives in the dict only; the segment tree has no node for it.
    assert "/users/me" in router._static
    assert "me" not in router._root.literals["users"].literals


def test_int_parameter(router: Router) -> None:
    assert resolve(router, "GET", "/users/42") == (FOUND, "user", {"user_id": 42}, frozenset())
    assert resolve(router, "DELETE", "/users/7")[2] == {"user_id": 7}


def test_str_parameter_when_int_does_not_convert(router: Router) -> None:
    assert resolve(router, "GET", "/users/alice") == (FOUND, "user_by_name", {"name": "alice"}, frozenset())
    assert resolve(router, "GET", "/users/-1")[1] == "user_by_name"
    assert resolve(router, "GET", "/users/٣")[1] == "user_by_name"  # not an ASCII digit


def test_literal_beats_parameter(router: Router) -> None:
    assert resolve(router, "GET", "/users/me")[1] == "me"
    assert resolve(router, "GET", "/files/special/a")[:3] == (FOUND, "special", {"x": "a"})


def test_nested_parameters(router: Router) -> None:
    assert resolve(router, "GET", "/users/3/posts/hello") == (FOUND, "post", {"user_id": 3, "slug": "hello"},
                                                             frozenset())


def test_path_parameter_takes_the_rest(router: Router) -> None:
    assert resolve(router, "GET", "/files/a/b/c.txt")[2] == {"rest": "a/b/c.txt"}
    assert resolve(router, "GET", "/files/")[2] == {"rest": ""}
    assert resolve(router, "GET", "/files/special/a/b")[2] == {"rest": "special/a/b"}
    assert resolve(router, "GET", "/files")[0] == NOT_FOUND


def test_parameter_first_segment(router: Router) -> None:
    assert resolve(router, "GET", "/en/about")[2] == {"lang": "en"}


def test_not_found(router: Router) -> None:
    for path in ("/nope", "/users/1/posts", "/users/1/posts/x/y", "/users//", "", "/en/about/more"):
        assert resolve(router, "GET", path) == (NOT_FOUND, None, {}, frozenset()), path


def test_method_not_allowed_lists_allowed(router: Router) -> None:
    assert resolve(router, "PUT", "/users") == (METHOD_NOT_ALLOWED, None, {},
                                                frozenset({"GET", "HEAD", "POST"}))
    assert resolve(router, "POST", "/users/5")[3] == frozenset({"GET", "HEAD", "DELETE"})


def test_get_implies_head(router: Router) -> None:
    assert resolve(router, "HEAD", "/users/5")[:2] == (FOUND, "user")


def test_explicit_head_route_wins_either_order() -> None:
    for first_get in (True, False):
        r = Router()
        get, head = Route("/x", ["GET"], endpoint("get")), Route("/x", ["HEAD"], endpoint("head"))
        for route in ((get, head) if first_get else (head, get)):
            r.add(route)
        assert r.resolve("HEAD", "/x").route is head
        assert r.resolve("GET", "/x").route is get


def test_duplicate_route_is_an_error(router: Router) -> None:
    with pytest.raises(ValueError):
        router.add(Route("/users", ["POST"], endpoint("again")))
    with pytest.raises(ValueError):
        router.add(Route("/users/{user_id:int}", ["GET"], endpoint("again")))
    assert router.resolve("POST", "/users").route.name == "users"  # type: ignore[union-attr]


@pytest.mark.parametrize("path", ["no-slash", "/a/{b", "/a/x{b}", "/{rest:path}/more", "/{a}/{a}", "/{a:float}"])
def test_bad_patterns(path: str) -> None:
    with pytest.raises(ValueError):
        Router().add(Route(path, ["GET"], endpoint("x")))


def test_url_path_for(router: Router) -> None:
    assert router.url_path_for("post", user_id=3, slug="s") == "/users/3/posts/s"
    with pytest.raises(ValueError):
        router.url_path_for("post", user_id=3)
    with pytest.raises(KeyError):
        router.url_path_for("nothing")
