"""Huge pages against memfds, in one run: create+fill of an anonymous array,
and a second process's first and second pass over it (``x *= 2``).

    .venv/bin/python benches/huge_pages.py [--size 1G] [--repeats 7]

Prints min and median of each, and the ratios memfd / huge pages.

The worker lets go of each array after its task (``ndshare.release_kept``),
so that every repeat starts from the same free memory: otherwise it keeps
the arrays of earlier repeats mapped (``NDSHARE_KEEP_SECONDS``), and the
next array's creation pays for finding huge pages beside them.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import statistics
import time
from typing import Any, Dict, List, Tuple

import numpy as np

import ndshare


def two_passes(a: Any) -> Tuple[str, float, float]:
    """In a worker: the first pass over a fresh mapping, then the second."""
    t0 = time.perf_counter()
    a *= 2
    t1 = time.perf_counter()
    a *= 2
    t2 = time.perf_counter()
    return str(a.info().backing), t1 - t0, t2 - t1


def parse_size(s: str) -> int:
    units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    return int(s[:-1]) * units[s[-1].upper()] if s[-1].upper() in units else int(s)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", default="1G")
    ap.add_argument("--repeats", type=int, default=7)
    args = ap.parse_args()
    nbytes = parse_size(args.size)
    src = np.arange(nbytes // 8, dtype="f8")
    times: Dict[str, Dict[str, List[float]]] = {}
    backings: Dict[str, str] = {}
    with mp.get_context("spawn").Pool(1) as pool:
        pool.apply(int, (0,))  # started and imported before any timing
        for _ in range(args.repeats):
            for label, huge in (("huge pages", True), ("memfd", False)):
                t0 = time.perf_counter()
                a = ndshare.array(src, huge_pages=huge)
                create = time.perf_counter() - t0
                backing, first, second = pool.apply(two_passes, (a,))
                pool.apply(ndshare.release_kept)
                backings[label] = backing
                assert a[1] == 4.0
                row = times.setdefault(label, {"create+fill": [], "first pass": [], "second pass": []})
                row["create+fill"].append(create)
                row["first pass"].append(first)
                row["second pass"].append(second)
                del a
    print(f"{args.size}, {args.repeats} repeats, ms (min / median)")
    for label, row in times.items():
        cells = "  ".join(f"{k} {min(v) * 1e3:6.0f} / {statistics.median(v) * 1e3:6.0f}" for k, v in row.items())
        print(f"{label:<11} ({backings[label]:<10}) {cells}")
    h, m = times["huge pages"], times["memfd"]
    print(
        "memfd / huge (median): "
        + "  ".join(f"{k} {statistics.median(m[k]) / statistics.median(h[k]):.2f}x" for k in h)
    )


if __name__ == "__main__":
    main()
