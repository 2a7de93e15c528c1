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


def echo(a: Any) -> Any:
    return a


def put_and_return(q: Any, n: int) -> None:
    """Puts new arrays in a queue and returns at once: no close(), no
    join_thread(); the arrays must still arrive."""
    for i in range(n):
        q.put(ndshare.full(1000, float(i)))


def hold_on_request(conn: Any) -> None:
    """Says ready; receives an array, reads every byte, reports the sum,
    holds the array until told to drop it."""
    conn.send("ready")
    a = conn.recv()
    conn.send(float(a.sum()))
    conn.recv()
    del a
    conn.close()
