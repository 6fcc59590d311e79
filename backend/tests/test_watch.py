"""tandem.watch: which files count as source, and one call for a burst of saves (watchdog, for real)."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from tandem.watch import SourceWatcher, is_source

pytest.importorskip("watchdog")


@pytest.mark.parametrize("rel, source", [
    ("app.py", True),
    ("pkg/views.py", True),
    ("page.html", True),
    ("mail.jinja2", True),
    ("templates/page.txt", True),
    ("notes.txt", False),
    (".hidden.py", False),
    (".git/hooks/x.py", False),
    ("__pycache__/app.cpython-311.py", False),
    ("app.py~", False),
    (".app.py.swp", False),
    ("#app.py#", False),
])
def test_what_counts_as_source(rel: str, source: bool) -> None:
    assert is_source(f"/srv/app/{rel}", "/srv/app") is source
    assert not is_source("/elsewhere/app.py", "/srv/app")


def test_saves_are_seen_and_other_files_are_not(tmp_path: Path) -> None:
    calls: list[list[str]] = []
    called = threading.Event()

    def on_change(paths: list[str]) -> None:
        calls.append(paths)
        called.set()

    watcher = SourceWatcher(str(tmp_path), on_change, delay=0.1)
    watcher.start()
    try:
        (tmp_path / "notes.txt").write_text("not source")
        (tmp_path / "app.py").write_text("x = 1\n")
        assert called.wait(10), "no call after the save"
    finally:
        watcher.stop()
    assert calls and all(paths == [str(tmp_path / "app.py")] for paths in calls)


class Event:
    def __init__(self, path: str, kind: str = "modified") -> None:
        self.src_path, self.event_type, self.is_directory = path, kind, False


def test_a_burst_of_events_makes_one_call(tmp_path: Path) -> None:
    calls: list[list[str]] = []
    called = threading.Event()
    watcher = SourceWatcher(str(tmp_path), lambda paths: (calls.append(paths), called.set()), delay=2.0)
    # An editor's save: several events within the delay, for one file or two.
    for path in ("app.py", "app.py", "views.py", "app.py"):
        watcher._event(Event(str(tmp_path / path)))
    watcher._event(Event(str(tmp_path / "app.py"), "opened"))
    assert called.wait(10)
    watcher.stop()
    assert calls == [[str(tmp_path / "app.py"), str(tmp_path / "views.py")]]
