"""Small per-call costs, each against its plain-numpy or stdlib counterpart
measured in the same run (docs/benchmarks.md quotes the output).

    .venv/bin/python benches/micro.py [--quick]

Prints the best of 5 repeats, per call, in microseconds. ``--quick`` runs
a hundredth of the calls (for the smoke test: the figures mean little).
"""

from __future__ import annotations

import functools
import os
import pickle
import sys
import tempfile
import timeit
import uuid
from multiprocessing import resource_sharer
from multiprocessing.reduction import ForkingPickler
from typing import Any, Callable, Dict

import numpy as np

import ndshare

#: Calls per repeat are divided by this (``--quick``: 100).
SCALE = 1


def best_us(fn: Callable[[], Any], number: int) -> float:
    number = max(number // SCALE, 1)
    return min(timeit.repeat(fn, number=number, repeat=5)) / number * 1e6


def subclass_per_call() -> None:
    """What the ndarray subclass adds to a numpy call, on a 10-element array."""
    calls: Dict[str, Callable[[Any], Any]] = {
        "np.sum(a)": np.sum,
        "a.sum()": lambda a: a.sum(),
        "a + 1": lambda a: a + 1,
        "a[1:]": lambda a: a[1:],
        "np.concatenate([a, a])": lambda a: np.concatenate([a, a]),
        "np.zeros_like(a)": np.zeros_like,
    }
    plain = np.zeros(10)
    shared = ndshare.zeros(10)
    path = os.path.join(tempfile.mkdtemp(), "memmap")
    memmap = np.memmap(path, dtype="f8", mode="w+", shape=(10,))
    print("per-call cost on a 10-element float64 array (µs): plain ndarray | SharedArray | numpy.memmap")
    for label, call in calls.items():
        row = [best_us(functools.partial(call, x), 20_000) for x in (plain, shared, memmap)]
        print(f"  {label:24s} {row[0]:6.2f} | {row[1]:6.2f} | {row[2]:6.2f}")
    del memmap
    os.unlink(path)


def attach_and_drop() -> None:
    name = f"bench-micro-{uuid.uuid4().hex[:8]}"
    a = ndshare.zeros(1000, name=name)
    try:
        us = best_us(lambda: ndshare.attach(name), 2_000)
    finally:
        ndshare.unlink(name)
        del a
    print(f"attach + drop of a named array (attacher slot included): {us:.1f} µs")


def hand_off_in_one_process() -> None:
    """A view through multiprocessing's pickler and back (the descriptor
    travels through ndshare's server), against the stdlib's DupFd round trip
    of a descriptor."""
    a = ndshare.zeros(1 << 20)
    view = a[1:]
    ours = best_us(lambda: pickle.loads(ForkingPickler.dumps(view)), 2_000)
    fd = a.segment.fd  # type: ignore[union-attr]
    stdlib = best_us(lambda: os.close(resource_sharer.DupFd(fd).detach()), 500)
    print(f"ForkingPickler dump + load of a view: {ours:.0f} µs; resource_sharer.DupFd round trip: {stdlib:.0f} µs")


if __name__ == "__main__":
    if "--quick" in sys.argv[1:]:
        SCALE = 100
    print(f"load average {os.getloadavg()[0]:.1f}")
    subclass_per_call()
    attach_and_drop()
    hand_off_in_one_process()
