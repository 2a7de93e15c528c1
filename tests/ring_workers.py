"""Functions that run in the ring tests' worker processes (importable under
spawn and forkserver)."""

from __future__ import annotations

import asyncio
import signal
import time
from typing import Any, List, Tuple

import numpy as np

import ndshare


def produce_keys(ring: ndshare.Ring, producer: int, count: int) -> None:
    """Puts items (producer, i) for i in range(count)."""
    item = np.empty(2, dtype="i8")
    item[0] = producer
    for i in range(count):
        item[1] = i
        ring.put(item, timeout=60)


def consume_keys(ring: ndshare.Ring, out: Any) -> None:
    """Takes items until the stream ends; sends back the keys seen."""
    keys: List[int] = []
    for item in ring:
        keys.append(int(item[0]) << 32 | int(item[1]))
    out.put(np.array(keys, dtype="i8"))


def produce_sequence(ring: ndshare.Ring, count: int, close: bool) -> None:
    """Puts items filled with 0, 1, ..., count - 1 in place, then closes."""
    for i in range(count):
        with ring.put(timeout=60) as slot:
            slot[...] = i
    if close:
        ring.close()


def read_all(sub: ndshare.Ring, out: Any) -> None:
    """Reads every item of a subscription: (first element, missed) each."""
    seen: List[Tuple[int, int]] = []
    while True:
        try:
            item = sub.get(timeout=60)
        except ndshare.RingClosed:
            break
        with item as a:
            seen.append((int(a.flat[0]), item.missed))
    out.put(seen)


def take_and_hold(ring: ndshare.Ring, ready: Any) -> None:
    """Takes one item and holds it until killed."""
    item = ring.get(timeout=60)
    ready.set()
    time.sleep(120)
    item.release()


def wait_for_item(ring: ndshare.Ring, ready: Any) -> None:
    """Says it is ready and waits for an item of the queue, until killed."""
    ready.set()
    ring.get(timeout=120)


def subscribe_and_sleep(ring: ndshare.Ring, ready: Any) -> None:
    """A subscriber that reads nothing: it holds producers back until killed."""
    sub = ring.subscribe()
    ready.set()
    time.sleep(120)
    sub.unsubscribe()


def claim_and_hold(ring: ndshare.Ring, ready: Any) -> None:
    """Claims a slot and never commits it, until killed."""
    slot = ring.put(timeout=60)
    ready.set()
    time.sleep(120)
    assert slot is not None
    slot.commit()


def fill_then_block(ring: ndshare.Ring, ready: Any) -> None:
    """Fills the ring, says so, then blocks on one more put until killed."""
    for i in range(ring.capacity):
        ring.put(np.full(ring.shape, i, dtype=ring.dtype), timeout=60)
    ready.set()
    ring.put(np.zeros(ring.shape, dtype=ring.dtype), timeout=120)


def _join(ring: ndshare.Ring) -> None:
    """A first call that returns at once: the ring's first call in a process
    starts its death watch, so that the next wait is the only sleep left."""
    try:
        ring.get(timeout=0).release()
        raise RuntimeError("the ring was expected to be empty")
    except TimeoutError:
        pass


def get_forever(ring: ndshare.Ring, ready: Any, out: Any) -> None:
    """Says it is ready, then waits for an item with no timeout; sends it back."""
    _join(ring)
    ready.set()
    with ring.get() as a:
        out.put(a.tolist())


def put_forever(ring: ndshare.Ring, first: int, ready: Any, out: Any) -> None:
    """Puts `first` items (0, 1, ...), says so, then waits for room with no
    timeout for one more (99); sends back the ring's counters once it is in."""
    for i in range(first):
        ring.put(np.full(ring.shape, i, dtype=ring.dtype), timeout=60)
    ready.set()
    ring.put(np.full(ring.shape, 99, dtype=ring.dtype))
    out.put(ring.stats())


def get_async_forever(ring: ndshare.Ring, ready: Any, out: Any) -> None:
    """`await ring.get_async()` with no timeout, in a fresh event loop."""

    async def main() -> None:
        _join(ring)
        ready.set()
        with await ring.get_async() as a:
            out.put(a.tolist())

    asyncio.run(main())


def put_then_sleep(ring: ndshare.Ring, ready: Any) -> None:
    """A producer that put one item and lives on without closing the ring,
    until killed."""
    ring.put(np.ones(ring.shape, dtype=ring.dtype), timeout=60)
    ready.set()
    time.sleep(120)


def drain_forever(ring: ndshare.Ring, ready: Any, out: Any) -> None:
    """Takes items with no timeout until the stream ends; sends back how
    many it took and why the stream ended. Ready once it took the first."""
    n = 0
    while True:
        try:
            item = ring.get()
        except ndshare.RingClosed as e:
            out.put((n, e.reason))
            return
        item.release()
        n += 1
        ready.set()


def round_trip(ring: ndshare.Ring, back: ndshare.Ring) -> None:
    """Copies every item of `ring` into `back` (another dtype's test)."""
    while True:
        try:
            item = ring.get(timeout=60)
        except ndshare.RingClosed:
            break
        with item as a:
            back.put(a, timeout=60)
    back.close()


def batch_worker(args: Tuple[ndshare.Ring, int, int]) -> int:
    """A DataLoader-like worker: puts `n` batches filled with `worker`."""
    ring, worker, n = args
    for _ in range(n):
        with ring.put(timeout=60) as batch:
            batch[...] = worker
    return worker


def ignore_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
