"""Fixtures of the end-to-end suite: the real frontend and real backends.

``stack`` is one frontend plus one backend shared by the tests that only send
requests; tests that kill, restart or reconfigure processes build their own
with ``make_stack``.  Every process is stopped in teardown, pass or fail, and
a failing test shows the processes' logs.
"""

from __future__ import annotations

import os
import shutil
import uuid

import pytest

from e2e_support import FRONTEND, Stack, blob_bytes

STATIC_SRC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "static")


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)


def _failed(request) -> bool:
    node = request.node
    return any(getattr(getattr(node, f"rep_{w}", None), "failed", False) for w in ("setup", "call"))


@pytest.fixture(scope="session", autouse=True)
def frontend_binary():
    if not os.access(FRONTEND, os.X_OK):
        pytest.exit(f"{FRONTEND} is missing: run `make build` first", returncode=2)
    return FRONTEND


@pytest.fixture(scope="session")
def site(tmp_path_factory):
    """A copy of tests/static plus things that must never be served.

    ``root/secret`` lies next to (outside) the static dir; ``static/leak.txt``
    and ``static/escape`` are symlinks inside the static dir that point out to
    it.  ``static/alias.txt`` is a symlink that stays inside (and is served).
    """
    root = tmp_path_factory.mktemp("site")
    static = root / "static"
    shutil.copytree(STATIC_SRC, static)
    secret = f"TOP-SECRET-{uuid.uuid4().hex}"
    (root / "secret").write_text(secret + "\n")
    (root / "secret.txt").write_text(secret + "\n")
    os.symlink(root / "secret", static / "leak.txt")
    os.symlink(root, static / "escape")
    os.symlink("hello.txt", static / "alias.txt")
    (static / "blob.bin").write_bytes(blob_bytes())
    (static / "empty.txt").write_bytes(b"")
    return {"root": str(root), "static": str(static), "secret": secret}


def _make(tmp_path_factory, site) -> Stack:
    tmpdir = tmp_path_factory.mktemp("stack")
    return Stack(str(tmpdir), site["static"])


@pytest.fixture(scope="session")
def stack(tmp_path_factory, site):
    """One frontend and one backend for the whole session."""
    s = _make(tmp_path_factory, site)
    try:
        s.start_frontend()
        s.start_backend()
        yield s
    finally:
        s.close()


@pytest.fixture
def port(stack):
    return stack.port


@pytest.fixture
def make_stack(request, tmp_path_factory, site):
    """Factory for stacks owned by one test; all are closed at its end."""
    made: list[Stack] = []

    def factory() -> Stack:
        s = _make(tmp_path_factory, site)
        made.append(s)
        return s

    yield factory
    for s in made:
        if _failed(request):
            print(s.logs())
        s.close()


@pytest.fixture(autouse=True)
def _shared_logs_on_failure(request):
    yield
    if "stack" in request.fixturenames and _failed(request):
        print(request.getfixturevalue("stack").logs())
