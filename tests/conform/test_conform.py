"""The conformance kit (``python3 -m tandem.conform``) against tandem's backend and against a broken one.

tandem's backend must pass every case in each of its modes: the native App
(with and without the C accelerator), ASGI, WSGI on worker threads and WSGI
inline (``--threads 0``).  The toy
backend of ``broken_backend.py`` passes every case too until one of its rules
is broken, and then the kit must fail the case for that rule: each
``--break`` has the cases that must fail, and the few that may also see the
broken rule depending on how the bytes are split in reads and how soon the
case ends (a backend that ignores the window is caught by 3.1 always, by 2.4
only when the kit reads two of its frames at once, by 4.2 and 7.10 only when
it gets far enough before the case is over); every other case must pass.

Every process is the kit's own child, stopped by the kit even when a case
fails; each run has a bounded time.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys

import pytest

from e2e_support import BACKEND_PATH, PYTHON

HERE = os.path.dirname(os.path.abspath(__file__))
BROKEN = os.path.join(HERE, "broken_backend.py")
RUN_TIMEOUT = 300
LINE = re.compile(r"^(\d+\.\d+)\s+(PASS|FAIL|SKIP)\s")


def kit(*args: str, timeout: float = RUN_TIMEOUT, **environ: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=BACKEND_PATH, **environ)
    return subprocess.run([PYTHON, "-m", "tandem.conform", *args], capture_output=True, text=True, env=env,
                          timeout=timeout)


def outcomes(stdout: str) -> dict[str, str]:
    found = {}
    for line in stdout.splitlines():
        m = LINE.match(line)
        if m:
            found[m.group(1)] = m.group(2)
    return found


def all_case_ids() -> list[str]:
    listing = kit("--list")
    assert listing.returncode == 0, listing.stderr
    return [line.split()[0] for line in listing.stdout.splitlines()]


# mode: (the app and its flags, the environment).  The codec's pure Python
# decoder is the second one a frame can meet (the C accelerator takes REQUESTs
# when it is built): "native-python" runs without the accelerator.
TANDEM_MODES = {
    "native": ("tandem.conform.app:app", {}),
    "native-python": ("tandem.conform.app:app", {"TANDEM_NO_SPEEDUPS": "1"}),
    "asgi": ("tandem.conform.app:asgi_app", {}),
    "wsgi": ("tandem.conform.app:wsgi_app", {}),
    "wsgi-inline": ("tandem.conform.app:wsgi_app --threads 0", {}),
}


@pytest.mark.parametrize("mode", sorted(TANDEM_MODES))
def test_tandem_backend_passes_every_case(mode):
    app, environ = TANDEM_MODES[mode]
    command = f"{PYTHON} -m tandem {app} --connect {{socket}} --log-level warning"
    result = kit("--backend", command, "--verbose", **environ)
    assert result.returncode == 0, result.stdout + result.stderr
    found = outcomes(result.stdout)
    assert set(found) == set(all_case_ids())
    assert set(found.values()) == {"PASS"}, result.stdout
    assert result.stdout.splitlines()[-1] == f"{len(found)} passed, 0 failed"


# --break RULE: (cases that must fail, cases that may fail too)
BREAKS = {
    "wrong-version": ({"1.1"}, set()),
    "accept-any-version": ({"1.3"}, set()),
    "ignore-window": ({"3.1"}, {"2.4", "4.2", "7.10"}),
    "no-window-grants": ({"2.3"}, set()),
    "ignore-cancel": ({"4.1", "4.2"}, set()),
    "reject-unknown-types": ({"7.1"}, set()),
    "no-frame-limit": ({"7.6", "7.7"}, set()),
    "strict-element-count": ({"1.2"}, set()),
    "require-request-id": ({"2.8"}, set()),
    "empty-own-request-id": ({"2.8"}, set()),
    "accept-trailing-bytes": ({"8.3"}, set()),
    "close-on-drain": ({"6.1"}, set()),
    "reconnect-when-superseded": ({"6.3"}, set()),
    "ignore-body-after-end": ({"7.10"}, set()),
    "answer-ping-acks": ({"5.1"}, set()),
    "ignore-max-streams": ({"2.6"}, set()),
    "reuse-ids": ({"7.5"}, set()),
    "ignore-unknown-streams": ({"7.3"}, set()),
    "utf8-internal-error": ({"8.8"}, set()),
    "hang-on-eof": ({"7.9"}, set()),
    "drop-when-blocked": ({"9.1"}, set()),
}


def broken(*breaks: str) -> str:
    return f"{PYTHON} {BROKEN} --connect {{socket}}" + "".join(f" --break {b}" for b in breaks)


# The broken backend does not speak WebSockets (PROTOCOL.md section 8): the cases
# that need them are skipped.
WS_ONLY = {"10.1", "10.2"}


def test_the_broken_backend_keeps_every_rule_unless_told():
    result = kit("--backend", broken(), "--timeout", "2")
    assert result.returncode == 0, result.stdout + result.stderr
    found = outcomes(result.stdout)
    assert {case for case, status in found.items() if status == "SKIP"} == WS_ONLY
    assert {status for case, status in found.items() if case not in WS_ONLY} == {"PASS"}


def test_every_break_of_the_broken_backend_is_tested():
    help_text = subprocess.run([PYTHON, BROKEN, "--help"], capture_output=True, text=True, timeout=60).stdout
    offered = set(re.search(r"--break \{([^}]*)\}", help_text).group(1).split(","))
    assert offered == set(BREAKS)


@pytest.mark.parametrize("rule", sorted(BREAKS))
def test_the_kit_catches_each_broken_rule(rule):
    must, may = BREAKS[rule]
    result = kit("--backend", broken(rule), "--timeout", "2", "--connect-timeout", "3")
    found = outcomes(result.stdout)
    failed = {case for case, status in found.items() if status == "FAIL"}
    assert must <= failed, f"the kit missed --break {rule}:\n{result.stdout}"
    assert failed <= must | may, f"--break {rule} failed other cases:\n{result.stdout}"
    assert result.returncode == 1
    skipped = {case for case, status in found.items() if status == "SKIP"}
    assert skipped <= WS_ONLY
    assert result.stdout.splitlines()[-1] == (f"{len(found) - len(failed) - len(skipped)} passed, {len(failed)} failed"
                                              + (f", {len(skipped)} skipped" if skipped else ""))


def test_a_failure_says_why_and_verbose_dumps_the_frames():
    result = kit("--backend", broken("ignore-cancel"), "--case", "4.1", "--verbose")
    lines = result.stdout.splitlines()
    assert lines[0].startswith("4.1   FAIL  cancel before the response  [§2 CANCEL, §5]")
    assert "after it had read the kit's CANCEL" in lines[1]
    assert any(re.match(r"\s+000000  00 00 00 ", line) for line in lines), result.stdout  # a hex dump
    assert any("> CANCEL stream 1" in line for line in lines)
    assert lines[-1] == "0 passed, 1 failed"


def test_list_and_case_selection():
    listing = kit("--list", "--verbose")
    assert listing.returncode == 0
    assert re.search(r"^7\.6\s+oversized frame refused from its length  \[§1, §5\]$", listing.stdout, re.M)
    assert "detected from the 4 length bytes" in " ".join(listing.stdout.split())
    result = kit("--backend", broken(), "--case", "5", "--case", "2.1", "--case", "5.1")
    assert list(outcomes(result.stdout)) == ["2.1", "5.1"]
    assert kit("--case", "99").returncode == 2


def test_a_backend_started_by_hand(tmp_path):
    path = str(tmp_path / "kit.sock")
    env = dict(os.environ)
    proc = None
    try:
        # The kit creates the socket; the toy backend retries until it appears.
        proc = subprocess.Popen([PYTHON, BROKEN, "--connect", path], env=env)
        result = kit("--socket", path, "--wait", "--case", "2.1", "--case", "6", "--case", "7.8")
        found = outcomes(result.stdout)
        assert found == {"2.1": "PASS", "6.1": "PASS", "6.2": "SKIP", "6.3": "SKIP", "7.8": "PASS"}, result.stdout
        assert result.stdout.splitlines()[-1] == "3 passed, 0 failed, 2 skipped"
        assert result.returncode == 0
    finally:
        if proc is not None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def test_no_backend_fails_clearly_and_at_once(tmp_path):
    result = kit("--socket", str(tmp_path / "kit.sock"), "--wait", "--connect-timeout", "0.5",
                 "--case", "2.1", "--case", "5.1")
    assert result.returncode == 1
    assert outcomes(result.stdout) == {"2.1": "FAIL", "5.1": "FAIL"}
    assert result.stdout.count("no backend connected") == 2


def test_a_backend_that_cannot_start_fails_clearly():
    result = kit("--backend", f"{PYTHON} -c 'import sys; print(\"cannot start\"); sys.exit(3)'",
                 "--connect-timeout", "2", "--case", "2.1", "--case", "5.1")
    assert result.returncode == 1
    assert "exited with status 3" in result.stdout and "cannot start" in result.stdout
    assert outcomes(result.stdout) == {"2.1": "FAIL", "5.1": "FAIL"}
    assert sys.executable  # (the kit ran with the suite's interpreter)
