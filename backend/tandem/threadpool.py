"""The worker threads the WSGI adapter runs applications in.

``ThreadPool(size)`` runs each job handed to ``submit()`` on one of ``size``
threads, in the order they came.  A job is an object with ``run()`` and
``drop()``: ``run()`` is called on a worker thread, and must report its outcome
itself (the WSGI exchange settles a future on the event loop); ``drop()`` is
called instead, on the thread that calls ``shutdown()``, for a job that never
ran.

It does less than ``concurrent.futures.ThreadPoolExecutor`` and is cheaper for
it: a job costs one ``SimpleQueue.put()`` and one ``get()``, where the executor
makes a Future with its Condition, a work item and a semaphore round for every
call, and runs done callbacks under a lock.  The threads start with the first
job, all of them (as a gunicorn gthread worker or uWSGI starts its threads), and
wait on the queue; nothing is polled.

Calls nothing else of tandem.
"""

from __future__ import annotations

import logging
import queue
import threading
from typing import Optional, Protocol

logger = logging.getLogger("tandem.wsgi")


class Job(Protocol):
    def run(self) -> None: ...

    def drop(self) -> None: ...


class ThreadPool:
    def __init__(self, size: int, name: str = "tandem-wsgi") -> None:
        if size < 1:
            raise ValueError(f"a thread pool needs at least one thread, not {size}")
        self.size = size
        self.name = name
        self._jobs: queue.SimpleQueue[Optional[Job]] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()   # guards _threads, _closed and the puts
        self._closed = False

    def __repr__(self) -> str:
        return f"<ThreadPool {self.name} {len(self._threads)}/{self.size} threads>"

    def submit(self, job: Job) -> None:
        """Queue ``job`` for the next free thread; RuntimeError after shutdown()."""
        with self._lock:
            # Under the lock, so that no job is queued behind shutdown()'s
            # ends of the threads, where it would neither run nor be dropped.
            if self._closed:
                raise RuntimeError("the WSGI thread pool was shut down")
            if not self._threads:
                self._start()
            self._jobs.put(job)

    def _start(self) -> None:
        for i in range(self.size):
            thread = threading.Thread(target=self._work, name=f"{self.name}_{i}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def _work(self) -> None:
        get = self._jobs.get
        while True:
            job = get()
            if job is None:
                return
            try:
                job.run()
            except BaseException:
                # run() reports its own outcome; what escapes it is a bug, and
                # must not cost the pool a thread.
                logger.exception("a WSGI worker thread's job raised")

    def shutdown(self, wait: bool = True) -> None:
        """Stop: jobs not yet started are dropped, and the threads end once their job has.

        With ``wait``, returns when every thread has ended.
        """
        with self._lock:
            self._closed = True
            threads = list(self._threads)
        while True:
            try:
                job = self._jobs.get_nowait()
            except queue.Empty:
                break
            if job is not None:
                job.drop()
        for _ in threads:
            self._jobs.put(None)
        if wait:
            for thread in threads:
                thread.join()
