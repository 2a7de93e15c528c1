"""What a worker runs. Each task returns its timestamps (``perf_counter_ns``,
comparable across processes) and, where the method returns data, the data."""

from __future__ import annotations

import os
from typing import Any, Dict, Optional

import numpy as np
from measure import hold_here, now_ns
from methods import METHODS, forget

#: Tasks of the sweep workflow, each a pass over all of x.
SWEEP_TASKS = 16


def task(key: str, variant: str, payload: Any, hold_dir: Optional[str] = None) -> Dict[str, Any]:
    """Double or sum the half of the array that ``payload`` reaches."""
    t_start = now_ns()  # the payload has been unpickled by now
    m = METHODS[key]
    view, keep = m.open(payload)
    t_usable = now_ns()
    out: Dict[str, Any] = {"pid": os.getpid(), "t_start": t_start, "t_usable": t_usable}
    if variant == "double":
        view *= 2
        out["t_done"] = now_ns()
        if m.returns_data:
            out["data"] = view
    elif variant == "sum":
        out["sum"] = float(view.sum())
        out["t_done"] = now_ns()
    else:
        raise ValueError(variant)
    if hold_dir is not None:
        hold_here(hold_dir)
    if not m.returns_data:
        del view
        m.close(keep)
    out["t_return"] = now_ns()
    return out


def sweep_value(x: np.ndarray, k: int) -> float:
    """Task ``k`` of a parameter sweep: a dot of x, taken as rows of 8, with
    the task's own weights; one pass over every page of x, no copy of it."""
    w = np.linspace(-1.0, 1.0, 8) + k
    return float(np.einsum("ij,j->", np.asarray(x).reshape(-1, 8), w))


def sweep_task(key: str, payload: Any, k: int) -> Dict[str, Any]:
    """Reach all of x through ``payload`` and compute task ``k`` of the sweep."""
    t_start = now_ns()
    m = METHODS[key]
    view, keep = m.open(payload)
    t_usable = now_ns()
    value = sweep_value(view, k)
    t_done = now_ns()
    del view
    m.close(keep)
    return {"pid": os.getpid(), "t_start": t_start, "t_usable": t_usable, "t_done": t_done, "value": value, "k": k}


def preload(key: str, payload: Any, hold_dir: str) -> int:
    """Open ``payload`` once in this worker (the method keeps it), then wait
    for the other worker (see ``Suite.on_each_worker``)."""
    view, keep = METHODS[key].open(payload)
    del view
    METHODS[key].close(keep)
    hold_here(hold_dir)
    return os.getpid()


def drop_kept(hold_dir: str) -> int:
    """Drop what the methods keep in this worker, then wait for the other."""
    forget()
    hold_here(hold_dir)
    return os.getpid()


def fanin_task(key: str, lo: int, hi: int) -> Dict[str, Any]:
    """Create an array holding ``2 * arange(lo, hi)`` and return it."""
    src = np.arange(lo, hi, dtype="f8")
    m = METHODS[key]
    t0 = now_ns()
    payload, _ = m.make_result(src)
    t1 = now_ns()
    return {"pid": os.getpid(), "t_usable": t0, "t_done": t1, "result": payload, "t_return": now_ns()}


def reference_task(variant: str, n: int, hold_dir: Optional[str] = None) -> Dict[str, Any]:
    """The same pass on this worker's private, already-touched memory: the
    reference for the compute phase (both workers run it at the same time).
    Its start is the reference for the hand-off: the pool's own latency."""
    t_start = now_ns()
    a = np.arange(n, dtype="f8")
    a *= 1.0  # touched and written once: no page fault left
    t0 = now_ns()
    if variant == "double":
        a *= 2
    elif variant == "sum":
        float(a.sum())
    elif variant == "fanin":
        np.multiply(a, 2)  # a result in new private memory
    t1 = now_ns()
    if hold_dir is not None:
        hold_here(hold_dir)
    return {"pid": os.getpid(), "t_start": t_start, "t_usable": t0, "t_done": t1}
