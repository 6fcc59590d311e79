"""Real Flask, Django, Starlette and FastAPI applications behind the real frontend.

Each app in ``tests/frameworks/`` implements the same routes (see
``frameworks/common.py``).  Every case here is sent twice: through the real
frontend to ``python3 -m tandem`` serving the app, and through the framework's
own test client (Flask's ``test_client()``, ``django.test.Client``, Starlette's
and FastAPI's ``TestClient``).  The two answers must agree on what a user
sees: status, the headers that matter and the body.  The WSGI apps run inside
``wsgiref.validate.validator``, so a PEP 3333 violation by the adapter fails
the request (and shows in the backend's log, which must stay clean).
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import signal
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

import pytest

from e2e_support import REPO, ResponseReader, Stack, build_request, connect, request

FRAMEWORKS_DIR = os.path.join(REPO, "tests", "frameworks")
if FRAMEWORKS_DIR not in sys.path:
    sys.path.insert(0, FRAMEWORKS_DIR)
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "djproject.settings")

HOST = "frameworks.test"

import common  # noqa: E402  (from tests/frameworks)


@dataclass(frozen=True)
class Spec:
    """One app as the backend serves it, and the test client that answers the same."""

    id: str
    app: str                     # the import string given to python3 -m tandem
    flags: tuple[str, ...]       # extra backend flags
    reference: str               # which framework's test client: flask, django, starlette, fastapi
    lifespan: bool = False       # the app has a lifespan-made resource at /lifespan


SPECS = [
    # The validator's wrapper takes *args, so WSGI must be named; the others are detected.
    Spec("flask-wsgi", "flask_app:application", ("--interface", "wsgi"), "flask"),
    Spec("django-wsgi", "djproject.wsgi:application", ("--interface", "wsgi"), "django"),
    # --threads 0: the WSGI application on the event loop's own thread.
    Spec("flask-wsgi-inline", "flask_app:application", ("--interface", "wsgi", "--threads", "0"), "flask"),
    Spec("django-wsgi-inline", "djproject.wsgi:application", ("--interface", "wsgi", "--threads", "0"), "django"),
    Spec("django-asgi", "djproject.asgi:application", (), "django"),
    Spec("starlette", "starlette_app:app", (), "starlette", lifespan=True),
    Spec("fastapi", "fastapi_app:app", ("--interface", "asgi3"), "fastapi", lifespan=True),
]


# --- the cases --------------------------------------------------------------

BOUNDARY = "tandemFormBoundary7MA4YWxkTrZu0gW"
UPLOAD_DATA = random.Random("upload file").randbytes(100_000)
LARGE_UPLOAD_DATA = random.Random("large upload file").randbytes(3 * 1024 * 1024 + 17)
NOTE = "a note, with UTF-8: caf\u00e9 \u2713"


def multipart_body(data: bytes = UPLOAD_DATA) -> bytes:
    b = BOUNDARY.encode()
    return (b"--" + b + b"\r\n"
            b'Content-Disposition: form-data; name="note"\r\n\r\n' + NOTE.encode() + b"\r\n"
            b"--" + b + b"\r\n"
            b'Content-Disposition: form-data; name="file"; filename="data.bin"\r\n'
            b"Content-Type: application/octet-stream\r\n\r\n" + data + b"\r\n"
            b"--" + b + b"--\r\n")


@dataclass(frozen=True)
class Case:
    method: str
    target: str
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""
    lifespan_only: bool = False
    # What the app must answer, besides agreeing with its test client.
    status: int = 200
    # Where one framework answers otherwise: FastAPI validates an int path parameter with 422.
    status_for: tuple[tuple[str, int], ...] = ()
    # Send the body with Transfer-Encoding: chunked (the test client gets it whole).
    chunked: bool = False
    # Frameworks the case does not apply to, and why.
    skip_for: tuple[tuple[str, str], ...] = ()
    check: Optional[Callable[[Any], None]] = field(default=None, compare=False)


def read_file(path: str) -> bytes:
    with open(path, "rb") as f:
        return f.read()


def _json(check: Callable[[Any], None]) -> Callable[[Any], None]:
    return lambda resp: check(json.loads(resp.body))


CASES = {
    "index": Case("GET", "/"),
    "path-params-and-query": Case("GET", "/items/42/widget?q=a&q=b%20c", check=_json(
        lambda d: d == {"item_id": 42, "name": "widget", "q": ["a", "b c"]})),
    "path-param-utf8": Case("GET", "/items/7/caf%C3%A9", check=_json(
        lambda d: d == {"item_id": 7, "name": "caf\u00e9", "q": []})),
    "query-utf8-and-plus": Case("GET", "/items/5/q?q=caf%C3%A9&q=a+b&q=", check=_json(
        lambda d: d["q"] == ["caf\u00e9", "a b", ""])),
    "path-param-not-an-int": Case("GET", "/items/seven/x", status=404, status_for=(("fastapi", 422),)),
    "not-found": Case("GET", "/no/such/page", status=404),
    "method-not-allowed": Case("POST", "/cookies/read", (("Content-Type", "text/plain"),), b"x", status=405),
    "head": Case("HEAD", "/items/1/head"),
    "form-post": Case("POST", "/form", (("Content-Type", "application/x-www-form-urlencoded"),),
                      b"a=1&a=2&b=x+y%21", check=_json(lambda d: d == {"a": ["1", "2"], "b": ["x y!"]})),
    "json-post": Case("POST", "/json", (("Content-Type", "application/json"),),
                      json.dumps({"n": 1, "list": [1, 2, 3], "s": "caf\u00e9"}).encode(), status=201,
                      check=_json(lambda d: d["received"] == {"n": 1, "list": [1, 2, 3], "s": "caf\u00e9"})),
    "json-post-chunked": Case("POST", "/json", (("Content-Type", "application/json"),),
                              json.dumps({"chunked": True, "pad": "x" * 5000}).encode(), status=201, chunked=True,
                              skip_for=(("django", "Django reads CONTENT_LENGTH bytes only: no chunked bodies"),),
                              check=_json(lambda d: d["received"]["chunked"] is True)),
    "cookies-set": Case("GET", "/cookies/set"),
    "cookies-read": Case("GET", "/cookies/read", (("Cookie", "session=abc123; theme=dark"),),
                         check=_json(lambda d: d == {"session": "abc123", "theme": "dark"})),
    "redirect": Case("GET", "/redirect", status=302),
    "multipart-upload": Case("POST", "/upload",
                             (("Content-Type", f"multipart/form-data; boundary={BOUNDARY}"),), multipart_body(),
                             check=_json(lambda d: d == {
                                 "filename": "data.bin", "size": len(UPLOAD_DATA),
                                 "sha256": hashlib.sha256(UPLOAD_DATA).hexdigest(),
                                 "content_type": "application/octet-stream", "note": NOTE})),
    "multipart-upload-large": Case("POST", "/upload",
                                   (("Content-Type", f"multipart/form-data; boundary={BOUNDARY}"),),
                                   multipart_body(LARGE_UPLOAD_DATA), check=_json(lambda d: (
                                       d["size"], d["sha256"]) == (len(LARGE_UPLOAD_DATA),
                                                                   hashlib.sha256(LARGE_UPLOAD_DATA).hexdigest()))),
    "head-streaming": Case("HEAD", "/stream?n=10&size=100"),
    "file-response": Case("GET", "/file", check=lambda r: r.body == read_file(common.FILE_PATH)),
    "streaming-response": Case("GET", "/stream?n=300&size=1000",
                               check=lambda r: r.body == b"".join(
                                   (f"piece {i} ".encode() + b"." * 1000)[:999] + b"\n" for i in range(300))),
    "request-info": Case("GET", "/info?x=1&y=%20z", check=_json(lambda d: (
        d["method"], d["path"], d["query"], d["root_path"], d["scheme"], d["host"]) == (
        "GET", "/info", "x=1&y=%20z", "", "http", HOST))),
    "lifespan-resource": Case("GET", "/lifespan", lifespan_only=True, check=_json(
        lambda d: d["ready"] is True and d["greeting"] == "made at startup")),
}

# Response headers compared with the test client's (set-cookie and content-length apart).
COMPARED_HEADERS = ("content-type", "location", "allow", "x-framework", "x-streamed", "content-disposition",
                    "etag", "last-modified", "cache-control")


@dataclass
class Answer:
    status: int
    headers: list[tuple[str, str]]  # names lowercased, values stripped
    body: bytes

    def get(self, name: str) -> list[str]:
        return [v for k, v in self.headers if k == name]


def essentials(answer: Answer, method: str) -> dict[str, Any]:
    out: dict[str, Any] = {"status": answer.status}
    for name in COMPARED_HEADERS + ("set-cookie",):
        out[name] = answer.get(name)
    # Starlette builds Allow from a set, so its order changes from one process to the next.
    out["allow"] = [sorted(m.strip() for m in v.split(",")) for v in out["allow"]]
    out["body"] = b"" if method == "HEAD" else answer.body
    return out


# --- the framework's own test clients --------------------------------------


class Reference:
    """The app driven in-process by its framework's test client."""

    def __init__(self, kind: str, root_path: str = "") -> None:
        self.kind = kind
        self.root_path = root_path
        self._exit: Optional[Callable[[], None]] = None
        if kind == "flask":
            import flask_app

            self.client = flask_app.app.test_client(use_cookies=False)
        elif kind == "django":
            import django
            from django.test import Client

            django.setup()
            self.client = Client()
        else:
            from starlette.testclient import TestClient

            module = __import__(f"{kind}_app")
            client = TestClient(module.app, raise_server_exceptions=False, root_path=root_path)
            self.client = client.__enter__()  # runs the lifespan startup
            self._exit = lambda: client.__exit__(None, None, None)

    def close(self) -> None:
        if self._exit is not None:
            self._exit()

    def answer(self, case: Case) -> Answer:
        headers = [("Host", HOST), *case.headers]
        if self.kind == "flask":
            r = self.client.open(case.target, method=case.method, headers=headers, data=case.body,
                                 base_url=f"http://{HOST}{self.root_path}")
            return Answer(r.status_code, _norm(r.headers.to_wsgi_list()), r.get_data())
        if self.kind == "django":
            from http.cookies import SimpleCookie

            from django.urls import set_script_prefix

            # Django's WSGIHandler sets the prefix reverse() uses from SCRIPT_NAME; its test client does not.
            set_script_prefix(self.root_path + "/")
            self.client.cookies = SimpleCookie()
            extra = {"SCRIPT_NAME": self.root_path}
            content_type = "application/octet-stream"
            for k, v in headers:
                if k.lower() == "content-type":
                    content_type = v
                else:
                    extra["HTTP_" + k.upper().replace("-", "_")] = v
            r = self.client.generic(case.method, case.target, case.body, content_type, **extra)
            pairs = list(r.items()) + [("Set-Cookie", m.output(header="")) for m in r.cookies.values()]
            body = b"".join(r.streaming_content) if r.streaming else r.content
            return Answer(r.status_code, _norm(pairs), body)
        self.client.cookies.clear()
        r = self.client.request(case.method, case.target, content=case.body or None, headers=headers,
                                follow_redirects=False)
        return Answer(r.status_code, _norm(r.headers.multi_items()), r.content)


def _norm(pairs) -> list[tuple[str, str]]:
    return [(k.lower(), v.strip()) for k, v in pairs]


# --- the stacks ---------------------------------------------------------------


def start_stack(tmp_path_factory, spec: Spec, *extra: str, env: Optional[dict[str, str]] = None) -> Stack:
    st = Stack(str(tmp_path_factory.mktemp(f"fw-{spec.id}")), None)
    try:
        st.start_frontend()
        st.start_backend(*spec.flags, *extra, app=spec.app, app_dir=FRAMEWORKS_DIR, env=env)
    except BaseException:
        print(st.logs())
        st.close()
        raise
    return st


@pytest.fixture(scope="module", params=SPECS, ids=[s.id for s in SPECS])
def served(request, tmp_path_factory):
    """(spec, stack, reference client), one stack per app for the whole module."""
    spec: Spec = request.param
    st = start_stack(tmp_path_factory, spec)
    ref = None
    try:
        ref = Reference(spec.reference)
        yield spec, st, ref
    finally:
        if ref is not None:
            ref.close()
        st.close()


def wire(case: Case) -> bytes:
    """The request as the client sends it."""
    if not case.chunked:
        return build_request(case.method, case.target, list(case.headers), case.body, host=HOST)
    head = build_request(case.method, case.target, [*case.headers, ("Transfer-Encoding", "chunked")], host=HOST)
    pieces = [case.body[i:i + 1000] for i in range(0, len(case.body), 1000)]
    return head + b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in pieces) + b"0\r\n\r\n"


def applies(spec: Spec, case: Case) -> Optional[str]:
    """None if the case applies to the app, else why not."""
    if case.lifespan_only and not spec.lifespan:
        return f"{spec.id} has no lifespan"
    return dict(case.skip_for).get(spec.reference)


def through_tandem(port: int, case: Case) -> Answer:
    with connect(port) as s:
        s.sendall(wire(case))
        r = ResponseReader(s).read(case.method)
    return Answer(r.status, _norm(r.headers), r.body)


def check_agrees(spec: Spec, case: Case, ref: Answer, got: Answer) -> None:
    assert essentials(got, case.method) == essentials(ref, case.method), (
        f"{spec.id} {case.method} {case.target}: through tandem {got.headers}, test client {ref.headers}")
    expected = dict(case.status_for).get(spec.reference, case.status)
    assert ref.status == expected, f"the test client itself answered {ref.status}: the case is wrong"
    ref_length, got_length = ref.get("content-length"), got.get("content-length")
    if ref_length:
        assert got_length == ref_length
    if got_length and case.method != "HEAD":
        assert got_length == [str(len(got.body))]
    if case.check is not None:
        case.check(got)


@pytest.mark.parametrize("name", list(CASES))
def test_same_answer_as_the_frameworks_test_client(served, name):
    spec, st, ref = served
    case = CASES[name]
    why_not = applies(spec, case)
    if why_not:
        pytest.skip(why_not)
    check_agrees(spec, case, ref.answer(case), through_tandem(st.port, case))


def test_every_case_pipelined_on_one_connection(served):
    """All the cases sent at once on one keep-alive connection; answers come back in order."""
    spec, st, ref = served
    cases = [c for c in CASES.values() if not applies(spec, c)] * 2
    with connect(st.port) as s:
        s.sendall(b"".join(wire(c) for c in cases))
        reader = ResponseReader(s)
        for case in cases:
            r = reader.read(case.method)
            check_agrees(spec, case, ref.answer(case), Answer(r.status, _norm(r.headers), r.body))


def test_backend_log_is_clean(served):
    """No traceback, validator complaint or warning in the backend log after all the cases."""
    spec, st, _ = served
    assert request(st.port, "GET", "/").status == 200
    log = st.backends[0].log(1 << 20)
    for bad in ("Traceback", "AssertionError", "WSGIWarning", "Exception ignored", "ERROR"):
        assert bad not in log, f"{spec.id}: backend log has {bad!r}:\n{log[-4000:]}"


# --- lifespan, factory and CLI flags -----------------------------------------


@pytest.mark.parametrize("spec", [s for s in SPECS if s.lifespan], ids=lambda s: s.id)
def test_lifespan_shutdown_runs_when_the_backend_stops(tmp_path_factory, spec):
    marks = tmp_path_factory.mktemp("marks")
    st = start_stack(tmp_path_factory, spec, env={"FRAMEWORKS_MARK_DIR": str(marks)})
    try:
        r = request(st.port, "GET", "/lifespan")
        assert r.status == 200 and json.loads(r.body)["framework"] == spec.reference
        assert not os.listdir(marks)
        backend = st.backends[0]
        assert backend.stop(signal.SIGTERM) == 0, backend.log()
        assert os.listdir(marks) == [f"{spec.reference}-shutdown"], backend.log()
    finally:
        st.close()


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.id)
def test_root_path(tmp_path_factory, spec):
    """--root-path /mnt: the app sees the prefix (ASGI root_path, WSGI SCRIPT_NAME) and puts it in its URLs.

    Whether the proxy in front stripped the prefix (/info) or not (/mnt/info), the
    app sees the same request, the one its test client makes with that root path.
    """
    st = start_stack(tmp_path_factory, spec, "--root-path", "/mnt")
    ref = Reference(spec.reference, root_path="/mnt")
    try:
        case = Case("GET", "/info?x=1")
        expected = ref.answer(case)
        for target in ("/info?x=1", "/mnt/info?x=1"):
            got = through_tandem(st.port, Case("GET", target))
            check_agrees(spec, case, expected, got)
            info = json.loads(got.body)
            assert info["root_path"] == "/mnt"
            assert info["link"].endswith("/mnt/items/3/n")
        # A path outside the prefix reaches the app unchanged.
        other = Case("GET", "/mntx/info", status=404)
        check_agrees(spec, other, ref.answer(other), through_tandem(st.port, other))
    finally:
        ref.close()
        st.close()


def test_factory(tmp_path_factory):
    """--factory: MODULE:ATTR names a function that returns the application."""
    spec = Spec("flask-factory", "flask_app:create_app", ("--interface", "wsgi", "--factory"), "flask")
    st = start_stack(tmp_path_factory, spec)
    try:
        ref = Reference("flask")
        for name in ("path-params-and-query", "json-post", "cookies-set"):
            check_agrees(spec, CASES[name], ref.answer(CASES[name]), through_tandem(st.port, CASES[name]))
    finally:
        st.close()


def test_lifespan_off_skips_startup(tmp_path_factory):
    """--lifespan off: the startup never ran, so the route that needs its resource fails."""
    spec = SPECS[[s.id for s in SPECS].index("starlette")]
    st = start_stack(tmp_path_factory, spec, "--lifespan", "off")
    try:
        assert request(st.port, "GET", "/").status == 200
        assert request(st.port, "GET", "/lifespan").status == 500
    finally:
        st.close()


def test_lifespan_on_refuses_an_app_without_lifespan(tmp_path_factory):
    """--lifespan on with Django (which raises on the lifespan scope): the backend does not start."""
    spec = SPECS[[s.id for s in SPECS].index("django-asgi")]
    st = Stack(str(tmp_path_factory.mktemp("fw-lifespan-on")), None)
    try:
        st.start_frontend("--backend-wait", "0")  # no backend comes: 503 at once
        backend = st.start_backend(*spec.flags, "--lifespan", "on", app=spec.app, app_dir=FRAMEWORKS_DIR,
                                   wait=False)
        backend.popen.wait(10)
        assert backend.popen.returncode not in (0, None), backend.log()
        assert request(st.port, "GET", "/").status == 503
    finally:
        st.close()


@pytest.mark.parametrize("threads", [1, 4])
def test_wsgi_threads(tmp_path_factory, threads):
    """--threads N: N requests of a blocking WSGI view run at once, never more."""
    spec = Spec(f"wsgi-threads-{threads}", "flow_wsgi:application", ("--interface", "wsgi", "--threads", str(threads)),
                "flask")
    st = start_stack(tmp_path_factory, spec)
    try:
        results: list[int] = []

        def one() -> None:
            results.append(request(st.port, "GET", "/sleep?ms=300").status)

        started = time.monotonic()
        clients = [threading.Thread(target=one) for _ in range(4)]
        for t in clients:
            t.start()
        for t in clients:
            t.join(10)
        took = time.monotonic() - started
        assert results == [200] * 4
        if threads == 1:
            assert took >= 4 * 0.3, f"4 requests of 300 ms on one thread took {took:.2f}s"
        else:
            assert took < 2 * 0.3 + 0.3, f"4 requests of 300 ms on 4 threads took {took:.2f}s"
    finally:
        st.close()
