"""The backend is a normal Python package: installable offline from its folder."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from e2e_support import REPO


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
