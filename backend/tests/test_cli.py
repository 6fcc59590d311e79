"""The command line, its environment variables, app loading and --serve."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tandem import cli, devserver, supervisor
from tandem.cli import Options, UsageError, parse_options
from tandem.importer import ImportFromStringError, import_from_string, load_app

BACKEND = Path(__file__).resolve().parents[1]
FAKE_FRONTEND = Path(__file__).resolve().parent / "fake_frontend_bin.py"


def test_flags() -> None:
    opts = parse_options(["app:app", "--connect", "/run/x.sock", "--app-dir", "/srv", "--app-name", "shop",
                          "--generation", "12", "--max-streams", "8", "--log-level", "DEBUG",
                          "--connect-timeout", "2.5"], {})
    assert opts == Options(app="app:app", connect="/run/x.sock", app_dir="/srv", app_name="shop", generation=12,
                           max_streams=8, log_level="debug", connect_timeout=2.5)


def test_serve_and_static_flags() -> None:
    opts = parse_options(["m:a", "--serve", "127.0.0.1:8080", "--static", "/static=./public",
                          "--static", "/img=/srv/img", "--frontend", "/opt/fe"], {})
    assert opts.serve == ("127.0.0.1", 8080)
    assert opts.static == [("/static", "./public"), ("/img", "/srv/img")]
    assert opts.frontend == "/opt/fe"
    assert parse_options(["m:a", "--serve", "[::1]:80"], {}).serve == ("::1", 80)


def test_environment_variables() -> None:
    env = {"TANDEM_APP": "m:a", "TANDEM_BACKEND_SOCKET": "/s.sock", "TANDEM_STATIC": "/a=x, /b=y",
           "TANDEM_APP_DIR": "/tmp", "TANDEM_APP_NAME": "n", "TANDEM_GENERATION": "5", "TANDEM_MAX_STREAMS": "9",
           "TANDEM_LOG_LEVEL": "warning", "TANDEM_FRONTEND": "/fe", "TANDEM_CONNECT_TIMEOUT": "1"}
    opts = parse_options([], env)
    assert opts == Options(app="m:a", connect="/s.sock", static=[("/a", "x"), ("/b", "y")], app_dir="/tmp",
                           app_name="n", generation=5, max_streams=9, log_level="warning", frontend="/fe",
                           connect_timeout=1.0)
    assert parse_options(["m:a"], {"TANDEM_LISTEN": "0.0.0.0:1"}).serve == ("0.0.0.0", 1)


def test_environment_shared_with_the_frontend() -> None:
    """The frontend reads TANDEM_LISTEN, TANDEM_BACKEND_SOCKET and TANDEM_LOG_LEVEL too."""
    env = {"TANDEM_LISTEN": "0.0.0.0:8080", "TANDEM_BACKEND_SOCKET": "/run/tandem/backend.sock",
           "TANDEM_LOG_LEVEL": "warn"}
    opts = parse_options(["m:a"], env)
    assert (opts.connect, opts.serve, opts.log_level) == ("/run/tandem/backend.sock", None, "warning")


def test_flags_win_over_environment() -> None:
    env = {"TANDEM_BACKEND_SOCKET": "/env.sock", "TANDEM_MAX_STREAMS": "9", "TANDEM_STATIC": "/a=x",
           "TANDEM_LISTEN": "1.2.3.4:5"}
    opts = parse_options(["m:a", "--serve", "127.0.0.1:1", "--max-streams", "3", "--static", "/b=y"], env)
    assert (opts.serve, opts.connect, opts.max_streams, opts.static) == (("127.0.0.1", 1), None, 3, [("/b", "y")])
    assert parse_options(["m:a", "--connect", "/flag.sock"], env).connect == "/flag.sock"


def test_defaults() -> None:
    opts = parse_options(["m:a", "--connect", "s"], {})
    assert (opts.app_dir, opts.app_name, opts.generation, opts.max_streams, opts.log_level, opts.frontend,
            opts.connect_timeout, opts.static) == (".", None, None, 1024, "info", None, None, [])


@pytest.mark.parametrize("argv, env", [
    ([], {}),                                                        # no app
    (["m:a"], {}),                                                   # no --connect / --serve
    (["m:a", "--connect", "s", "--serve", "h:1"], {}),
    (["m:a", "--serve", "8080"], {}),
    (["m:a", "--serve", "h:port"], {}),
    (["m:a", "--serve", "h:70000"], {}),
    (["m:a", "--connect", "s", "--max-streams", "0"], {}),
    (["m:a", "--connect", "s", "--max-streams", "65536"], {}),
    (["m:a", "--connect", "s", "--generation", "x"], {}),
    (["m:a", "--connect", "s", "--log-level", "loud"], {}),
    (["m:a", "--connect", "s", "--static", "public"], {}),
    (["m:a", "--connect", "s", "--connect-timeout", "soon"], {}),
    (["m:a", "--connect", "s", "--connect-timeout", "-1"], {}),
    (["m:a", "--connect", "s", "--connect-timeout", "nan"], {}),
    (["m:a", "--connect", "s", "--connect-timeout", "inf"], {}),
    (["m:a", "--connect", "s", "--app-dir", "/nonexistent-folder"], {}),
    (["m:a", "--connect", "s", "--shutdown-timeout", "2.5"], {}),       # whole seconds, as the frontend's
    (["m:a", "--connect", "s", "--shutdown-timeout", "-1"], {}),
    (["m:a", "--connect", "/tmp/" + "x" * 103], {}),                   # 108 bytes: no room for the NUL
    (["m:a"], {"TANDEM_BACKEND_SOCKET": "/tmp/" + "x" * 103}),
])
def test_usage_errors(argv: list[str], env: dict[str, str]) -> None:
    with pytest.raises(UsageError):
        parse_options(argv, env)


def test_the_longest_socket_path_is_taken() -> None:
    path = "/tmp/" + "x" * 102
    assert parse_options(["m:a", "--connect", path], {}).connect == path
    assert parse_options(["m:a", "--connect", "s", "--connect-timeout", "0"], {}).connect_timeout == 0
    assert parse_options(["m:a", "--connect", "s"], {}).shutdown_timeout == 30
    assert parse_options(["m:a", "--connect", "s"], {"TANDEM_SHUTDOWN_TIMEOUT": "0"}).shutdown_timeout == 0


def test_workers() -> None:
    assert parse_options(["m:a", "--connect", "s"], {}).workers == 1
    assert parse_options(["m:a", "--connect", "s", "--workers", "4"], {}).workers == 4
    assert parse_options(["m:a", "--connect", "s"], {"TANDEM_WORKERS": "3"}).workers == 3
    assert parse_options(["m:a", "--connect", "s", "--workers", "2"], {"TANDEM_WORKERS": "3"}).workers == 2
    # A worker never starts workers of its own, whatever the variable says.
    opts = parse_options(["m:a", "--connect", "s", "--workers", "4", "--generation", "9", "--worker-fd", "5"],
                         {"TANDEM_WORKERS": "3"})
    assert (opts.workers, opts.worker_fd, opts.generation) == (1, 5, 9)
    assert parse_options(["m:a", "--connect", "s", "--ready-fd", "6"], {}).ready_fd == 6
    # --workers 1 with --serve is what --serve always was; more run under a parent with the frontend.
    assert parse_options(["m:a", "--serve", "h:1", "--workers", "1"], {}).workers == 1
    assert parse_options(["m:a", "--serve", "h:1", "--workers", "2"], {}).workers == 2


def test_reload_option() -> None:
    assert not parse_options(["m:a", "--serve", "h:1"], {}).reload
    assert parse_options(["m:a", "--serve", "h:1", "--reload"], {}).reload
    assert parse_options(["m:a", "--connect", "s"], {"TANDEM_RELOAD": "1"}).reload
    assert not parse_options(["m:a", "--connect", "s"], {"TANDEM_RELOAD": "off"}).reload
    # The backends a reloading parent starts never watch files themselves.
    assert not parse_options(["m:a", "--connect", "s", "--reload", "--worker-fd", "5"], {}).reload
    with pytest.raises(UsageError, match="TANDEM_RELOAD"):
        parse_options(["m:a", "--connect", "s"], {"TANDEM_RELOAD": "sometimes"})


@pytest.mark.parametrize("argv", [
    ["m:a", "--connect", "s", "--workers", "0"],
    ["m:a", "--connect", "s", "--workers", "many"],
    ["m:a", "--connect", "s", "--worker-fd", "5", "--ready-fd", "6"],
])
def test_workers_usage_errors(argv: list[str]) -> None:
    with pytest.raises(UsageError):
        parse_options(argv, {})


def test_internal_flags_are_not_in_the_help(capsys: Any) -> None:
    with pytest.raises(SystemExit):
        parse_options(["--help"], {})
    out = capsys.readouterr().out
    assert "--worker-fd" not in out and "--ready-fd" not in out
    assert "SIGHUP reloads" in " ".join(out.split())


def test_help_documents_every_flag_with_its_variable(capsys: Any) -> None:
    with pytest.raises(SystemExit) as info:
        parse_options(["--help"], {})
    assert info.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    for flag, env, default, _ in cli.FLAGS:
        assert flag in text and f"env {env}" in text and f"default: {default}" in text, flag


def test_usage_error_exit_code(capsys: Any) -> None:
    assert cli.main(["m:a"], {}) == 2
    assert "--connect SOCK" in capsys.readouterr().err


def test_missing_dependencies_message(monkeypatch: Any) -> None:
    monkeypatch.setitem(sys.modules, "uvloop", None)
    message = cli.check_dependencies()
    assert message is not None
    assert "python3-uvloop" in message and "/usr/bin/python3" in message and "make deps" in message
    assert cli.main(["m:a", "--connect", "s"], {}) == 1


def test_missing_dependencies_with_a_real_interpreter() -> None:
    """`python3 -m tandem` where uvloop and msgpack cannot be imported: a message, not a traceback."""
    code = ("import sys; sys.modules['msgpack'] = None; sys.modules['uvloop'] = None; "
            "import runpy; sys.argv = ['tandem', 'app:app', '--connect', 'x.sock']; "
            "runpy.run_module('tandem', run_name='__main__')")
    result = subprocess.run([sys.executable, "-c", code], env=dict(os.environ, PYTHONPATH=str(BACKEND)),
                            capture_output=True, timeout=30)
    assert result.returncode == 1
    assert b"cannot import uvloop and msgpack" in result.stderr and b"Traceback" not in result.stderr


def test_import_from_string(tmp_path: Path) -> None:
    (tmp_path / "someapp_for_tests.py").write_text("class Box:\n    inner = 42\n")
    assert import_from_string("someapp_for_tests:Box.inner", str(tmp_path)) == 42
    for bad in ("someapp_for_tests", "someapp_for_tests:missing", "no_such_module_x:app", ":app"):
        with pytest.raises(ImportFromStringError):
            import_from_string(bad, str(tmp_path))


def test_import_error_inside_the_app_is_shown(tmp_path: Path) -> None:
    (tmp_path / "brokenapp_for_tests.py").write_text("import no_such_dependency_x\n")
    with pytest.raises(ModuleNotFoundError):
        import_from_string("brokenapp_for_tests:app", str(tmp_path))


def test_load_app() -> None:
    from tandem import App

    app = App()
    assert load_app(app) is app

    async def raw(stream: Any) -> None:
        pass

    assert load_app(raw) is raw

    with pytest.raises(ImportFromStringError):
        load_app(42)
    # ASGI and WSGI applications: see test_importer.py.


def test_bad_import_string_exits_1(tmp_path: Path, caplog: Any) -> None:
    assert cli.main(["nothere_x:app", "--connect", str(tmp_path / "s"), "--app-dir", str(tmp_path)], {}) == 1
    assert 'could not import module "nothere_x"' in caplog.text


def test_an_app_that_raises_while_loading_exits_1_with_one_log_record(tmp_path: Path, caplog: Any) -> None:
    (tmp_path / "raising_app_for_tests.py").write_text("raise RuntimeError('broken on purpose')\n")
    before = signal.getsignal(signal.SIGHUP)
    assert cli.main(["raising_app_for_tests:app", "--connect", str(tmp_path / "s"), "--app-dir", str(tmp_path)],
                    {}) == 1
    record = next(r for r in caplog.records if "failed to load" in r.getMessage())
    assert "raising_app_for_tests:app" in record.getMessage() and record.exc_info is not None
    assert signal.getsignal(signal.SIGHUP) is before


def test_find_frontend(tmp_path: Path, monkeypatch: Any) -> None:
    repo = tmp_path / "repo"
    (repo / ".git").mkdir(parents=True)
    (repo / "backend" / "tandem").mkdir(parents=True)
    package_file = str(repo / "backend" / "tandem" / "devserver.py")
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(devserver.FrontendNotFound, match="make build"):
        devserver.find_frontend(None, package_file)
    binary = repo / "build" / "tandem-frontend"
    binary.parent.mkdir()
    binary.write_text("#!/bin/sh\n")
    binary.chmod(0o755)
    assert devserver.find_frontend(None, package_file) == str(binary)
    assert devserver.find_frontend(str(binary), package_file) == str(binary)
    with pytest.raises(devserver.FrontendNotFound, match="make build"):
        devserver.find_frontend(str(tmp_path / "nope"), package_file)
    on_path = tmp_path / "bin"
    on_path.mkdir()
    (on_path / "tandem-frontend").write_text("#!/bin/sh\n")
    (on_path / "tandem-frontend").chmod(0o755)
    monkeypatch.setenv("PATH", str(on_path))
    binary.unlink()
    assert devserver.find_frontend(None, package_file) == str(on_path / "tandem-frontend")


def test_find_frontend_of_an_installed_package(tmp_path: Path, monkeypatch: Any) -> None:
    # make install puts the package in PREFIX/lib/python3/dist-packages, a venv in lib/python3.11/site-packages.
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    for lib in ("lib/python3/dist-packages", "lib/python3.11/site-packages"):
        prefix = tmp_path / lib.replace("/", "_")
        package_file = str(prefix / lib / "tandem" / "devserver.py")
        with pytest.raises(devserver.FrontendNotFound) as info:
            devserver.find_frontend(None, package_file)
        assert str(prefix / "bin" / "tandem-frontend") in str(info.value) and "make install" in str(info.value)
        binary = prefix / "bin" / "tandem-frontend"
        binary.parent.mkdir(parents=True)
        binary.write_text("#!/bin/sh\n")
        binary.chmod(0o755)
        assert devserver.find_frontend(None, package_file) == str(binary)


def test_frontend_command() -> None:
    cmd = devserver.frontend_command("/fe", ("::1", 80), "/tmp/x/backend.sock", [("/static", "/srv/public")])
    assert cmd == ["/fe", "--listen", "[::1]:80", "--backend-socket", "/tmp/x/backend.sock",
                   "--static", "/static=/srv/public"]
    cmd = devserver.frontend_command("/fe", ("0.0.0.0", 80), "/s", [], ["--forwarded-allow-ips", "10.0.0.0/8"])
    assert cmd[-2:] == ["--forwarded-allow-ips", "10.0.0.0/8"]


def test_forwarded_allow_ips_goes_to_the_frontend() -> None:
    opts = cli.parse_options(["app:app", "--serve", "127.0.0.1:8000", "--forwarded-allow-ips", "*"], {})
    assert opts.frontend_args == ["--forwarded-allow-ips", "*", "--log-level", "info", "--shutdown-timeout", "30"]
    assert opts.frontend_flags_given == ["--forwarded-allow-ips"]
    # The variable goes on as the flag, as the other frontend settings'.
    opts = cli.parse_options(["app:app", "--serve", "127.0.0.1:8000"], {"TANDEM_FORWARDED_ALLOW_IPS": "10.0.0.0/8"})
    assert opts.frontend_args == ["--forwarded-allow-ips", "10.0.0.0/8", "--log-level", "info",
                                  "--shutdown-timeout", "30"]
    assert opts.frontend_flags_given == []
    assert "--forwarded-allow-ips" in supervisor.SERVE_FLAGS


def test_the_log_level_goes_to_the_serve_frontend() -> None:
    # The backend's own spellings, from the flag or the variable the frontend would read too.
    for argv, env, level in ((["--log-level", "DEBUG"], {}, "debug"),
                             ([], {"TANDEM_LOG_LEVEL": "critical"}, "critical"),
                             ([], {"TANDEM_LOG_LEVEL": "warn"}, "warning")):
        opts = parse_options(["m:a", "--serve", "127.0.0.1:1", *argv], env)
        assert opts.frontend_args[-4:-2] == ["--log-level", level]
    assert "--log-level" not in parse_options(["m:a", "--connect", "/s", "--log-level", "debug"], {}).frontend_args


def test_the_shutdown_timeout_goes_to_the_serve_frontend_and_bounds_its_stop() -> None:
    opts = parse_options(["m:a", "--serve", "127.0.0.1:1", "--shutdown-timeout", "7"], {})
    assert opts.frontend_args[-2:] == ["--shutdown-timeout", "7"]
    # Its own answers may take that long: it is killed only a grace after it.
    assert devserver.frontend_stop_timeout(opts.frontend_args) == 7 + devserver.STOP_GRACE
    assert devserver.frontend_stop_timeout([]) == 30 + devserver.STOP_GRACE


def test_frontend_flags_go_to_the_serve_frontend() -> None:
    opts = parse_options(["m:a", "--serve", "127.0.0.1:1", "--access-log", "-", "--access-log-format", "JSON",
                          "--metrics-listen", "127.0.0.1:9100"], {})
    assert opts.frontend_args == ["--access-log", "-", "--access-log-format", "json",
                                  "--metrics-listen", "127.0.0.1:9100", "--log-level", "info",
                                  "--shutdown-timeout", "30"]
    assert opts.frontend_flags_given == ["--access-log", "--access-log-format", "--metrics-listen"]
    env = {"TANDEM_ACCESS_LOG": "/var/log/tandem/access.log", "TANDEM_METRICS_LISTEN": "off"}
    opts = parse_options(["m:a", "--serve", "127.0.0.1:1"], env)
    assert (opts.frontend_args, opts.frontend_flags_given) == (
        ["--access-log", "/var/log/tandem/access.log", "--log-level", "info", "--shutdown-timeout", "30"], [])
    cmd = devserver.frontend_command("/fe", ("127.0.0.1", 1), "/s", [], ["--access-log", "-"])
    assert cmd[-2:] == ["--access-log", "-"]
    for argv in (["m:a", "--serve", "h:1", "--access-log-format", "xml"],
                 ["m:a", "--serve", "h:1", "--metrics-listen", "9100"]):
        with pytest.raises(UsageError):
            parse_options(argv, {})


def test_describe_exit() -> None:
    assert devserver.describe_exit(3) == "exited with status 3"
    assert devserver.describe_exit(-9) == "was killed by SIGKILL"


# --- --serve with a stand-in frontend binary ------------------------------------------

APP = """
from tandem import App
app = App()

@app.get("/")
def index(request):
    return "served"
"""


def start_serve(tmp_path: Path, extra_env: dict[str, str]) -> tuple[subprocess.Popen[bytes], Path]:
    (tmp_path / "app.py").write_text(APP)
    report = tmp_path / "report.jsonl"
    env = dict(os.environ, PYTHONPATH=str(BACKEND), FAKE_FRONTEND_REPORT=str(report), **extra_env)
    for var in ("TANDEM_BACKEND_SOCKET", "TANDEM_LISTEN", "TANDEM_STATIC", "TANDEM_APP_DIR"):
        env.pop(var, None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "tandem", "app:app", "--serve", "127.0.0.1:0", "--static", "/static=./public",
         "--frontend", str(FAKE_FRONTEND)],
        cwd=tmp_path, env=env, stderr=subprocess.PIPE, start_new_session=True)
    return proc, report


def read_report(report: Path, until: str, proc: subprocess.Popen[bytes]) -> list[dict[str, Any]]:
    """Waits (with a failure guard) until the fake frontend reports the event ``until``."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if report.exists():
            events = [json.loads(line) for line in report.read_text().splitlines()]
            if any(e["event"] == until for e in events):
                return events
        if proc.poll() is not None and until != "exit":
            break
        time.sleep(0.02)
    proc.kill()
    raise AssertionError(f"no {until!r} event; stderr: {proc.communicate()[1].decode()}")


@pytest.mark.parametrize("sig, group", [(signal.SIGTERM, False), (signal.SIGINT, True), (signal.SIGHUP, False)])
def test_serve_starts_the_frontend_and_stops_cleanly(tmp_path: Path, sig: int, group: bool) -> None:
    proc, report = start_serve(tmp_path, {})
    try:
        events = read_report(report, "ready", proc)
        args = events[0]
        assert args["listen"] == "127.0.0.1:0"
        assert args["static"] == [f"/static={tmp_path / 'public'}"]
        assert args["dir_mode"] == "0o700"
        assert args["log_level"] == "info"
        assert {"event": "hello", "app": "app:app", "role": "backend"} in events
        assert {"event": "response", "status": 200, "body": "served"} in events
        socket_dir = Path(args["socket"]).parent
        assert socket_dir.is_dir()
        if group:
            os.killpg(proc.pid, sig)  # Ctrl-C reaches the whole process group
        else:
            proc.send_signal(sig)
        _, stderr = proc.communicate(timeout=20)
        assert proc.returncode == 0, stderr.decode()
        assert not socket_dir.exists()
        events = [json.loads(line) for line in report.read_text().splitlines()]
        assert any(e["event"] == "signal" for e in events), events
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def test_frontend_settings_warn_a_connect_backend_only_as_flags(tmp_path: Path) -> None:
    # A variable may be there for a frontend that shares the environment (one env file for both): no warning.
    (tmp_path / "app.py").write_text(APP)

    def stderr(args: list[str], env: dict[str, str]) -> str:
        full = dict(os.environ, PYTHONPATH=str(BACKEND), **env)
        result = subprocess.run([sys.executable, "-m", "tandem", "app:app", "--connect", str(tmp_path / "no.sock"),
                                 "--connect-timeout", "0", *args], cwd=tmp_path, env=full, capture_output=True,
                                timeout=30)
        assert result.returncode == 1
        return result.stderr.decode()

    flagged = stderr(["--static", "/s=.", "--access-log", "-"], {})
    assert "--static is a setting of the frontend" in flagged and "--access-log is a setting" in flagged
    quiet = stderr([], {"TANDEM_STATIC": "/s=.", "TANDEM_ACCESS_LOG": "-"})
    assert "setting of the frontend" not in quiet


def test_serve_exits_non_zero_when_the_frontend_dies(tmp_path: Path) -> None:
    proc, report = start_serve(tmp_path, {"FAKE_FRONTEND_EXIT": "3"})
    try:
        _, stderr = proc.communicate(timeout=30)
        assert proc.returncode == 1
        assert "the frontend exited with status 3" in stderr.decode()
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def test_serve_without_a_frontend_binary(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text(APP)
    env = dict(os.environ, PYTHONPATH=str(BACKEND))
    env.pop("TANDEM_LISTEN", None)
    result = subprocess.run([sys.executable, "-m", "tandem", "app:app", "--serve", "127.0.0.1:0",
                             "--frontend", str(tmp_path / "missing-frontend")],
                            cwd=tmp_path, env=env, capture_output=True, timeout=30)
    assert result.returncode == 1
    assert b"make build" in result.stderr
