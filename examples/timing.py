"""A small side-by-side timing of the sharedctypes tutorial's job: a parent
shares an array with two worker processes, each doubles its half, the
parent checks.

Three ways, same job, same machine, same run:
  ndshare                  ndshare.array(x), views handed to Pool.map
  multiprocessing.Array    the tutorial's way: copy into a ctypes Array,
                           hand it over by inheritance (a Pool initializer),
                           wrap it with np.frombuffer in the worker
  pickling                 Pool.map sends each half, the worker returns it

Times are medians of a few repeats; the pools are started beforehand. The
full benchmark suite is `make bench`.
"""

from __future__ import annotations

import multiprocessing as mp
import pickle
import statistics
import sys
import time
from multiprocessing.reduction import ForkingPickler
from multiprocessing.sharedctypes import RawArray
from typing import Any, Callable, Dict, List

import numpy as np

import ndshare

N = int(sys.argv[1]) if len(sys.argv) > 1 else 4 * 1024 * 1024  # 32 MiB of float64
REPEATS = 5

_raw: Any = None


def double_view(block: ndshare.SharedArray) -> None:
    block *= 2


def init_raw(raw: Any) -> None:
    global _raw
    _raw = raw


def double_raw(bounds: tuple[int, int]) -> None:
    a = np.frombuffer(_raw, dtype=np.float64)
    a[bounds[0] : bounds[1]] *= 2


def double_copy(block: np.ndarray) -> np.ndarray:
    return block * 2


def sent_bytes(obj: Any) -> int:
    """Bytes that Pool.map's pickler makes of ``obj``. They are loaded back at
    once: the descriptor they offer is taken, not left waiting for a receiver."""
    blob = ForkingPickler.dumps(obj)
    ForkingPickler.loads(blob)
    return len(blob)


def run_ndshare(x: np.ndarray, pool: Any) -> Dict[str, float]:
    t0 = time.perf_counter()
    a = ndshare.array(x)
    t1 = time.perf_counter()
    pool.map(double_view, [a[: N // 2], a[N // 2 :]], chunksize=1)
    t2 = time.perf_counter()
    assert a[0] == 0 and a[-1] == 2 * (N - 1)
    return {"setup": t1 - t0, "work": t2 - t1, "bytes": sent_bytes(a[: N // 2])}


def run_raw(x: np.ndarray, ctx: Any) -> Dict[str, float]:
    t0 = time.perf_counter()
    raw = RawArray("d", N)
    np.frombuffer(raw, dtype=np.float64)[:] = x
    t1 = time.perf_counter()
    with ctx.Pool(2, initializer=init_raw, initargs=(raw,)) as pool:
        pool.map(len, [[0], [0]], chunksize=1)  # workers up, excluded below
        t2 = time.perf_counter()
        pool.map(double_raw, [(0, N // 2), (N // 2, N)], chunksize=1)
        t3 = time.perf_counter()
    a = np.frombuffer(raw, dtype=np.float64)
    assert a[0] == 0 and a[-1] == 2 * (N - 1)
    return {"setup": t1 - t0, "work": t3 - t2, "bytes": len(pickle.dumps((0, N // 2)))}


def run_pickle(x: np.ndarray, pool: Any) -> Dict[str, float]:
    t0 = time.perf_counter()
    halves = pool.map(double_copy, [x[: N // 2], x[N // 2 :]], chunksize=1)
    out = np.concatenate(halves)
    t1 = time.perf_counter()
    assert out[0] == 0 and out[-1] == 2 * (N - 1)
    return {"setup": 0.0, "work": t1 - t0, "bytes": len(pickle.dumps(x[: N // 2]))}


def median(runs: List[Dict[str, float]], key: str) -> float:
    return statistics.median(r[key] for r in runs)


def main() -> None:
    ctx = mp.get_context("spawn")
    x = np.arange(N, dtype=np.float64)
    results: Dict[str, List[Dict[str, float]]] = {}
    with ctx.Pool(2) as pool:
        pool.map(len, [[0], [0]], chunksize=1)
        runners: Dict[str, Callable[[], Dict[str, float]]] = {
            "ndshare": lambda: run_ndshare(x, pool),
            "multiprocessing.Array": lambda: run_raw(x, ctx),
            "pickling (Pool.map)": lambda: run_pickle(x, pool),
        }
        for label, run in runners.items():
            results[label] = [run() for _ in range(REPEATS)]
    mib = x.nbytes / (1 << 20)
    print(f"\nShare a {mib:.0f} MiB float64 array with 2 spawned workers; each doubles its half.")
    print(f"Medians of {REPEATS} runs (pools started beforehand).\n")
    print(
        f"| {'method':<24} | {'setup ms':>9} | {'hand-off + work ms':>18} | {'total ms':>9} | {'pickled bytes/task':>18} |"
    )
    print(f"|{'-' * 26}|{'-' * 11}|{'-' * 20}|{'-' * 11}|{'-' * 20}|")
    best = median(results["ndshare"], "setup") + median(results["ndshare"], "work")
    for label, runs in results.items():
        setup, work = median(runs, "setup"), median(runs, "work")
        print(
            f"| {label:<24} | {setup * 1e3:9.1f} | {work * 1e3:18.1f} | {(setup + work) * 1e3:9.1f} | {int(runs[0]['bytes']):>18,} |"
        )
    for label, runs in results.items():
        if label != "ndshare":
            total = median(runs, "setup") + median(runs, "work")
            print(f"ndshare takes {best / total:.2f}x the time of {label}")


if __name__ == "__main__":
    main()
