"""Jinja2 templates for handlers declared with ``template="name.html"``.

The environment is created on first use and then reused (Jinja2 caches compiled
templates in it); Jinja2 is imported only by apps that use templates.

Calls nothing of tandem (Jinja2, on first use).
"""

from __future__ import annotations

import os
from typing import Any, Optional


class Templates:
    def __init__(self, directory: str) -> None:
        self.directory = directory
        self._env: Optional[Any] = None

    @property
    def env(self) -> Any:
        if self._env is None:
            import jinja2

            self._env = jinja2.Environment(
                loader=jinja2.FileSystemLoader(self.directory),
                autoescape=jinja2.select_autoescape(("html", "htm", "xml")),
                auto_reload=False,
            )
        return self._env

    def render(self, name: str, context: Any) -> str:
        if context is None:
            context = {}
        if not isinstance(context, dict):
            raise TypeError(f"a handler with template={name!r} must return a dict (or a Response), "
                            f"not {type(context).__name__}")
        return str(self.env.get_template(name).render(context))

    def __repr__(self) -> str:
        return f"Templates({self.directory!r})"


def templates_dir_for(module_file: Optional[str], templates: Optional[str]) -> str:
    """``templates`` (default "templates") relative to the directory of ``module_file``."""
    base = os.path.dirname(os.path.abspath(module_file)) if module_file else os.getcwd()
    return os.path.join(base, templates or "templates")
