"""Synchronization across processes: Barrier and Event, and the lock warning.

The locks of an array live in its segment's header (``a.lock()``,
``a.read_lock()``, ``a.write_lock()`` return handles on them, see
:class:`SharedArray`). A :class:`Barrier` or an :class:`Event` belongs to no
array: each has a small anonymous segment of its own, and crosses to other
processes as a reference to that segment, by every pickler: through
``multiprocessing`` arguments, queues and pools as a shared array does, and
through plain ``pickle`` while its creator lives (a copy of a primitive's
memory would synchronize nothing, so it never pickles as data).
"""

from __future__ import annotations

import copyreg
import operator
from typing import Any, Optional, Tuple

import numpy as np

from ._array import Reference, SharedArray, view_of_segment
from ._mapped import remember
from ._ndshare import LockOwnerDied, Segment, SegmentBarrier, SegmentEvent

__all__ = ["Barrier", "Event", "LockOwnerDied"]

_WORD = np.dtype("<u8")


def _lock_owner_died(message: str, previous_owner: Optional[int]) -> LockOwnerDied:
    warning = LockOwnerDied(message)
    warning.lock = None  # held in the process that took it, not here
    warning.previous_owner = previous_owner
    return warning


def _reduce_lock_owner_died(warning: LockOwnerDied) -> Tuple[Any, ...]:
    """The warning travels (a worker that made it an error sends it to its
    parent) without its lock, which stays held by the process that took it."""
    return _lock_owner_died, (str(warning), getattr(warning, "previous_owner", None))


copyreg.pickle(LockOwnerDied, _reduce_lock_owner_died)


def _words(seg: Segment) -> SharedArray:
    """The primitive segment as an array: what travels to other processes."""
    return view_of_segment(remember(seg), _WORD, tuple(seg.shape), tuple(seg.strides))


def _segment_of(array: SharedArray) -> Segment:
    seg = array.segment
    if seg is None:
        raise TypeError("a barrier or event arrived without its shared memory")
    return seg


class Barrier:
    """``parties`` processes (or threads) wait in :meth:`wait` until the last
    of them arrives; then all go on, and the barrier is ready for the next
    round. ``threading.Barrier``, across processes (without ``action``).
    It travels to other processes as a shared array does, by every pickler.

    As with ``threading.Barrier``, a wait whose ``timeout`` elapses breaks
    the barrier: it and every other waiter of the round raise
    ``threading.BrokenBarrierError``, and so does every later :meth:`wait`
    until :meth:`reset`. :meth:`abort` breaks it the same way.

    A party that dies (even by ``SIGKILL``) while it waits stays counted as
    arrived; one that dies before it arrives never arrives. Either way the
    round cannot fill: waits with a timeout (``timeout`` here, or in
    :meth:`wait`) then break the barrier for everyone, while waits without
    one wait until interrupted (Ctrl-C) or until another process calls
    :meth:`abort` or :meth:`reset`. Give waits a timeout where a party may
    die.

    Parameters
    ----------
    parties : int
        How many callers each round waits for (1 to ``2**24 - 1``).
    timeout : float, optional
        Seconds :meth:`wait` waits when not told otherwise; ``None`` (the
        default) waits as long as it takes.

    Raises
    ------
    ValueError
        ``parties`` or ``timeout`` is out of range.

    Examples
    --------
    >>> import threading, ndshare
    >>> b = ndshare.Barrier(1)
    >>> b.wait()
    0
    >>> b2 = ndshare.Barrier(2, timeout=0.01)
    >>> try:
    ...     b2.wait()  # the other party never comes
    ... except threading.BrokenBarrierError:
    ...     print("broken:", b2.broken)
    broken: True
    >>> b2.reset(); b2.broken
    False
    """

    __slots__ = ("_array", "_ops", "_timeout")

    def __init__(self, parties: int, timeout: Optional[float] = None) -> None:
        n = operator.index(parties)
        if not 1 <= n < 2**24:
            raise ValueError(f"parties must be between 1 and 2**24 - 1, not {parties!r}")
        self._timeout = _check_timeout(timeout)
        seg = SegmentBarrier.create_segment(n)
        self._array = _words(seg)
        self._ops = SegmentBarrier(seg)

    def wait(self, timeout: Optional[float] = None) -> int:
        """Waits for the round to fill; returns this caller's arrival index
        (0 for the first, ``parties - 1`` for the last). ``timeout=None``
        uses the barrier's ``timeout``. ``threading.BrokenBarrierError`` if
        the barrier is broken, or gets broken or reset while this caller
        waits, or when the timeout elapses (which breaks it for all).
        Releases the GIL while it waits; Ctrl-C takes the caller out of the
        round without breaking it."""
        return int(self._ops.wait(self._timeout if timeout is None else timeout))

    def abort(self) -> None:
        """Breaks the barrier: every waiter, in any process, and every later
        :meth:`wait` until :meth:`reset` raise ``threading.BrokenBarrierError``."""
        self._ops.abort()

    def reset(self) -> None:
        """Returns the barrier to its initial state: empty and not broken.
        Callers waiting in it raise ``threading.BrokenBarrierError``."""
        self._ops.reset()

    @property
    def broken(self) -> bool:
        """Whether the barrier is broken (waits fail until :meth:`reset`)."""
        return bool(self._ops.broken)

    @property
    def parties(self) -> int:
        """How many callers each round waits for."""
        return int(self._ops.parties)

    @property
    def n_waiting(self) -> int:
        """How many callers wait in the current round (0 while broken)."""
        return int(self._ops.n_waiting)

    @property
    def timeout(self) -> Optional[float]:
        """Seconds :meth:`wait` waits when not told; ``None``: forever."""
        return self._timeout

    def __reduce__(self) -> Tuple[Any, ...]:
        return (_rebuild_barrier, (Reference(self._array), self._timeout))

    def __copy__(self) -> Barrier:
        return self

    def __deepcopy__(self, memo: Any) -> Barrier:
        # A copy is the same primitive, as a pickled one is (a deep copy of
        # its array would be private memory).
        return self

    def __repr__(self) -> str:
        state = "broken" if self.broken else f"waiting={self.n_waiting}"
        return f"<ndshare.Barrier parties={self.parties} {state}>"


def _check_timeout(timeout: Optional[float]) -> Optional[float]:
    if timeout is None:
        return None
    t = float(timeout)
    if not t >= 0:
        raise ValueError(f"timeout must be a non-negative number of seconds or None, not {timeout!r}")
    return t


def _rebuild_barrier(array: SharedArray, timeout: Optional[float] = None) -> Barrier:
    b = Barrier.__new__(Barrier)
    b._array = array
    b._ops = SegmentBarrier(_segment_of(array))
    b._timeout = timeout
    return b


class Event:
    """A flag that callers wait for until another sets it. Like
    ``threading.Event``, across processes: it travels to other processes as
    a shared array does, by every pickler, and stays one flag.

    Examples
    --------
    >>> import ndshare
    >>> e = ndshare.Event()
    >>> e.is_set(), e.wait(timeout=0)
    (False, False)
    >>> e.set(); e.wait()
    True

    Across processes (a started child waits for the parent's signal)::

        def work(start):
            start.wait()
            ...

        start = ndshare.Event()
        p = multiprocessing.Process(target=work, args=(start,))
        p.start()
        start.set()
    """

    __slots__ = ("_array", "_ops")

    def __init__(self) -> None:
        seg = SegmentEvent.create_segment()
        self._array = _words(seg)
        self._ops = SegmentEvent(seg)

    def set(self) -> None:
        """Sets the flag; every waiter wakes."""
        self._ops.set()

    def clear(self) -> None:
        """Clears the flag: later :meth:`wait` calls wait again."""
        self._ops.clear()

    def is_set(self) -> bool:
        """Whether the flag is set, in any process."""
        return bool(self._ops.is_set())

    def wait(self, timeout: Optional[float] = None) -> bool:
        """Waits until the flag is set: ``True``; ``False`` if ``timeout``
        seconds passed first. Releases the GIL while it waits."""
        return bool(self._ops.wait(timeout))

    def __reduce__(self) -> Tuple[Any, ...]:
        return (_rebuild_event, (Reference(self._array),))

    def __copy__(self) -> Event:
        return self

    def __deepcopy__(self, memo: Any) -> Event:
        # A copy is the same primitive, as a pickled one is (a deep copy of
        # its array would be private memory).
        return self

    def __repr__(self) -> str:
        return f"<ndshare.Event {'set' if self.is_set() else 'clear'}>"


def _rebuild_event(array: SharedArray) -> Event:
    e = Event.__new__(Event)
    e._array = array
    e._ops = SegmentEvent(_segment_of(array))
    return e
