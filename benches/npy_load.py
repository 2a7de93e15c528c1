"""Reading a .npy file into shared memory: ``ndshare.load`` against
``ndshare.array(np.load(path))``, with ``np.load`` alone (private memory) as
the floor, measured in one run (docs/benchmarks.md quotes the output).

    .venv/bin/python benches/npy_load.py [--size 1G] [--repeats 5] [--dir DIR]

The file is written once, then read once untimed, so every timed read finds
it in the page cache: the figures are the cost of getting bytes already in
memory into shared memory, not of the disk. Each repeat runs the methods in
turn, in a fresh order, and drops each result before the next; the median
(min-max) of the repeats is printed, in ms, with each method's ratio to
``ndshare.load``.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import tempfile
import time
from typing import Any, Callable, Dict, List

import numpy as np

import ndshare

UNITS = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}


def parse_size(text: str) -> int:
    return int(text[:-1]) * UNITS[text[-1].upper()] if text[-1].upper() in UNITS else int(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", default="1G", help="bytes of float64 data (K, M, G suffixes)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--dir", default=tempfile.gettempdir(), help="where the .npy file is written")
    args = parser.parse_args()
    n = parse_size(args.size) // 8
    path = os.path.join(args.dir, f"ndshare-bench-{os.getpid()}.npy")
    np.save(path, np.arange(n, dtype="f8"))
    try:
        methods: Dict[str, Callable[[], Any]] = {
            "ndshare.load(path)": lambda: ndshare.load(path),
            "ndshare.array(np.load(path))": lambda: ndshare.array(np.load(path)),
            "np.load(path) (private, not shared)": lambda: np.load(path),
        }
        with open(path, "rb") as f:  # into the page cache
            while f.read(1 << 24):
                pass
        times: Dict[str, List[float]] = {m: [] for m in methods}
        for _ in range(args.repeats):
            order = list(methods)
            random.shuffle(order)
            for m in order:
                t0 = time.perf_counter()
                a = methods[m]()
                times[m].append((time.perf_counter() - t0) * 1e3)
                assert a.shape == (n,) and a[-1] == n - 1
                del a
    finally:
        os.unlink(path)
    base = statistics.median(times["ndshare.load(path)"])
    print(f"{n * 8 / (1 << 20):.0f} MiB of float64, {args.repeats} repeats, load average {os.getloadavg()[0]:.1f}")
    print("| method | median ms (min-max) | ratio to ndshare.load |")
    print("|---|---|---|")
    for m, ts in times.items():
        med = statistics.median(ts)
        print(f"| `{m}` | {med:.0f} ({min(ts):.0f}-{max(ts):.0f}) | {med / base:.2f}x |")


if __name__ == "__main__":
    main()
