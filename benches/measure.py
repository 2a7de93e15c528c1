"""Clocks, memory readings and the hold point where workers wait to be measured.

Times come from ``time.perf_counter_ns``: on Linux it reads CLOCK_MONOTONIC,
one clock for every process of the machine, so a time taken in a worker and
one taken in the parent can be subtracted.
"""

from __future__ import annotations

import os
import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, List, Sequence

now_ns = time.perf_counter_ns


def pss_bytes(pid: int) -> int:
    """Proportional set size of a process: each shared page counts 1/n in each
    of the n processes that map it, so a sum over processes counts it once."""
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            if line.startswith("Pss:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"no Pss in /proc/{pid}/smaps_rollup")


@dataclass(frozen=True)
class Stats:
    """Median, minimum and maximum of repeated readings."""

    median: float
    low: float
    high: float
    n: int

    @staticmethod
    def of(values: Iterable[float]) -> Stats:
        v: List[float] = sorted(values)
        if not v:
            return Stats(float("nan"), float("nan"), float("nan"), 0)
        return Stats(statistics.median(v), v[0], v[-1], len(v))


class Hold:
    """A rendezvous through files, so that it works the same in every kind of
    worker (multiprocessing, loky): each worker announces itself and waits;
    the parent reads everyone's memory, then releases them."""

    def __init__(self, directory: Path) -> None:
        self.dir = directory
        self.dir.mkdir(parents=True, exist_ok=True)
        for p in self.dir.iterdir():
            p.unlink()

    def wait_for(self, n: int, timeout: float = 60.0) -> List[int]:
        """Pids of the workers that arrived (all ``n``, or those there at the timeout)."""
        deadline = time.monotonic() + timeout
        while True:
            pids = [int(p.name.split("-", 1)[1]) for p in self.dir.glob("ready-*")]
            if len(pids) >= n or time.monotonic() > deadline:
                return sorted(pids)
            time.sleep(0.001)

    def release(self) -> None:
        (self.dir / "release").touch()

    def reset(self) -> None:
        for p in self.dir.iterdir():
            p.unlink()


def hold_here(directory: str, timeout: float = 60.0) -> None:
    """Worker side of :class:`Hold`: announce, then wait for the release."""
    d = Path(directory)
    (d / f"ready-{os.getpid()}").touch()
    deadline = time.monotonic() + timeout
    while not (d / "release").exists() and time.monotonic() < deadline:
        time.sleep(0.001)


def fmt_ms(ns: float) -> str:
    ms = ns / 1e6
    if ms != ms:  # nan
        return "–"
    if ms < 1:
        return f"{ms:.3f}"
    if ms < 100:
        return f"{ms:.1f}"
    return f"{ms:.0f}"


def fmt_stats_ms(s: Stats) -> str:
    """``median (min–max)`` in milliseconds."""
    if s.n == 0:
        return "–"
    if s.n == 1:
        return fmt_ms(s.median)
    return f"{fmt_ms(s.median)} ({fmt_ms(s.low)}–{fmt_ms(s.high)})"


def fmt_bytes(n: float) -> str:
    if n != n:
        return "–"
    for unit, size in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{int(n)} B"


def size_label(nbytes: int) -> str:
    for unit, size in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if nbytes >= size and nbytes % size == 0:
            return f"{nbytes // size} {unit}"
    return f"{nbytes} B"


def median_of(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")
