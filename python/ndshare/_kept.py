"""Mappings a process keeps for a while after its last use of them.

A process that received a shared array from another one (a pool worker given
a task's argument) maps it, and unmaps it when the last view of it goes,
typically at the end of the task; the next task on the same array maps it
again and faults every page in again. So a segment that arrived by a
reference is kept mapped, with its descriptor, for ``KEEP_SECONDS`` after
its last view is dropped: a later arrival of the same file and access mode
finds the mapping in ``_mapped`` and reuses it, with no new ``mmap`` and no
new faults. Segments this process created, or attached or opened by handle
itself, are not kept: their owner holds them for as long as it wants them.

Bounds, read from the environment at import:

* ``NDSHARE_KEEP_SECONDS`` (default 10): how long after the last view of a
  segment goes it stays mapped; ``0`` keeps nothing.
* ``NDSHARE_KEEP_BYTES`` (default 4 GiB; a number of bytes, or with a
  ``K``, ``M``, ``G`` or ``T`` suffix, powers of 1024): the most this process
  keeps in all; the segments idle longest go first, and a larger segment is
  not kept at all.
* At most ``KEEP_COUNT`` (256) segments: each holds a descriptor and a
  mapping, and both are bounded (``RLIMIT_NOFILE``, ``vm.max_map_count``)
  for a worker that receives a new small array with every task.

A segment in use (any view of it alive, a plain ndarray view included) is
never kept: ``_mapped.base_of`` takes it back from here the moment a view
of it is made, and gives it here when the last one goes. Expiry is a daemon
thread that sleeps (without the GIL) until the earliest deadline, and takes
the GIL only to drop what is due; every new keep also drops what is due. A
forked child drops what its parent kept: it did not use it.
"""

from __future__ import annotations

import collections
import os
import re
import threading
import time
from typing import Optional

from ._ndshare import Segment

GiB = 1 << 30


def _seconds(var: str, default: float) -> float:
    text = os.environ.get(var, "").strip()
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value >= 0.0 or value == float("inf"):
        raise ValueError(f"{var}={text!r}: expected a number of seconds >= 0")
    return value


def _bytes(var: str, default: int) -> int:
    text = os.environ.get(var, "").strip()
    if not text:
        return default
    m = re.fullmatch(r"(\d+)\s*([KMGT]?)(?:i?B)?", text, re.IGNORECASE)
    if m is None:
        raise ValueError(f"{var}={text!r}: expected a number of bytes, e.g. 4294967296 or 4G")
    return int(m.group(1)) << (10 * " KMGT".index(m.group(2).upper() or " "))


#: Seconds a received segment stays mapped after its last view goes.
KEEP_SECONDS = _seconds("NDSHARE_KEEP_SECONDS", 10.0)
#: The most bytes of data this process keeps mapped past their last use.
KEEP_BYTES = _bytes("NDSHARE_KEEP_BYTES", 4 * GiB)

#: The most segments this process keeps mapped past their last use.
KEEP_COUNT = 256

#: Kept segments and the time each goes, oldest first.
_kept: collections.OrderedDict[Segment, float] = collections.OrderedDict()
_kept_bytes = 0
# Reentrant: a view dropped by a garbage collection that runs while the lock
# is held (any allocation may start one) calls keep() in the same thread.
_cond = threading.Condition(threading.RLock())
_thread: Optional[threading.Thread] = None


def keep(seg: Segment) -> None:
    """Keeps ``seg`` mapped for ``KEEP_SECONDS`` from now: its last view
    just went."""
    global _kept_bytes
    if KEEP_SECONDS <= 0 or seg.nbytes > KEEP_BYTES:
        return
    with _cond:
        now = time.monotonic()
        if _kept.pop(seg, None) is not None:
            _kept_bytes -= seg.nbytes
        _kept[seg] = now + KEEP_SECONDS
        _kept_bytes += seg.nbytes
        seg.set_kept(True)  # `ndshare info` shows this process as keeping it
        dropped = _take_due(now)
        if not _start_thread():
            dropped += _take_all()  # the interpreter is exiting: keep nothing
        _cond.notify()
    del dropped  # unmapped outside the lock


def take_back(seg: Segment) -> None:
    """``seg`` is in use again: it no longer counts as kept."""
    global _kept_bytes
    with _cond:
        if _kept.pop(seg, None) is not None:
            _kept_bytes -= seg.nbytes
            seg.set_kept(False)


def kept_bytes() -> int:
    """The bytes of data this process keeps mapped past their last use."""
    return _kept_bytes


def release_kept() -> None:
    """Unmaps now the arrays this process keeps mapped after their last use.

    A process that received a shared array from another (a pool worker given
    a task) keeps it mapped for ``NDSHARE_KEEP_SECONDS`` (default 10) after
    its last view is dropped, so that the next task on the same array maps
    and faults nothing; at most ``NDSHARE_KEEP_BYTES`` (default 4 GiB) and
    256 arrays. Call this where the memory must come back sooner, e.g. in
    each worker before a large array's last user drops it. Arrays still in
    use are not affected.

    Set ``NDSHARE_KEEP_SECONDS=0`` in a process's environment to keep
    nothing at all; ``NDSHARE_KEEP_BYTES`` (``512M``, ``8G``...) bounds what
    one process keeps.

    Returns
    -------
    None

    Examples
    --------
    In a worker, at the end of its last task on a large array:

    >>> import ndshare
    >>> ndshare.release_kept()
    """
    with _cond:
        dropped = _take_all()
    del dropped


def _take_due(now: float) -> list[Segment]:
    """Takes out what expired, and the oldest beyond ``KEEP_BYTES``."""
    global _kept_bytes
    out = []
    for seg, deadline in list(_kept.items()):
        if deadline <= now:
            del _kept[seg]
            _kept_bytes -= seg.nbytes
            out.append(seg)
    while _kept_bytes > KEEP_BYTES or len(_kept) > KEEP_COUNT:
        seg, _ = _kept.popitem(last=False)
        _kept_bytes -= seg.nbytes
        out.append(seg)
    for seg in out:
        seg.set_kept(False)  # unmapped soon, unless something still holds it
    return out


def _take_all() -> list[Segment]:
    global _kept_bytes
    out = list(_kept)
    _kept.clear()
    _kept_bytes = 0
    for seg in out:
        seg.set_kept(False)
    return out


def _start_thread() -> bool:
    global _thread
    if _thread is not None:
        return True
    thread = threading.Thread(target=_expire_forever, name="ndshare-keep", daemon=True)
    try:
        thread.start()
    except RuntimeError:  # "can't create new thread at interpreter shutdown"
        return False
    _thread = thread
    return True


def _expire_forever() -> None:
    while True:
        with _cond:
            while True:
                now = time.monotonic()
                dropped = _take_due(now)
                if dropped:
                    break
                wait = min(_kept.values()) - now if _kept else None
                _cond.wait(wait)  # sleeps without the GIL
        del dropped


def _forget_in_child() -> None:
    # A forked child did not use what its parent kept; it has neither the
    # thread nor, maybe, a free lock.
    global _cond, _thread, _kept_bytes
    _cond = threading.Condition(threading.RLock())
    _thread = None
    _kept.clear()
    _kept_bytes = 0


os.register_at_fork(after_in_child=_forget_in_child)
