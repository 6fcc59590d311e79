"""SIGHUP to a single backend (no --workers): it starts a fresh, detached copy of
itself with a newer generation and serves until the frontend has the copy.

The copies are not children of the test (they are detached); each test finds
them in the frontend's log and stops them at the end.
"""

from __future__ import annotations

import os
import shutil
import signal

import pytest

from e2e_support import APPS_DIR, Hammer, pid_gone, request, stop_pid, wait_until


@pytest.fixture
def copies():
    """pids of detached copies to stop at the end of the test."""
    pids: list[int] = []
    yield pids
    for pid in pids:
        stop_pid(pid)


def newer_than(st, generation: int) -> list[tuple[int, int]]:
    return [(p, g) for p, g in st.attached() if g > generation]


def test_sighup_swaps_a_single_backend_under_load(make_stack, copies):
    st = make_stack()
    st.start_frontend()
    old = st.start_backend()
    [(_, generation)] = st.attached()
    with Hammer(st.port) as load:
        load.wait_for_more()
        old.popen.send_signal(signal.SIGHUP)
        wait_until(lambda: newer_than(st, generation), 20, "the copy to attach")
        copies.append(newer_than(st, generation)[0][0])
        assert old.popen.wait(30) == 0
        load.wait_all_reach({copies[0]})
        load.wait_for_more()
    assert not load.errors, load.errors
    assert load.statuses() == {200}
    [(new, new_generation)] = newer_than(st, generation)
    load.check_swap({old.pid}, {new})
    log = old.log(1_000_000)
    assert f"SIGHUP: reloading: started pid {new} with generation {new_generation}" in log
    assert "superseded" in log
    assert not pid_gone(new)

    # The copy reloads the same way (its own --generation and --ready-fd are replaced, not repeated).
    os.kill(new, signal.SIGHUP)
    wait_until(lambda: newer_than(st, new_generation), 20, "the copy's copy to attach")
    [(third, _)] = newer_than(st, new_generation)
    copies.append(third)
    wait_until(lambda: pid_gone(new), 20, "the first copy to exit")
    assert request(st.port, "GET", "/pid").body == f'{{"pid":{third}}}'.encode()


def test_a_reload_that_cannot_import_the_app_leaves_the_backend_serving(make_stack, copies, tmp_path):
    app_dir = tmp_path / "app"
    shutil.copytree(APPS_DIR, app_dir)
    module = app_dir / "swapme.py"
    shutil.copy(app_dir / "e2e_app.py", module)
    good = module.read_text()
    st = make_stack()
    st.start_frontend()
    old = st.start_backend(app="swapme:app", app_dir=str(app_dir))
    [(_, generation)] = st.attached()
    with Hammer(st.port) as load:
        load.wait_for_more()
        module.write_text(good + "\nraise RuntimeError('broken on purpose')\n")
        old.popen.send_signal(signal.SIGHUP)
        wait_until(lambda: "reload failed" in old.log(1_000_000), 20, "the reload to fail")
        load.wait_for_more()
    assert not load.errors, load.errors
    assert load.statuses() == {200}
    assert load.pids() == {old.pid}
    log = old.log(1_000_000)
    assert "the application swapme:app failed to load" in log and "broken on purpose" in log
    assert "exited with status 1 before attaching to the frontend" in log
    assert f"this process keeps serving generation {generation}" in log
    assert old.alive() and st.attached() == [(old.pid, generation)]

    # Fixed, the next SIGHUP goes through.
    module.write_text(good)
    old.popen.send_signal(signal.SIGHUP)
    wait_until(lambda: newer_than(st, generation), 20, "the copy to attach")
    copies.append(newer_than(st, generation)[0][0])
    assert old.popen.wait(30) == 0


def test_sigterm_during_a_reload_stops_the_copy_too(make_stack, copies, tmp_path):
    """A copy that has not attached yet serves nothing: stopping the backend stops it too."""
    app_dir = tmp_path / "app"
    shutil.copytree(APPS_DIR, app_dir)
    module = app_dir / "slowstart.py"
    shutil.copy(app_dir / "e2e_app.py", module)
    good = module.read_text()
    st = make_stack()
    st.start_frontend()
    old = st.start_backend(app="slowstart:app", app_dir=str(app_dir))
    # The next import waits for a file that never appears (bounded by a guard).
    flag = tmp_path / "never"
    module.write_text("import os, time\n"
                      "deadline = time.monotonic() + 60\n"
                      f"while not os.path.exists({str(flag)!r}) and time.monotonic() < deadline:\n"
                      "    time.sleep(0.01)\n" + good)
    old.popen.send_signal(signal.SIGHUP)
    wait_until(lambda: "SIGHUP: reloading: started pid" in old.log(1_000_000), 20, "the copy to start")
    log = old.log(1_000_000)
    copy = int(log.split("SIGHUP: reloading: started pid ")[1].split()[0])
    copies.append(copy)
    old.popen.send_signal(signal.SIGTERM)
    assert old.popen.wait(30) == 0
    wait_until(lambda: pid_gone(copy), 20, "the copy to be stopped")
    assert "stopping the reload in progress too" in old.log(1_000_000)
