"""How a shared array crosses to another process: as a reference, never data.

Two routes, chosen by who pickles:

* ``multiprocessing`` (Process with spawn/forkserver, Pool, Queue, Pipe,
  ProcessPoolExecutor) pickles with ``ForkingPickler``; for it the reference
  carries the segment's file descriptor itself, so the receiver gets the
  memory even if the sender drops the array at once, as a worker returning a
  result does. At process start the descriptor goes with the new process
  (``duplicate_for_child``); afterwards multiprocessing's resource sharer
  hands it over when the receiver asks (``SCM_RIGHTS``). A process that exits
  with descriptors not yet fetched waits for the receivers, at most
  ``EXIT_WAIT_SECONDS``, so a child may put a result in a queue and return.
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
import threading
import time
import weakref
from multiprocessing import context, reduction, resource_sharer, util
from typing import TYPE_CHECKING, Any, Optional, Tuple, cast

import numpy as np

from ._ndshare import Segment, UnreachableError

if TYPE_CHECKING:
    from ._array import SharedArray

#: Seconds a plainly pickled segment is kept alive by its sender.
EXPORT_GRACE_SECONDS = 10.0
#: Longest a process waits at exit for receivers to fetch its descriptors.
EXIT_WAIT_SECONDS = 10.0

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


class _FdExport:
    """A descriptor offered through multiprocessing's resource sharer, like
    ``multiprocessing.resource_sharer.DupFd``, but counted until sent so that
    an exiting process can wait for its receivers."""

    _pending: "set[int]" = set()
    _pending_lock = threading.Lock()
    _exit_hook_pid = 0

    def __init__(self, fd: int) -> None:
        dup = os.dup(fd)
        token = id(self)

        def send(conn: Any, pid: int) -> None:
            reduction.send_handle(conn, dup, pid)

        def close() -> None:
            os.close(dup)
            with _FdExport._pending_lock:
                _FdExport._pending.discard(token)

        with _FdExport._pending_lock:
            _FdExport._pending.add(token)
        self._id = resource_sharer._resource_sharer.register(send, close)  # type: ignore[attr-defined]
        if _FdExport._exit_hook_pid != os.getpid():
            _FdExport._exit_hook_pid = os.getpid()
            # Before the resource sharer's socket is unlinked (exitpriority 0);
            # a Queue's feeder thread keeps flushing meanwhile (it is joined
            # at -5), so what was put can still be fetched.
            util.Finalize(None, _FdExport.wait_until_sent, exitpriority=10)

    def detach(self) -> int:
        with resource_sharer._resource_sharer.get_connection(self._id) as conn:  # type: ignore[attr-defined]
            return reduction.recv_handle(conn)

    @staticmethod
    def wait_until_sent(timeout: Optional[float] = None) -> None:
        deadline = time.monotonic() + (EXIT_WAIT_SECONDS if timeout is None else timeout)
        while _FdExport._pending and time.monotonic() < deadline:
            time.sleep(0.005)


def reduce_forking(arr: "SharedArray") -> Tuple[Any, ...]:
    """For multiprocessing's ForkingPickler: the descriptor itself."""
    seg = arr._segment
    if seg is None:
        return cast(Tuple[Any, ...], np.ndarray.__reduce__(arr.view(np.ndarray)))
    if context.get_spawning_popen() is not None:
        fd: Any = reduction.DupFd(seg.fd)  # travels with the new process
    else:
        fd = _FdExport(seg.fd)
    return (_rebuild_dupfd, (fd, seg.file_id, not seg.writable) + _view_of(arr, seg))


def _describe(name: Optional[str], dtype: Any, shape: Any) -> str:
    what = f"shared array {name!r}" if name is not None else "anonymous shared array"
    return f"{what} ({np.dtype(dtype)}, shape {tuple(shape)})"


def _open_located(locator: Tuple[Any, ...], readonly: bool, what: str) -> Segment:
    file_id, name, pid, fd, sender_readonly = locator
    readonly = readonly or sender_readonly
    seg = lookup(tuple(file_id), readonly)
    if seg is not None:
        return seg
    reasons = []
    if name is not None:
        try:
            seg = Segment.attach(name, readonly=readonly)
        except OSError as e:
            reasons.append(f"by name: {e.strerror or e}")
        else:
            if seg.file_id == tuple(file_id):
                return remember(seg)
            reasons.append(f"by name: {name!r} now names another array")
    try:
        seg = Segment.from_process_fd(pid, fd, file_id[0], file_id[1], readonly=readonly)
    except OSError as e:
        reasons.append(str(e.strerror or e))
    else:
        return remember(seg)
    if name is None:
        hint = (
            "An anonymous array is reached through a process that holds it: send it "
            "while the sender still holds it, to a process of the same user on the same "
            "machine; or pass it through multiprocessing (which sends the descriptor "
            "itself), or give it a name="
        )
    else:
        hint = (
            "A named array is reached by its name (here unlinked or reused) or, "
            "failing that, through a process that still holds it"
        )
    raise UnreachableError(f"cannot reach the {what} sent by process {pid}: {'; '.join(reasons)}. {hint}")


def _rebuild_located(locator: Tuple[Any, ...], offset: int, shape: Any, strides: Any, dtype: Any, readonly: bool) -> "SharedArray":
    from ._array import view_of_segment

    seg = _open_located(locator, readonly, _describe(locator[1], dtype, shape))
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
