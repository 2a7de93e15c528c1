"""Benchmark: ndshare's locks and atomics against multiprocessing's.

Run from the repository root after ``make build``::

    .venv/bin/python benches/bench_sync.py            # full run
    .venv/bin/python benches/bench_sync.py --quick    # a few seconds
    .venv/bin/python benches/bench_sync.py --smoke    # tiny, one repeat: the test suite runs it

Prints a Markdown table. Every figure is the best of several repeats (the
least disturbed by other work on the machine); ratios are ndshare against
the alternative, above 1 meaning ndshare is faster.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import platform
import sys
import threading
import time
from typing import Any, Callable, List, Tuple

import numpy as np

import ndshare
from ndshare import atomic

CTX = mp.get_context("fork")


def best_ns_per_op(run: Callable[[int], None], n: int, repeats: int) -> float:
    """Best time per operation of `run(n)` over `repeats` runs, in ns."""
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        run(n)
        best = min(best, time.perf_counter() - t)
    return best / n * 1e9


# ------------------------------------------------------- uncontended lock


def with_loop(lock: Any) -> Callable[[int], None]:
    def run(n: int) -> None:
        for _ in range(n):
            with lock:
                pass

    return run


def acquire_release_loop(lock: Any) -> Callable[[int], None]:
    acquire, release = lock.acquire, lock.release

    def run(n: int) -> None:
        for _ in range(n):
            acquire()
            release()

    return run


def array_lock_loop(a: ndshare.SharedArray) -> Callable[[int], None]:
    def run(n: int) -> None:
        for _ in range(n):
            with a.lock():
                pass

    return run


def value_get_lock_loop(v: Any) -> Callable[[int], None]:
    def run(n: int) -> None:
        for _ in range(n):
            with v.get_lock():
                pass

    return run


# --------------------------------------------------------- contended lock


def contended_worker(make_lock: Callable[[], Any], n: int, start: Any, counter: Any) -> None:
    lock = make_lock()
    start.wait()
    for _ in range(n):
        with lock:
            counter[0] += 1


def run_from_start(procs: List[Any], start: Any) -> float:
    """Starts `procs`, which wait for the event `start`; returns the seconds
    from setting it until every one has ended."""
    for p in procs:
        p.start()
    time.sleep(0.05)  # let them reach the wait: start-up is not measured
    t = time.perf_counter()
    start.set()
    for p in procs:
        p.join()
    return time.perf_counter() - t


def contended_ns_per_op(make_lock: Callable[[], Any], n: int, repeats: int) -> float:
    """Two processes take the same lock `n` times each; ns per lock+unlock."""
    best = float("inf")
    for _ in range(repeats):
        counter = ndshare.zeros(1, dtype="i8")
        start = CTX.Event()
        procs = [CTX.Process(target=contended_worker, args=(make_lock, n, start, counter)) for _ in range(2)]
        best = min(best, run_from_start(procs, start))
        assert counter[0] == 2 * n, "lost updates: the lock did not exclude"
    return best / (2 * n) * 1e9


# ----------------------------------------------------------------- atomics


def scalar_atomic_loop(a: ndshare.SharedArray) -> Callable[[int], None]:
    add = atomic.add

    def run(n: int) -> None:
        for i in range(n):
            add(a, i & 255, 1)

    return run


def locked_value_loop(v: Any) -> Callable[[int], None]:
    def run(n: int) -> None:
        for _ in range(n):
            with v.get_lock():
                v.value += 1

    return run


def vector_worker(hist: ndshare.SharedArray, idx: ndshare.SharedArray, start: Any) -> None:
    start.wait()
    atomic.add(hist, idx, 1)


def vectorized_updates_per_s(n: int, procs: int, bins: int, repeats: int) -> float:
    """`procs` processes each add 1 at `n` random indices (np.add.at form)."""
    rng = np.random.default_rng(0)
    idx = ndshare.array(rng.integers(0, bins, size=n, dtype=np.int64))
    best = float("inf")
    for _ in range(repeats):
        hist = ndshare.zeros(bins, dtype="i8")
        if procs == 1:
            t = time.perf_counter()
            atomic.add(hist, idx, 1)
            best = min(best, time.perf_counter() - t)
        else:
            start = CTX.Event()
            ps = [CTX.Process(target=vector_worker, args=(hist, idx, start)) for _ in range(procs)]
            best = min(best, run_from_start(ps, start))
        assert hist.sum() == n * procs
    return n * procs / best


def numpy_add_at_updates_per_s(n: int, bins: int, repeats: int) -> float:
    idx = np.random.default_rng(0).integers(0, bins, size=n, dtype=np.int64)
    hist = np.zeros(bins, dtype="i8")
    return n / (best_ns_per_op(lambda _: np.add.at(hist, idx, 1), 1, repeats) / 1e9)


# ------------------------------------------------------------------- table


def fmt_ns(ns: float) -> str:
    return f"{ns:,.0f} ns" if ns >= 100 else f"{ns:.1f} ns"


def fmt_rate(r: float) -> str:
    return f"{r / 1e6:,.1f} M/s"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer iterations (a few seconds)")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, one repeat (checks that it runs)")
    args = parser.parse_args()
    n, repeats, nc, nv = (1_000_000, 7, 100_000, 10_000_000)
    if args.quick:
        n, repeats, nc, nv = (100_000, 3, 20_000, 1_000_000)
    if args.smoke:
        n, repeats, nc, nv = (2_000, 1, 500, 10_000)

    a = ndshare.zeros(256, dtype="i8")
    mp_lock = mp.Lock()
    value = mp.Value("q", 0)
    handle = a.lock()
    rows: List[Tuple[str, str, str, str]] = []

    def row(what: str, ours: float, other_name: str, other: float, unit: str = "ns") -> None:
        if unit == "ns":
            rows.append((what, fmt_ns(ours), f"{other_name}: {fmt_ns(other)}", f"{other / ours:.2f}x"))
        else:
            rows.append((what, fmt_rate(ours), f"{other_name}: {fmt_rate(other)}", f"{ours / other:.2f}x"))

    ours = best_ns_per_op(with_loop(handle), n, repeats)
    row(
        "uncontended `with lock:` (a held handle)",
        ours,
        "multiprocessing.Lock",
        best_ns_per_op(with_loop(mp_lock), n, repeats),
    )
    row("", ours, "Value.get_lock()", best_ns_per_op(with_loop(value.get_lock()), n, repeats))
    # Not process-shared: the cost of `with` on any lock implemented in C,
    # a floor for every row above.
    floor = best_ns_per_op(with_loop(threading.Lock()), n, repeats)
    rows.append(("floor: `with threading.Lock():` (one process only)", fmt_ns(floor), "", ""))
    ours = best_ns_per_op(array_lock_loop(a), n, repeats)
    row(
        "uncontended `with a.lock():`",
        ours,
        "`with v.get_lock():`",
        best_ns_per_op(value_get_lock_loop(value), n, repeats),
    )
    ours = best_ns_per_op(acquire_release_loop(handle), n, repeats)
    row(
        "uncontended `acquire(); release()`",
        ours,
        "multiprocessing.Lock",
        best_ns_per_op(acquire_release_loop(mp_lock), n, repeats),
    )
    ours = contended_ns_per_op(a.lock, nc, repeats)
    row(
        "contended, 2 processes, per lock+unlock",
        ours,
        "multiprocessing.Lock",
        contended_ns_per_op(lambda: mp_lock, nc, repeats),
    )
    row("", ours, "Value.get_lock()", contended_ns_per_op(value.get_lock, nc, repeats))
    ours = best_ns_per_op(scalar_atomic_loop(a), n // 2, repeats)
    row(
        "`atomic.add(a, i, 1)`, scalar, per update",
        ours,
        "`with v.get_lock(): v.value += 1`",
        best_ns_per_op(locked_value_loop(value), n // 2, repeats),
    )
    one = vectorized_updates_per_s(nv, 1, 1000, repeats)
    row(
        "`atomic.add(a, idx, 1)`, vectorized, 1 process",
        one,
        "np.add.at (not atomic)",
        numpy_add_at_updates_per_s(nv, 1000, repeats),
        "rate",
    )
    two = vectorized_updates_per_s(nv, 2, 1000, repeats)
    rows.append(
        (
            "`atomic.add(a, idx, 1)`, vectorized, 2 processes, same 1000 bins",
            fmt_rate(two),
            f"per process: {fmt_rate(two / 2)}",
            "",
        )
    )
    two = vectorized_updates_per_s(nv, 2, 1 << 20, repeats)
    rows.append(
        (
            "`atomic.add(a, idx, 1)`, vectorized, 2 processes, 2^20 bins",
            fmt_rate(two),
            f"per process: {fmt_rate(two / 2)}",
            "",
        )
    )

    print(
        f"ndshare {ndshare.__version__}, Python {platform.python_version()}, numpy {np.__version__}, "
        f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}; "
        f"`{' '.join([os.path.basename(sys.executable)] + sys.argv)}`\n"
    )
    print("| operation | ndshare | alternative | ndshare speed-up |")
    print("|---|---:|---|---:|")
    for r in rows:
        print("| " + " | ".join(r) + " |")


if __name__ == "__main__":
    main()
