"""The mirror kit (``python3 -m tandem.conform --frontend``) against tandem's frontend.

tandem's frontend must pass every case of the frontend kit.  The build under
test is ``build/tandem-frontend``, or ``TANDEM_TEST_FRONTEND`` (``make
test-sanitize`` runs this module against its AddressSanitizer build, whose
reports fail that run).  Started with a request timeout it does not have, the
frontend must fail the case that waits for it: the kit notices what a
frontend does not do.  That the kit catches each broken rule, and a crash, is
shown against a toy frontend in ``test_mirror_catches.py``.

The kit starts and stops the frontend itself, on a free port and a socket in
its own temporary directory; each run has a bounded time.
"""

from __future__ import annotations

import os
import re
import subprocess

from e2e_support import BACKEND_PATH, FRONTEND, PYTHON

RUN_TIMEOUT = 300
LINE = re.compile(r"^(F\d+\.\d+)\s+(PASS|FAIL|SKIP)\s")


def mirror(*args: str, timeout: float = RUN_TIMEOUT) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=BACKEND_PATH)
    return subprocess.run([PYTHON, "-m", "tandem.conform", *args], capture_output=True, text=True, env=env,
                          timeout=timeout)


def outcomes(stdout: str) -> dict[str, str]:
    found = {}
    for line in stdout.splitlines():
        m = LINE.match(line)
        if m:
            found[m.group(1)] = m.group(2)
    return found


def frontend_command(*extra: str) -> str:
    return (f"{FRONTEND} --listen 127.0.0.1:{{port}} --backend-socket {{socket}} --log-level warn "
            + " ".join(extra))


def test_tandem_frontend_passes_every_case():
    result = mirror("--frontend", frontend_command("--request-timeout 2"), "--request-timeout", "2", "--verbose")
    assert result.returncode == 0, result.stdout + result.stderr
    listing = mirror("--frontend", "--list")
    assert listing.returncode == 0, listing.stderr
    ids = [line.split()[0] for line in listing.stdout.splitlines()]
    found = outcomes(result.stdout)
    assert list(found) == ids
    assert set(found.values()) == {"PASS"}, result.stdout
    assert result.stdout.splitlines()[-1] == f"{len(ids)} passed, 0 failed"
    assert "started again" not in result.stdout, result.stdout


def test_a_request_timeout_the_frontend_does_not_have_fails_its_case():
    # --request-timeout 0: tandem's frontend never times a request out; the kit, told 1 s, waits 1 + 1 s for the 504.
    result = mirror("--frontend", frontend_command("--request-timeout 0"), "--request-timeout", "1", "--timeout", "1",
                    "--case", "F5.3", "--case", "F2.2")
    assert outcomes(result.stdout) == {"F2.2": "PASS", "F5.3": "FAIL"}, result.stdout
    assert "no answer to GET /silence within 2s" in result.stdout
    assert result.returncode == 1


def test_a_frontend_without_a_request_timeout_skips_its_case():
    result = mirror("--frontend", frontend_command("--request-timeout 0"), "--request-timeout", "0",
                    "--case", "F5.3")
    assert outcomes(result.stdout) == {"F5.3": "SKIP"}, result.stdout
    assert result.stdout.splitlines()[-1] == "0 passed, 0 failed, 1 skipped"
    assert result.returncode == 0
