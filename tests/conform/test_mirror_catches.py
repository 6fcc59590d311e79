"""The mirror kit catches what a frontend does wrong: run against a toy frontend that breaks one rule at a time.

``broken_frontend.py`` is a frontend written from PROTOCOL.md alone with raw
sockets and msgpack.  It serves the kit's cases listed in ``SERVED`` (it has
no static files, FILE responses, HTTP/1.0 niceties or request body streaming,
so the kit's other cases are not run against it), and passes each of them
until one of its rules is broken; then the kit must fail the cases for that
rule (``BREAKS``: the cases that must fail) and pass every other one.  A
toy that aborts on a malformed frame fails that case, with the signal, and is
started again for the next.  Runs go without the request timeout (the kit is
told so and skips F5.3) unless the rule is about it, so that no bystander
waits on a clock.

Every process is the kit's own child, stopped by the kit even when a case
fails; each run has a bounded time.
"""

from __future__ import annotations

import os
import re
import subprocess

import pytest

from e2e_support import BACKEND_PATH, PYTHON

HERE = os.path.dirname(os.path.abspath(__file__))
BROKEN = os.path.join(HERE, "broken_frontend.py")
RUN_TIMEOUT = 300
LINE = re.compile(r"^(F\d+\.\d+)\s+(PASS|FAIL|SKIP)\s")

SERVED = ["F1", "F2.1", "F2.2", "F2.3", "F2.4", "F2.5", "F2.11", "F2.12", "F3", "F4.1", "F4.2", "F4.3", "F4.4", "F4.6", "F5",
          "F6"]
HANDSHAKE_ERRORS = {"F1.2", "F1.3", "F1.4", "F1.5", "F1.6", "F1.7"}
CONNECTION_ERRORS = {"F3.1", "F3.2", "F3.3", "F3.4", "F3.5", "F3.6", "F3.7", "F3.8"}

# --break RULE: the cases that must fail (and no other may)
BREAKS = {
    "no-request-id": {"F2.12"},
    "no-goaway": HANDSHAKE_ERRORS | CONNECTION_ERRORS,
    "wrong-goaway-code": {"F1.2", "F1.7", "F3.5", "F3.6"},
    "frame-after-goaway": HANDSHAKE_ERRORS | CONNECTION_ERRORS,
    "accept-any-version": {"F1.2"},
    "no-frame-limit": {"F1.7", "F3.5"},
    "ignore-window": {"F3.6"},
    "close-everything-on-error": HANDSHAKE_ERRORS | CONNECTION_ERRORS,
    "close-client-on-backend-loss": CONNECTION_ERRORS | {"F6.1", "F6.5"},
    "resend-unsafe": CONNECTION_ERRORS - {"F3.7", "F3.8"} | {"F6.1"},   # there the other backend has no room
    "no-resend": {"F6.3"},
    "ignore-max-streams": {"F2.5", "F6.4", "F6.5"},
    "no-cancel-on-stream-error": {"F4.1", "F4.2", "F4.3", "F4.4"},
    "pass-invalid-status": {"F4.3"},
    "pass-bad-headers": {"F4.4"},
    "end-cut-response": {"F4.2", "F4.6", "F6.2"},
    "no-timeout-cancel": {"F5.3"},
    "cancelled-is-error": {"F5.1"},
    "request-after-drain": {"F6.4", "F6.6"},
    "crash-on-garbage": {"F3.1", "F3.7", "F3.8"},
    "no-window-grants": {"F2.4"},
    "request-beyond-window": {"F2.3"},
    "raw-path": {"F2.1"},
    "cut-frame-for-goaway": {"F3.7"},
    "ignore-generations": {"F6.6"},
    "strict-element-count": {"F1.8"},
    "accept-trailing-bytes": {"F3.8"},
}
TIMED = {"no-timeout-cancel"}     # rules about the request timeout: the toy gets one, and the kit waits for it


def mirror(*args: str, timeout: float = RUN_TIMEOUT) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=BACKEND_PATH)
    return subprocess.run([PYTHON, "-m", "tandem.conform", *args], capture_output=True, text=True, env=env,
                          timeout=timeout)


def outcomes(stdout: str) -> dict[str, str]:
    return {m.group(1): m.group(2) for m in map(LINE.match, stdout.splitlines()) if m}


def broken(*breaks: str, request_timeout: int = 0, cases: list[str] = SERVED) -> list[str]:
    """The kit's arguments for the toy frontend with these rules broken, and the cases it serves."""
    command = (f"{PYTHON} {BROKEN} --listen 127.0.0.1:{{port}} --backend-socket {{socket}} "
               f"--request-timeout {request_timeout}" + "".join(f" --break {b}" for b in breaks))
    return ["--frontend", command, "--request-timeout", str(request_timeout)] + [a for c in cases
                                                                                  for a in ("--case", c)]


def served_ids() -> list[str]:
    listing = mirror("--frontend", "--list", *[a for c in SERVED for a in ("--case", c)])
    assert listing.returncode == 0, listing.stderr
    return [line.split()[0] for line in listing.stdout.splitlines()]


def test_the_broken_frontend_keeps_every_rule_unless_told():
    result = mirror(*broken(request_timeout=2))
    assert result.returncode == 0, result.stdout + result.stderr
    found = outcomes(result.stdout)
    assert list(found) == served_ids()
    assert set(found.values()) == {"PASS"}, result.stdout


def test_every_break_of_the_broken_frontend_is_tested():
    help_text = subprocess.run([PYTHON, BROKEN, "--help"], capture_output=True, text=True, timeout=60).stdout
    offered = set(re.search(r"--break \{([^}]*)\}", help_text).group(1).split(","))
    assert offered == set(BREAKS)


@pytest.mark.parametrize("rule", sorted(BREAKS))
def test_the_kit_catches_each_broken_rule(rule):
    timed = rule in TIMED
    result = mirror(*broken(rule, request_timeout=1 if timed else 0), "--timeout", "1", "--connect-timeout", "5")
    found = outcomes(result.stdout)
    failed = {case for case, status in found.items() if status == "FAIL"}
    assert failed == BREAKS[rule], f"--break {rule}:\n{result.stdout}"
    assert result.returncode == 1
    skipped = 0 if timed else 1         # F5.3, without a request timeout
    assert result.stdout.splitlines()[-1] == (f"{len(found) - len(failed) - skipped} passed, {len(failed)} failed"
                                              + (f", {skipped} skipped" if skipped else ""))


def test_a_crash_fails_its_case_and_the_frontend_is_started_again():
    result = mirror(*broken("crash-on-garbage", cases=["F3.1", "F3.2", "F2.2"]), "--verbose")
    lines = result.stdout.splitlines()
    assert outcomes(result.stdout) == {"F2.2": "PASS", "F3.1": "FAIL", "F3.2": "PASS"}, result.stdout
    assert "the frontend was killed by SIGABRT during the case (a crash is the worst outcome" in result.stdout
    assert "(the frontend was started again 1 times)" in lines
    assert any(re.match(r"\s+000000  00 00 00 ", line) for line in lines), result.stdout   # a hex dump
    assert lines[-1] == "2 passed, 1 failed"


def test_list_case_selection_and_usage():
    listing = mirror("--frontend", "--list", "--verbose")
    assert listing.returncode == 0
    assert re.search(r"^F3\.5\s+oversized frame refused from its length  \[§1, §5\]$", listing.stdout, re.M)
    assert "detected from the 4 length bytes" in " ".join(listing.stdout.split())
    assert served_ids()[7:10] == ["F1.8", "F1.9", "F2.1"]
    assert mirror("--frontend", "--list", "--case", "7.1").returncode == 2       # a backend case
    assert mirror("--frontend").returncode == 2                                  # no command, no --list
    assert mirror("--frontend", "x --listen {port}").returncode == 2             # no {socket}
    assert mirror("--frontend", "x {port} {socket}", "--backend", "y").returncode == 2


def test_a_frontend_that_cannot_start_fails_clearly():
    result = mirror("--frontend", f"{PYTHON} -c 'import sys; print(\"cannot start\"); sys.exit(3)' {{port}} {{socket}}",
                    "--connect-timeout", "2", "--case", "F2.1", "--case", "F2.2")
    assert result.returncode == 1
    assert outcomes(result.stdout) == {"F2.1": "FAIL", "F2.2": "FAIL"}
    assert "exited with status 3 before it listened" in result.stdout and "cannot start" in result.stdout
