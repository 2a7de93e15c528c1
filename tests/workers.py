"""Functions that run in worker processes (importable under spawn/forkserver)."""

from __future__ import annotations

import hashlib
import os
from typing import Any, Tuple

import numpy as np

import ndshare


def zero_all(a: Any) -> Tuple[int, float]:
    """The seed's child: check, zero in place, report."""
    before = float(a[:10].sum())
    a[...] = 0
    return os.getpid(), before


def digest(a: Any) -> Tuple[str, str, Tuple[int, ...], Tuple[int, ...], bool]:
    """What a worker sees: type, hash of the bytes in logical order, layout."""
    data = np.ascontiguousarray(a).tobytes()
    return type(a).__name__, hashlib.sha256(data).hexdigest(), a.shape, a.strides, bool(a.flags.writeable)


def scale_in_place(a: Any, factor: float) -> int:
    a *= factor
    return os.getpid()


def make_array(n: int, value: float) -> Any:
    """A worker creates an array and returns it (then drops its own reference)."""
    return ndshare.full((n, 3), value)


def queue_echo(q_in: Any, q_out: Any) -> None:
    while True:
        item = q_in.get()
        if item is None:
            return
        item[0] += 1
        q_out.put(item)


def pipe_child(conn: Any) -> None:
    a = conn.recv()
    a[:] = np.arange(a.size).reshape(a.shape)
    conn.send(ndshare.array(a * 2))
    conn.close()


_held: list = []


def hold_and_sum(a: Any) -> Tuple[int, float]:
    """Keeps the array (so its pages stay mapped) and reads every byte."""
    _held.append(a)
    return os.getpid(), float(a.sum())


def release_held(_: object = None) -> int:
    _held.clear()
    return os.getpid()


def echo(a: Any) -> Any:
    return a


def put_and_return(q: Any, n: int) -> None:
    """Puts new arrays in a queue and returns at once: no close(), no
    join_thread(); the arrays must still arrive."""
    for i in range(n):
        q.put(ndshare.full(1000, float(i)))
