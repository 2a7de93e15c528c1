"""Streams of arrays between processes: :class:`Ring` and :func:`attach_ring`.

A ring is one segment (docs/format.md, "Rings") of ``capacity`` slots, each
an array of one shape and dtype. The protocol is the Rust core's
(``RingCore``); this module makes numpy views of the slots and the Python
manners: context managers, iteration, asyncio, pickling by reference.
"""

from __future__ import annotations

import asyncio
import math
from types import TracebackType
from typing import Any, Iterator, List, Optional, Sequence, Tuple, Type, Union, overload

import numpy as np
from numpy.typing import ArrayLike, DTypeLike

from ._array import Reference, SharedArray, view_of_segment
from ._asyncwait import run_in_thread
from ._dtype import check_shareable, from_descr, to_descr
from ._mapped import remember
from ._ndshare import RingClosed, RingCore, Segment

__all__ = ["Ring", "RingClosed", "RingItem", "RingSlot", "attach_ring"]

_MODES = ("queue", "broadcast", "overwrite")


class RingSlot:
    """A claimed slot of a ring (``ring.put()``): write the item into the
    array that ``with`` gives (or :attr:`array`), and it is published when
    the block ends; an exception in the block abandons it (consumers skip
    it). Outside ``with``, call :meth:`commit` or :meth:`abort`.

    Parameters
    ----------
    ring : Ring
        The ring the slot belongs to. Slots are made by :meth:`Ring.put`
        (without an item), not by calling this class.
    slot : int
        Index of the slot in the ring.
    seq : int
        Sequence number of the item the slot will hold.

    Attributes
    ----------
    array : numpy.ndarray
        The slot's memory, writable, of the ring's shape and dtype.

    Examples
    --------
    >>> import ndshare
    >>> ring = ndshare.Ring(3, "i4", capacity=2)
    >>> slot = ring.put()
    >>> slot.array[:] = [1, 2, 3]
    >>> slot.commit()
    >>> with ring.get() as item:
    ...     print(item.tolist())
    [1, 2, 3]
    """

    __slots__ = ("_ring", "_slot", "_seq", "array")

    def __init__(self, ring: Ring, slot: int, seq: int) -> None:
        self._ring: Optional[Ring] = ring
        self._slot = slot
        self._seq = seq
        #: The slot's memory, writable: the item to fill.
        self.array: np.ndarray[Any, Any] = ring._views[slot]

    @property
    def seq(self) -> int:
        """Sequence number of the item (0 for the first item of the ring)."""
        return self._seq

    def commit(self) -> None:
        """Publishes the item: consumers may now take it."""
        ring, self._ring = self._ring, None
        if ring is not None:
            ring._core.commit(self._slot, self._seq)

    def abort(self) -> None:
        """Gives the slot up: consumers skip it."""
        ring, self._ring = self._ring, None
        if ring is not None:
            ring._core.abort(self._slot, self._seq)

    def __enter__(self) -> np.ndarray[Any, Any]:
        return self.array

    def __exit__(
        self,
        kind: Optional[Type[BaseException]],
        value: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        if kind is None:
            self.commit()
        else:
            self.abort()

    def __del__(self) -> None:
        try:
            self.abort()
        except Exception:  # noqa: BLE001 - nothing to report to at collection
            pass


class RingItem:
    """An item taken from a ring (``ring.get()``): :attr:`array` is a view
    of its slot, valid until the item is released — when ``with`` ends, by
    :meth:`release`, or when the item is collected. Then the slot is reused:
    copy what must outlive it.

    Parameters
    ----------
    ring : Ring
        The ring the item was taken from. Items are made by :meth:`Ring.get`,
        not by calling this class.
    slot : int
        Index of the item's slot in the ring.
    seq : int
        Sequence number of the item.
    missed : int
        Items the subscriber missed just before this one.

    Attributes
    ----------
    array : numpy.ndarray
        The item, a view of its slot (read-only in the broadcast modes).

    Examples
    --------
    >>> import ndshare
    >>> ring = ndshare.Ring(2, "f8", capacity=2)
    >>> ring.put([0.5, 1.5])
    >>> item = ring.get()
    >>> total = float(item.array.sum())  # use it while it is held
    >>> item.release()
    >>> total, item.seq, item.missed
    (2.0, 0, 0)
    """

    __slots__ = ("_ring", "_slot", "_seq", "_missed", "array")

    def __init__(self, ring: Ring, slot: int, seq: int, missed: int) -> None:
        self._ring: Optional[Ring] = ring
        self._slot = slot
        self._seq = seq
        self._missed = missed
        #: The item, a view of its slot (read-only in broadcast modes).
        self.array: np.ndarray[Any, Any] = (ring._readonly if ring.mode != "queue" else ring._views)[slot]

    @property
    def seq(self) -> int:
        """Sequence number of the item (0 for the first item put)."""
        return self._seq

    @property
    def missed(self) -> int:
        """Items this subscriber missed just before this one (overwritten
        before it read them, ``mode="overwrite"``); else 0."""
        return self._missed

    def release(self) -> None:
        """Gives the slot back; :attr:`array` must not be used after."""
        ring, self._ring = self._ring, None
        if ring is not None:
            ring._core.release(self._slot, self._seq, ring._sub)

    def __enter__(self) -> np.ndarray[Any, Any]:
        return self.array

    def __exit__(
        self,
        kind: Optional[Type[BaseException]],
        value: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        self.release()

    def __del__(self) -> None:
        try:
            self.release()
        except Exception:  # noqa: BLE001 - nothing to report to at collection
            pass


class Ring:
    """A ring of ``capacity`` slots in shared memory, each an array of
    ``shape`` and ``dtype``, from producers to consumers in any processes.

    ``mode="queue"``: each item goes to exactly one consumer (a
    ``multiprocessing.Queue`` for arrays, with no pickling and no copy).
    ``mode="broadcast"``: every subscriber gets every item; the slowest one
    holds producers back. ``mode="overwrite"``: as broadcast, but a full ring
    overwrites its oldest items, and each item says how many its subscriber
    missed (:attr:`RingItem.missed`). In the broadcast modes a subscriber
    holds one item at a time: taking the next one releases the previous one.

    A full ring blocks ``put``, an empty one ``get`` (on a futex, GIL
    released, Ctrl-C interrupts, ``timeout=`` gives ``TimeoutError``).
    :meth:`close` ends the stream: consumers get what is left, then
    :class:`RingClosed` (iteration stops). The stream also ends when every
    process that put items has exited without closing it. A consumer that
    dies holding an item gives its slot back (in queue mode the item is
    lost, and counted in ``stats()["lost"]``); a producer that dies while
    writing leaves a slot that consumers skip (``stats()["abandoned"]``).

    A ring pickles as a reference to the same memory (through
    multiprocessing, concurrent.futures, queues and plain pickle while its
    creator lives), so it is handed to workers as one argument.

    Parameters
    ----------
    shape : int or sequence of int
        Shape of every item.
    dtype : data-type
        Dtype of every item: any fixed-size numpy dtype (``object`` is
        refused with ``TypeError``).
    capacity : int
        Number of slots, 1 to 2**20.
    mode : {"queue", "broadcast", "overwrite"}, optional
        How items are delivered (above). Default ``"queue"``.
    name : str, optional
        Make a named ring, which any process of the user opens with
        :func:`attach_ring`; ``None`` (the default) for an anonymous one,
        whose memory goes with its last user.

    Raises
    ------
    ValueError
        A negative dimension, a capacity out of range or an unknown mode.
    TypeError
        A dtype that cannot be shared.
    FileExistsError
        ``name`` is taken.

    See Also
    --------
    attach_ring, RingItem, RingSlot

    Examples
    --------
    >>> import ndshare
    >>> ring = ndshare.Ring((2, 3), "f4", capacity=4)
    >>> with ring.put() as slot:
    ...     slot[:] = 1.5
    >>> ring.put(ndshare.zeros((2, 3), dtype="f4"))
    >>> ring.close()
    >>> [float(a.sum()) for a in ring]
    [9.0, 0.0]
    """

    __slots__ = ("_array", "_core", "_seg", "_dtype", "_shape", "_sub", "_views", "_readonly", "__weakref__")

    def __init__(
        self,
        shape: Union[int, Sequence[int]],
        dtype: DTypeLike,
        capacity: int,
        *,
        mode: str = "queue",
        name: Optional[str] = None,
    ) -> None:
        if mode not in _MODES:
            raise ValueError(f"mode must be one of {_MODES}, not {mode!r}")
        dt = np.dtype(dtype)
        check_shareable(dt)
        dims = (int(shape),) if isinstance(shape, (int, np.integer)) else tuple(int(d) for d in shape)
        if any(d < 0 for d in dims):
            raise ValueError("negative dimensions are not allowed")
        if not isinstance(capacity, (int, np.integer)) or not 1 <= capacity <= 2**20:
            raise ValueError(f"capacity must be an int from 1 to 2**20, not {capacity!r}")
        seg = RingCore.create_segment(to_descr(dt), dt.itemsize, dims, int(capacity), mode, name)
        self._setup(seg, None)

    def _setup(self, seg: Segment, sub: Optional[int]) -> None:
        seg = self._seg = remember(seg)
        self._core = RingCore(seg)
        self._array: SharedArray = view_of_segment(seg, np.dtype("u1"), (seg.nbytes,), (1,))
        self._dtype = from_descr(self._core.dtype, self._core.itemsize)
        self._shape = tuple(int(d) for d in self._core.shape)
        self._sub = sub
        raw = np.asarray(seg)
        nbytes = self._dtype.itemsize * math.prod(self._shape)
        views: List[np.ndarray[Any, Any]] = []
        readonly: List[np.ndarray[Any, Any]] = []
        for slot in range(self._core.capacity):
            off = self._core.slot_offset(slot)
            v = raw[off : off + nbytes].view(self._dtype).reshape(self._shape)
            views.append(v)
            r = v.view()
            r.flags.writeable = False
            readonly.append(r)
        self._views = views
        self._readonly = readonly

    @classmethod
    def _of_segment(cls, seg: Segment, sub: Optional[int] = None) -> Ring:
        ring = cls.__new__(cls)
        ring._setup(seg, sub)
        return ring

    # -- what it holds --------------------------------------------------

    @property
    def shape(self) -> Tuple[int, ...]:
        """Shape of every item."""
        return self._shape

    @property
    def dtype(self) -> np.dtype[Any]:
        """Dtype of every item."""
        return self._dtype

    @property
    def capacity(self) -> int:
        """Number of slots: items the ring holds at most."""
        return int(self._core.capacity)

    @property
    def mode(self) -> str:
        """``"queue"``, ``"broadcast"`` or ``"overwrite"``."""
        return str(self._core.mode)

    @property
    def name(self) -> Optional[str]:
        """The name of a named ring, else ``None``."""
        n = self._seg.name
        return None if n is None else str(n)

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called (by any process)."""
        return bool(self._core.closed)

    def handle(self) -> str:
        """A handle string another process opens the ring's segment with."""
        return str(self._seg.handle)

    def stats(self) -> dict[str, Any]:
        """The counters: ``put``, ``got`` (each delivery, in broadcast),
        ``dropped`` (overwritten unread), ``abandoned`` (claimed, never
        committed), ``lost`` (taken by consumers that died), ``subscribers``,
        ``producers``, ``closed``, ``mode``, ``capacity``."""
        return dict(self._core.stats())

    # -- producing --------------------------------------------------------

    @overload
    def put(self, item: None = None, *, timeout: Optional[float] = None) -> RingSlot: ...

    @overload
    def put(self, item: ArrayLike, *, timeout: Optional[float] = None) -> None: ...

    def put(self, item: Optional[ArrayLike] = None, *, timeout: Optional[float] = None) -> Optional[RingSlot]:
        """Without ``item``: claims the next slot and returns it, to fill in
        place (``with ring.put() as slot: camera.read_into(slot)``). With
        ``item``: copies it into the next slot and publishes it (one copy).
        Waits while the ring is full, at most ``timeout`` seconds
        (``TimeoutError``). :class:`RingClosed` once the ring is closed."""
        slot, seq = self._core.claim(timeout)
        claimed = RingSlot(self, slot, seq)
        if item is None:
            return claimed
        try:
            src = np.asarray(item)
            if src.shape != self._shape:
                raise ValueError(f"an item of this ring has shape {self._shape}, not {src.shape}")
            np.copyto(claimed.array, src, casting="same_kind")
        except BaseException:
            claimed.abort()
            raise
        claimed.commit()
        return None

    def close(self) -> None:
        """Ends the stream: ``put`` raises :class:`RingClosed` from now on;
        consumers get what is in the ring, then :class:`RingClosed`."""
        self._core.close()

    # -- consuming --------------------------------------------------------

    def subscribe(self) -> Ring:
        """A new subscriber (broadcast modes): a ``Ring`` of the same memory
        that gets every item put from now on. Hand it to the process that
        reads; that process owns it (when it dies, the subscriber goes).
        ``get`` on a ring with no subscriber subscribes it at its first call."""
        return Ring._of_segment(self._seg, int(self._core.subscribe()))

    def unsubscribe(self) -> None:
        """Removes this ring object's subscriber: it no longer holds
        producers back."""
        if self._sub is not None:
            sub, self._sub = self._sub, None
            self._core.unsubscribe(sub)

    def get(self, timeout: Optional[float] = None) -> RingItem:
        """Takes the next item: a :class:`RingItem`, whose array is a view of
        its slot until it is released (``with ring.get() as a: ...``). Waits
        while the ring is empty, at most ``timeout`` seconds
        (``TimeoutError``). :class:`RingClosed` once the stream has ended and
        everything was delivered."""
        if self._sub is None and self.mode != "queue":
            self._sub = int(self._core.subscribe())
        got = self._core.take(self._sub, timeout)
        if got is None:
            reason = self._core.end_reason() or "the stream has ended"
            err = RingClosed(reason)
            err.reason = reason
            raise err
        return RingItem(self, *got)

    def __iter__(self) -> Iterator[np.ndarray[Any, Any]]:
        """The items until the stream ends; each array is valid until the
        next one is asked for."""
        while True:
            try:
                item = self.get()
            except RingClosed:
                return
            try:
                yield item.array
            finally:
                item.release()

    # -- asyncio ----------------------------------------------------------

    async def _wait(self, for_items: bool, token: int, deadline: Optional[float]) -> None:
        """Waits in a thread of ndshare's until the ring's futex moves from
        ``token``, until ``deadline`` (loop time) or as long as it takes. A
        wait given up (the task cancelled, or closed with its loop) wakes its
        thread, which is then free at once."""
        loop = asyncio.get_running_loop()
        left = None if deadline is None else deadline - loop.time()
        if left is not None and left <= 0:
            raise TimeoutError("timed out")
        waiting = run_in_thread(self._core.wait_changed, for_items, token, left)
        try:
            await waiting
        except BaseException:
            self._core.wake(for_items)
            raise

    async def get_async(self, timeout: Optional[float] = None) -> RingItem:
        """:meth:`get` for asyncio: the wait runs in a thread of its own with
        the GIL released, so the event loop goes on, and nothing spins or
        polls. Waits do not use the loop's default executor: any number of
        them can be pending without starving it, and one left pending does
        not hold up the interpreter's exit. Cancelling the call lets its
        thread go at once."""
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        while True:
            token = self._core.wait_token(True)
            try:
                return self.get(timeout=0)
            except TimeoutError:
                pass
            await self._wait(True, token, deadline)

    @overload
    async def put_async(self, item: None = None, *, timeout: Optional[float] = None) -> RingSlot: ...

    @overload
    async def put_async(self, item: ArrayLike, *, timeout: Optional[float] = None) -> None: ...

    async def put_async(
        self, item: Optional[ArrayLike] = None, *, timeout: Optional[float] = None
    ) -> Optional[RingSlot]:
        """:meth:`put` for asyncio, waiting for a free slot as
        :meth:`get_async` waits for an item."""
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        while True:
            token = self._core.wait_token(False)
            try:
                return self.put(item, timeout=0)
            except TimeoutError:
                pass
            await self._wait(False, token, deadline)

    # -- travel -----------------------------------------------------------

    def __reduce__(self) -> Tuple[Any, ...]:
        return (_rebuild_ring, (Reference(self._array), self._sub))

    def __copy__(self) -> Ring:
        return self

    def __deepcopy__(self, memo: Any) -> Ring:
        return self

    def __repr__(self) -> str:
        where = f"name={self.name!r}" if self.name else "anonymous"
        return (
            f"<ndshare.Ring {where} shape={self._shape} dtype={self._dtype} "
            f"capacity={self.capacity} mode={self.mode!r}{' closed' if self.closed else ''}>"
        )


def _rebuild_ring(array: SharedArray, sub: Optional[int]) -> Ring:
    seg = array.segment
    if seg is None:
        raise TypeError("a ring arrived without its shared memory")
    ring = Ring._of_segment(seg, sub)
    if sub is not None:
        ring._core.adopt(sub)
    return ring


def attach_ring(name: str) -> Ring:
    """The named ring ``name`` (``Ring(..., name=name)`` made it, in Python
    or Rust), mapped into this process.

    Parameters
    ----------
    name : str
        The ring's name.

    Returns
    -------
    Ring
        The ring, over the same memory as its creator's; in the broadcast
        modes, with no subscriber until its first ``get``.

    Raises
    ------
    FileNotFoundError
        There is no ring or array of that name.
    TypeError
        The name holds an array (:func:`ndshare.attach` opens it).
    ndshare.FormatError
        The file is not a valid ndshare segment.

    See Also
    --------
    Ring, unlink

    Examples
    --------
    >>> import ndshare
    >>> import os
    >>> name = f"ring-example-{os.getpid()}"
    >>> ring = ndshare.Ring(4, "i8", capacity=8, name=name)
    >>> same = ndshare.attach_ring(name)
    >>> same.put([1, 2, 3, 4])
    >>> ring.get().array.tolist()
    [1, 2, 3, 4]
    >>> ndshare.unlink(name)
    """
    return Ring._of_segment(Segment.attach(name))
