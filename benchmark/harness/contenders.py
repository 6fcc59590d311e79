"""The contenders, one row each: which app, which kind of app, how its server starts.

``family`` names the app (apps.py's three forms of one program, or the FastAPI or
Flask app); contenders of one family answer the same bytes (scenarios.EXPECTED).
``quick`` rows are the ones `make bench-quick` runs.
"""
from __future__ import annotations

from dataclasses import dataclass

from .scenarios import ASGI, CONFIG, NATIVE, WSGI, Scenario
from .servers import Server, gunicorn, nginx_return, nginx_uwsgi, tandem, uvicorn


@dataclass(frozen=True)
class Contender:
    key: str
    label: str
    family: str
    kind: str
    server: Server
    quick: bool = False

    def runs(self, scenario: Scenario) -> bool:
        return self.kind in scenario.kinds


CONTENDERS: tuple[Contender, ...] = (
    Contender("tandem-native", "tandem, native App", "raw", NATIVE, tandem("apps:app", "native"), quick=True),
    Contender("tandem-asgi", "tandem, raw ASGI app", "raw", ASGI, tandem("apps:asgi", "asgi"), quick=True),
    Contender("uvicorn-asgi", "uvicorn, raw ASGI app", "raw", ASGI, uvicorn("apps:asgi"), quick=True),
    Contender("tandem-wsgi", "tandem, raw WSGI app", "raw", WSGI, tandem("apps:wsgi", "wsgi"), quick=True),
    Contender("nginx-uwsgi", "nginx + uWSGI, raw WSGI app", "raw", WSGI, nginx_uwsgi("apps:wsgi"), quick=True),
    Contender("gunicorn-sync", "gunicorn sync, raw WSGI app", "raw", WSGI, gunicorn("apps:wsgi", "sync"),
              quick=True),
    Contender("gunicorn-gthread", "gunicorn gthread, raw WSGI app", "raw", WSGI,
              gunicorn("apps:wsgi", "gthread"), quick=True),
    Contender("nginx-return", "nginx `return 200`", "raw", CONFIG, nginx_return(), quick=True),
    Contender("tandem-fastapi", "tandem, FastAPI app", "fastapi", ASGI, tandem("apps_fastapi:app", "asgi")),
    Contender("uvicorn-fastapi", "uvicorn, FastAPI app", "fastapi", ASGI, uvicorn("apps_fastapi:app")),
    Contender("tandem-flask", "tandem, Flask app", "flask", WSGI, tandem("apps_flask:app", "wsgi")),
    Contender("nginx-uwsgi-flask", "nginx + uWSGI, Flask app", "flask", WSGI, nginx_uwsgi("apps_flask:app")),
    Contender("gunicorn-flask", "gunicorn sync, Flask app", "flask", WSGI, gunicorn("apps_flask:app", "sync")),
)

# The comparisons the issue sets targets for: (tandem's row, the other's row, what is asked).
COMPARISONS: tuple[tuple[str, str, str], ...] = (
    ("tandem-native", "nginx-return", "req/s >= 0.75x, CPU/req <= 1.5x"),
    ("tandem-asgi", "uvicorn-asgi", "req/s >= 1.5x, CPU/req <= 1x"),
    ("tandem-wsgi", "nginx-uwsgi", "req/s >= 1.5x, CPU/req <= 0.67x"),
    ("tandem-wsgi", "gunicorn-sync", "req/s >= 3x"),
    ("tandem-wsgi", "gunicorn-gthread", "req/s >= 3x"),
    ("tandem-fastapi", "uvicorn-fastapi", "not beaten"),
    ("tandem-flask", "nginx-uwsgi-flask", "not beaten"),
    ("tandem-flask", "gunicorn-flask", "not beaten"),
)
