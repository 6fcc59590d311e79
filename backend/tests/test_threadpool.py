"""tandem.threadpool: the WSGI adapter's worker threads."""

from __future__ import annotations

import threading

import pytest

from tandem.threadpool import ThreadPool

GUARD = 10.0  # seconds: only a hung test waits this long


class Job:
    def __init__(self, gate: threading.Event | None = None, fail: bool = False) -> None:
        self.gate = gate
        self.fail = fail
        self.started = threading.Event()
        self.ran = threading.Event()
        self.dropped = False
        self.thread: str | None = None

    def run(self) -> None:
        self.thread = threading.current_thread().name
        self.started.set()
        if self.gate is not None:
            assert self.gate.wait(GUARD)
        self.ran.set()
        if self.fail:
            raise RuntimeError("a job's bug")

    def drop(self) -> None:
        self.dropped = True


def test_jobs_run_on_the_pools_threads() -> None:
    pool = ThreadPool(3, "t")
    jobs = [Job() for _ in range(20)]
    for job in jobs:
        pool.submit(job)
    for job in jobs:
        assert job.ran.wait(GUARD)
        assert job.thread is not None and job.thread.startswith("t_")
    assert len({job.thread for job in jobs}) <= 3
    pool.shutdown()
    assert not any(job.dropped for job in jobs)


def test_size_jobs_run_at_once() -> None:
    pool = ThreadPool(2)
    gate = threading.Event()
    a, b, c = Job(gate), Job(gate), Job()
    for job in (a, b, c):
        pool.submit(job)
    assert a.started.wait(GUARD) and b.started.wait(GUARD)
    assert not c.started.is_set()   # both threads are held by a and b
    gate.set()
    assert c.ran.wait(GUARD)
    pool.shutdown()


def test_shutdown_drops_what_has_not_started_and_waits_for_the_rest() -> None:
    pool = ThreadPool(1)
    gate = threading.Event()
    running, queued = Job(gate), Job()
    pool.submit(running)
    pool.submit(queued)
    assert running.started.wait(GUARD)
    stopper = threading.Thread(target=pool.shutdown)
    stopper.start()
    # shutdown() drops the queued job at once, then waits for the running one.
    for _ in range(1000):
        if queued.dropped:
            break
        threading.Event().wait(0.01)
    assert queued.dropped and not queued.started.is_set()
    assert stopper.is_alive()
    gate.set()
    stopper.join(GUARD)
    assert not stopper.is_alive() and running.ran.is_set()
    with pytest.raises(RuntimeError, match="shut down"):
        pool.submit(Job())


def test_a_job_that_raises_keeps_its_thread(caplog: pytest.LogCaptureFixture) -> None:
    pool = ThreadPool(1)
    bad, good = Job(fail=True), Job()
    pool.submit(bad)
    pool.submit(good)
    assert good.ran.wait(GUARD)
    assert bad.thread == good.thread
    pool.shutdown()
    assert "job raised" in caplog.text


def test_a_pool_needs_a_thread() -> None:
    with pytest.raises(ValueError):
        ThreadPool(0)
