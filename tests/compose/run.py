#!/usr/bin/python3
"""`make test-compose`: tandem's docker-compose.yml on a real Docker engine.

    /usr/bin/python3 tests/compose/run.py

What it does, in order (each step is one check; a failed step stops the run):

1. Tools: a Docker engine, Compose (`docker compose` v2, else `docker-compose` v1)
   and, where the base image cannot be pulled, debootstrap. What is missing is
   installed from Debian's packages (docker.io, docker-compose, debootstrap) with
   apt-get; a Docker engine that is installed but not running is started (dockerd
   in the background, stopped again at the end).
2. The base image debian:bookworm-slim: kept if present, else pulled, else built
   with debootstrap from apt's own mirror (deploy/docker/debian-base-image.sh).
3. In a copy of this checkout (so that the app can be changed for the swaps):
   build, up, and check a dynamic route, a template, a static file, the users and
   the socket's permissions, the healthchecks and the logs; swap the backend for
   new code with `up -d --no-deps --build backend` under a load of keep-alive
   clients; `--scale backend=3` and see all three serve; swap the three for the
   Flask example (examples/docker-flask) under load; `down`, every container
   exiting 0 on SIGTERM.
4. The two images run as deploy/kubernetes/deployment.yaml runs them (its
   environment and user, read-only root, no capabilities, an emptyDir-like
   socket directory), its readiness probes, a request, SIGTERM and exit 0.

Loads go to 127.0.0.1 only, from a few threads, bounded in time and count. The
run ends with the line "N passed, M failed" and exits 0 only when every step ran
and passed: a machine where Docker cannot run fails, saying why.

Environment: TANDEM_COMPOSE="docker-compose" (or "docker compose") picks the
Compose command; TANDEM_KEEP_DOCKERD=1 leaves a dockerd started here running.
"""

from __future__ import annotations

import collections
import http.client
import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from typing import Any, Callable, Optional

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PROJECT = "tandem-compose-test"
IMAGE_TAG = "compose-test"
UID = "10001"
FLASK_OVERRIDE = "examples/docker-flask/compose.yml"
BASE_IMAGE = "debian:bookworm-slim"

# What the test adds to the copies of the two apps: a route naming the code's
# version and the container (its hostname) that answered.
NATIVE_ROUTE = '''

# --- added by tests/compose/run.py ---
import asyncio as _asyncio, os as _os, socket as _socket

DEPLOYMENT_VERSION = {version!r}


@app.get("/deployment")
async def _deployment(request):
    ms = int(request.query_params.get("sleep") or 0)
    if ms:
        await _asyncio.sleep(min(ms, 2000) / 1000)
    return {{"version": DEPLOYMENT_VERSION, "host": _socket.gethostname(), "pid": _os.getpid()}}
'''

FLASK_ROUTE = '''

# --- added by tests/compose/run.py ---
import os as _os, socket as _socket, time as _time


@app.get("/deployment")
def _deployment():
    ms = int(request.args.get("sleep") or 0)
    if ms:
        _time.sleep(min(ms, 2000) / 1000)
    return {"version": "flask", "host": _socket.gethostname(), "pid": _os.getpid()}
'''


class StepFailed(Exception):
    pass


class Skip(Exception):
    """Docker cannot run here: the run fails, with this reason."""


def log(msg: str) -> None:
    print(msg, flush=True)


def run(cmd: list[str], *, timeout: float = 600, check: bool = True, cwd: Optional[str] = None,
        env: Optional[dict[str, str]] = None, quiet: bool = False) -> subprocess.CompletedProcess[str]:
    if not quiet:
        log("  $ " + " ".join(shlex.quote(c) for c in cmd))
    try:
        proc = subprocess.run(cmd, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        raise StepFailed(f"{cmd[0]} did not finish within {timeout:.0f} s: {(exc.output or '')[-2000:]}")
    if check and proc.returncode != 0:
        raise StepFailed(f"exit status {proc.returncode} from {' '.join(cmd)}:\n{proc.stdout[-4000:]}")
    return proc


def works(cmd: list[str], timeout: float = 30) -> bool:
    try:
        return subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, timeout=timeout).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def expect(cond: bool, what: str) -> None:
    if not cond:
        raise StepFailed(what)


def sudo() -> list[str]:
    if os.geteuid() == 0:
        return []
    if shutil.which("sudo"):
        return ["sudo"]
    raise Skip("not root and no sudo: cannot install packages or start dockerd")


# --- 1. tools and engine ------------------------------------------------------------


_apt_updated = False


def apt_install(packages: list[str]) -> None:
    global _apt_updated
    if not shutil.which("apt-get"):
        raise Skip(f"{' '.join(packages)} missing and no apt-get to install them with")
    log(f"  installing from Debian: {' '.join(packages)}")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    if not _apt_updated:
        run(sudo() + ["apt-get", "update", "-qq"], env=env, timeout=600)
        _apt_updated = True
    run(sudo() + ["apt-get", "install", "-y", "-qq", "--no-install-recommends"] + packages, env=env, timeout=900)


def installed(package: str) -> bool:
    proc = subprocess.run(["dpkg-query", "-W", "-f=${Status}", package], stdout=subprocess.PIPE,
                          stderr=subprocess.DEVNULL, text=True) if shutil.which("dpkg-query") else None
    return proc is not None and "install ok installed" in proc.stdout


class Engine:
    """The Docker engine: found running, or dockerd started here (and stopped in close())."""

    def __init__(self, workdir: str) -> None:
        self.workdir = workdir
        self.dockerd: Optional[subprocess.Popen[bytes]] = None
        self.compose: list[str] = []

    def ensure(self) -> None:
        self.ensure_engine()
        self.ensure_compose()

    def ensure_engine(self) -> None:
        if not works(["docker", "info"]):
            if not (shutil.which("docker") and shutil.which("dockerd")):
                # docker.io conflicts with Docker's own docker-ce packages: never replace those.
                if installed("docker-ce"):
                    raise Skip("docker-ce is installed, but no engine is running and there is no dockerd to start")
                apt_install(["docker.io"])
            if not works(["docker", "info"]):
                self.start_dockerd()
        version = run(["docker", "version", "-f", "{{.Server.Version}}"], quiet=True).stdout.strip()
        log(f"  Docker engine {version}")

    def ensure_compose(self) -> None:
        wanted = os.environ.get("TANDEM_COMPOSE")
        if wanted:
            self.compose = wanted.split()
        elif works(["docker", "compose", "version"]):
            self.compose = ["docker", "compose"]
        else:
            if not shutil.which("docker-compose"):
                apt_install(["docker-compose"])
            self.compose = ["docker-compose"]
        version = run(self.compose + ["version"], quiet=True).stdout.splitlines()[0]
        log(f"  Compose: {' '.join(self.compose)} ({version.strip()})")

    def start_dockerd(self) -> None:
        path = shutil.which("dockerd")
        if path is None:
            raise Skip("no dockerd to start")
        logfile = os.path.join(self.workdir, "dockerd.log")
        log(f"  no Docker engine running: starting {path} (log: {logfile})")
        with open(logfile, "wb") as out:
            self.dockerd = subprocess.Popen(sudo() + [path], stdin=subprocess.DEVNULL, stdout=out,
                                            stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if works(["docker", "info"], timeout=10):
                return
            if self.dockerd.poll() is not None:
                break
            time.sleep(0.5)
        with open(logfile, errors="replace") as f:
            tail = "".join(f.readlines()[-15:])
        self.stop_dockerd()
        raise Skip(f"dockerd did not start (a Docker engine cannot run on this machine?):\n{tail}")

    def stop_dockerd(self) -> None:
        if self.dockerd is None or self.dockerd.poll() is not None:
            return
        if os.environ.get("TANDEM_KEEP_DOCKERD") == "1":
            log(f"  leaving dockerd (pid {self.dockerd.pid}) running")
            return
        log(f"  stopping the dockerd started here (pid {self.dockerd.pid})")
        self.dockerd.send_signal(signal.SIGTERM)
        try:
            self.dockerd.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.dockerd.kill()
            self.dockerd.wait()


def ensure_base_image() -> None:
    if works(["docker", "image", "inspect", BASE_IMAGE]):
        log(f"  {BASE_IMAGE} is already in the engine")
        return
    if not shutil.which("debootstrap"):
        apt_install(["debootstrap"])       # only used if the pull fails
    t0 = time.monotonic()
    proc = run(sudo() + [os.path.join(ROOT, "deploy/docker/debian-base-image.sh")], timeout=1200)
    log("  " + proc.stdout.strip().replace("\n", "\n  "))
    log(f"  base image ready in {time.monotonic() - t0:.0f} s")


# --- the stack ----------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stage_checkout(dest: str) -> None:
    """Copies this checkout's files (tracked and new, not ignored) into dest."""
    try:
        files = subprocess.run(["git", "ls-files", "-z", "-co", "--exclude-standard"], cwd=ROOT, check=True,
                               stdout=subprocess.PIPE).stdout.decode().split("\0")
    except (OSError, subprocess.CalledProcessError):
        files = []
    if not files or files == [""]:
        shutil.copytree(ROOT, dest, symlinks=True, dirs_exist_ok=True,
                        ignore=shutil.ignore_patterns(".git", "build", "__pycache__", "*.egg-info"))
        return
    for rel in files:
        src = os.path.join(ROOT, rel)
        if not rel or not os.path.lexists(src):
            continue
        os.makedirs(os.path.dirname(os.path.join(dest, rel)), exist_ok=True)
        shutil.copy2(src, os.path.join(dest, rel), follow_symlinks=False)


class Stack:
    def __init__(self, engine: Engine, workdir: str) -> None:
        self.engine = engine
        self.dir = os.path.join(workdir, "tandem")
        self.port = free_port()
        self.env = dict(os.environ, COMPOSE_PROJECT_NAME=PROJECT, TANDEM_IMAGE_TAG=IMAGE_TAG,
                        TANDEM_PUBLISH=f"127.0.0.1:{self.port}")
        for var in ("TANDEM_GENERATION", "TANDEM_APP", "TANDEM_APP_SRC", "TANDEM_UID", "TANDEM_GID"):
            self.env.pop(var, None)     # the compose file's defaults are under test
        self.files: list[str] = []
        self.images_seen: set[str] = set()

    def new_port(self) -> None:
        """A free loopback port to publish the frontend on (other programs may take it meanwhile)."""
        self.port = free_port()
        self.env["TANDEM_PUBLISH"] = f"127.0.0.1:{self.port}"

    def up_publishing(self, *args: str) -> None:
        """`up -d ARGS` on a port found free just now, again on another one if it was taken since."""
        for attempt in range(5):
            self.new_port()
            proc = self.compose("up", "-d", *args, check=False)
            if proc.returncode == 0:
                return
            if "address already in use" not in proc.stdout or attempt == 4:
                raise StepFailed(f"exit status {proc.returncode} from up -d:\n{proc.stdout[-4000:]}")
            log(f"  port {self.port} was taken meanwhile: again on another")

    def compose(self, *args: str, timeout: float = 900, check: bool = True) -> subprocess.CompletedProcess[str]:
        files = [a for f in self.files for a in ("-f", f)]
        return run(self.engine.compose + files + list(args), cwd=self.dir, env=self.env, timeout=timeout,
                   check=check)

    def container_ids(self, service: str) -> list[str]:
        files = [a for f in self.files for a in ("-f", f)]
        out = run(self.engine.compose + files + ["ps", "-q", service], cwd=self.dir, env=self.env,
                  quiet=True).stdout
        return [line.strip() for line in out.splitlines() if re.fullmatch(r"[0-9a-f]{12,64}", line.strip())]

    def inspect(self, cid: str, fmt: str) -> str:
        return run(["docker", "inspect", "-f", fmt, cid], quiet=True).stdout.strip()

    def remember_images(self) -> None:
        for name in ("tandem-frontend", "tandem-backend", "tandem-flask-example"):
            proc = run(["docker", "image", "inspect", "-f", "{{.Id}}", f"{name}:{IMAGE_TAG}"], check=False,
                       quiet=True)
            if proc.returncode == 0:
                self.images_seen.add(proc.stdout.strip())

    def wait_healthy(self, service: str, count: int, timeout: float = 120) -> list[str]:
        deadline = time.monotonic() + timeout
        states: dict[str, str] = {}
        while time.monotonic() < deadline:
            ids = self.container_ids(service)
            states = {cid: self.inspect(cid, "{{.State.Status}} {{.State.Health.Status}}") for cid in ids}
            healthy = [cid for cid, st in states.items() if st == "running healthy"]
            if len(healthy) == count and len(ids) == count:
                return healthy
            time.sleep(1)
        raise StepFailed(f"{service}: wanted {count} running healthy container(s), have {states}")

    def set_native_version(self, version: str) -> None:
        path = os.path.join(self.dir, "examples", "app.py")
        with open(path) as f:
            text = f.read().split("\n\n# --- added by tests/compose/run.py ---")[0]
        with open(path, "w") as f:
            f.write(text + NATIVE_ROUTE.format(version=version))

    def logs(self) -> str:
        files = [a for f in self.files for a in ("-f", f)]
        return run(self.engine.compose + files + ["logs", "--no-color"], cwd=self.dir, env=self.env,
                   check=False, quiet=True, timeout=120).stdout

    def events(self, since: float, until: float) -> list[dict[str, str]]:
        out = run(["docker", "events", "--since", f"{since:.3f}", "--until", f"{until:.3f}",
                   "--filter", "type=container", "--filter", f"label=com.docker.compose.project={PROJECT}",
                   "--format", "{{json .}}"], quiet=True, timeout=60).stdout
        events = []
        for line in out.splitlines():
            try:
                ev = json.loads(line)
            except ValueError:
                continue
            attrs = ev.get("Actor", {}).get("Attributes", {})
            events.append({"action": ev.get("Action") or ev.get("status", ""), "name": attrs.get("name", ""),
                           "exitCode": attrs.get("exitCode", ""), "signal": attrs.get("signal", "")})
        return events


def fetch(port: int, method: str, path: str, body: Optional[bytes] = None,
         headers: Optional[dict[str, str]] = None, timeout: float = 60) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


def deployment(port: int, sleep_ms: int = 0) -> dict[str, Any]:
    status, _, body = fetch(port, "GET", f"/deployment?sleep={sleep_ms}")
    expect(status == 200, f"/deployment answered {status}: {body[:200]!r}")
    return json.loads(body)


def hosts_serving(port: int, want: int, version: str, rounds: int = 15) -> set[str]:
    """Concurrent slow requests, so that the frontend spreads them over the backends,
    until `want` different containers have answered (or the rounds run out)."""
    hosts: set[str] = set()
    for _ in range(rounds):
        results: list[dict[str, Any]] = []
        errors: list[str] = []

        def one() -> None:
            try:
                results.append(deployment(port, sleep_ms=300))
            except Exception as exc:  # noqa: BLE001 - reported below
                errors.append(repr(exc))

        threads = [threading.Thread(target=one) for _ in range(3 * want)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        expect(not errors, f"requests failed: {errors[:3]}")
        expect(all(r["version"] == version for r in results),
               f"wanted version {version} only, got {collections.Counter(r['version'] for r in results)}")
        hosts.update(r["host"] for r in results)
        if len(hosts) >= want:
            break
    return hosts


class Load:
    """Keep-alive clients on 127.0.0.1, each sending GET /deployment (and every
    fifth request a static file) back to back until stopped, at most `max_seconds`
    and `max_requests` in all. Any error, status other than 200 or unexpected
    body is counted as a failure."""

    def __init__(self, port: int, clients: int = 4, max_seconds: float = 300, max_requests: int = 200_000,
                 static_body: bytes = b"") -> None:
        self.port, self.clients, self.static_body = port, clients, static_body
        self.max_seconds, self.max_requests = max_seconds, max_requests
        self.stop_event = threading.Event()
        self.lock = threading.Lock()
        self.requests = 0
        self.failures: list[str] = []
        self.versions: collections.Counter[str] = collections.Counter()
        self.connections = 0
        self.max_latency = 0.0
        self.threads = [threading.Thread(target=self.client, daemon=True) for _ in range(clients)]

    def start(self) -> "Load":
        self.t0 = time.monotonic()
        for t in self.threads:
            t.start()
        return self

    def stop(self) -> None:
        self.stop_event.set()
        for t in self.threads:
            t.join(90)

    def client(self) -> None:
        conn: Optional[http.client.HTTPConnection] = None
        n = 0
        while not self.stop_event.is_set():
            if time.monotonic() - self.t0 > self.max_seconds:
                break
            with self.lock:
                if self.requests >= self.max_requests:
                    break
                self.requests += 1
            if conn is None:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
                with self.lock:
                    self.connections += 1
            n += 1
            static = n % 5 == 0
            t = time.monotonic()
            try:
                conn.request("GET", "/static/hello.txt" if static else "/deployment")
                resp = conn.getresponse()
                body = resp.read()
                latency = time.monotonic() - t
                if resp.status != 200:
                    raise ValueError(f"status {resp.status}: {body[:120]!r}")
                if static:
                    if body != self.static_body:
                        raise ValueError(f"static file body {body[:60]!r}")
                    continue
                version = json.loads(body)["version"]
                with self.lock:
                    self.versions[version] += 1
                    self.max_latency = max(self.max_latency, latency)
            except Exception as exc:  # noqa: BLE001 - every failure is counted
                with self.lock:
                    self.failures.append(f"{'static' if static else '/deployment'}: {exc!r}")
                conn.close()
                conn = None
        if conn is not None:
            conn.close()

    def summary(self) -> str:
        return (f"{self.requests} requests on {self.connections} connection(s) from {self.clients} clients "
                f"in {time.monotonic() - self.t0:.1f} s, {len(self.failures)} failed, versions "
                f"{dict(self.versions)}, slowest {self.max_latency * 1000:.0f} ms")


def swap_under_load(stack: Stack, compose_args: list[str], old: str, new: str, backends: int,
                    static_body: bytes) -> None:
    load = Load(stack.port, static_body=static_body).start()
    time.sleep(2)
    since = time.time()
    t0 = time.monotonic()
    try:
        stack.compose(*compose_args)
        log(f"  compose returned after {time.monotonic() - t0:.1f} s")
        stack.wait_healthy("backend", backends)
        # Every request is the new code's from now on (the old backends have drained).
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if all(deployment(stack.port)["version"] == new for _ in range(20)):
                break
            time.sleep(0.5)
        else:
            raise StepFailed(f"old code still answering 30 s after the swap to {new}")
        time.sleep(2)
    finally:
        load.stop()
        log("  load: " + load.summary())
    expect(not load.failures, f"{len(load.failures)} requests failed during the swap: {load.failures[:5]}")
    expect(load.versions[old] > 0 and load.versions[new] > 0,
           f"the load saw {dict(load.versions)}, not both {old} and {new}")
    expect(load.requests >= 100, f"only {load.requests} requests went out during the swap")
    events = stack.events(since, time.time() + 1)
    died = [e for e in events if e["action"] == "die"]
    log("  backends that exited: " + ", ".join(f"{e['name']} ({e['exitCode']})" for e in died))
    expect(died and all(e["exitCode"] == "0" for e in died),
           f"old backends must exit 0 on SIGTERM or when superseded: {died}")


# --- the Kubernetes pod, approximated with docker run ------------------------------------


def load_pod_spec() -> dict[str, Any]:
    try:
        import yaml
    except ImportError:
        apt_install(["python3-yaml"])
        import yaml
    with open(os.path.join(ROOT, "deploy", "kubernetes", "deployment.yaml")) as f:
        deployment = yaml.safe_load(f)
    return deployment["spec"]["template"]["spec"]


def run_pod(stack: Stack, workdir: str, static_body: bytes) -> None:
    """Runs the frontend and backend images as deploy/kubernetes/deployment.yaml
    does: its environment, user, read-only root file system, no capabilities, no
    privilege escalation, the socket directory an empty world-writable directory
    like an emptyDir, /tmp writable for the backend; TANDEM_WORKERS=2 for the
    backend (N backends in one pod); then the readiness probes, requests through
    both answered by both workers, and SIGTERM with exit 0."""
    spec = load_pod_spec()
    ctx = spec["securityContext"]
    sockets = os.path.join(workdir, "pod-sockets")
    os.makedirs(sockets)
    os.chmod(sockets, 0o777)           # an emptyDir is 0777
    port = 0
    names = {}
    try:
        for c in spec["containers"]:
            name = f"{PROJECT}-pod-{c['name']}"
            names[c["name"]] = name
            run(["docker", "rm", "-f", name], check=False, quiet=True)
            image = f"{c['image'].split(':')[0]}:{IMAGE_TAG}"
            argv = ["docker", "run", "-d", "--name", name,
                    "--user", f"{ctx['runAsUser']}:{ctx['runAsGroup']}", "--group-add", str(ctx["fsGroup"])]
            sc = c.get("securityContext", {})
            if sc.get("readOnlyRootFilesystem"):
                argv.append("--read-only")
            if sc.get("capabilities", {}).get("drop") == ["ALL"]:
                argv += ["--cap-drop", "ALL"]
            if sc.get("allowPrivilegeEscalation") is False:
                argv += ["--security-opt", "no-new-privileges"]
            for mount in c["volumeMounts"]:
                if mount["name"] == "sockets":
                    argv += ["-v", f"{sockets}:{mount['mountPath']}"]
                else:
                    argv += ["--tmpfs", mount["mountPath"]]
            env = {e["name"]: e.get("value", "") for e in c["env"]}
            if c["name"] == "backend":
                env["TANDEM_WORKERS"] = "2"
            for key, value in env.items():
                argv += ["-e", f"{key}={value}"]
            if not c.get("ports"):
                run(argv + [image])
                continue
            # A port found free just now, again on another if it was taken since.
            for attempt in range(5):
                port = free_port()
                publish = [a for p in c["ports"] for a in ("-p", f"127.0.0.1:{port}:{p['containerPort']}")]
                proc = run(argv + publish + [image], check=False)
                if proc.returncode == 0:
                    break
                run(["docker", "rm", "-f", name], check=False, quiet=True)
                if "address already in use" not in proc.stdout or attempt == 4:
                    raise StepFailed(f"docker run {c['name']}: {proc.stdout[-2000:]}")
        deadline = time.monotonic() + 60
        while True:
            states = {n: stack.inspect(cid, "{{.State.Status}} {{.State.Health.Status}}") for n, cid in names.items()}
            if all(st == "running healthy" for st in states.values()):
                break
            expect(time.monotonic() < deadline, f"the pod's containers did not become healthy: {states}")
            time.sleep(1)
        for c in spec["containers"]:
            run(["docker", "exec", names[c["name"]]] + c["readinessProbe"]["exec"]["command"], quiet=True)
            stop_cmd = c["lifecycle"]["preStop"]["exec"]["command"]
            run(["docker", "exec", names[c["name"]], "sh", "-c", f"command -v {shlex.quote(stop_cmd[0])}"],
                quiet=True)
        status, _, body = fetch(port, "GET", "/users/5?q=pod")
        expect(status == 200 and json.loads(body) == {"id": 5, "q": "pod"}, f"GET /users/5 -> {status} {body!r}")
        status, _, body = fetch(port, "GET", "/static/hello.txt")
        expect(status == 200 and body == static_body, f"GET /static/hello.txt -> {status}")
        pids: set[int] = set()
        for _ in range(15):
            answers: list[dict[str, Any]] = []
            threads = [threading.Thread(target=lambda: answers.append(deployment(port, sleep_ms=300)))
                       for _ in range(6)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(60)
            pids.update(a["pid"] for a in answers)
            if len(pids) >= 2:
                break
        expect(len(pids) == 2, f"TANDEM_WORKERS=2: wanted 2 worker pids answering, got {pids}")
        mode = run(["docker", "exec", names["frontend"], "stat", "-c", "%a %u", "/run/tandem/backend.sock"],
                   quiet=True).stdout.strip()
        expect(mode == f"600 {ctx['runAsUser']}", f"socket in the emptyDir: {mode}")
        for role in ("frontend", "backend"):
            run(["docker", "stop", "-t", "30", names[role]], quiet=True)
            code = stack.inspect(names[role], "{{.State.ExitCode}}")
            expect(code == "0", f"{role} exited {code} on SIGTERM")
        log(f"  both containers ran read-only as {ctx['runAsUser']} without capabilities, two workers "
            f"(pids {sorted(pids)}) answered, and both exited 0")
    finally:
        for name in names.values():
            run(["docker", "rm", "-f", name], check=False, quiet=True)


# --- the steps ----------------------------------------------------------------------


class Steps:
    """Runs a test's steps in order; the first that fails (or finds that Docker cannot run) stops the run.

    ``what`` names the test in the summary; ``on_failure(i)`` may log more after step i failed.
    """

    def __init__(self, what: str, steps: list[tuple[str, Callable[[], None]]],
                 on_failure: Callable[[int], None] = lambda i: None) -> None:
        self.what, self.steps, self.on_failure = what, steps, on_failure
        self.passed: list[str] = []
        self.failed: list[str] = []
        self.not_run: list[str] = []
        self.t0 = time.monotonic()

    def run(self) -> None:
        for i, (name, fn) in enumerate(self.steps):
            log(f"== {name}")
            t0 = time.monotonic()
            try:
                fn()
            except Skip as exc:
                log(f"DOCKER CANNOT RUN HERE: {exc}")
                log(f"{self.what} needs a Docker engine (dockerd) that can start containers; nothing was tested")
                self._stop(i)
                return
            except Exception as exc:  # noqa: BLE001 - any failure ends the run
                log(f"FAIL {name}: {exc}")
                self.on_failure(i)
                self._stop(i)
                return
            log(f"ok   {name} ({time.monotonic() - t0:.1f} s)")
            self.passed.append(name)

    def _stop(self, i: int) -> None:
        self.failed.append(self.steps[i][0])
        self.not_run = [n for n, _ in self.steps[i + 1:]]

    def summary(self) -> int:
        """Logs what did not run and the counts; the exit status."""
        for name in self.not_run:
            log(f"not run: {name}")
        log(f"{self.what}: {time.monotonic() - self.t0:.0f} s")
        log(f"{len(self.passed)} passed, {len(self.failed) + len(self.not_run)} failed")
        return 0 if not self.failed and not self.not_run else 1


def main() -> int:
    workdir = tempfile.mkdtemp(prefix="tandem-compose-")
    engine = Engine(workdir)
    stack: Optional[Stack] = None
    static_body = open(os.path.join(ROOT, "examples", "public", "hello.txt"), "rb").read()

    def step_tools() -> None:
        engine.ensure()

    def step_base_image() -> None:
        ensure_base_image()

    def step_build() -> None:
        nonlocal stack
        stack = Stack(engine, workdir)
        stage_checkout(stack.dir)
        stack.set_native_version("v1")
        with open(os.path.join(stack.dir, "examples", "docker-flask", "app.py"), "a") as f:
            f.write(FLASK_ROUTE)
        stack.compose("down", "-v", "--remove-orphans", check=False, timeout=300)
        stack.remember_images()
        t0 = time.monotonic()
        stack.compose("build")
        log(f"  built both images in {time.monotonic() - t0:.0f} s")
        stack.remember_images()

    def step_up() -> None:
        assert stack
        t0 = time.monotonic()
        stack.up_publishing()
        stack.wait_healthy("frontend", 1)
        stack.wait_healthy("backend", 1)
        log(f"  both services healthy {time.monotonic() - t0:.1f} s after `up -d`")

    def step_routes() -> None:
        assert stack
        port = stack.port
        status, headers, body = fetch(port, "GET", "/")
        expect((status, body) == (200, b"Hello from tandem!"), f"GET / -> {status} {body!r}")
        status, _, body = fetch(port, "GET", "/users/42?q=compose")
        expect(status == 200 and json.loads(body) == {"id": 42, "q": "compose"}, f"GET /users/42 -> {body!r}")
        status, _, body = fetch(port, "GET", "/hello/compose")
        expect(status == 200 and b"compose" in body and b"<html" in body, f"GET /hello/compose -> {body[:200]!r}")
        status, headers, body = fetch(port, "POST", "/echo", body=b"over the socket",
                                     headers={"content-type": "application/octet-stream"})
        expect((status, body, headers.get("x-echo")) == (201, b"over the socket", "1"), f"POST /echo -> {status}")
        status, headers, body = fetch(port, "GET", "/static/hello.txt")
        expect(status == 200 and body == static_body, f"GET /static/hello.txt -> {status} {body!r}")
        status, headers, _ = fetch(port, "GET", "/static/logo.svg")
        expect(status == 200 and headers.get("content-type", "").startswith("image/svg+xml"),
               f"GET /static/logo.svg -> {status} {headers.get('content-type')}")
        expect(deployment(port)["version"] == "v1", "the test's route answers v1")

    def step_users_and_socket() -> None:
        assert stack
        fe, be = stack.container_ids("frontend")[0], stack.container_ids("backend")[0]
        out = run(["docker", "exec", fe, "stat", "-c", "%a %u:%g", "/run/tandem/backend.sock"], quiet=True).stdout
        expect(out.strip() == f"600 {UID}:{UID}", f"socket mode and owner: {out.strip()} (want 600 {UID}:{UID})")
        for cid in (fe, be):
            ids = run(["docker", "exec", cid, "id", "-u"], quiet=True).stdout.strip()
            expect(ids == UID, f"container {cid[:12]} runs as uid {ids}, not {UID}")
            user = stack.inspect(cid, "{{.Config.User}}")
            expect(user.split(":")[0] == UID, f"image user {user!r}")
        # The backend's healthcheck reports the attachment: run by hand too.
        run(["docker", "exec", be, "tandem-backend-healthcheck"], quiet=True)
        # The image built the C accelerator, and the backend loads it.
        fast = run(["docker", "exec", be, "python3", "-c", "from tandem import protocol; print(protocol.speedups())"],
                   quiet=True).stdout.strip()
        expect(fast == "True", f"the backend image runs without tandem._speedups ({fast!r})")
        logs = stack.logs()
        for needle in ("listening on http://0.0.0.0:8080", "connected to tandem-frontend", "attached"):
            expect(needle in logs, f"{needle!r} not in the services' logs")

    def step_swap() -> None:
        assert stack
        stack.set_native_version("v2")
        swap_under_load(stack, ["up", "-d", "--no-deps", "--build", "backend"], "v1", "v2", 1, static_body)
        stack.remember_images()

    def step_scale() -> None:
        assert stack
        stack.compose("up", "-d", "--scale", "backend=3")
        ids = stack.wait_healthy("backend", 3)
        gens = {stack.inspect(cid, "{{.Image}}") for cid in ids}
        expect(len(gens) == 1, f"the three backends run different images: {gens}")
        hosts = hosts_serving(stack.port, 3, "v2")
        expect(len(hosts) == 3, f"only {len(hosts)} of 3 backends answered: {hosts}")
        log(f"  3 backends answered: {', '.join(sorted(hosts))}")

    def step_swap_flask() -> None:
        assert stack
        stack.files = ["docker-compose.yml", FLASK_OVERRIDE]
        swap_under_load(stack, ["up", "-d", "--no-deps", "--build", "--scale", "backend=3", "backend"],
                        "v2", "flask", 3, static_body)
        stack.remember_images()
        hosts = hosts_serving(stack.port, 3, "flask")
        expect(len(hosts) == 3, f"only {len(hosts)} of 3 Flask backends answered: {hosts}")
        status, _, body = fetch(stack.port, "GET", "/items/7?q=x")
        expect(status == 200 and json.loads(body) == {"id": 7, "q": "x"}, f"Flask GET /items/7 -> {body!r}")

    def step_down() -> None:
        assert stack
        names = {stack.inspect(cid, "{{.Name}}").lstrip("/") for s in ("frontend", "backend")
                 for cid in stack.container_ids(s)}
        since = time.time()
        t0 = time.monotonic()
        stack.compose("down")
        took = time.monotonic() - t0
        events = stack.events(since, time.time() + 1)
        died = {e["name"]: e["exitCode"] for e in events if e["action"] == "die"}
        signals = {e["signal"] for e in events if e["action"] == "kill"}
        log(f"  down took {took:.1f} s; exit codes: {died}; signals sent: {sorted(signals)}")
        expect(set(died) == names, f"containers seen exiting {sorted(died)} != running {sorted(names)}")
        expect(all(code == "0" for code in died.values()), f"every container must exit 0: {died}")
        expect(signals <= {"15"}, f"down must stop with SIGTERM only, saw signals {signals}")
        expect(not stack.container_ids("backend") and not stack.container_ids("frontend"), "containers left")

    def step_pod() -> None:
        assert stack
        run_pod(stack, workdir, static_body)

    steps: list[tuple[str, Callable[[], None]]] = [
        ("tools: Docker engine and Compose", step_tools),
        (f"base image {BASE_IMAGE}", step_base_image),
        ("compose build", step_build),
        ("compose up -d: both services healthy", step_up),
        ("dynamic routes, a template and static files through the frontend", step_routes),
        ("same uid in both containers, socket 0600, logs on stdout/stderr", step_users_and_socket),
        ("swap under load: up -d --no-deps --build backend", step_swap),
        ("--scale backend=3: three backends serve", step_scale),
        ("swap three backends for the Flask example under load", step_swap_flask),
        ("compose down: SIGTERM, every container exits 0", step_down),
        ("the Kubernetes pod's containers on Docker: read-only, no capabilities, emptyDir", step_pod),
    ]
    def on_failure(i: int) -> None:
        if stack is not None and i >= 3:
            log("--- logs of the services ---\n" + stack.logs()[-12000:])

    run_all = Steps("make test-compose", steps, on_failure)
    try:
        run_all.run()
    finally:
        if stack is not None:
            stack.files = ["docker-compose.yml", FLASK_OVERRIDE]
            try:
                stack.compose("down", "-v", "--remove-orphans", check=False, timeout=300)
                # The images replaced by rebuilds during the test; the current ones stay as a cache.
                current = set()
                for name in ("tandem-frontend", "tandem-backend", "tandem-flask-example"):
                    proc = run(["docker", "image", "inspect", "-f", "{{.Id}}", f"{name}:{IMAGE_TAG}"],
                               check=False, quiet=True)
                    current.add(proc.stdout.strip())
                stale = sorted(stack.images_seen - current)
                if stale:
                    run(["docker", "image", "rm"] + stale, check=False, quiet=True)
                # Build stages left untagged by earlier builds: all but the newest (the cache) go.
                out = run(["docker", "images", "-q", "--no-trunc", "--filter", "dangling=true",
                           "--filter", "label=tandem.stage=build"], check=False, quiet=True).stdout.split()
                if len(out) > 1:
                    run(["docker", "image", "rm"] + out[1:], check=False, quiet=True)
            except Exception as exc:  # noqa: BLE001
                log(f"cleanup: {exc}")
        engine.stop_dockerd()
        shutil.rmtree(workdir, ignore_errors=True)

    return run_all.summary()


if __name__ == "__main__":
    sys.exit(main())
