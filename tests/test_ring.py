"""Rings between real processes: order, exactly-once delivery, broadcast,
overwrite counts, processes killed at every step, pickling, asyncio, Ctrl-C,
dtypes. Every wait has a timeout, so a wedged ring fails instead of hanging."""

from __future__ import annotations

import asyncio
import json
import multiprocessing as mp
import os
import pickle
import signal
import subprocess
import sys
import threading
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any, Callable, List

import numpy as np
import pytest
import ring_workers as rw
from _procfs import wait_until

import ndshare

KILL_METHODS = ["fork", "spawn", "forkserver"]


def test_items_arrive_in_order_and_iteration_ends_at_close(ctx: mp.context.BaseContext) -> None:
    ring = ndshare.Ring((3, 4), "f8", 4)
    p = ctx.Process(target=rw.produce_sequence, args=(ring, 500, True))
    p.start()
    seen = []
    for item in ring:
        assert item.shape == (3, 4) and item.dtype == np.float64
        assert (item == item.flat[0]).all()
        seen.append(int(item.flat[0]))
    p.join(60)
    assert p.exitcode == 0
    assert seen == list(range(500))
    assert ring.stats()["put"] == ring.stats()["got"] == 500
    with pytest.raises(ndshare.RingClosed, match="closed"):
        ring.get(timeout=1)
    with pytest.raises(ndshare.RingClosed):
        ring.put(np.zeros((3, 4)))


def test_queue_gives_every_item_to_exactly_one_consumer() -> None:
    """4 producers x 4 consumers, 100,000 items: none lost, none twice."""
    ctx = mp.get_context("fork")
    producers, consumers, per = 4, 4, 25_000
    ring = ndshare.Ring(2, "i8", 64)
    out = ctx.Queue()
    cons = [ctx.Process(target=rw.consume_keys, args=(ring, out)) for _ in range(consumers)]
    prods = [ctx.Process(target=rw.produce_keys, args=(ring, i, per)) for i in range(producers)]
    for p in cons + prods:
        p.start()
    for p in prods:
        p.join(120)
        assert p.exitcode == 0
    ring.close()
    keys = np.concatenate([out.get(timeout=120) for _ in cons])
    for p in cons:
        p.join(60)
        assert p.exitcode == 0
    expected = np.array([i << 32 | j for i in range(producers) for j in range(per)], dtype="i8")
    assert len(keys) == producers * per
    np.testing.assert_array_equal(np.sort(keys), expected)
    assert ring.stats()["got"] == producers * per


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_broadcast_gives_every_subscriber_every_item(method: str) -> None:
    ctx = mp.get_context(method)
    ring = ndshare.Ring((8,), "u4", 4, mode="broadcast")
    out = ctx.Queue()
    readers = [ctx.Process(target=rw.read_all, args=(ring.subscribe(), out)) for _ in range(3)]
    for r in readers:
        r.start()
    rw.produce_sequence(ring, 300, close=True)
    results = [out.get(timeout=120) for _ in readers]
    for r in readers:
        r.join(60)
        assert r.exitcode == 0
    for seen in results:
        assert seen == [(i, 0) for i in range(300)]
    assert ring.stats()["got"] == 900 and ring.stats()["dropped"] == 0


def test_overwrite_counts_exactly_what_was_missed(ctx: mp.context.BaseContext) -> None:
    ring = ndshare.Ring((), "i8", 8, mode="overwrite")
    sub = ring.subscribe()
    # The producer never waits for the subscriber, which reads nothing yet.
    p = ctx.Process(target=rw.produce_sequence, args=(ring, 100, True))
    p.start()
    p.join(60)
    assert p.exitcode == 0
    seen = [(int(a), i.missed) for i in _items(sub) for a in [i.array]]
    assert seen == [(92, 92)] + [(v, 0) for v in range(93, 100)]
    assert ring.stats()["dropped"] == 92


def _read_and_acknowledge(ring: ndshare.Ring, count: int, conn: Any) -> None:
    """Takes ``count`` items; after releasing each one, sends its first value
    and the address of its memory, which the producer waits for."""
    for _ in range(count):
        item = ring.get(timeout=60)
        seen = (int(item.array[0]), item.array.__array_interface__["data"][0])
        item.release()
        conn.send(seen)


@pytest.mark.parametrize("mode", ["queue", "broadcast", "overwrite"])
def test_a_consumer_that_keeps_up_gets_every_item_in_the_same_memory(mode: str) -> None:
    """Each put reuses the slot memory released last (which is in the
    cache), not the next of the ring's 8: a stream whose consumer releases
    each item before the next put goes through one buffer."""
    ctx = mp.get_context("fork")
    ring = ndshare.Ring(4096, "u1", 8, mode=mode)
    reader = ring if mode == "queue" else ring.subscribe()
    mine, theirs = ctx.Pipe()
    p = ctx.Process(target=_read_and_acknowledge, args=(reader, 24, theirs))
    p.start()
    seen = []
    for i in range(24):
        ring.put(np.full(4096, i, "u1"), timeout=60)
        assert mine.poll(60), "the consumer never answered"
        seen.append(mine.recv())
    p.join(60)
    assert p.exitcode == 0
    assert [v for v, _ in seen] == list(range(24))
    assert len({address for _, address in seen}) == 1, seen


def _items(ring: ndshare.Ring) -> List[ndshare.RingItem]:
    out = []
    while True:
        try:
            item = ring.get(timeout=10)
        except ndshare.RingClosed:
            return out
        out.append(item)
        item.array = item.array.copy()
        item.release()


def _start(ctx: mp.context.BaseContext, target: Callable[..., None], ring: ndshare.Ring) -> Any:
    ready = ctx.Event()
    p = ctx.Process(target=target, args=(ring, ready))
    p.start()
    assert ready.wait(60), "the child never got ready"
    return p


def _kill(p: Any) -> None:
    os.kill(p.pid, signal.SIGKILL)
    p.join(30)
    assert p.exitcode == -signal.SIGKILL


@pytest.mark.parametrize("method", KILL_METHODS)
def test_consumer_killed_holding_an_item_gives_its_slot_back(method: str) -> None:
    ctx = mp.get_context(method)
    ring = ndshare.Ring(16, "u1", 2)
    ring.put(np.full(16, 7, "u1"))
    p = _start(ctx, rw.take_and_hold, ring)
    ring.put(np.full(16, 8, "u1"))
    with pytest.raises(TimeoutError):
        ring.put(np.zeros(16, "u1"), timeout=0.2)  # the held slot is not free
    _kill(p)
    ring.put(np.full(16, 9, "u1"), timeout=30)  # ... until its holder died
    assert ring.stats()["lost"] == 1
    with ring.get(timeout=5) as a:
        assert a[0] == 8
    with ring.get(timeout=5) as a:
        assert a[0] == 9


@pytest.mark.parametrize("method", KILL_METHODS)
def test_slow_subscriber_killed_no_longer_holds_the_producer_back(method: str) -> None:
    ctx = mp.get_context(method)
    ring = ndshare.Ring(4, "f4", 2, mode="broadcast")
    p = _start(ctx, rw.subscribe_and_sleep, ring)
    ring.put(np.ones(4), timeout=5)
    ring.put(np.ones(4), timeout=5)
    with pytest.raises(TimeoutError):
        ring.put(np.ones(4), timeout=0.2)  # the subscriber has read nothing
    _kill(p)
    ring.put(np.ones(4), timeout=30)
    assert ring.stats()["subscribers"] == 0


@pytest.mark.parametrize("method", KILL_METHODS)
def test_consumer_killed_while_waiting_leaves_the_queue_working(method: str) -> None:
    ctx = mp.get_context(method)
    ring = ndshare.Ring(4, "f4", 2)
    p = _start(ctx, rw.wait_for_item, ring)
    _kill(p)
    ring.put(np.arange(4), timeout=5)
    with ring.get(timeout=5) as a:
        assert a.tolist() == [0, 1, 2, 3]
    assert ring.stats()["lost"] == 0


@pytest.mark.parametrize("method", KILL_METHODS)
def test_producer_killed_while_writing_ends_the_stream_with_a_reason(method: str) -> None:
    ctx = mp.get_context(method)
    ring = ndshare.Ring(3, "i2", 4)
    p = _start(ctx, rw.claim_and_hold, ring)
    _kill(p)
    with pytest.raises(ndshare.RingClosed, match="exited without closing") as e:
        ring.get(timeout=30)
    assert "1 claimed item" in e.value.reason
    assert ring.stats()["abandoned"] == 1


@pytest.mark.parametrize("method", KILL_METHODS)
def test_producer_killed_while_blocked_on_a_full_ring(method: str) -> None:
    ctx = mp.get_context(method)
    ring = ndshare.Ring(3, "i2", 4)
    p = _start(ctx, rw.fill_then_block, ring)
    _kill(p)
    got = [int(a[0]) for a in ring]  # drains, then the stream ends
    assert got == [0, 1, 2, 3]
    assert not ring.closed and ring.stats()["abandoned"] == 0


def test_ring_travels_to_pool_workers_by_reference() -> None:
    """DataLoader-like: pool workers produce batches, the parent consumes."""
    ring = ndshare.Ring((4, 8), "f4", 8)
    with ProcessPoolExecutor(3, mp_context=mp.get_context("spawn")) as pool:
        futures = [pool.submit(rw.batch_worker, (ring, w, 20)) for w in range(3)]
        counts = np.zeros(3, int)
        for _ in range(60):
            with ring.get(timeout=60) as batch:
                assert (batch == batch[0, 0]).all()
                counts[int(batch[0, 0])] += 1
        assert sorted(f.result(60) for f in futures) == [0, 1, 2]
    assert counts.tolist() == [20, 20, 20]
    assert len(pickle.dumps(ring)) < 1024


def test_named_ring_attaches_and_array_readers_refuse_it(name: str) -> None:
    ring = ndshare.Ring((2, 2), "c8", 3, name=name)
    ring.put(np.full((2, 2), 1 + 2j))
    other = ndshare.attach_ring(name)
    assert (other.shape, other.dtype, other.capacity) == ((2, 2), np.complex64, 3)
    with other.get(timeout=5) as a:
        assert a[1, 1] == 1 + 2j
    with pytest.raises(TypeError, match="ring"):
        ndshare.attach(name)
    ndshare.unlink(name)
    ndshare.zeros(3, name=name)
    with pytest.raises(TypeError, match="not an ndshare ring|array"):
        ndshare.attach_ring(name)


def test_a_ring_of_protocol_version_1_is_refused_naming_it(name: str) -> None:
    ndshare.Ring(2, "f4", 2, name=name)
    with open(f"/dev/shm/ndshare.{name}", "r+b") as f:
        f.seek(f.read().index(b"NDSRING1") + 8)  # the ring's version word
        f.write((1).to_bytes(4, "little"))
    with pytest.raises(ndshare.FormatError, match="ring protocol version 1 is not supported"):
        ndshare.attach_ring(name)


@pytest.mark.parametrize(
    "dtype,value",
    [
        ("?", True),
        ("f2", 1.5),
        ("c16", 1 - 1j),
        ("M8[ns]", np.datetime64("2024-01-02T03:04:05.000000006")),
        ("m8[s]", np.timedelta64(7, "s")),
        ("S5", b"abc"),
        ("U3", "xyz"),
        ([("x", "<f4"), ("n", "<i2", (2,))], (2.5, (3, 4))),
        ([("temp\u00e9rature", "<f4"), ("\u6e29\u5ea6", "<i2")], (2.5, 3)),
    ],
)
def test_every_shareable_dtype_streams(dtype: Any, value: Any) -> None:
    ctx = mp.get_context("spawn")
    ring, back = ndshare.Ring(3, dtype, 2), ndshare.Ring(3, dtype, 2)
    expected = np.array([value] * 3, dtype=np.dtype(dtype))
    p = ctx.Process(target=rw.round_trip, args=(ring, back), daemon=True)
    p.start()
    ring.put(expected)
    ring.close()
    with back.get(timeout=60) as a:
        assert a.dtype == np.dtype(dtype)
        np.testing.assert_array_equal(a, expected)
    p.join(60)
    assert p.exitcode == 0


def test_get_async_waits_without_blocking_the_loop() -> None:
    ring = ndshare.Ring(2, "i4", 2)

    async def main() -> List[Any]:
        ticks = 0
        got = asyncio.ensure_future(ring.get_async(timeout=30))
        while not got.done():
            await asyncio.sleep(0.01)
            ticks += 1
            if ticks == 5:  # the loop has run while get_async waits
                await ring.put_async(np.array([4, 5]), timeout=5)
        item = got.result()
        with item as a:
            values = a.tolist()
        with pytest.raises(TimeoutError):
            await ring.get_async(timeout=0.1)
        return [ticks >= 5, values]

    assert asyncio.run(main()) == [True, [4, 5]]


def test_put_async_waits_for_a_consumer_in_another_process() -> None:
    ring = ndshare.Ring(2, "i4", 1)
    ctx = mp.get_context("fork")
    out = ctx.Queue()
    p = ctx.Process(target=rw.consume_keys, args=(ring, out))

    async def main() -> None:
        for i in range(20):
            await ring.put_async(np.array([1, i]), timeout=30)
        ring.close()

    p.start()
    asyncio.run(main())
    keys = out.get(timeout=60)
    p.join(30)
    assert sorted(keys.tolist()) == [1 << 32 | i for i in range(20)]


def test_more_async_waits_than_the_default_executor_has_threads_all_proceed() -> None:
    # The default executor has at most 32 threads; waits that borrowed them
    # would leave the 40th queued behind 39 that do not end.
    rings = [ndshare.Ring(2, "i4", 1) for _ in range(40)]

    async def main() -> List[int]:
        waits = [asyncio.ensure_future(r.get_async(timeout=120)) for r in rings]
        await asyncio.sleep(0.2)
        rings[-1].put(np.array([7, 8]))
        item = await asyncio.wait_for(waits[-1], timeout=30)
        with item as a:
            values: List[int] = a.tolist()
        # The loop's executor is still free for its own work.
        assert await asyncio.get_running_loop().run_in_executor(None, sum, [1, 2]) == 3
        for w in waits[:-1]:
            w.cancel()
        await asyncio.gather(*waits[:-1], return_exceptions=True)
        return values

    assert asyncio.run(main()) == [7, 8]


def test_a_wait_whose_thread_cannot_start_leaves_nothing_behind(monkeypatch: pytest.MonkeyPatch) -> None:
    # The system's thread limit, simulated: the wait fails with the error,
    # and the next wait, on another ring, still gets a thread of its own
    # (not one taken by the failed wait, which would never end).
    empty, fed = ndshare.Ring(2, "i4", 1), ndshare.Ring(2, "i4", 1)
    start = threading.Thread.start

    def cannot_start(self: threading.Thread) -> None:
        raise RuntimeError("can't start new thread")

    empty.put(np.array([0, 0]))  # joins the ring first, which moves its futex
    empty.get().release()
    # Threads of earlier waits end after a second idle; a wait now needs a new one.
    assert wait_until(lambda: not [t for t in threading.enumerate() if t.name == "ndshare-async-wait"], timeout=30), (
        "the threads of earlier waits never ended"
    )

    async def main() -> List[int]:
        monkeypatch.setattr(threading.Thread, "start", cannot_start)
        with pytest.raises(RuntimeError, match="can't start"):
            await empty.get_async()
        monkeypatch.setattr(threading.Thread, "start", start)
        waiting = asyncio.ensure_future(fed.get_async(timeout=120))
        await asyncio.sleep(0.1)
        fed.put(np.array([5, 6]))
        with await asyncio.wait_for(waiting, timeout=30) as a:
            values: List[int] = a.tolist()
        return values

    assert asyncio.run(main()) == [5, 6]


LEFT_PENDING = """
import asyncio, ndshare
ring = ndshare.Ring(4, "i8", 2)
loop = asyncio.new_event_loop()
loop.create_task(ring.get_async())
loop.run_until_complete(asyncio.sleep(0.1))
print("leaving", flush=True)
"""


def test_the_interpreter_exits_with_a_get_async_left_pending() -> None:
    done = subprocess.run([sys.executable, "-c", LEFT_PENDING], capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "leaving"
    assert done.returncode == 0, done.stderr


WAITER = """
import signal, sys, ndshare
signal.signal(signal.SIGINT, signal.default_int_handler)
ring = ndshare.Ring(4, "f4", 2)
print("waiting", flush=True)
try:
    ring.get(timeout=60)
except KeyboardInterrupt:
    print("interrupted", flush=True)
"""


def test_ctrl_c_interrupts_a_wait() -> None:
    proc = subprocess.Popen([sys.executable, "-c", WAITER], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "waiting"
    threading.Event().wait(0.2)
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=30)
    assert out.strip() == "interrupted"
    assert proc.returncode == 0


RING_HOLDER = """
import sys, numpy as np, ndshare
ring = ndshare.Ring((3, 4), "u2", 8, mode="broadcast", name=sys.argv[1])
fast, slow = ring.subscribe(), ring.subscribe()
for i in range(5):
    ring.put(np.full((3, 4), i, "u2"))
for _ in range(3):
    with fast.get():
        pass
with slow.get():
    pass
print(ring.stats(), flush=True)
sys.stdin.read()
"""

RING_COUNTERS = {
    "delivery": "broadcast",
    "capacity": 8,
    "item_dtype": "<u2",
    "put": 5,
    "got": 4,
    "dropped": 0,
    "abandoned": 0,
    "lost": 0,
    "subscribers": 2,
    "producers": 1,
    "closed": False,
}


def test_list_and_info_show_a_ring_made_elsewhere_with_its_counters(name: str) -> None:
    binary = Path(__file__).resolve().parents[1] / "target" / "release" / "ndshare"
    if not binary.exists():
        pytest.skip(f"{binary} is built by `make build`")
    holder = subprocess.Popen(
        [sys.executable, "-c", RING_HOLDER, name], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None
        holder.stdout.readline()
        info = ndshare.info(name)
        assert info.kind == "ring"
        assert info.ring == {**RING_COUNTERS, "item_shape": (3, 4)}
        listed = {i.name: i for i in ndshare.list()}
        assert listed[name].ring == info.ring
        assert ndshare.info(name).kind == "ring"

        def run(*args: str) -> str:
            out = subprocess.run([str(binary), *args], capture_output=True, text=True, timeout=60)
            assert out.returncode == 0, out.stderr
            return out.stdout

        as_json = json.loads(run("info", name, "--json"))
        assert (as_json["kind"], as_json["ring"]) == ("ring", {**RING_COUNTERS, "item_shape": [3, 4]})
        listed_json = {e["name"]: e for e in json.loads(run("list", "--json"))}
        assert listed_json[name]["ring"] == as_json["ring"]
        row = next(line.split() for line in run("list").splitlines() if line.startswith(name + " "))
        assert row[1:6] == ["<u2", "ring", "of", "8", "x"]
        lines = dict(
            line.split(None, 1)
            for line in run("info", name).splitlines()
            if line[:16].strip() in ("kind", "put", "got", "subscribers", "lost")
        )
        assert lines == {"kind": "ring", "put": "5", "got": "4", "subscribers": "2", "lost": "0"}
    finally:
        holder.communicate("", timeout=60)
    assert holder.returncode == 0
