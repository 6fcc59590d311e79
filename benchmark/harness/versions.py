"""What was measured: the version of every server, library and tool, and the machine."""
from __future__ import annotations

import json
import os
import platform
import subprocess
from pathlib import Path

from .servers import PYTHON, ROOT

PY_PACKAGES = ("uvicorn", "uvloop", "httptools", "gunicorn", "fastapi", "starlette", "pydantic", "flask",
               "werkzeug", "msgpack")
_PY_SCRIPT = """
import importlib.metadata as m, json, sys
found = {"python": sys.version.split()[0]}
for name in sys.argv[1:]:
    try:
        found[name] = m.version(name)
    except m.PackageNotFoundError:
        found[name] = "not installed"
print(json.dumps(found))
"""


def _output(argv: list[str], env: dict[str, str] | None = None) -> str:
    """First line a command prints (on stdout or stderr), or what went wrong."""
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=30, env=env)
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"unavailable ({e.__class__.__name__})"
    lines = (done.stdout + done.stderr).strip().splitlines()
    return lines[0].strip() if lines else "?"


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "?"


def collect(env: dict[str, str]) -> dict[str, str]:
    """Versions of tandem (commit), Python and its servers and frameworks, nginx, uWSGI, wrk; the machine."""
    commit = _output(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"])
    dirty = _output(["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no", "--", "backend",
                     "frontend", "protocol"])
    found = {"tandem": f"{_output([PYTHON, '-m', 'tandem', '--version'], env)}, commit {commit}"
                       + (" with local changes" if dirty not in ("", "?") else "")}
    try:
        found.update(json.loads(_output([PYTHON, "-c", _PY_SCRIPT, *PY_PACKAGES], env)))
    except json.JSONDecodeError:
        found["python packages"] = "unavailable"
    found["nginx"] = _output(["nginx", "-v"]).removeprefix("nginx version: ")
    found["uwsgi"] = _output(["uwsgi", "--version"])
    found["wrk"] = _output(["wrk", "-v"]).split(" [")[0]
    found["machine"] = f"{_cpu_model()}, {os.cpu_count()} cores, Linux {platform.release()}"
    return found
