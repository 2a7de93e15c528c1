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

import operator
from typing import Any, Optional, Tuple

import numpy as np

from ._array import Reference, SharedArray, view_of_segment
from ._mapped import remember
from ._ndshare import LockOwnerDied, Segment, SegmentBarrier, SegmentEvent

__all__ = ["Barrier", "Event", "LockOwnerDied"]

_WORD = np.dtype("<u8")


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
    round. Like ``threading.Barrier``, across processes.

    >>> b = Barrier(1)
    >>> b.wait()
    0

    A caller whose ``timeout`` elapses leaves the round with ``TimeoutError``
    (the round still waits for ``parties`` arrivals); a party that dies
    leaves the others waiting, so give waits a timeout where that matters.
    """

    __slots__ = ("_array", "_ops")

    def __init__(self, parties: int) -> None:
        n = operator.index(parties)
        if not 1 <= n < 2**32:
            raise ValueError(f"parties must be between 1 and 2**32 - 1, not {parties!r}")
        seg = SegmentBarrier.create_segment(n)
        self._array = _words(seg)
        self._ops = SegmentBarrier(seg)

    def wait(self, timeout: Optional[float] = None) -> int:
        """Waits for the round to fill; returns this caller's arrival index
        (0 for the first, ``parties - 1`` for the last). ``TimeoutError``
        after ``timeout`` seconds. Releases the GIL while it waits."""
        return int(self._ops.wait(timeout))

    @property
    def parties(self) -> int:
        """How many callers each round waits for."""
        return int(self._ops.parties)

    @property
    def n_waiting(self) -> int:
        """How many callers wait in the current round."""
        return int(self._ops.n_waiting)

    def __reduce__(self) -> Tuple[Any, ...]:
        return (_rebuild_barrier, (Reference(self._array),))

    def __copy__(self) -> "Barrier":
        return self

    def __deepcopy__(self, memo: Any) -> "Barrier":
        # A copy is the same primitive, as a pickled one is (a deep copy of
        # its array would be private memory).
        return self

    def __repr__(self) -> str:
        return f"<ndshare.Barrier parties={self.parties} waiting={self.n_waiting}>"


def _rebuild_barrier(array: SharedArray) -> Barrier:
    b = Barrier.__new__(Barrier)
    b._array = array
    b._ops = SegmentBarrier(_segment_of(array))
    return b


class Event:
    """A flag that callers wait for until another sets it. Like
    ``threading.Event``, across processes.

    >>> e = Event()
    >>> e.is_set(), e.wait(timeout=0)
    (False, False)
    >>> e.set(); e.wait()
    True
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
        """Clears the flag."""
        self._ops.clear()

    def is_set(self) -> bool:
        """Whether the flag is set."""
        return bool(self._ops.is_set())

    def wait(self, timeout: Optional[float] = None) -> bool:
        """Waits until the flag is set: ``True``; ``False`` if ``timeout``
        seconds passed first. Releases the GIL while it waits."""
        return bool(self._ops.wait(timeout))

    def __reduce__(self) -> Tuple[Any, ...]:
        return (_rebuild_event, (Reference(self._array),))

    def __copy__(self) -> "Event":
        return self

    def __deepcopy__(self, memo: Any) -> "Event":
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
