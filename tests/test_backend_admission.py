"""Who may attach as a backend: the frontend's own user, or users and groups it allows.

A peer from another uid is refused by its credentials (SO_PEERCRED) before a
byte is read, even when the socket's mode would let it connect.  These tests
run a client as `nobody` with setpriv, so they need root.
"""

from __future__ import annotations

import grp
import os
import pwd
import shutil
import stat
import subprocess
import sys

import pytest

from e2e_support import PYTHON, request

needs_root = pytest.mark.skipif(os.geteuid() != 0 or shutil.which("setpriv") is None,
                                reason="running a peer as another user needs root and setpriv")

# A minimal backend: HELLO, then print whether the frontend answered with HELLO
# or closed the connection.
PEER = r"""
import os, socket, struct, sys, msgpack
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
hello = msgpack.packb([1, 0, 1, "backend", "intruder", os.getpid(), 1, 1048576, 16, 1048576], use_bin_type=True)
try:
    s.sendall(struct.pack(">I", len(hello)) + hello)
    data = s.recv(65536)
except OSError as exc:
    data = b""
print("answered" if len(data) > 4 and msgpack.unpackb(data[4:])[0] == 1 else "refused")
"""


def run_peer_as(user: str, sock: str) -> str:
    group = grp.getgrgid(pwd.getpwnam(user).pw_gid).gr_name
    out = subprocess.run(["setpriv", f"--reuid={user}", f"--regid={group}", "--clear-groups",
                          PYTHON, "-c", PEER, sock], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def open_dir(path: str) -> None:
    # Let another user reach the socket inside the test's temp dirs.
    while path not in ("/", ""):
        os.chmod(path, os.stat(path).st_mode | 0o011)
        path = os.path.dirname(path)


@needs_root
def test_peer_of_another_uid_is_refused_by_credentials(make_stack):
    st = make_stack()
    # Mode 0666: the file system would let anyone in; only the credential check stands.
    st.start_frontend("--backend-socket-mode", "0666")
    open_dir(os.path.dirname(st.sock))
    assert run_peer_as("nobody", st.sock) == "refused"
    log = st.frontend.log()
    assert "refused a backend connection" in log and f"uid {pwd.getpwnam('nobody').pw_uid}" in log
    # The frontend's own user still gets in.
    assert subprocess.run([PYTHON, "-c", PEER, st.sock], capture_output=True, text=True,
                          timeout=30).stdout.strip() == "answered"
    assert st.frontend.alive()


@needs_root
def test_allowed_uid_and_gid_are_accepted(make_stack):
    nobody = pwd.getpwnam("nobody")
    st = make_stack()
    st.start_frontend("--backend-socket-mode", "0666", "--backend-allow-uid", "nobody")
    open_dir(os.path.dirname(st.sock))
    assert run_peer_as("nobody", st.sock) == "answered"

    st2 = make_stack()
    st2.start_frontend("--backend-socket-mode", "0666", "--backend-allow-gid", str(nobody.pw_gid))
    open_dir(os.path.dirname(st2.sock))
    assert run_peer_as("nobody", st2.sock) == "answered"


def test_socket_group_makes_the_socket_group_writable(make_stack):
    gid = os.getgid()
    st = make_stack()
    st.start_frontend("--backend-socket-group", grp.getgrgid(gid).gr_name)
    info = os.stat(st.sock)
    assert stat.S_IMODE(info.st_mode) == 0o660
    assert info.st_gid == gid
    # An explicit mode still wins.
    st2 = make_stack()
    st2.start_frontend("--backend-socket-group", str(gid), "--backend-socket-mode", "0640")
    assert stat.S_IMODE(os.stat(st2.sock).st_mode) == 0o640


def test_unknown_user_or_group_is_a_clear_error(tmp_path):
    from e2e_support import FRONTEND
    for flag in ("--backend-allow-uid", "--backend-allow-gid", "--backend-socket-group"):
        out = subprocess.run([FRONTEND, flag, "no-such-name-xyz", "--backend-socket", str(tmp_path / "s")],
                             capture_output=True, text=True, timeout=30)
        assert out.returncode != 0
        assert flag in out.stderr and "no-such-name-xyz" in out.stderr
