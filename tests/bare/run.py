#!/usr/bin/python3
"""`make test-bare`: the README's first command, `make run`, on its first try on a
bare Debian 12.

    /usr/bin/python3 tests/bare/run.py

What it does, in order (a failed step stops the run):

1. Tools: a Docker engine and the base image debian:bookworm-slim, got exactly as
   `make test-compose` gets them (tests/compose/run.py: docker.io installed from
   Debian and dockerd started if need be; the image pulled, or built with
   debootstrap from the mirror apt on this machine uses).
2. A container of that image, as root (a container's default user, who needs no
   sudo), with only what a new user is assumed to have: make, git, curl and
   ca-certificates, from the image's own apt sources. In it a copy of this
   checkout: its tracked and new files, never build/ or anything else ignored.
3. `make run` in the background, as in a terminal, and curl inside the container
   until http://127.0.0.1:8080/ answers with the example app's text and
   /static/hello.txt with the file's bytes. `make deps` installs the packages
   during this run, so this step is dominated by apt.
4. Ctrl-C (SIGINT to make's process group, as a terminal sends it): make ends and
   nothing answers on 8080 any more.

The container is removed at the end, pass or fail. Every step is bounded in time;
`make run` has TANDEM_BARE_TIMEOUT seconds (default 1200) to answer. The run ends
with "N passed, M failed" and exits 0 only when every step ran and passed.
"""

from __future__ import annotations

import importlib.util
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from typing import Callable, Optional

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _compose_helpers():
    """tests/compose/run.py, whose engine, base image and checkout helpers this check shares."""
    path = os.path.join(ROOT, "tests", "compose", "run.py")
    spec = importlib.util.spec_from_file_location("tandem_compose_run", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


compose = _compose_helpers()
log, run, expect = compose.log, compose.run, compose.expect
StepFailed, Skip = compose.StepFailed, compose.Skip

CONTAINER = "tandem-bare-test"
HOME = "/root"
CHECKOUT = f"{HOME}/tandem"
BARE_PACKAGES = ["make", "git", "curl", "ca-certificates"]
URL = "http://127.0.0.1:8080"
RUN_TIMEOUT = float(os.environ.get("TANDEM_BARE_TIMEOUT", "1200"))
STOP_TIMEOUT = 30

# `make run` in the foreground of a shell in a session of its own (docker exec -d
# setsid), so that SIGINT to that process group reaches make and everything it
# started, as Ctrl-C in a terminal does. (A job started with `&` would ignore
# SIGINT.) The shell outlives the signal to write make's exit status.
LAUNCH = f"""
trap true INT
echo $$ >{HOME}/make-run.pid
cd {CHECKOUT} && make run >{HOME}/make-run.log 2>&1 </dev/null
echo $? >{HOME}/make-run.status
"""


def in_container(script: str, *, timeout: float = 60, check: bool = True, quiet: bool = True,
                 env: Optional[dict[str, str]] = None) -> subprocess.CompletedProcess[str]:
    argv = ["docker", "exec"]
    for key, value in (env or {}).items():
        argv += ["-e", f"{key}={value}"]
    return run(argv + [CONTAINER, "sh", "-c", script], timeout=timeout, check=check, quiet=quiet)


def make_status() -> Optional[str]:
    """make's exit status once `make run` has ended, else None."""
    out = in_container(f"cat {HOME}/make-run.status 2>/dev/null", check=False).stdout.strip()
    return out or None


def make_log(lines: int = 60) -> str:
    return in_container(f"tail -n {lines} {HOME}/make-run.log", check=False).stdout


def curl(path: str) -> tuple[int, str]:
    """(curl's exit status, the body) for a GET from inside the container."""
    proc = in_container(f"curl -fsS --max-time 5 {shlex.quote(URL + path)}", check=False)
    return proc.returncode, proc.stdout


def main() -> int:
    workdir = tempfile.mkdtemp(prefix="tandem-bare-")
    engine = compose.Engine(workdir)
    container_made = False
    with open(os.path.join(ROOT, "examples", "public", "hello.txt")) as f:
        static_text = f.read()

    def step_tools() -> None:
        engine.ensure_engine()

    def step_base_image() -> None:
        compose.ensure_base_image()

    def step_container() -> None:
        nonlocal container_made
        run(["docker", "rm", "-f", CONTAINER], check=False, quiet=True)
        run(["docker", "run", "-d", "--name", CONTAINER, compose.BASE_IMAGE, "sleep", "infinity"])
        container_made = True
        t0 = time.monotonic()
        apt = "apt-get update -qq && apt-get install -y -qq --no-install-recommends " + " ".join(BARE_PACKAGES)
        in_container(apt, timeout=600, quiet=False, env={"DEBIAN_FRONTEND": "noninteractive"})
        log(f"  installed {' '.join(BARE_PACKAGES)} in {time.monotonic() - t0:.0f} s")
        checkout = os.path.join(workdir, "tandem")
        compose.stage_checkout(checkout)
        expect(not os.path.exists(os.path.join(checkout, "build")), "the copy of the checkout has a build/")
        run(["docker", "cp", checkout, f"{CONTAINER}:{CHECKOUT}"])

    def step_make_run() -> None:
        t0 = time.monotonic()
        log(f"  $ make run   (in {CHECKOUT} in the container, in the background)")
        run(["docker", "exec", "-d", CONTAINER, "setsid", "sh", "-c", LAUNCH], quiet=True)
        log(f"  waiting up to {RUN_TIMEOUT:.0f} s for {URL}/")
        next_note = t0 + 60
        while True:
            status = make_status()
            if status is not None:
                raise StepFailed(f"`make run` ended with exit status {status} after {time.monotonic() - t0:.0f} s "
                                 f"without serving {URL}/; the end of its output:\n{make_log()}")
            code, body = curl("/")
            if code == 0:
                break
            if time.monotonic() - t0 > RUN_TIMEOUT:
                raise StepFailed(f"{URL}/ did not answer within {RUN_TIMEOUT:.0f} s of `make run`; "
                                 f"the end of its output:\n{make_log()}")
            if time.monotonic() > next_note:
                last = make_log(1).strip()
                log(f"  {time.monotonic() - t0:.0f} s: {last[:160]}")
                next_note += 60
            time.sleep(2)
        log(f"  {URL}/ answered {time.monotonic() - t0:.0f} s after `make run` started")
        expect(body == "Hello from tandem!", f"GET / answered {body[:200]!r}, not the example app's text")
        code, body = curl("/static/hello.txt")
        expect(code == 0 and body == static_text,
               f"GET /static/hello.txt: curl exit {code}, body {body[:200]!r}, not examples/public/hello.txt")

    def step_stop() -> None:
        in_container(f"kill -INT -$(cat {HOME}/make-run.pid)")
        deadline = time.monotonic() + STOP_TIMEOUT
        while make_status() is None:
            expect(time.monotonic() < deadline, f"`make run` still running {STOP_TIMEOUT} s after Ctrl-C")
            time.sleep(0.5)
        code, body = curl("/")
        expect(code != 0, f"{URL}/ still answers after `make run` ended: {body[:200]!r}")
        log(f"  make run ended on Ctrl-C (exit status {make_status()}) and {URL}/ no longer answers")

    steps: list[tuple[str, Callable[[], None]]] = [
        ("tools: Docker engine", step_tools),
        (f"base image {compose.BASE_IMAGE}", step_base_image),
        (f"a bare container: {', '.join(BARE_PACKAGES)} and a copy of the checkout", step_container),
        ("make run, on its first try: the example app and a static file answer", step_make_run),
        ("Ctrl-C stops make run", step_stop),
    ]
    run_all = compose.Steps("make test-bare", steps)
    try:
        run_all.run()
    finally:
        if container_made:
            run(["docker", "rm", "-f", CONTAINER], check=False, quiet=True, timeout=120)
        engine.stop_dockerd()
        shutil.rmtree(workdir, ignore_errors=True)

    return run_all.summary()


if __name__ == "__main__":
    sys.exit(main())
