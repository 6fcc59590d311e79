"""``--reload``: noticing that the application's source changed.

``SourceWatcher`` watches a folder tree with Debian's ``python3-watchdog``
(inotify on Linux: the kernel says what changed, nothing is polled) and calls
``on_change`` with the changed paths once the changes have stopped for
``DELAY`` seconds, so that an editor's several writes of one save make one
reload.  What counts as source: ``.py`` files and templates (files under a
folder named ``templates``, or ending in ``.html``, ``.jinja``, ``.jinja2``
or ``.j2``); never anything in a hidden folder or ``__pycache__``, hidden
files, or an editor's backup and swap files.

The callback runs on watchdog's thread; the supervisor's only sends its own
process SIGHUP, which its loop handles.  Calls no other tandem module.
"""

from __future__ import annotations

import os
import threading
from typing import Any, Callable, Optional

DELAY = 0.3
TEMPLATE_SUFFIXES = (".html", ".jinja", ".jinja2", ".j2")

MISSING = ("--reload needs the watchdog package: install Debian's python3-watchdog "
           "(sudo apt-get install python3-watchdog, or make deps)")


class WatchUnavailable(Exception):
    """watchdog is not installed, or the folder cannot be watched."""


def is_source(path: str, root: str) -> bool:
    """Whether a change of path (under root) is one --reload acts on."""
    rel = os.path.relpath(path, root)
    parts = rel.split(os.sep)
    if rel.startswith("..") or any(p.startswith(".") or p == "__pycache__" for p in parts):
        return False
    name = parts[-1]
    if name.endswith(("~", ".swp", ".swx", ".tmp")) or name.startswith("#"):
        return False
    return name.endswith(".py") or name.endswith(TEMPLATE_SUFFIXES) or "templates" in parts[:-1]


class SourceWatcher:
    """Calls ``on_change(paths)`` after source files under ``root`` change (see the module's text)."""

    def __init__(self, root: str, on_change: Callable[[list[str]], None], delay: float = DELAY) -> None:
        try:
            from watchdog.events import FileSystemEventHandler
            from watchdog.observers import Observer
        except ImportError:
            raise WatchUnavailable(MISSING) from None
        self.root = os.path.abspath(root)
        self.on_change = on_change
        self.delay = delay
        self._lock = threading.Lock()
        self._changed: list[str] = []
        self._timer: Optional[threading.Timer] = None
        watcher = self

        class Handler(FileSystemEventHandler):  # type: ignore[misc]
            def on_any_event(self, event: Any) -> None:
                watcher._event(event)

        self._observer = Observer()
        try:
            self._observer.schedule(Handler(), self.root, recursive=True)
        except OSError as exc:
            raise WatchUnavailable(f"cannot watch {self.root}: {exc}") from None

    def start(self) -> None:
        self._observer.daemon = True
        self._observer.start()

    def stop(self) -> None:
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
        if self._observer.is_alive():
            self._observer.stop()
            self._observer.join(5)

    def _event(self, event: Any) -> None:
        if event.is_directory or event.event_type in ("opened", "closed_no_write"):
            return
        paths = [event.src_path, getattr(event, "dest_path", "") or ""]
        hits = [p for p in paths if p and is_source(p, self.root)]
        if not hits:
            return
        with self._lock:
            self._changed += [p for p in hits if p not in self._changed]
            if self._timer is not None:
                self._timer.cancel()
            self._timer = threading.Timer(self.delay, self._fire)
            self._timer.daemon = True
            self._timer.start()

    def _fire(self) -> None:
        with self._lock:
            changed, self._changed, self._timer = self._changed, [], None
        if changed:
            self.on_change(changed)
