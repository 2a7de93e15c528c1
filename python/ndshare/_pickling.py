"""How a shared array crosses to another process, and what a pickle of it holds.

A pickle holds the array's data unless the channel is one between processes
of one machine that ndshare knows, or the caller asks for a reference:

* ``multiprocessing`` (Process with spawn/forkserver, Pool, Queue, Pipe,
  ProcessPoolExecutor, ``multiprocessing.connection``) pickles with
  ``ForkingPickler``; for it the reference carries the segment's file
  descriptor itself (``reduce_forking``), so the receiver gets the memory
  even if the sender drops the array at once, as a worker returning a result
  does. At process start the descriptor goes with the new process
  (``duplicate_for_child``); afterwards this process's descriptor server
  (``_fdserver``) hands it over when the receiver asks (``SCM_RIGHTS``). A
  process that exits with descriptors not yet taken waits for the receivers,
  at most ``_fdserver.EXIT_WAIT_SECONDS``, so a child may put a result in a
  queue and return.
* joblib's loky (its own pickler's reducer registry, see ``_loky``), Dask
  distributed (its serializers, see ``_dask``) and any pickling inside
  ``with by_reference():`` get a locator (``reduce_reference``): the name of
  a named array, and the pid and descriptor number by which
  ``/proc/<pid>/fd/<n>`` reaches the memory while the sender holds it. The
  sender keeps what it sent this way alive for ``EXPORT_GRACE_SECONDS`` so
  that a result dropped right after it is sent still arrives.
* Every other pickling (``pickle.dump``/``dumps``, cloudpickle outside loky,
  ``joblib.dump``, ``copy``) is persistence, or a channel ndshare cannot
  vouch for: it stores the data, as ``numpy.memmap`` does, and the pickle
  loads as a plain ``numpy.ndarray`` in any process, at any later time.
  Nothing is pinned and no descriptor is held for it.

A reference's receiver checks that it reached the very file ``(dev, ino)``
that was sent, and maps each segment once per process however many views of
it arrive.
"""

from __future__ import annotations

import collections
import contextlib
import contextvars
import os
import threading
import time
import weakref
from multiprocessing import context, reduction
from typing import TYPE_CHECKING, Any, Iterator, Optional, SupportsIndex, Tuple, cast

import numpy as np

from . import _fdserver
from ._ndshare import FormatError, Segment, UnreachableError

if TYPE_CHECKING:
    from ._array import SharedArray

#: Seconds a segment sent by locator is kept alive by its sender.
EXPORT_GRACE_SECONDS = 10.0

_FileKey = Tuple[Tuple[int, int], bool]
_mapped: "weakref.WeakValueDictionary[_FileKey, Segment]" = weakref.WeakValueDictionary()
_pinned: "collections.deque[tuple[float, Segment]]" = collections.deque()
_PROCESS_STAMP: Optional[Tuple[int, int]] = None
#: Every named segment this process maps: a forked child registers in their
#: attacher tables, since it maps them too.
_named: "weakref.WeakSet[Segment]" = weakref.WeakSet()


def remember(seg: Segment) -> Segment:
    """Records a segment this process maps, so later arrivals reuse it."""
    _mapped[(seg.file_id, seg.writable)] = seg
    if seg.named:
        _named.add(seg)
    return seg


def _register_forked_child() -> None:
    for seg in list(_named):
        seg.register_after_fork()


os.register_at_fork(after_in_child=_register_forked_child)


def lookup(file_id: Tuple[int, int], readonly: bool) -> Optional[Segment]:
    """A mapping of the file this process already has, if any."""
    seg = _mapped.get((file_id, True))
    if seg is None and readonly:
        seg = _mapped.get((file_id, False))
    return seg


_pin_lock = threading.Lock()
#: Drops the pins whose time is up, even if nothing is pickled afterwards.
_expiry: Optional[threading.Timer] = None


def _pin(seg: Segment) -> None:
    with _pin_lock:
        now = time.monotonic()
        expired = _unpin_expired(now)
        _pinned.append((now + EXPORT_GRACE_SECONDS, seg))
        if _expiry is None:
            _arm(EXPORT_GRACE_SECONDS)
    del expired  # segments are released outside the lock


def _unpin_expired(now: float) -> "list[Segment]":
    expired = []
    while _pinned and _pinned[0][0] <= now:
        expired.append(_pinned.popleft()[1])
    return expired


def _arm(delay: float) -> None:
    global _expiry
    _expiry = threading.Timer(delay, _expire)
    _expiry.daemon = True
    _expiry.start()


def _expire() -> None:
    global _expiry
    with _pin_lock:
        _expiry = None
        now = time.monotonic()
        expired = _unpin_expired(now)
        if _pinned:
            _arm(max(_pinned[0][0] - now, 0.0))
    del expired


def release_pins() -> None:
    """Drops what plain pickling keeps alive (the grace period's references)."""
    with _pin_lock:
        expired = list(_pinned)
        _pinned.clear()
    del expired


def _reset_pins_in_child() -> None:
    # A forked child's copies of the pins serve no receiver (a locator names
    # the pickling process), and it has neither the timer nor, maybe, a free lock.
    global _pin_lock, _expiry
    _pin_lock = threading.Lock()
    _expiry = None
    _pinned.clear()


os.register_at_fork(after_in_child=_reset_pins_in_child)


def _view_of(arr: "SharedArray", seg: Segment) -> Tuple[Any, ...]:
    from ._array import SharedArray

    offset = arr.__array_interface__["data"][0] - seg.data_address
    view = (offset, arr.shape, arr.strides, arr.dtype, not arr.flags.writeable)
    # A subclass arrives as itself, as numpy pickles subclasses.
    return view if type(arr) is SharedArray else view + (type(arr),)


#: Set inside ``with by_reference():`` (per thread, and per asyncio task).
_BY_REFERENCE: "contextvars.ContextVar[bool]" = contextvars.ContextVar("ndshare_by_reference", default=False)


@contextlib.contextmanager
def by_reference() -> Iterator[None]:
    """Within this block, pickling a :class:`SharedArray` in this thread
    gives a small reference to its memory instead of its data.

    For a channel between processes of one machine that ndshare does not
    know (multiprocessing, joblib's loky and Dask distributed get references
    without it)::

        with ndshare.by_reference():
            blob = pickle.dumps(a)   # < 1 KiB, whatever the size of a

    A process of the same user on the same machine loads it as the same view
    of the same memory while the sender holds the array; the sender keeps it
    alive for ``EXPORT_GRACE_SECONDS`` (10 s) after pickling. Loaded later,
    or elsewhere, it raises :class:`ndshare.UnreachableError`. Never store
    such a pickle: outside this block, pickling stores the data.
    """
    token = _BY_REFERENCE.set(True)
    try:
        yield
    finally:
        _BY_REFERENCE.reset(token)


def reduce_array(arr: "SharedArray", protocol: SupportsIndex) -> Tuple[Any, ...]:
    """``__reduce_ex__``: the data, as a plain ndarray, unless inside
    ``by_reference()``."""
    seg = arr._segment
    if seg is not None and _BY_REFERENCE.get():
        return reduce_reference(arr)
    return _reduce_data(arr, protocol)


def _reduce_data(arr: "SharedArray", protocol: SupportsIndex) -> Tuple[Any, ...]:
    return cast(Tuple[Any, ...], np.ndarray.__reduce_ex__(np.ndarray.view(arr, np.ndarray), protocol))


def reduce_reference(arr: "SharedArray") -> Tuple[Any, ...]:
    """A locator, for any pickler (data for an array outside shared memory)."""
    seg = arr._segment
    if seg is None:
        return _reduce_data(arr, 2)
    _pin(seg)
    locator = (seg.file_id, seg.name, os.getpid(), seg.fd, not seg.writable)
    return (_rebuild_located, (locator,) + _view_of(arr, seg))


class Reference:
    """An array that pickles as a reference by every pickler: what a
    :class:`ndshare.Barrier` or :class:`ndshare.Event` sends, since a copy of
    a synchronization primitive's memory would synchronize nothing. It
    unpickles as the array itself."""

    __slots__ = ("array",)

    def __init__(self, array: "SharedArray") -> None:
        self.array = array

    def __reduce__(self) -> Tuple[Any, ...]:
        return reduce_reference(self.array)


def _reduce_forking_reference(ref: Reference) -> Tuple[Any, ...]:
    return reduce_forking(ref.array)


class _Offer:
    """The descriptor of a segment, offered by this process's descriptor
    server (see ``_fdserver``) to whoever unpickles this reference first.
    Pickles as the server's address and a random key."""

    __slots__ = ("address", "key", "pid")

    def __init__(self, fd: int) -> None:
        self.address, self.key = _fdserver.offer(fd)
        self.pid = os.getpid()

    def __getstate__(self) -> Tuple[bytes, bytes, int]:
        return (self.address, self.key, self.pid)

    def __setstate__(self, state: Tuple[bytes, bytes, int]) -> None:
        self.address, self.key, self.pid = state

    def detach(self) -> int:
        return _fdserver.fetch(self.address, self.key)


def reduce_forking(arr: "SharedArray") -> Tuple[Any, ...]:
    """For multiprocessing's ForkingPickler: the descriptor itself."""
    seg = arr._segment
    if seg is None:
        return _reduce_data(arr, 2)
    if context.get_spawning_popen() is not None:
        fd: Any = reduction.DupFd(seg.fd)  # travels with the new process
    else:
        fd = _Offer(seg.fd)
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
    return remember(Segment.from_locator(name, file_id[0], file_id[1], pid, fd, what, readonly=readonly))


def _rebuild_located(
    locator: Tuple[Any, ...], offset: int, shape: Any, strides: Any, dtype: Any, readonly: bool, cls: Any = None
) -> "SharedArray":
    from ._array import view_of_segment

    seg = _open_located(locator, readonly, _describe(locator[1], dtype, shape))
    return view_of_segment(seg, dtype, shape, strides, offset, readonly, cls)


def _rebuild_dupfd(
    dupfd: Any, file_id: Tuple[int, int], sender_readonly: bool, offset: int, shape: Any, strides: Any, dtype: Any,
    readonly: bool, cls: Any = None,
) -> "SharedArray":
    from ._array import view_of_segment

    try:
        fd = dupfd.detach()
    except OSError as e:
        sender = getattr(dupfd, "pid", "?")
        raise UnreachableError(
            f"cannot reach the {_describe(None, dtype, shape)} sent by process {sender}: {e}. "
            f"The sender exited more than {_fdserver.EXIT_WAIT_SECONDS:g} s before this "
            "reference was unpickled, or it was unpickled twice"
        ) from None
    try:
        seg = lookup(tuple(file_id), readonly or sender_readonly)  # type: ignore[arg-type]
        if seg is None:
            seg = remember(Segment.from_fd(fd, readonly=readonly or sender_readonly))
    finally:
        os.close(fd)
    return view_of_segment(seg, dtype, shape, strides, offset, readonly, cls)


reduction.ForkingPickler.register(Reference, _reduce_forking_reference)
