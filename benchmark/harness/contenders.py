"""The contenders, one row each: which app, which kind of app, how its server starts.

``family`` names the app (apps.py's three forms of one program, or the FastAPI or
Flask app); contenders of one family answer the same bytes (scenarios.EXPECTED).
``quick`` rows are the ones `make bench-quick` runs.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

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
    Contender("tandem-wsgi-inline", "tandem `--threads 0`, raw WSGI app", "raw", WSGI,
              tandem("apps:wsgi", "wsgi", extra=("--threads", "0")), quick=True),
    Contender("nginx-uwsgi", "nginx + uWSGI, raw WSGI app", "raw", WSGI, nginx_uwsgi("apps:wsgi"), quick=True),
    Contender("gunicorn-sync", "gunicorn sync, raw WSGI app", "raw", WSGI, gunicorn("apps:wsgi", "sync"),
              quick=True),
    Contender("gunicorn-gthread", "gunicorn gthread, raw WSGI app", "raw", WSGI,
              gunicorn("apps:wsgi", "gthread"), quick=True),
    Contender("nginx-return", "nginx `return 200`", "raw", CONFIG, nginx_return(), quick=True),
    Contender("tandem-fastapi", "tandem, FastAPI app", "fastapi", ASGI, tandem("apps_fastapi:app", "asgi")),
    Contender("uvicorn-fastapi", "uvicorn, FastAPI app", "fastapi", ASGI, uvicorn("apps_fastapi:app")),
    Contender("tandem-flask", "tandem, Flask app", "flask", WSGI, tandem("apps_flask:app", "wsgi")),
    Contender("tandem-flask-inline", "tandem `--threads 0`, Flask app", "flask", WSGI,
              tandem("apps_flask:app", "wsgi", extra=("--threads", "0"))),
    Contender("nginx-uwsgi-flask", "nginx + uWSGI, Flask app", "flask", WSGI, nginx_uwsgi("apps_flask:app")),
    Contender("gunicorn-flask", "gunicorn sync, Flask app", "flask", WSGI, gunicorn("apps_flask:app", "sync")),
)

@dataclass(frozen=True)
class Target:
    """What issue 12 asks of tandem against another contender, as ratios tandem / other."""
    ours: str
    theirs: str
    rps_at_least: float = 1.0
    cpu_at_most: Optional[float] = 1.0
    p99_at_most: float = 1.0      # p99 latency at the same load no worse than the other's


TARGETS: tuple[Target, ...] = (
    Target("tandem-native", "nginx-return", rps_at_least=0.75, cpu_at_most=1.5),
    Target("tandem-asgi", "uvicorn-asgi", rps_at_least=1.5, cpu_at_most=1.0),
    Target("tandem-wsgi", "nginx-uwsgi", rps_at_least=1.5, cpu_at_most=2 / 3),
    Target("tandem-wsgi", "gunicorn-sync", rps_at_least=3.0, cpu_at_most=None),
    Target("tandem-wsgi", "gunicorn-gthread", rps_at_least=3.0, cpu_at_most=None),
    # The same targets for the WSGI callable run on the loop's thread (--threads 0).
    Target("tandem-wsgi-inline", "nginx-uwsgi", rps_at_least=1.5, cpu_at_most=2 / 3),
    Target("tandem-wsgi-inline", "gunicorn-sync", rps_at_least=3.0, cpu_at_most=None),
    Target("tandem-wsgi-inline", "gunicorn-gthread", rps_at_least=3.0, cpu_at_most=None),
    Target("tandem-fastapi", "uvicorn-fastapi"),      # the framework apps: not beaten
    Target("tandem-flask", "nginx-uwsgi-flask"),
    Target("tandem-flask", "gunicorn-flask"),
    Target("tandem-flask-inline", "nginx-uwsgi-flask"),
    Target("tandem-flask-inline", "gunicorn-flask"),
)
