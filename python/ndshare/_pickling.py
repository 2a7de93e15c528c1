"""How a shared array crosses to another process: as a reference, never data.

Two routes, chosen by who pickles:

* ``multiprocessing`` (Process with spawn/forkserver, Pool, Queue, Pipe,
  ProcessPoolExecutor) pickles with ``ForkingPickler``; for it the reference
  carries the segment's file descriptor itself (``multiprocessing.reduction
  .DupFd``), so the receiver gets the memory even if the sender drops the
  array at once, as a worker returning a result does.
* Any other pickler (``pickle``, cloudpickle, joblib's loky, Dask) gets a
  locator: the name of a named array, and the pid and descriptor number by
  which ``/proc/<pid>/fd/<n>`` reaches the memory while the sender holds it.
  The sender keeps what it pickled alive for ``EXPORT_GRACE_SECONDS`` so that
  a result dropped right after it is sent still arrives.

Either way the receiver checks that it reached the very file ``(dev, ino)``
that was sent, and maps each segment once per process however many views of
it arrive.
"""

from __future__ import annotations

import collections
import os
import time
import weakref
from multiprocessing import reduction
from typing import TYPE_CHECKING, Any, Optional, Tuple

import numpy as np

from ._ndshare import Segment

if TYPE_CHECKING:
    from ._array import SharedArray

#: Seconds a plainly pickled segment is kept alive by its sender.
EXPORT_GRACE_SECONDS = 10.0

_FileKey = Tuple[Tuple[int, int], bool]
_mapped: "weakref.WeakValueDictionary[_FileKey, Segment]" = weakref.WeakValueDictionary()
_pinned: "collections.deque[tuple[float, Segment]]" = collections.deque()
_PROCESS_STAMP: Optional[Tuple[int, int]] = None


def remember(seg: Segment) -> Segment:
    """Records a segment this process maps, so later arrivals reuse it."""
    _mapped[(seg.file_id, seg.writable)] = seg
    return seg


def lookup(file_id: Tuple[int, int], readonly: bool) -> Optional[Segment]:
    """A mapping of the file this process already has, if any."""
    seg = _mapped.get((file_id, True))
    if seg is None and readonly:
        seg = _mapped.get((file_id, False))
    return seg


def _pin(seg: Segment) -> None:
    now = time.monotonic()
    while _pinned and _pinned[0][0] <= now:
        _pinned.popleft()
    _pinned.append((now + EXPORT_GRACE_SECONDS, seg))


def release_pins() -> None:
    """Drops what plain pickling keeps alive (the grace period's references)."""
    _pinned.clear()


def _view_of(arr: "SharedArray", seg: Segment) -> Tuple[Any, ...]:
    offset = arr.__array_interface__["data"][0] - seg.data_address
    return (offset, arr.shape, arr.strides, arr.dtype, not arr.flags.writeable)


def reduce_plain(arr: "SharedArray", seg: Segment) -> Tuple[Any, ...]:
    """``__reduce__``: a locator, for any pickler."""
    _pin(seg)
    locator = (seg.file_id, seg.name, os.getpid(), seg.fd, not seg.writable)
    return (_rebuild_located, (locator,) + _view_of(arr, seg))


def reduce_forking(arr: "SharedArray") -> Tuple[Any, ...]:
    """For multiprocessing's ForkingPickler: the descriptor itself."""
    seg = arr._segment
    if seg is None:
        return np.ndarray.__reduce__(arr.view(np.ndarray))
    fd = reduction.DupFd(seg.fd)
    return (_rebuild_dupfd, (fd, seg.file_id, not seg.writable) + _view_of(arr, seg))


def _open_located(locator: Tuple[Any, ...], readonly: bool) -> Segment:
    file_id, name, pid, fd, sender_readonly = locator
    readonly = readonly or sender_readonly
    seg = lookup(file_id, readonly)
    if seg is not None:
        return seg
    reasons = []
    if name is not None:
        try:
            seg = Segment.attach(name, readonly=readonly)
        except OSError as e:
            reasons.append(f"by name: {e}")
        else:
            if seg.file_id == tuple(file_id):
                return remember(seg)
            reasons.append(f"by name: {name!r} now names another array")
    try:
        seg = Segment.from_process_fd(pid, fd, file_id[0], file_id[1], readonly=readonly)
    except OSError as e:
        reasons.append(f"through process {pid}: {e}")
    else:
        return remember(seg)
    what = f"shared array {name!r}" if name is not None else "anonymous shared array"
    raise FileNotFoundError(
        f"cannot reach the {what} sent by process {pid} ({'; '.join(reasons)}). "
        "An anonymous array can be reached only while a process that holds it is "
        "alive, from a process of the same user on the same machine; pass it through "
        "multiprocessing (which sends the descriptor itself) or give it a name="
    )


def _rebuild_located(locator: Tuple[Any, ...], offset: int, shape: Any, strides: Any, dtype: Any, readonly: bool) -> "SharedArray":
    from ._array import view_of_segment

    seg = _open_located(locator, readonly)
    return view_of_segment(seg, dtype, shape, strides, offset, readonly)


def _rebuild_dupfd(dupfd: Any, file_id: Tuple[int, int], sender_readonly: bool, offset: int, shape: Any, strides: Any, dtype: Any, readonly: bool) -> "SharedArray":
    from ._array import view_of_segment

    fd = dupfd.detach()
    try:
        seg = lookup(tuple(file_id), readonly or sender_readonly)  # type: ignore[arg-type]
        if seg is None:
            seg = remember(Segment.from_fd(fd, readonly=readonly or sender_readonly))
    finally:
        os.close(fd)
    return view_of_segment(seg, dtype, shape, strides, offset, readonly)
