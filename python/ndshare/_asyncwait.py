"""Threads that wait for rings on behalf of asyncio.

A ring wait may have no deadline, so it must not borrow the event loop's
default executor: a few waiting consumers would take all of its
``min(32, cpus + 4)`` threads, leaving the next waits (and the loop's own
work, its DNS lookups among them) queued behind waits that may never end;
and the interpreter joins that executor's threads at exit, so one wait left
pending would hold the exit forever. The threads here are daemons, one per
wait in progress; a thread whose wait is over takes the next wait that
comes within a second, and ends otherwise (a process with threads left
running gets a warning from ``os.fork`` on Python 3.12 and later).
"""

from __future__ import annotations

import asyncio
import os
import queue
import threading
from typing import Any, Callable, Optional, Tuple

__all__ = ["run_in_thread"]

# How long a thread whose wait is over stays for the next one, in seconds.
_LINGER = 1.0

_Job = Tuple["asyncio.AbstractEventLoop", "asyncio.Future[Any]", Callable[..., Any], Tuple[Any, ...]]


class _Threads:
    def __init__(self) -> None:
        self._jobs: queue.SimpleQueue[_Job] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._idle = 0

    def submit(
        self, loop: asyncio.AbstractEventLoop, fn: Callable[..., Any], args: Tuple[Any, ...]
    ) -> asyncio.Future[Any]:
        future: asyncio.Future[Any] = loop.create_future()
        job: _Job = (loop, future, fn, args)
        with self._lock:
            # `_idle` counts the threads waiting for a job less the jobs
            # queued: a job is queued only when an idle thread is claimed for
            # it, so none is left behind.
            if self._idle:
                self._idle -= 1
                self._jobs.put(job)
                return future
        # A new thread is handed its first job, not the queue: if it cannot
        # start, the caller gets the error and nothing stays queued.
        threading.Thread(target=self._work, args=(job,), name="ndshare-async-wait", daemon=True).start()
        return future

    def _work(self, job: Optional[_Job]) -> None:
        while job is not None:
            loop, future, fn, args = job
            try:
                _settle(loop, future, fn(*args), None)
            except BaseException as exc:  # handed to the awaiting task, as an executor does
                _settle(loop, future, None, exc)
            del job, loop, future, fn, args  # nothing is held while the thread lingers
            job = self._next_job()

    def _next_job(self) -> Optional[_Job]:
        """The next job of a thread whose job is done, or None when none
        comes within the linger time (the thread then ends)."""
        with self._lock:
            self._idle += 1
        while True:
            try:
                return self._jobs.get(timeout=_LINGER)
            except queue.Empty:
                with self._lock:
                    if self._jobs.empty():  # no job was claimed for this thread
                        self._idle -= 1
                        return None


def _settle(
    loop: asyncio.AbstractEventLoop, future: asyncio.Future[Any], result: Any, error: Optional[BaseException]
) -> None:
    def settle() -> None:
        if future.done():  # cancelled while the thread waited
            return
        if error is None:
            future.set_result(result)
        else:
            future.set_exception(error)

    try:
        loop.call_soon_threadsafe(settle)
    except RuntimeError:  # the loop is closed: nobody awaits the outcome
        pass


_threads = _Threads()


def _forget_threads() -> None:
    # A forked child has none of its parent's threads.
    global _threads
    _threads = _Threads()


os.register_at_fork(after_in_child=_forget_threads)


def run_in_thread(fn: Callable[..., Any], *args: Any) -> asyncio.Future[Any]:
    """Runs ``fn(*args)`` in a daemon thread of ndshare's and returns a
    future of the running loop that gets its outcome."""
    return _threads.submit(asyncio.get_running_loop(), fn, args)
