"""Waiting on a ring costs nothing while nothing happens, and a death wakes
the waiter at once. Real processes: a waiter's threads are watched through
/proc (how many times each went to sleep) while it waits with no timeout,
and processes are killed while others wait with no timeout, so that only the
death can end the wait (the test's own timeout is the guard)."""

from __future__ import annotations

import asyncio
import multiprocessing as mp
import os
import platform
import signal
import threading
from typing import Any, Dict, List

import numpy as np
import pytest
import ring_workers as rw
from _procfs import blocked_in, thread_name, threads_of, voluntary_switches, wait_until

import ndshare

#: The system calls a waiter sleeps in (futex, futex_waitv), by machine.
FUTEX_WAITS = {"x86_64": {202, 449}, "aarch64": {98, 449}}.get(platform.machine())

#: How long an idle waiter is watched.
IDLE_SECONDS = 3.0

pytestmark = pytest.mark.skipif(FUTEX_WAITS is None, reason="system call numbers known for x86_64 and aarch64")


def _waiter(pid: int) -> int:
    """The thread of `pid` that waits on the ring: the main thread, or the
    one other thread than the death watch (an executor's)."""
    others = [t for t in threads_of(pid) if t != pid and thread_name(pid, t) != "ndshare-watch"]
    return others[0] if len(others) == 1 else pid


def _asleep(pid: int) -> Dict[int, int]:
    """Waits until every thread of `pid` sleeps in a system call, the ring's
    waiter in a futex wait; then how many times each has gone to sleep."""

    def settled() -> bool:
        try:
            tids = threads_of(pid)
            waiter = _waiter(pid)
            return blocked_in(pid, waiter) in (FUTEX_WAITS or set()) and all(
                blocked_in(pid, t) is not None for t in tids
            )
        except OSError:
            return False

    assert wait_until(settled, timeout=60), "the waiter never went to sleep"
    return {t: voluntary_switches(pid, t) for t in threads_of(pid)}


def _watch_idle(pid: int) -> None:
    """The process sleeps on for IDLE_SECONDS without one thread waking."""
    before = _asleep(pid)
    threading.Event().wait(IDLE_SECONDS)
    after = {t: voluntary_switches(pid, t) for t in threads_of(pid)}
    woke = {t: after.get(t, n) - n for t, n in before.items()}
    names = {t: thread_name(pid, t) for t in after}
    assert set(after) == set(before) and all(n == 0 for n in woke.values()), (
        f"wake-ups per thread over {IDLE_SECONDS} s: {woke} ({names})"
    )


def test_a_consumer_waiting_on_an_empty_ring_does_not_wake() -> None:
    ring = ndshare.Ring(4, "f4", 2)
    out = mp.get_context("fork").Queue()
    ready = mp.get_context("fork").Event()
    p = mp.get_context("fork").Process(target=rw.get_forever, args=(ring, ready, out), daemon=True)
    p.start()
    assert ready.wait(60)
    _watch_idle(p.pid)
    ring.put(np.arange(4))
    assert out.get() == [0.0, 1.0, 2.0, 3.0]
    p.join()
    assert p.exitcode == 0


def test_a_producer_waiting_on_a_full_ring_does_not_wake() -> None:
    ctx = mp.get_context("fork")
    ring = ndshare.Ring(3, "i2", 2)
    out, ready = ctx.Queue(), ctx.Event()
    p = ctx.Process(target=rw.put_forever, args=(ring, 2, ready, out), daemon=True)
    p.start()
    assert ready.wait(60)
    _watch_idle(p.pid)
    with ring.get(timeout=5) as a:
        assert a.tolist() == [0, 0, 0]
    assert out.get()["put"] == 3
    p.join()
    assert p.exitcode == 0
    assert [int(a[0]) for a in _drain(ring)] == [1, 99]


def _drain(ring: ndshare.Ring) -> Any:
    ring.close()
    return list(ring)


def test_get_async_waits_without_waking() -> None:
    ctx = mp.get_context("fork")
    ring = ndshare.Ring(2, "i8", 2)
    out, ready = ctx.Queue(), ctx.Event()
    p = ctx.Process(target=rw.get_async_forever, args=(ring, ready, out), daemon=True)
    p.start()
    assert ready.wait(60)
    _watch_idle(p.pid)
    ring.put(np.array([5, 6]))
    assert out.get() == [5, 6]
    p.join()
    assert p.exitcode == 0


def _kill(p: Any) -> None:
    os.kill(p.pid, signal.SIGKILL)
    p.join()
    assert p.exitcode == -signal.SIGKILL


@pytest.mark.timeout(60)
@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_a_producer_killed_ends_the_stream_for_a_consumer_waiting_forever(method: str) -> None:
    ctx = mp.get_context(method)
    ring = ndshare.Ring(3, "i2", 4)
    ready, out = ctx.Event(), ctx.Queue()
    producer = ctx.Process(target=rw.put_then_sleep, args=(ring, ready), daemon=True)
    producer.start()
    assert ready.wait(60)
    ready = ctx.Event()
    consumer = ctx.Process(target=rw.drain_forever, args=(ring, ready, out), daemon=True)
    consumer.start()
    assert ready.wait(60)
    _watch_idle(consumer.pid)  # it took the item and sleeps, with no timeout
    _kill(producer)
    taken, reason = out.get()  # only the producer's death can end this wait
    consumer.join()
    assert consumer.exitcode == 0
    assert taken == 1
    assert "exited without closing" in reason
    assert ring.stats()["producers"] == 0


@pytest.mark.timeout(60)
@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_a_consumer_killed_holding_an_item_lets_a_producer_waiting_forever_go_on(method: str) -> None:
    ctx = mp.get_context(method)
    ring = ndshare.Ring(16, "u1", 2)
    ring.put(np.full(16, 7, "u1"))
    ready = ctx.Event()
    holder = ctx.Process(target=rw.take_and_hold, args=(ring, ready), daemon=True)
    holder.start()
    assert ready.wait(60)
    ready, out = ctx.Event(), ctx.Queue()
    producer = ctx.Process(target=rw.put_forever, args=(ring, 1, ready, out), daemon=True)
    producer.start()
    # It puts one item (the free slot), then waits for the held one.
    assert ready.wait(60)
    _watch_idle(producer.pid)
    _kill(holder)
    stats = out.get()  # only the holder's death can end this wait
    producer.join()
    assert producer.exitcode == 0
    assert (stats["lost"], stats["put"]) == (1, 3)
    assert [int(a[0]) for a in _drain(ring)] == [0, 99]


def test_a_cancelled_get_async_gives_its_thread_back() -> None:
    """Once a wait on an empty ring is cancelled, its thread leaves the
    ring's futex and, with no other wait to take, ends (it would wait for
    ever for an item otherwise)."""
    ring = ndshare.Ring(2, "i4", 2)

    async def main() -> None:
        waiting = asyncio.ensure_future(ring.get_async())
        while not _async_thread_waits():
            await asyncio.sleep(0.01)
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting

    asyncio.run(main())
    assert wait_until(lambda: not _async_threads(), timeout=30), "the waiting thread never ended"


def _async_threads() -> List[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "ndshare-async-wait"]


def _async_thread_waits() -> bool:
    """Whether a thread of ndshare's asyncio waits sleeps in a futex wait."""
    for t in _async_threads():
        try:
            if t.native_id is not None and blocked_in(os.getpid(), t.native_id) in (FUTEX_WAITS or set()):
                return True
        except OSError:  # the thread ended meanwhile
            pass
    return False


def test_a_loop_closed_while_get_async_waits_shuts_down() -> None:
    """asyncio.run cancels a task still waiting when its main coroutine
    returns: the thread that waited for it ends."""
    ring = ndshare.Ring(2, "i4", 2)

    async def main() -> None:
        asyncio.ensure_future(ring.get_async())
        while not _async_thread_waits():
            await asyncio.sleep(0.01)

    asyncio.run(main())
    assert wait_until(lambda: not _async_threads(), timeout=30), "the waiting thread never ended"
