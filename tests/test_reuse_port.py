"""--reuse-port: several frontends, each with its own backends, share one listening port.

The kernel spreads new connections over the frontends that listen with
SO_REUSEPORT (a hash of each connection's addresses); one that stops leaves
the port to the others.  Without the flag the port stays one frontend's.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
from typing import Iterator

import pytest

from e2e_support import FRONTEND, Stack, frontend_argv, request, spawn, tcp_accepts, wait_until


@pytest.fixture
def two(tmp_path) -> Iterator[tuple[Stack, Stack]]:
    first = Stack(str(tmp_path / "a"), None)      # (each makes its folder)
    second = Stack(str(tmp_path / "b"), None)
    try:
        first.start_frontend("--reuse-port")
        second.port = first.port
        second.frontend = spawn("frontend", frontend_argv(second.port, second.sock, None, "--reuse-port"),
                                second.tmpdir)
        wait_until(lambda: os.path.exists(second.sock) or not second.frontend.alive(), 10,
                   "the second frontend to listen")
        assert second.frontend.alive(), second.frontend.log()
        # No request before both have a backend: one that reached a frontend without any would wait
        # --backend-wait for one.
        for stack in (first, second):
            stack.start_backend(wait=False)
        for stack in (first, second):
            stack.wait_attached(stack.backends[0])
        yield first, second
    finally:
        second.close()
        first.close()


def pid_of_a_new_connection(port: int) -> int:
    got = request(port, "GET", "/pid")
    assert got.status == 200, got
    return json.loads(got.body)["pid"]


def test_frontends_share_the_port_and_its_clients(two: tuple[Stack, Stack]) -> None:
    first, second = two
    pids = {pid_of_a_new_connection(first.port) for _ in range(64)}
    # Each connection goes to one frontend by a hash of its ports: 64 all to one has odds of 2 in 2**64.
    assert pids == {first.backends[0].pid, second.backends[0].pid}


def test_the_others_keep_the_port_when_one_stops(two: tuple[Stack, Stack]) -> None:
    first, second = two
    assert second.frontend is not None
    assert second.frontend.stop(signal.SIGTERM) == 0
    pids = {pid_of_a_new_connection(first.port) for _ in range(32)}
    assert pids == {first.backends[0].pid}


def test_without_the_flag_the_port_is_refused(two: tuple[Stack, Stack], tmp_path) -> None:
    first, _ = two
    result = subprocess.run(frontend_argv(first.port, str(tmp_path / "c.sock"), None), capture_output=True,
                            text=True, timeout=10)
    assert result.returncode != 0
    assert f"cannot listen on 127.0.0.1:{first.port}: address already in use" in result.stderr
    assert tcp_accepts(first.port)


def test_a_frontend_without_the_flag_keeps_its_port_to_itself(tmp_path) -> None:
    stack = Stack(str(tmp_path), None)
    try:
        stack.start_frontend()
        result = subprocess.run([FRONTEND, "--listen", f"127.0.0.1:{stack.port}", "--reuse-port",
                                 "--backend-socket", str(tmp_path / "c.sock")], capture_output=True, text=True,
                                timeout=10)
        assert result.returncode != 0
        assert "address already in use" in result.stderr
    finally:
        stack.close()


@pytest.mark.parametrize("flags, env, shares", [
    (["--reuse-port=1"], {}, True),
    ([], {"TANDEM_REUSE_PORT": "1"}, True),
    (["--reuse-port=0"], {"TANDEM_REUSE_PORT": "1"}, False),   # the flag wins over its variable
])
def test_the_flag_takes_0_or_1_and_has_a_variable(two: tuple[Stack, Stack], tmp_path, flags: list[str],
                                                  env: dict[str, str], shares: bool) -> None:
    first, _ = two
    third = spawn("frontend", frontend_argv(first.port, str(tmp_path / "c.sock"), None, *flags), str(tmp_path),
                  env=env)
    try:
        wait_until(lambda: "listening on" in third.log() or not third.alive(), 10, "the third frontend to start")
        assert third.alive() == shares, third.log()
    finally:
        third.stop()
