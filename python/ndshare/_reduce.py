"""How a shared array crosses to another process, and what a pickle of it holds.

A pickle holds the array's data unless the channel is one between processes
of one machine that ndshare knows, or the caller asks for a reference:

* ``multiprocessing`` (Process with spawn/forkserver, Pool, Queue, Pipe,
  ProcessPoolExecutor, ``multiprocessing.connection``) pickles with
  ``ForkingPickler``; for it the reference carries the segment's file
  descriptor itself (``descriptor``), so the receiver gets the memory
  even if the sender drops the array at once, as a worker returning a result
  does. At process start the descriptor goes with the new process
  (``duplicate_for_child``); afterwards this process's descriptor server
  (``_fdserver``) hands it over when the receiver asks (``SCM_RIGHTS``). A
  process that exits with descriptors not yet taken waits for the receivers,
  at most ``_fdserver.EXIT_WAIT_SECONDS``, so a child may put a result in a
  queue and return.
* joblib's loky (its own pickler's reducer registry, see ``_loky``), Dask
  distributed (its serializers, see ``_dask``) and any pickling inside
  ``with by_reference():`` get a locator (``locator``): the name of
  a named array, and the pid and descriptor number by which
  ``/proc/<pid>/fd/<n>`` reaches the memory while the sender holds it. The
  sender keeps what it sent this way alive for a grace period (``_keepalive``)
  so that a result dropped right after it is sent still arrives.
* Every other pickling (``pickle.dump``/``dumps``, cloudpickle outside loky,
  ``joblib.dump``, ``copy``) is persistence, or a channel ndshare cannot
  vouch for: it stores the data (``data``), as ``numpy.memmap`` does, and the
  pickle loads as a plain ``numpy.ndarray`` in any process, at any later
  time. Nothing is pinned and no descriptor is held for it.

This module says what each route sends; ``SharedArray`` (``_array``) puts it
in its pickle with the function that rebuilds the view, and ``_arrive`` opens
it on the other side.
"""

from __future__ import annotations

import contextlib
import contextvars
import os
from multiprocessing import context, reduction
from typing import Any, Iterator, SupportsIndex, Tuple, cast

import numpy as np

from . import _fdserver, _keepalive
from ._ndshare import Segment

#: Set inside ``with by_reference():`` (per thread, and per asyncio task).
_BY_REFERENCE: contextvars.ContextVar[bool] = contextvars.ContextVar("ndshare_by_reference", default=False)


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

    Returns
    -------
    context manager
        Pickling inside the ``with`` block, in this thread (or asyncio
        task), sends references.

    Examples
    --------
    >>> import pickle, ndshare
    >>> a = ndshare.zeros((1000, 1000))
    >>> with ndshare.by_reference():
    ...     blob = pickle.dumps(a[::2])
    >>> len(blob) < 1024, len(pickle.dumps(a[::2])) > 4_000_000
    (True, True)
    >>> b = pickle.loads(blob)  # the same memory, while this process holds it
    >>> b[0, 0] = 1.0
    >>> float(a[0, 0])
    1.0
    """
    token = _BY_REFERENCE.set(True)
    try:
        yield
    finally:
        _BY_REFERENCE.reset(token)


def by_reference_here() -> bool:
    """Whether this thread pickles inside ``with by_reference():``."""
    return _BY_REFERENCE.get()


def data(arr: np.ndarray[Any, Any], protocol: SupportsIndex) -> Tuple[Any, ...]:
    """The data, as a plain ndarray pickles."""
    return cast(Tuple[Any, ...], np.ndarray.__reduce_ex__(np.ndarray.view(arr, np.ndarray), protocol))


def locator(seg: Segment) -> Tuple[Any, ...]:
    """How any process of the user reaches ``seg`` while this one holds it
    (which it does for the grace period from now)."""
    _keepalive.pin(seg)
    return (seg.file_id, seg.name, os.getpid(), seg.fd, not seg.writable)


def geometry(arr: np.ndarray[Any, Any], seg: Segment) -> Tuple[Any, ...]:
    """Where the view lies in the segment: byte offset, shape, strides,
    dtype and read-only flag."""
    offset = arr.__array_interface__["data"][0] - seg.data_address
    return (offset, arr.shape, arr.strides, arr.dtype, not arr.flags.writeable)


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


def descriptor(seg: Segment) -> Any:
    """For multiprocessing's ForkingPickler: the descriptor itself, which
    the receiver takes with ``detach()``."""
    if context.get_spawning_popen() is not None:
        return reduction.DupFd(seg.fd)  # travels with the new process
    return _Offer(seg.fd)
