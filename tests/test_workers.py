"""``python3 -m tandem ... --workers N``: one parent, N backend processes of one
generation, restarted when they die and reloaded together on SIGHUP.

The processes are real and so are the signals; the load is keep-alive
clients asking GET /pid (``Hammer``), so every answer says which process gave it.
"""

from __future__ import annotations

import os
import signal

from e2e_support import Hammer, build_request, connect, marks_by_pid, pid_gone, read_statuses, wait_until

# An ASGI application whose lifespan startup fails while the file $BREAK_FILE exists.
LIFESPAN_APP = '''
import json, os

async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        await receive()
        if os.path.exists(os.environ["BREAK_FILE"]):
            await send({"type": "lifespan.startup.failed", "message": "broken on purpose"})
            return
        await send({"type": "lifespan.startup.complete"})
        await receive()
        await send({"type": "lifespan.shutdown.complete"})
        return
    body = json.dumps({"pid": os.getpid()}).encode()
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": body})
'''


def start_workers(st, n: int = 3, *extra: str, **kwargs):
    """The parent, once its n workers have attached; returns (parent, [(pid, generation)])."""
    parent = st.start_backend("--workers", str(n), *extra, **kwargs)
    wait_until(lambda: len(st.attached()) >= n or not parent.alive(), 20, f"{n} workers to attach")
    assert parent.alive(), parent.log(1_000_000)
    workers = st.attached()
    assert len(workers) == n and len({g for _, g in workers}) == 1, workers
    assert parent.pid not in {p for p, _ in workers}
    return parent, workers


def open_slow(port: int, n: int, tag: str, ms: int = 1500) -> list:
    socks = []
    for i in range(n):
        s = connect(port, timeout=30)
        s.sendall(build_request("GET", f"/delay/{ms}?tag={tag}&i={i}"))
        socks.append(s)
    return socks


def test_three_workers_share_the_load_and_a_killed_one_is_replaced(make_stack):
    st = make_stack()
    st.start_frontend()
    parent, workers = start_workers(st, 3)
    pids = {p for p, _ in workers}
    generation = workers[0][1]

    # Requests in flight at once are spread over the three.
    slow = open_slow(st.port, 12, "spread", ms=3000)
    wait_until(lambda: st.in_flight("spread") == 12, 20, "12 requests in the workers")
    assert set(marks_by_pid(st, "spread")) == pids
    assert read_statuses(slow) == [200] * 12

    victim = workers[0][0]
    with Hammer(st.port) as load:
        load.wait_for_more()
        os.kill(victim, signal.SIGKILL)
        wait_until(lambda: len(st.attached()) == 4, 20, "a replacement worker to attach")
        load.wait_for_more()
    assert not load.errors, load.errors
    assert load.statuses() == {200}
    replacement, gen = st.attached()[3]
    assert gen == generation and replacement not in pids
    assert load.pids() <= pids | {replacement}
    assert f"(pid {victim}) was killed by SIGKILL; starting another in" in parent.log(1_000_000)
    assert parent.alive() and not pid_gone(replacement)


def test_sighup_reloads_all_workers_under_load(make_stack):
    st = make_stack()
    st.start_frontend()
    parent, workers = start_workers(st, 3)
    old = {p for p, _ in workers}
    with Hammer(st.port) as load:
        load.wait_for_more()
        parent.popen.send_signal(signal.SIGHUP)
        wait_until(lambda: len(st.attached()) == 6, 20, "three new workers to attach")
        new_workers = st.attached()[3:]
        new = {p for p, _ in new_workers}
        wait_until(lambda: all(pid_gone(p) for p in old), 20, "the old workers to exit")
        load.wait_all_reach(new)
        load.wait_for_more()
    assert not load.errors, load.errors
    assert load.statuses() == {200}
    assert not new & old
    assert len({g for _, g in new_workers}) == 1 and new_workers[0][1] > workers[0][1]
    load.check_swap(old, new)
    assert parent.alive()
    log = parent.log(1_000_000)
    assert f"reload: generation {new_workers[0][1]} is serving" in log
    assert log.count("exited with status 0 (its generation has been replaced)") == 3


def test_a_reload_whose_lifespan_startup_fails_leaves_the_old_workers_serving(make_stack, tmp_path):
    app_dir = tmp_path / "app"
    app_dir.mkdir()
    (app_dir / "lifespan_app.py").write_text(LIFESPAN_APP)
    break_file = tmp_path / "broken"
    st = make_stack()
    st.start_frontend()
    parent, workers = start_workers(st, 2, "--lifespan", "on", app="lifespan_app:app", app_dir=str(app_dir),
                                    env={"BREAK_FILE": str(break_file)})
    old = {p for p, _ in workers}
    with Hammer(st.port) as load:
        load.wait_for_more()
        break_file.write_text("")
        parent.popen.send_signal(signal.SIGHUP)
        wait_until(lambda: "reload failed" in parent.log(1_000_000), 20, "the reload to fail")
        load.wait_for_more()
    assert not load.errors, load.errors
    assert load.statuses() == {200}
    assert load.pids() <= old
    log = parent.log(1_000_000)
    assert "broken on purpose" in log
    assert "cannot start: every worker exited before attaching to the frontend" in log
    assert "exited with status 3 before attaching" in log
    assert f"generation {workers[0][1]} keeps serving" in log
    assert parent.alive() and not any(pid_gone(p) for p in old)
    assert len(st.attached()) == 2

    # Fixed, the next SIGHUP goes through.
    break_file.unlink()
    parent.popen.send_signal(signal.SIGHUP)
    wait_until(lambda: len(st.attached()) == 4, 20, "the new workers to attach")
    wait_until(lambda: all(pid_gone(p) for p in old), 20, "the old workers to exit")


def test_a_generation_that_cannot_start_stops_the_parent(make_stack, tmp_path):
    app_dir = tmp_path / "app"
    app_dir.mkdir()
    (app_dir / "broken_app.py").write_text("raise RuntimeError('broken on purpose')\n")
    st = make_stack()
    st.start_frontend()
    parent = st.start_backend("--workers", "3", app="broken_app:app", app_dir=str(app_dir), wait=False)
    assert parent.popen.wait(30) == 1
    log = parent.log(1_000_000)
    assert "cannot start: every worker exited before attaching to the frontend" in log
    assert log.count("the application broken_app:app failed to load") == 3
    assert log.count(": started pid") == 3          # no restart loop


def test_sigterm_to_the_parent_drains_every_worker(make_stack):
    st = make_stack()
    st.start_frontend()
    parent, workers = start_workers(st, 3)
    slow = open_slow(st.port, 9, "wterm")
    wait_until(lambda: st.in_flight("wterm") == 9, 20, "9 requests in the workers")
    parent.popen.send_signal(signal.SIGTERM)
    assert read_statuses(slow) == [200] * 9
    assert parent.popen.wait(30) == 0
    log = parent.log(1_000_000)
    assert log.count("exited with status 0") == 3
    assert "all workers have exited" in log
    assert all(pid_gone(p) for p, _ in workers)
    # Each worker told the frontend it was going (GOAWAY), and was not just cut off.
    assert st.frontend.log(1_000_000).count(" is draining") == 3


def test_workers_leave_when_the_parent_is_killed(make_stack):
    st = make_stack()
    st.start_frontend()
    parent, workers = start_workers(st, 2)
    parent.popen.kill()
    parent.popen.wait(10)
    wait_until(lambda: all(pid_gone(p) for p, _ in workers), 20, "the workers to exit")
    assert parent.log(1_000_000).count("the --workers parent process is gone") == 2

