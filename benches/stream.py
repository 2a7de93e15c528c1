"""Streams of arrays between processes: ndshare.Ring against the alternatives.

Measured in one run, each method in its own processes:

* throughput: 1080p RGB uint8 frames (6 MiB) from one producer to two
  consumers (each frame to one of them), frames per second;
* latency: a 64 KiB item, from the producer's put to the consumer holding
  it, p50 and p99 over paced items;
* idle CPU: the CPU time a consumer spends in 5 s of waiting on an empty
  stream, after a first short wait that is not measured (what a method sets
  up on its first receive is not the cost of waiting).

Methods: ndshare.Ring (queue mode, items copied in with ``put(frame)``; and
broadcast mode, every frame to both consumers, the counterpart of iceoryx2),
``multiprocessing.Queue``, SharedMemory slots with two index queues (the
hand-rolled pattern), and, where they are installed, faster-fifo and
py-sharedmemory (each item to one consumer) and iceoryx2 (publish-subscribe:
each item to every consumer). pyshmem is listed with the reason its API does
not fit.

``python benches/stream.py`` prints the table and writes it into
docs/benchmarks.md between the stream markers; ``--smoke`` runs tiny sizes
and ``--methods ndshare,iceoryx2`` a subset, and those write nothing unless
``--out`` is given.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import platform
import queue as queue_mod
import sys
import time
from dataclasses import dataclass, field
from multiprocessing import shared_memory
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple

import numpy as np

import ndshare

ROOT = Path(__file__).resolve().parent.parent
BEGIN, END = "<!-- stream:begin -->", "<!-- stream:end -->"
CTX = mp.get_context("fork")


@dataclass
class Sizes:
    frame: Tuple[int, ...]
    frames: int
    latency_bytes: int
    latency_items: int
    idle_seconds: float


FULL = Sizes((1080, 1920, 3), 600, 64 * 1024, 3000, 5.0)
SMOKE = Sizes((16, 16, 3), 40, 4096, 50, 0.2)


# -- the methods: each gives (make, send, recv, close) over a channel ------


class Method:
    key = ""
    label = ""
    #: True where every consumer receives every item (publish-subscribe),
    #: False where each item goes to one consumer (a queue).
    broadcast = False

    def available(self) -> Optional[str]:
        return None

    def make(self, shape: Tuple[int, ...], capacity: int) -> Any:
        raise NotImplementedError

    def send(self, ch: Any, item: np.ndarray) -> None:  # type: ignore[type-arg]
        raise NotImplementedError

    def recv(self, ch: Any, use: Callable[[np.ndarray], None], timeout: float) -> bool:  # type: ignore[type-arg]
        """Receives one item and calls `use` on it; False at the end of the stream."""
        raise NotImplementedError

    def end(self, ch: Any, consumers: int) -> None:
        raise NotImplementedError

    def start(self, ch: Any, consumers: int) -> None:
        """Called by the producer once its consumers are started, before the first item."""

    def enter(self, ch: Any) -> None:
        """Called by a consumer before its first `recv`, outside what is measured."""

    def leave(self, ch: Any) -> None:
        """Called by a consumer when it is done with the channel."""

    def close(self, ch: Any) -> None:
        """Called by the producer once its consumers are done."""


class RingMethod(Method):
    key, label = "ndshare", "ndshare.Ring"

    def make(self, shape: Tuple[int, ...], capacity: int) -> Any:
        return ndshare.Ring(shape, "u1", capacity)

    def send(self, ch: Any, item: np.ndarray) -> None:  # type: ignore[type-arg]
        ch.put(item, timeout=60)

    def recv(self, ch: Any, use: Callable[[np.ndarray], None], timeout: float) -> bool:  # type: ignore[type-arg]
        try:
            item = ch.get(timeout=timeout)
        except ndshare.RingClosed:
            return False
        with item as a:
            use(a)
        return True

    def end(self, ch: Any, consumers: int) -> None:
        ch.close()


#: This process's subscriber of each broadcast ring, by ring handle.
_SUBSCRIBED: Dict[str, Any] = {}


class RingBroadcastMethod(RingMethod):
    """The ring in broadcast mode: every subscriber gets every frame, as
    iceoryx2's publish-subscribe does. A subscriber sees the items put after
    it subscribed, so each consumer subscribes and says so before the
    producer puts the first frame."""

    key, label = "ndshare_broadcast", "ndshare.Ring, broadcast (each frame to both consumers)"
    broadcast = True

    def make(self, shape: Tuple[int, ...], capacity: int) -> Any:
        return ndshare.Ring(shape, "u1", capacity, mode="broadcast"), CTX.Semaphore(0)

    def start(self, ch: Any, consumers: int) -> None:
        for _ in range(consumers):
            if not ch[1].acquire(timeout=60):
                raise TimeoutError("the subscribers did not subscribe")

    def enter(self, ch: Any) -> None:
        _SUBSCRIBED[ch[0].handle] = ch[0].subscribe()
        ch[1].release()

    def send(self, ch: Any, item: np.ndarray) -> None:  # type: ignore[type-arg]
        super().send(ch[0], item)

    def recv(self, ch: Any, use: Callable[[np.ndarray], None], timeout: float) -> bool:  # type: ignore[type-arg]
        return super().recv(_SUBSCRIBED[ch[0].handle], use, timeout)

    def end(self, ch: Any, consumers: int) -> None:
        ch[0].close()

    def leave(self, ch: Any) -> None:
        _SUBSCRIBED.pop(ch[0].handle).unsubscribe()


class QueueMethod(Method):
    key, label = "mp_queue", "multiprocessing.Queue"

    def make(self, shape: Tuple[int, ...], capacity: int) -> Any:
        return CTX.Queue(capacity)

    def send(self, ch: Any, item: np.ndarray) -> None:  # type: ignore[type-arg]
        ch.put(item, timeout=60)

    def recv(self, ch: Any, use: Callable[[np.ndarray], None], timeout: float) -> bool:  # type: ignore[type-arg]
        try:
            item = ch.get(timeout=timeout)
        except queue_mod.Empty:
            raise TimeoutError from None
        if item is None:
            return False
        use(item)
        return True

    def end(self, ch: Any, consumers: int) -> None:
        for _ in range(consumers):
            ch.put(None)


class SlotsMethod(Method):
    """SharedMemory slots, a queue of free slot indices and one of full ones."""

    key, label = "shm_slots", "SharedMemory slots + index queues"

    def make(self, shape: Tuple[int, ...], capacity: int) -> Any:
        nbytes = int(np.prod(shape))
        shm = shared_memory.SharedMemory(create=True, size=nbytes * capacity)
        free, full = CTX.Queue(), CTX.Queue()
        for i in range(capacity):
            free.put(i)
        return (shm, free, full, shape, nbytes)

    def _slot(self, ch: Any, i: int) -> np.ndarray:  # type: ignore[type-arg]
        shm, _, _, shape, nbytes = ch
        return np.ndarray(shape, "u1", buffer=shm.buf, offset=i * nbytes)

    def send(self, ch: Any, item: np.ndarray) -> None:  # type: ignore[type-arg]
        i = ch[1].get(timeout=60)
        self._slot(ch, i)[...] = item
        ch[2].put(i)

    def recv(self, ch: Any, use: Callable[[np.ndarray], None], timeout: float) -> bool:  # type: ignore[type-arg]
        try:
            i = ch[2].get(timeout=timeout)
        except queue_mod.Empty:
            raise TimeoutError from None
        if i is None:
            return False
        use(self._slot(ch, i))
        ch[1].put(i)
        return True

    def end(self, ch: Any, consumers: int) -> None:
        for _ in range(consumers):
            ch[2].put(None)

    def close(self, ch: Any) -> None:
        ch[0].close()
        ch[0].unlink()


class FasterFifoMethod(Method):
    key, label = "faster_fifo", "faster-fifo"

    def available(self) -> Optional[str]:
        try:
            import faster_fifo  # noqa: F401
        except ImportError:
            return "not installed"
        return None

    def make(self, shape: Tuple[int, ...], capacity: int) -> Any:
        import faster_fifo

        return faster_fifo.Queue(max_size_bytes=(int(np.prod(shape)) + 4096) * capacity)

    def send(self, ch: Any, item: np.ndarray) -> None:  # type: ignore[type-arg]
        ch.put(item, timeout=60)

    def recv(self, ch: Any, use: Callable[[np.ndarray], None], timeout: float) -> bool:  # type: ignore[type-arg]
        # `get` raises Empty before its timeout when a message is larger than
        # this process's receive buffer (5000 bytes at first): faster-fifo
        # 1.5.2 grows the buffer and retries without waiting, and the other
        # consumer may have taken the message meanwhile. Its own tests treat
        # Empty as "nothing yet" and call again; so does this, until the
        # deadline. (`get` takes one message: it is `get_many` of at most 1.)
        deadline = time.monotonic() + timeout
        while True:
            try:
                item = ch.get(timeout=max(deadline - time.monotonic(), 0.0))
                break
            except queue_mod.Empty:
                if time.monotonic() >= deadline:
                    raise TimeoutError from None
        if item is None:
            return False
        use(item)
        return True

    def end(self, ch: Any, consumers: int) -> None:
        for _ in range(consumers):
            ch.put(None, timeout=60)


class PySharedMemoryMethod(Method):
    """py-sharedmemory: a sender/receiver pair; each item to one consumer, as a local copy."""

    key, label = "py_sharedmemory", "py-sharedmemory"

    def available(self) -> Optional[str]:
        try:
            import py_sharedmemory  # noqa: F401
        except ImportError:
            return "not installed"
        return None

    def make(self, shape: Tuple[int, ...], capacity: int) -> Any:
        from py_sharedmemory import create_shared_memory_pair

        return create_shared_memory_pair(capacity=capacity, ctx=CTX)

    def send(self, ch: Any, item: np.ndarray) -> None:  # type: ignore[type-arg]
        ch[0].put(item, timeout=60)

    def recv(self, ch: Any, use: Callable[[np.ndarray], None], timeout: float) -> bool:  # type: ignore[type-arg]
        try:
            item = ch[1].get(timeout=timeout)
        except queue_mod.Empty:
            raise TimeoutError from None
        if item is None:
            return False
        use(item)
        return True

    def end(self, ch: Any, consumers: int) -> None:
        for _ in range(consumers):
            ch[0].put(None, timeout=60)

    def leave(self, ch: Any) -> None:
        ch[1].close()

    def close(self, ch: Any) -> None:
        ch[0].wait_for_all_ack(timeout=60)
        ch[0].close()
        ch[1].close()


#: The iceoryx2 ports of this process, by service name: each process opens its
#: own node and ports on first use (a node must not cross a fork).
_IOX: Dict[str, Dict[str, Any]] = {}


class Iceoryx2Method(Method):
    """iceoryx2 publish-subscribe of a u8 slice, woken by an iceoryx2 event.

    Every subscriber receives every sample: each frame goes to both consumers.
    The service does not overflow, each subscriber buffers as many samples as
    the other methods' channels hold, and the publisher retries until
    delivered, so no frame is lost; a zero-length sample ends the stream. The
    consumer reads the sample in place in the shared memory (no copy on
    receipt).

    Retrying covers connected subscribers only: to one that has not connected
    yet, iceoryx2 (0.10.0) delivers while its buffer has room and then drops
    every sample, the end included (its FAQ, "Losing Data": every port must
    update its connections before communication starts). A subscriber connects
    when it calls ``has_samples`` or ``receive`` once the publisher exists; so
    each consumer does so and says it on a semaphore, and the producer sends
    nothing before every consumer has.
    """

    key, label = "iceoryx2", "iceoryx2 (each frame to both consumers)"
    broadcast = True

    def available(self) -> Optional[str]:
        try:
            import iceoryx2  # noqa: F401
        except ImportError:
            return "not installed"
        return None

    def make(self, shape: Tuple[int, ...], capacity: int) -> Any:
        name = f"ndshare-bench/{os.getpid()}/{time.monotonic_ns()}"
        return (name, int(np.prod(shape)), shape, capacity, CTX.Semaphore(0))

    def _ports(self, ch: Any) -> Dict[str, Any]:
        import ctypes

        import iceoryx2 as iox2

        name, nbytes, _, capacity, _ = ch
        if name not in _IOX:
            iox2.set_log_level(iox2.LogLevel.Error)  # not the notice that it runs on default settings
            node = iox2.NodeBuilder.new().create(iox2.ServiceType.Ipc)
            data = (
                node.service_builder(iox2.ServiceName.new(name))
                .publish_subscribe(iox2.Slice[ctypes.c_uint8])
                .enable_safe_overflow(False)
                .subscriber_max_buffer_size(capacity)
                .history_size(0)
                .max_subscribers(2)
                .open_or_create()
            )
            event = node.service_builder(iox2.ServiceName.new(name + "/ready")).event().open_or_create()
            _IOX[name] = {"node": node, "data": data, "event": event, "nbytes": nbytes, "connected": False}
        return _IOX[name]

    def start(self, ch: Any, consumers: int) -> None:
        import iceoryx2 as iox2

        p = self._ports(ch)
        p["pub"] = (
            p["data"]
            .publisher_builder()
            .initial_max_slice_len(p["nbytes"])
            .allocation_strategy(iox2.AllocationStrategy.Static)
            .backpressure_strategy(iox2.BackpressureStrategy.RetryUntilDelivered)
            .create()
        )
        p["notifier"] = p["event"].notifier_builder().create()
        # Wake the consumers (they wait on the event) until each has connected.
        deadline = time.monotonic() + 60
        connected = 0
        while connected < consumers:
            p["notifier"].notify()
            if ch[4].acquire(timeout=0.01):
                connected += 1
            elif time.monotonic() > deadline:
                raise TimeoutError("iceoryx2: the subscribers did not connect")
        p["pub"].update_connections()

    def _publish(self, ch: Any, item: Optional[np.ndarray]) -> None:  # type: ignore[type-arg]
        p = _IOX[ch[0]]
        n = 0 if item is None else item.nbytes
        sample = p["pub"].loan_slice_uninit(n)
        if n:
            dst = np.frombuffer(sample.payload().as_memory_view(), "u1")
            dst[...] = item.reshape(-1)  # type: ignore[union-attr]
        sample.assume_init().send()
        p["notifier"].notify()

    def send(self, ch: Any, item: np.ndarray) -> None:  # type: ignore[type-arg]
        self._publish(ch, item)

    def enter(self, ch: Any) -> None:
        p = self._ports(ch)
        p["sub"] = p["data"].subscriber_builder().buffer_size(ch[3]).create()
        p["listener"] = p["event"].listener_builder().create()

    def recv(self, ch: Any, use: Callable[[np.ndarray], None], timeout: float) -> bool:  # type: ignore[type-arg]
        import iceoryx2 as iox2

        p = _IOX[ch[0]]
        deadline = time.monotonic() + timeout
        while True:
            sample = p["sub"].receive()
            if sample is not None:
                break
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError
            woken = p["listener"].timed_wait(iox2.Duration.from_secs_f64(left))
            if woken and not p["connected"] and p["data"].dynamic_config.number_of_publishers > 0:
                p["sub"].has_samples()  # connects to the publisher; see the class
                p["connected"] = True
                ch[4].release()
        payload = sample.payload()
        if payload.len() == 0:
            sample.delete()
            return False
        use(np.frombuffer(payload.as_memory_view(), "u1").reshape(ch[2]))
        sample.delete()
        return True

    def end(self, ch: Any, consumers: int) -> None:
        self._publish(ch, None)

    def _drop(self, ch: Any) -> None:
        p = _IOX.pop(ch[0], {})
        for k in ("listener", "sub", "notifier", "pub"):
            if k in p:
                p[k].delete()
        p.clear()  # the services and the node go with their last reference

    def leave(self, ch: Any) -> None:
        self._drop(ch)

    def close(self, ch: Any) -> None:
        self._drop(ch)


METHODS: List[Method] = [
    RingMethod(),
    RingBroadcastMethod(),
    QueueMethod(),
    SlotsMethod(),
    FasterFifoMethod(),
    PySharedMemoryMethod(),
    Iceoryx2Method(),
]
#: Installed by `make bench` (requirements-bench-optional.txt) but not measured yet.
NOT_MEASURED = {
    "pyshmem": "a latest-value exchange of capacity one, not a queue: a write replaces an unread one "
    "and the writer never waits for readers, so a stream loses items",
}


# -- the three measurements -----------------------------------------------


def _consume_count(m: Method, ch: Any, out: Any) -> None:
    m.enter(ch)
    n, bad = 0, 0

    def use(a: np.ndarray) -> None:  # type: ignore[type-arg]
        nonlocal n, bad
        if a[0, 0, 0] != a[-1, -1, -1]:
            bad += 1
        n += 1

    while m.recv(ch, use, 120):
        pass
    m.leave(ch)
    out.put((n, bad))


def throughput(m: Method, sz: Sizes) -> Dict[str, float]:
    ch = m.make(sz.frame, 8)
    out = CTX.Queue()
    cons = [CTX.Process(target=_consume_count, args=(m, ch, out)) for _ in range(2)]
    for c in cons:
        c.start()
    m.start(ch, len(cons))
    frame = np.zeros(sz.frame, "u1")
    t0 = time.perf_counter()
    for i in range(sz.frames):
        frame[0, 0, 0] = frame[-1, -1, -1] = i % 251
        m.send(ch, frame)
    m.end(ch, 2)
    results = [out.get(timeout=300) for _ in cons]
    dt = time.perf_counter() - t0
    for c in cons:
        c.join(60)
    m.close(ch)
    got = sum(r[0] for r in results)
    want = sz.frames * (len(cons) if m.broadcast else 1)
    if got != want or any(r[1] for r in results):
        raise RuntimeError(f"{m.label}: {got} of {want} frames, {sum(r[1] for r in results)} torn")
    return {"fps": sz.frames / dt, "gib_s": sz.frames * int(np.prod(sz.frame)) / dt / 2**30}


def _consume_latency(m: Method, ch: Any, out: Any) -> None:
    m.enter(ch)
    lat: List[int] = []

    def use(a: np.ndarray) -> None:  # type: ignore[type-arg]
        lat.append(time.perf_counter_ns() - int(a[:8].view("<i8")[0]))

    while m.recv(ch, use, 120):
        pass
    m.leave(ch)
    out.put(lat)


def latency(m: Method, sz: Sizes) -> Dict[str, float]:
    ch = m.make((sz.latency_bytes,), 8)
    out = CTX.Queue()
    c = CTX.Process(target=_consume_latency, args=(m, ch, out))
    c.start()
    m.start(ch, 1)
    item = np.zeros(sz.latency_bytes, "u1")
    time.sleep(0.2)
    for _ in range(sz.latency_items):
        item[:8].view("<i8")[0] = time.perf_counter_ns()
        m.send(ch, item)
        time.sleep(0.0005)  # paced: the consumer waits for each item
    m.end(ch, 1)
    lat = np.array(out.get(timeout=300)) / 1000.0
    c.join(60)
    m.close(ch)
    if len(lat) != sz.latency_items:
        raise RuntimeError(f"{m.label}: {len(lat)} of {sz.latency_items} items")
    return {"p50_us": float(np.percentile(lat, 50)), "p99_us": float(np.percentile(lat, 99))}


def _idle(m: Method, ch: Any, seconds: float, out: Any) -> None:
    m.enter(ch)
    # A first short wait, not measured: what a method sets up on its first
    # receive (a connection, a thread) is not the cost of waiting.
    try:
        m.recv(ch, lambda a: None, 0.05)
    except TimeoutError:
        pass
    t0, c0 = time.perf_counter(), time.process_time()
    try:
        m.recv(ch, lambda a: None, seconds)
    except TimeoutError:
        pass
    c1, t1 = time.process_time(), time.perf_counter()
    m.leave(ch)
    out.put((c1 - c0, t1 - t0))


def idle_cpu(m: Method, sz: Sizes) -> Dict[str, float]:
    ch = m.make((64,), 8)
    out = CTX.Queue()
    c = CTX.Process(target=_idle, args=(m, ch, sz.idle_seconds, out))
    c.start()
    cpu, wall = out.get(timeout=60)
    c.join(60)
    m.close(ch)
    return {"cpu_ms": cpu * 1000, "wall_s": wall}


# -- report -------------------------------------------------------------------


@dataclass
class Results:
    rows: Dict[str, Dict[str, float]] = field(default_factory=dict)
    unavailable: Dict[str, str] = field(default_factory=dict)
    errors: Dict[str, str] = field(default_factory=dict)


def run(sz: Sizes, only: Optional[List[str]] = None) -> Results:
    res = Results(unavailable=dict(NOT_MEASURED) if only is None else {})
    for m in METHODS:
        if only is not None and m.key not in only:
            continue
        why = m.available()
        if why:
            res.unavailable[m.label] = why
            continue
        try:
            row: Dict[str, float] = {}
            row.update(throughput(m, sz))
            row.update(latency(m, sz))
            row.update(idle_cpu(m, sz))
            res.rows[m.label] = row
            print(
                f"{m.label:40s} {row['fps']:9.1f} fps  p50 {row['p50_us']:8.1f} us  "
                f"p99 {row['p99_us']:9.1f} us  idle cpu {row['cpu_ms']:6.2f} ms",
                flush=True,
            )
        except Exception as e:  # noqa: BLE001 - reported, the others still run
            res.errors[m.label] = repr(e)
            print(f"{m.label}: failed: {e!r}", flush=True)
    return res


def markdown(res: Results, sz: Sizes, command: str) -> str:
    base = res.rows.get("multiprocessing.Queue", {})
    lines = [
        BEGIN,
        "",
        f"`{command}` on {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
        f"numpy {np.__version__}. Throughput: {sz.frames} frames of {sz.frame} uint8 "
        f"({int(np.prod(sz.frame)) / 2**20:.1f} MiB) from 1 producer to 2 consumers; latency: "
        f"{sz.latency_items} paced items of {sz.latency_bytes // 1024} KiB, put to held; idle: consumer CPU "
        f"time over {sz.idle_seconds:g} s of waiting on an empty stream, after a first short wait.",
        "",
        "| Method | frames/s | × mp.Queue | GiB/s | latency p50 (µs) | p99 (µs) | idle CPU (ms) |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for label, r in res.rows.items():
        ratio = r["fps"] / base["fps"] if base else float("nan")
        lines.append(
            f"| {label} | {r['fps']:.1f} | {ratio:.1f} | {r['gib_s']:.2f} | {r['p50_us']:.1f} | "
            f"{r['p99_us']:.1f} | {r['cpu_ms']:.2f} |"
        )
    for label, why in {**res.unavailable, **res.errors}.items():
        lines.append(f"| {label} | — | | | | | | ")
        lines[-1] = f"| {label} ({why}) | — | — | — | — | — | — |"
    lines += ["", END]
    return "\n".join(lines)


def write(md: str, out: Path) -> None:
    text = out.read_text() if out.exists() else ""
    if BEGIN in text and END in text:
        text = text[: text.index(BEGIN)] + md + text[text.index(END) + len(END) :]
    else:
        text = text.rstrip() + "\n\n## Streams of arrays\n\n" + md + "\n"
    out.write_text(text)


def main(argv: Optional[List[str]] = None) -> Results:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--smoke", action="store_true", help="tiny sizes: checks that every method runs")
    p.add_argument("--quick", action="store_true", help="fewer frames and items")
    p.add_argument("--out", type=Path, default=None, help="markdown file to update (default: docs/benchmarks.md)")
    p.add_argument("--methods", help=f"comma-separated subset of {','.join(m.key for m in METHODS)}")
    a, _ = p.parse_known_args(argv)
    sz = SMOKE if a.smoke else FULL
    if a.quick and not a.smoke:
        sz = Sizes(FULL.frame, 150, FULL.latency_bytes, 1000, FULL.idle_seconds)
    res = run(sz, a.methods.split(",") if a.methods else None)
    default = None if a.smoke or a.methods else ROOT / "docs" / "benchmarks.md"  # a subset never overwrites it
    out = a.out if a.out is not None else default
    if out is not None:
        command = "python benches/stream.py" + (" --smoke" if a.smoke else " --quick" if a.quick else "")
        write(markdown(res, sz, command), out)
    return res


if __name__ == "__main__":
    r = main(sys.argv[1:])
    # An alternative that fails is a row of the report, with its error; only
    # ndshare failing fails the run.
    sys.exit(1 if any(label.startswith("ndshare") for label in r.errors) else 0)
