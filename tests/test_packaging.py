"""The backend is a normal Python package: installable offline from its folder."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys

import pytest

from e2e_support import REPO, START_TIMEOUT, free_port, request, spawn, tcp_accepts, wait_until


def test_backend_installs_offline_with_pip(tmp_path):
    venv = tmp_path / "venv"
    # --system-site-packages: uvloop and msgpack come from Debian's packages.
    made = subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)],
                          capture_output=True, text=True)
    if made.returncode != 0:
        pytest.fail(f"python3 -m venv failed (is python3-venv installed?): {made.stderr}")
    pip = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "--no-build-isolation",
                          "--no-index", "--quiet", os.path.join(REPO, "backend")],
                         capture_output=True, text=True, timeout=300)
    assert pip.returncode == 0, pip.stdout + pip.stderr
    # The installed package, not the checkout, answers: run from elsewhere with no PYTHONPATH.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    version = subprocess.run([str(venv / "bin" / "tandem"), "--version"], capture_output=True, text=True,
                             cwd=tmp_path, env=env, timeout=60)
    assert version.returncode == 0, version.stderr
    assert version.stdout.startswith("tandem ")
    where = subprocess.run([str(venv / "bin" / "python"), "-c", "import tandem; print(tandem.__file__)"],
                           capture_output=True, text=True, cwd=tmp_path, env=env, timeout=60)
    assert where.stdout.strip().startswith(str(venv))
    # pip compiled the C accelerator too (make deps installs the compiler and headers it needs).
    fast = subprocess.run([str(venv / "bin" / "python"), "-c", "from tandem import protocol; print(protocol.speedups())"],
                          capture_output=True, text=True, cwd=tmp_path, env=env, timeout=60)
    assert fast.stdout.strip() == "True", fast.stderr
    # The conformance kit and its app install with the package.
    kit = subprocess.run([str(venv / "bin" / "python"), "-m", "tandem.conform", "--list"],
                         capture_output=True, text=True, cwd=tmp_path, env=env, timeout=60)
    assert kit.returncode == 0 and kit.stdout.startswith("1.1 "), kit.stdout + kit.stderr
    app = subprocess.run([str(venv / "bin" / "python"), "-c", "import tandem.conform.app as a; print(a.__file__)"],
                         capture_output=True, text=True, cwd=tmp_path, env=env, timeout=60)
    assert app.stdout.strip().startswith(str(venv)), app.stderr
    # The README's venv route: the frontend put in the environment's bin/ is the one --serve finds.
    shutil.copy(os.path.join(REPO, "build", "tandem-frontend"), venv / "bin" / "tandem-frontend")
    found = subprocess.run([str(venv / "bin" / "python"), "-c", "from tandem import devserver; "
                            "print(devserver.find_frontend())"], capture_output=True, text=True, cwd=tmp_path,
                           env={**env, "PATH": "/usr/bin:/bin"}, timeout=60)
    assert found.stdout.strip() == str(venv / "bin" / "tandem-frontend"), found.stderr


HELLO_APP = '''
from tandem import App

app = App()


@app.get("/")
def hello(request):
    return "hello from the prefix"
'''


def test_make_install_into_a_prefix_runs_from_there(tmp_path):
    prefix = tmp_path / "prefix"
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "MAKEFLAGS", "MFLAGS", "MAKELEVEL") and not k.startswith("TANDEM_")}
    made = subprocess.run(["make", "-C", REPO, "install", f"PREFIX={prefix}", f"PYTHON={sys.executable}"],
                          capture_output=True, text=True, timeout=600, env=env)
    assert made.returncode == 0, made.stdout + made.stderr
    assert os.access(prefix / "bin" / "tandem", os.X_OK) and os.access(prefix / "bin" / "tandem-frontend", os.X_OK)
    assert (prefix / "lib" / "python3" / "dist-packages" / "tandem" / "cli.py").is_file()
    assert (prefix / "lib" / "python3" / "dist-packages" / "tandem" / "conform" / "cases.py").is_file()
    # The installed command runs the installed package, from anywhere, and its --serve
    # finds the installed frontend (not on PATH, not in a checkout).
    app_dir = tmp_path / "app"
    app_dir.mkdir()
    (app_dir / "app.py").write_text(HELLO_APP)
    port = free_port()
    proc = spawn("installed", [str(prefix / "bin" / "tandem"), "app:app", "--serve", f"127.0.0.1:{port}"],
                 str(tmp_path), env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(tmp_path / "none")},
                 cwd=str(app_dir))
    try:
        wait_until(lambda: tcp_accepts(port) or not proc.alive(), START_TIMEOUT, "the installed --serve")
        assert proc.alive(), proc.log()
        wait_until(lambda: request(port, "GET", "/").status == 200, START_TIMEOUT, "the installed backend")
        assert request(port, "GET", "/").body == b"hello from the prefix"
        assert f"starting the frontend: {prefix / 'bin' / 'tandem-frontend'}" in proc.log()
        proc.popen.send_signal(signal.SIGINT)
        assert proc.popen.wait(30) == 0, proc.log()
    finally:
        proc.stop()
    uninstalled = subprocess.run(["make", "-C", REPO, "uninstall", f"PREFIX={prefix}"], capture_output=True,
                                 text=True, timeout=120, env=env)
    assert uninstalled.returncode == 0 and not (prefix / "bin" / "tandem").exists()
    assert not (prefix / "lib" / "python3" / "dist-packages" / "tandem").exists()
