"""The frontend's command line: --help, environment variables, bad values."""

from __future__ import annotations

import os
import re
import stat
import subprocess

import pytest

from e2e_support import FRONTEND, free_port, request, spawn, tcp_accepts, wait_until

# Every flag the frontend documents, with the variable that also sets it.
FLAGS = {
    "listen": "TANDEM_LISTEN",
    "reuse-port": "TANDEM_REUSE_PORT",
    "backend-socket": "TANDEM_BACKEND_SOCKET",
    "backend-socket-mode": "TANDEM_BACKEND_SOCKET_MODE",
    "backend-socket-group": "TANDEM_BACKEND_SOCKET_GROUP",
    "backend-allow-uid": "TANDEM_BACKEND_ALLOW_UID",
    "backend-allow-gid": "TANDEM_BACKEND_ALLOW_GID",
    "static": "TANDEM_STATIC",
    "static-max-age": "TANDEM_STATIC_MAX_AGE",
    "static-cache-size": "TANDEM_STATIC_CACHE_SIZE",
    "static-follow-symlinks": "TANDEM_STATIC_FOLLOW_SYMLINKS",
    "static-listing": "TANDEM_STATIC_LISTING",
    "static-fallthrough": "TANDEM_STATIC_FALLTHROUGH",
    "max-connections": "TANDEM_MAX_CONNECTIONS",
    "keepalive-timeout": "TANDEM_KEEPALIVE_TIMEOUT",
    "header-timeout": "TANDEM_HEADER_TIMEOUT",
    "body-timeout": "TANDEM_BODY_TIMEOUT",
    "send-timeout": "TANDEM_SEND_TIMEOUT",
    "request-timeout": "TANDEM_REQUEST_TIMEOUT",
    "backend-wait": "TANDEM_BACKEND_WAIT",
    "backend-queue": "TANDEM_BACKEND_QUEUE",
    "shutdown-timeout": "TANDEM_SHUTDOWN_TIMEOUT",
    "max-request-line": "TANDEM_MAX_REQUEST_LINE",
    "max-headers": "TANDEM_MAX_HEADERS",
    "max-header-size": "TANDEM_MAX_HEADER_SIZE",
    "max-body-size": "TANDEM_MAX_BODY_SIZE",
    "forwarded-allow-ips": "TANDEM_FORWARDED_ALLOW_IPS",
    "ws-max-message": "TANDEM_WS_MAX_MESSAGE",
    "ws-ping-interval": "TANDEM_WS_PING_INTERVAL",
    "ws-ping-timeout": "TANDEM_WS_PING_TIMEOUT",
    "record": "TANDEM_RECORD",
    "access-log": "TANDEM_ACCESS_LOG",
    "access-log-format": "TANDEM_ACCESS_LOG_FORMAT",
    "metrics-listen": "TANDEM_METRICS_LISTEN",
    "log-level": "TANDEM_LOG_LEVEL",
    "record": "TANDEM_RECORD",
}


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([FRONTEND, *args], capture_output=True, text=True, timeout=10,
                          env={"PATH": "/usr/bin:/bin", **(env or {})})


def test_help_lists_every_flag_with_its_variable():
    result = run("--help")
    assert result.returncode == 0
    text = result.stdout
    # Each option block: "--name=VALUE" ("--name[=0|1]" for a switch), its description, then
    # "[env TANDEM_..., default: ...]".
    blocks = re.findall(r"--([a-z-]+)(=VALUE|\[=0\|1\])\n(.*?)\[env (TANDEM_[A-Z_]+), default: ([^\]]*)\]", text,
                        re.S)
    documented = {name: env for name, _, _, env, _ in blocks}
    assert documented == FLAGS
    assert {name for name, form, _, _, _ in blocks if form != "=VALUE"} == {
        "reuse-port", "static-follow-symlinks", "static-listing", "static-fallthrough"}
    blocks = [(name, description, env, default) for name, _, description, env, default in blocks]
    for name, description, _, _ in blocks:
        assert description.strip(), f"--{name} has no description"
    assert "--help" in text and "--version" in text


def test_version():
    result = run("--version")
    assert result.returncode == 0
    assert result.stdout.startswith("tandem-frontend ")


def test_check_config_says_valid_and_starts_nothing(tmp_path):
    port = free_port()
    result = run("--check-config", "--listen", f"127.0.0.1:{port}", "--backend-socket", str(tmp_path / "b.sock"),
                 "--static", f"/s={tmp_path}", "--record", str(tmp_path / "rec"))
    assert result.returncode == 0, result.stderr
    assert result.stdout == (f"tandem-frontend: the configuration is valid (listen 127.0.0.1:{port}, "
                             f"backend socket {tmp_path / 'b.sock'}, 1 static mount)\n")
    assert not tcp_accepts(port) and os.listdir(tmp_path) == []   # no socket, no recording made
    # A start makes one missing folder for the socket (as /run/tandem): the check takes it too.
    result = run("--check-config", "--listen", f"127.0.0.1:{port}", "--backend-socket", str(tmp_path / "run" / "b.sock"))
    assert result.returncode == 0, result.stderr
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("level", ["error", "warn", "warning", "info", "debug", "critical"])
def test_log_levels_in_either_spelling(tmp_path, level):
    # TANDEM_LOG_LEVEL may be shared with a backend, which spells them as Python's logging does.
    result = run("--check-config", "--log-level", level, "--backend-socket", str(tmp_path / "b.sock"))
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("args, message", [
    (["--backend-socket", "/nonexistent-dir/run/b.sock"], "--backend-socket: cannot create /nonexistent-dir/run: "
                                                          "/nonexistent-dir is missing"),
    (["--listen", "no-such-host.invalid:8080"], "--listen: cannot resolve no-such-host.invalid"),
    (["--record", "/nonexistent-dir/rec"], "--record: cannot create /nonexistent-dir/rec"),
    (["--max-connections", "0"], "--max-connections"),
    (["--access-log", "/nonexistent-dir/access.log"], "--access-log: cannot create /nonexistent-dir/access.log"),
    (["--access-log", str(os.path.dirname(__file__))], "is a folder"),
    (["--metrics-listen", "no-such-host.invalid:9100"], "--metrics-listen: cannot resolve no-such-host.invalid"),
])
def test_check_config_names_what_would_stop_the_start(tmp_path, args, message):
    defaults = ["--backend-socket", str(tmp_path / "b.sock")]
    result = run("--check-config", *defaults, *args)
    assert result.returncode != 0
    assert message in result.stderr and result.stdout == ""


@pytest.mark.parametrize("args, flag", [
    (["--max-connections", "abc"], "--max-connections"),
    (["--max-connections", "0"], "--max-connections"),
    (["--header-timeout", "0"], "--header-timeout"),
    (["--listen", "nonsense"], "--listen"),
    (["--listen", "127.0.0.1:99999"], "--listen"),
    (["--log-level", "loud"], "--log-level"),
    (["--static", "/s=/nonexistent/dir"], "--static"),
    (["--static", "no-slash=/tmp"], "--static"),
    (["--static-max-age", "soon"], "--static-max-age"),
    (["--static-max-age", "-5"], "--static-max-age"),
    (["--static", "/s=/tmp", "--static-max-age", "/other=60"], "--static-max-age"),
    (["--static", "/s=/tmp", "--static-max-age", "s=60"], "--static-max-age"),
    (["--backend-socket-mode", "999"], "--backend-socket-mode"),
    (["--max-header-size", "1"], "--max-header-size"),
    (["--max-request-line", "10"], "--max-request-line"),
    (["--max-headers", "0"], "--max-headers"),
    (["--body-timeout", "0"], "--body-timeout"),
    (["--send-timeout", "x"], "--send-timeout"),
    (["--keepalive-timeout", "-1"], "--keepalive-timeout"),
    (["--forwarded-allow-ips", "localhost"], "--forwarded-allow-ips: 'localhost' is not an IP address"),
    (["--forwarded-allow-ips", "10.0.0.0/33"], "--forwarded-allow-ips: '10.0.0.0/33'"),
    (["--ws-max-message", "0"], "--ws-max-message"),
    (["--ws-max-message", "4294967296"], "--ws-max-message"),
    (["--ws-ping-interval", "soon"], "--ws-ping-interval"),
    (["--ws-ping-timeout", "0"], "--ws-ping-timeout"),
    (["--no-such-flag"], "--no-such-flag"),
    (["--access-log-format", "xml"], "--access-log-format"),
    (["--metrics-listen", "9100"], "--metrics-listen"),
    (["--metrics-listen", "127.0.0.1:70000"], "--metrics-listen"),
])
def test_bad_flag_value_exits_nonzero_naming_the_flag(args, flag):
    result = run(*args)
    assert result.returncode != 0
    assert flag in result.stderr


def test_forwarded_allow_ips_takes_networks_of_both_families_and_star():
    for value in ("10.0.0.0/8, 192.168.1.7,2001:db8::/32,::1", "*", ""):
        result = run("--forwarded-allow-ips", value, "--check-config", "--backend-socket", "/tmp/tandem-x/b.sock")
        assert "--forwarded-allow-ips" not in result.stderr, result.stderr


def test_bad_variable_value_names_the_flag_and_the_variable():
    result = run(env={"TANDEM_MAX_CONNECTIONS": "lots"})
    assert result.returncode != 0
    assert "--max-connections" in result.stderr
    assert "TANDEM_MAX_CONNECTIONS" in result.stderr


def test_a_flag_spares_its_variable_from_being_judged(tmp_path):
    # The flag wins, so a bad value left in the variable does not matter (it used to stop the start).
    result = run("--check-config", "--listen", "127.0.0.1:1", "--max-connections", "5", "--static-listing",
                 "0", "--backend-socket", str(tmp_path / "b.sock"),
                 env={"TANDEM_LISTEN": "garbage", "TANDEM_MAX_CONNECTIONS": "lots", "TANDEM_STATIC_LISTING": "x"})
    assert result.returncode == 0, result.stderr


def test_variables_configure_the_frontend(tmp_path, site):
    port = free_port()
    sock = str(tmp_path / "env.sock")
    proc = spawn("frontend-env", [FRONTEND], str(tmp_path),
                 env={"TANDEM_LISTEN": f"127.0.0.1:{port}", "TANDEM_BACKEND_SOCKET": sock,
                      "TANDEM_STATIC": f"/files={site['static']}", "TANDEM_BACKEND_SOCKET_MODE": "0640"})
    try:
        wait_until(lambda: tcp_accepts(port) or not proc.alive(), 10, "the frontend to listen")
        assert proc.alive(), proc.log()
        r = request(port, "GET", "/files/hello.txt")
        assert (r.status, r.body) == (200, b"hello static\n")
        assert stat.S_IMODE(os.stat(sock).st_mode) == 0o640
        # No backend on that socket yet: the frontend says so.
        assert request(port, "GET", "/").status == 503
    finally:
        proc.stop()


def test_flag_wins_over_its_variable(tmp_path):
    env_port, flag_port = free_port(), free_port()
    proc = spawn("frontend-env", [FRONTEND, "--listen", f"127.0.0.1:{flag_port}",
                                  "--backend-socket", str(tmp_path / "b.sock")], str(tmp_path),
                 env={"TANDEM_LISTEN": f"127.0.0.1:{env_port}"})
    try:
        wait_until(lambda: tcp_accepts(flag_port) or not proc.alive(), 10, "the frontend to listen")
        assert proc.alive(), proc.log()
        assert not tcp_accepts(env_port)
    finally:
        proc.stop()


def test_port_0_logs_the_port_the_kernel_chose(tmp_path, site):
    proc = spawn("frontend-port0", [FRONTEND, "--listen", "127.0.0.1:0", "--backend-socket", str(tmp_path / "b.sock"),
                                    "--static", f"/files={site['static']}"], str(tmp_path))
    try:
        wait_until(lambda: "listening on" in proc.log() or not proc.alive(), 10, "the frontend to listen")
        port = int(proc.log().split("listening on http://127.0.0.1:", 1)[1].split(",", 1)[0])
        assert port != 0 and request(port, "GET", "/files/hello.txt").status == 200
    finally:
        proc.stop()


def test_a_second_frontend_on_a_socket_in_use_is_refused_quietly(tmp_path, site):
    # It checks the socket by connecting: the running frontend takes that for no backend and says nothing
    # above debug (it used to log "backend ?[0] disconnected").
    port, sock = free_port(), str(tmp_path / "b.sock")
    proc = spawn("frontend-first", [FRONTEND, "--listen", f"127.0.0.1:{port}", "--backend-socket", sock,
                                    "--static", f"/files={site['static']}"], str(tmp_path))
    try:
        wait_until(lambda: tcp_accepts(port) or not proc.alive(), 10, "the frontend to listen")
        second = subprocess.run([FRONTEND, "--listen", f"127.0.0.1:{free_port()}", "--backend-socket", sock],
                                capture_output=True, text=True, timeout=30)
        assert second.returncode != 0 and "is in use by a running frontend" in second.stderr
        assert request(port, "GET", "/files/hello.txt").status == 200
        assert "disconnected" not in proc.log()
    finally:
        proc.stop()


def test_static_max_age_from_the_variable_for_every_mount(tmp_path, site):
    port = free_port()
    proc = spawn("frontend-env", [FRONTEND], str(tmp_path),
                 env={"TANDEM_LISTEN": f"127.0.0.1:{port}", "TANDEM_BACKEND_SOCKET": str(tmp_path / "b.sock"),
                      "TANDEM_STATIC": f"/a={site['static']},/b={site['static']}",
                      "TANDEM_STATIC_MAX_AGE": "60,/b=7"})
    try:
        wait_until(lambda: tcp_accepts(port) or not proc.alive(), 10, "the frontend to listen")
        assert proc.alive(), proc.log()
        assert request(port, "GET", "/a/hello.txt").header("cache-control") == "public, max-age=60"
        assert request(port, "GET", "/b/hello.txt").header("cache-control") == "public, max-age=7"
    finally:
        proc.stop()
